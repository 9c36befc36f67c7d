//! Bindings of `SpiceConfig`, `VncConfig` and display secrets.

use napi_derive::napi;

use super::error::{guarded, IntoNapi};
use crate::display::spice::{SpiceConfig, SpiceConfigOptions};
use crate::display::vnc::{self, VncConfig, VncConfigOptions};
use crate::display::{DisplayCommandArgs, ValidationResult};

#[napi(object)]
pub struct JsSpiceConfigOptions {
    pub port: Option<f64>,
    pub addr: Option<String>,
    pub password: Option<String>,
    pub password_secret_file: Option<String>,
    pub disable_ticketing: Option<bool>,
    pub enable_agent: Option<bool>,
    pub image_compression: Option<String>,
    pub jpeg_wan_compression: Option<String>,
    pub zlib_glz_wan_compression: Option<String>,
    pub streaming_video: Option<String>,
    pub playback_compression: Option<String>,
    pub gl: Option<bool>,
    pub rendernode: Option<String>,
    pub disable_copy_paste: Option<bool>,
    pub disable_agent_file_xfer: Option<bool>,
    pub seamless_migration: Option<bool>,
}

#[napi(object)]
pub struct JsVncConfigOptions {
    pub display: Option<f64>,
    pub addr: Option<String>,
    pub password: Option<bool>,
    pub password_secret_file: Option<String>,
}

#[napi(object)]
pub struct JsValidationError {
    pub code: String,
    pub message: String,
}

#[napi(object)]
pub struct JsValidationResult {
    pub valid: bool,
    pub errors: Vec<String>,
    pub validation_errors: Vec<JsValidationError>,
}

impl From<ValidationResult> for JsValidationResult {
    fn from(r: ValidationResult) -> Self {
        JsValidationResult {
            valid: r.valid,
            errors: r.issues.iter().map(|i| i.message.clone()).collect(),
            validation_errors: r.issues.into_iter().map(|i| JsValidationError { code: i.code.as_str().to_string(), message: i.message }).collect(),
        }
    }
}

#[napi(object)]
pub struct JsDisplayCommandArgs {
    pub args: Vec<String>,
    pub vga_type: String,
}

impl From<DisplayCommandArgs> for JsDisplayCommandArgs {
    fn from(a: DisplayCommandArgs) -> Self {
        JsDisplayCommandArgs { args: a.args, vga_type: a.vga_type.to_string() }
    }
}

#[napi(js_name = "NativeSpiceConfig")]
pub struct NativeSpiceConfig {
    pub(crate) inner: SpiceConfig,
}

#[napi]
impl NativeSpiceConfig {
    #[napi(constructor, catch_unwind)]
    pub fn new(o: JsSpiceConfigOptions) -> napi::Result<Self> {
        let inner = SpiceConfig::new(SpiceConfigOptions {
            port: o.port,
            addr: o.addr,
            password: o.password,
            password_secret_file: o.password_secret_file,
            disable_ticketing: o.disable_ticketing,
            enable_agent: o.enable_agent,
            image_compression: o.image_compression,
            jpeg_wan_compression: o.jpeg_wan_compression,
            zlib_glz_wan_compression: o.zlib_glz_wan_compression,
            streaming_video: o.streaming_video,
            playback_compression: o.playback_compression,
            gl: o.gl,
            rendernode: o.rendernode,
            disable_copy_paste: o.disable_copy_paste,
            disable_agent_file_xfer: o.disable_agent_file_xfer,
            seamless_migration: o.seamless_migration,
        })
        .napi()?;
        Ok(NativeSpiceConfig { inner })
    }

    #[napi(catch_unwind)]
    pub fn validate(&self) -> JsValidationResult {
        self.inner.validate().into()
    }

    #[napi(catch_unwind)]
    pub fn generate_args(&self) -> JsDisplayCommandArgs {
        self.inner.generate_args().into()
    }

    #[napi]
    pub fn get_port(&self) -> u32 {
        u32::from(self.inner.port())
    }

    #[napi]
    pub fn get_addr(&self) -> String {
        self.inner.addr().to_string()
    }

    #[napi]
    pub fn has_password(&self) -> bool {
        self.inner.has_password()
    }

    #[napi]
    pub fn is_agent_enabled(&self) -> bool {
        self.inner.is_agent_enabled()
    }
}

#[napi(js_name = "NativeVncConfig")]
pub struct NativeVncConfig {
    pub(crate) inner: VncConfig,
}

#[napi]
impl NativeVncConfig {
    #[napi(constructor, catch_unwind)]
    pub fn new(o: JsVncConfigOptions) -> napi::Result<Self> {
        let inner =
            VncConfig::new(VncConfigOptions { display: o.display, addr: o.addr, password: o.password, password_secret_file: o.password_secret_file }).napi()?;
        Ok(NativeVncConfig { inner })
    }

    #[napi(catch_unwind)]
    pub fn validate(&self) -> JsValidationResult {
        self.inner.validate().into()
    }

    #[napi(catch_unwind)]
    pub fn generate_args(&self) -> JsDisplayCommandArgs {
        self.inner.generate_args().into()
    }

    #[napi]
    pub fn get_display(&self) -> u32 {
        u32::from(self.inner.display())
    }

    #[napi]
    pub fn get_port(&self) -> u32 {
        u32::from(self.inner.port())
    }

    #[napi]
    pub fn get_addr(&self) -> String {
        self.inner.addr().to_string()
    }

    #[napi]
    pub fn has_password(&self) -> bool {
        self.inner.has_password()
    }
}

#[napi]
pub fn vnc_display_to_port(display: f64) -> f64 {
    vnc::display_to_port(display)
}

#[napi]
pub fn vnc_port_to_display(port: f64) -> f64 {
    vnc::port_to_display(port)
}

/// Default directory for display secret files.
pub const DEFAULT_SECRET_DIR: &str = "/var/run/infinivirt/secrets";

#[napi]
pub async fn write_display_secret_file(password: String, dir: Option<String>) -> napi::Result<String> {
    guarded(async move {
        let dir = std::path::PathBuf::from(dir.unwrap_or_else(|| DEFAULT_SECRET_DIR.to_string()));
        let path = tokio::task::spawn_blocking(move || crate::display::write_secret_file(&password, &dir))
            .await
            .map_err(|e| napi::Error::from_reason(e.to_string()))?
            .napi()?;
        Ok(path.to_string_lossy().into_owned())
    })
    .await
}
