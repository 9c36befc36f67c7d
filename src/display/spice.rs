//! `SpiceConfig` (spec §7.1): validated SPICE options rendered as `-spice` / `-vga`.

use serde::Serialize;
use serde_json::Value;

use super::addr::address_problem;
use super::error::{Console, DisplayError, DisplayErrorCode as C, DisplayIssue};
use super::{DisplayCommandArgs, ValidationResult};
use crate::qemu::value::escape_commas;
use crate::secret::Secret;

pub const SPICE_MIN_PORT: u16 = 5900;
pub const SPICE_MAX_PORT: u16 = 65535;
pub const DEFAULT_SPICE_ADDR: &str = "0.0.0.0";
pub const IMAGE_COMPRESSION: [&str; 6] = ["auto_glz", "auto_lz", "quic", "glz", "lz", "off"];
pub const WAN_COMPRESSION: [&str; 3] = ["auto", "never", "always"];
pub const STREAMING_MODES: [&str; 3] = ["off", "all", "filter"];
pub const PLAYBACK_COMPRESSION: [&str; 2] = ["on", "off"];

/// Constructor input, as it arrives from JS (numbers unchecked, strings free).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpiceConfigOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Never serialised into error contexts.
    #[serde(skip)]
    pub password: Option<String>,
    /// A file holding the password, read by QEMU through `-object secret`
    /// (keeps the password out of the process list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_secret_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_ticketing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_agent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_compression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jpeg_wan_compression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zlib_glz_wan_compression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streaming_video: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playback_compression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gl: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendernode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_copy_paste: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_agent_file_xfer: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seamless_migration: Option<bool>,
}

/// A validated SPICE configuration.
#[derive(Debug, Clone)]
pub struct SpiceConfig {
    port: u16,
    addr: String,
    password: Option<Secret>,
    password_secret_file: Option<String>,
    disable_ticketing: bool,
    enable_agent: bool,
    image_compression: String,
    jpeg_wan_compression: String,
    zlib_glz_wan_compression: String,
    streaming_video: String,
    playback_compression: String,
    gl: bool,
    rendernode: Option<String>,
    disable_copy_paste: bool,
    disable_agent_file_xfer: bool,
    seamless_migration: bool,
}

/// Id of the `-object secret` carrying a SPICE password.
pub const SPICE_SECRET_ID: &str = "infinivirt-spice-secret0";

impl SpiceConfig {
    pub fn new(o: SpiceConfigOptions) -> Result<Self, DisplayError> {
        let issues = issues(&o);
        let options = serde_json::to_value(&o).unwrap_or(Value::Null);
        if let Some(e) = DisplayError::from_issues(Console::Spice, issues, options) {
            return Err(e);
        }
        #[allow(clippy::cast_possible_truncation)] // validated: an integer in 5900..=65535
        let port = o.port.unwrap_or_default() as u16;
        let s = |v: Option<String>, d: &str| v.unwrap_or_else(|| d.to_string());
        Ok(SpiceConfig {
            port,
            addr: s(o.addr, DEFAULT_SPICE_ADDR),
            password: o.password.map(Secret::new),
            password_secret_file: o.password_secret_file,
            disable_ticketing: o.disable_ticketing.unwrap_or(false),
            enable_agent: o.enable_agent.unwrap_or(true),
            image_compression: s(o.image_compression, "auto_glz"),
            jpeg_wan_compression: s(o.jpeg_wan_compression, "auto"),
            zlib_glz_wan_compression: s(o.zlib_glz_wan_compression, "auto"),
            streaming_video: s(o.streaming_video, "filter"),
            playback_compression: s(o.playback_compression, "on"),
            gl: o.gl.unwrap_or(false),
            rendernode: o.rendernode,
            disable_copy_paste: o.disable_copy_paste.unwrap_or(false),
            disable_agent_file_xfer: o.disable_agent_file_xfer.unwrap_or(false),
            seamless_migration: o.seamless_migration.unwrap_or(false),
        })
    }

    /// Re-runs the checks on the stored values (the rendernode may have gone away).
    pub fn validate(&self) -> ValidationResult {
        ValidationResult::from_issues(issues(&self.as_options()))
    }

    fn as_options(&self) -> SpiceConfigOptions {
        SpiceConfigOptions {
            port: Some(f64::from(self.port)),
            addr: Some(self.addr.clone()),
            password: self.password.as_ref().map(|p| p.expose().to_string()),
            password_secret_file: self.password_secret_file.clone(),
            disable_ticketing: Some(self.disable_ticketing),
            enable_agent: Some(self.enable_agent),
            image_compression: Some(self.image_compression.clone()),
            jpeg_wan_compression: Some(self.jpeg_wan_compression.clone()),
            zlib_glz_wan_compression: Some(self.zlib_glz_wan_compression.clone()),
            streaming_video: Some(self.streaming_video.clone()),
            playback_compression: Some(self.playback_compression.clone()),
            gl: Some(self.gl),
            rendernode: self.rendernode.clone(),
            disable_copy_paste: Some(self.disable_copy_paste),
            disable_agent_file_xfer: Some(self.disable_agent_file_xfer),
            seamless_migration: Some(self.seamless_migration),
        }
    }

    /// `-spice <opts> -vga qxl` (spec §7.1), preceded by `-object secret,…` when the
    /// password comes from a file.
    pub fn generate_args(&self) -> DisplayCommandArgs {
        let mut opts = vec![format!("port={}", self.port), format!("addr={}", self.addr)];
        if let Some(pw) = self.password.as_ref().filter(|p| !p.expose().is_empty()) {
            opts.push(format!("password={}", escape_commas(pw.expose())));
        } else if self.password_secret_file.is_some() {
            opts.push(format!("password-secret={SPICE_SECRET_ID}"));
        } else if self.disable_ticketing {
            opts.push("disable-ticketing=on".into());
        }
        opts.push(format!("image-compression={}", self.image_compression));
        opts.push(format!("jpeg-wan-compression={}", self.jpeg_wan_compression));
        opts.push(format!("zlib-glz-wan-compression={}", self.zlib_glz_wan_compression));
        opts.push(format!("streaming-video={}", self.streaming_video));
        opts.push(format!("playback-compression={}", self.playback_compression));
        if self.gl {
            opts.push("gl=on".into());
            if let Some(r) = &self.rendernode {
                opts.push(format!("rendernode={}", escape_commas(r)));
            }
        }
        if self.disable_copy_paste {
            opts.push("disable-copy-paste=on".into());
        }
        if self.disable_agent_file_xfer {
            opts.push("disable-agent-file-xfer=on".into());
        }
        if self.seamless_migration {
            opts.push("seamless-migration=on".into());
        }
        let mut args = Vec::new();
        if let Some(file) = &self.password_secret_file {
            if self.password.is_none() {
                args.extend(super::secret_object_args(SPICE_SECRET_ID, file));
            }
        }
        args.extend(["-spice".to_string(), opts.join(","), "-vga".into(), "qxl".into()]);
        DisplayCommandArgs { args, vga_type: "qxl" }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `password !== undefined && password.length > 0` (a secret file counts too).
    pub fn has_password(&self) -> bool {
        self.password.as_ref().is_some_and(|p| !p.expose().is_empty()) || self.password_secret_file.is_some()
    }

    pub fn is_agent_enabled(&self) -> bool {
        self.enable_agent
    }

    /// True when the console needs no password (ticketing off or no password at all).
    pub fn is_passwordless(&self) -> bool {
        !self.has_password()
    }
}

/// Every check of spec §7.1, in order, plus the injection checks this port adds.
fn issues(o: &SpiceConfigOptions) -> Vec<DisplayIssue> {
    let mut v = Vec::new();
    match o.port {
        Some(p) if p.is_finite() && p.fract() == 0.0 => {
            if p < f64::from(SPICE_MIN_PORT) || p > f64::from(SPICE_MAX_PORT) {
                v.push(DisplayIssue::new(C::PORT_OUT_OF_RANGE, "Port must be between 5900 and 65535"));
            }
        }
        _ => v.push(DisplayIssue::new(C::INVALID_PORT, "Port must be an integer")),
    }
    let addr = o.addr.as_deref().unwrap_or(DEFAULT_SPICE_ADDR);
    if let Some(problem) = address_problem(addr) {
        v.push(DisplayIssue::new(C::INVALID_ADDRESS, problem));
    }
    if let Some(pw) = &o.password {
        if pw.is_empty() {
            v.push(DisplayIssue::new(C::INVALID_PASSWORD, "Password cannot be empty string (use undefined for no password)"));
        } else if pw.chars().any(char::is_control) {
            v.push(DisplayIssue::new(C::INVALID_PASSWORD, "Password must not contain control characters"));
        }
    }
    let has_pw = o.password.as_deref().is_some_and(|p| !p.is_empty());
    if has_pw && o.disable_ticketing == Some(true) {
        v.push(DisplayIssue::new(C::CONFLICTING_OPTIONS, "Cannot use both password and disableTicketing options"));
    }
    if let Some(f) = &o.password_secret_file {
        if o.disable_ticketing == Some(true) {
            v.push(DisplayIssue::new(C::CONFLICTING_OPTIONS, "Cannot use both passwordSecretFile and disableTicketing options"));
        }
        if f.is_empty() || f.chars().any(char::is_control) {
            v.push(DisplayIssue::new(C::INVALID_PASSWORD, "passwordSecretFile must be a non-empty path without control characters"));
        }
    }
    let mut choice = |value: &Option<String>, default: &str, allowed: &[&str], code, what: &str| {
        let value = value.as_deref().unwrap_or(default);
        if !allowed.contains(&value) {
            v.push(DisplayIssue::new(code, format!("Invalid {what} mode: {value}. Must be one of: {}", allowed.join(", "))));
        }
    };
    choice(&o.image_compression, "auto_glz", &IMAGE_COMPRESSION, C::INVALID_COMPRESSION_MODE, "image compression");
    choice(&o.jpeg_wan_compression, "auto", &WAN_COMPRESSION, C::INVALID_COMPRESSION_MODE, "jpeg WAN compression");
    choice(&o.zlib_glz_wan_compression, "auto", &WAN_COMPRESSION, C::INVALID_COMPRESSION_MODE, "zlib WAN compression");
    choice(&o.streaming_video, "filter", &STREAMING_MODES, C::INVALID_STREAMING_MODE, "streaming video");
    // Not validated by the original, but it lands in the -spice string.
    choice(&o.playback_compression, "on", &PLAYBACK_COMPRESSION, C::INVALID_COMPRESSION_MODE, "playback compression");
    if o.gl == Some(true) {
        if let Some(r) = o.rendernode.as_deref().filter(|r| !r.is_empty()) {
            if r.chars().any(char::is_control) || !std::path::Path::new(r).exists() {
                v.push(DisplayIssue::new(C::RENDERNODE_NOT_FOUND, format!("GL rendernode not found: {r}")));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    fn port(p: f64) -> SpiceConfigOptions {
        SpiceConfigOptions { port: Some(p), ..Default::default() }
    }

    #[test]
    fn spec_43_default_args() {
        let a = SpiceConfig::new(port(5901.0)).unwrap().generate_args();
        assert_eq!(
            a.args,
            ["-spice", "port=5901,addr=0.0.0.0,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on", "-vga", "qxl"]
        );
        assert_eq!(a.vga_type, "qxl");
    }

    #[test]
    fn spec_44_all_flags() {
        let o = SpiceConfigOptions {
            disable_ticketing: Some(true),
            gl: Some(true),
            disable_copy_paste: Some(true),
            disable_agent_file_xfer: Some(true),
            seamless_migration: Some(true),
            ..port(5903.0)
        };
        assert_eq!(
            SpiceConfig::new(o).unwrap().generate_args().args[1],
            "port=5903,addr=0.0.0.0,disable-ticketing=on,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on,gl=on,disable-copy-paste=on,disable-agent-file-xfer=on,seamless-migration=on"
        );
    }

    fn err(o: SpiceConfigOptions) -> (String, String) {
        let e = SpiceConfig::new(o).unwrap_err();
        (e.code().to_string(), e.to_string())
    }

    #[test]
    fn spec_45_to_51_validation() {
        assert_eq!(err(port(5899.0)), ("PORT_OUT_OF_RANGE".into(), "SPICE configuration validation failed: Port must be between 5900 and 65535".into()));
        assert_eq!(err(port(65536.0)).0, "PORT_OUT_OF_RANGE");
        assert_eq!(err(port(5900.5)), ("INVALID_PORT".into(), "SPICE configuration validation failed: Port must be an integer".into()));
        assert_eq!(err(port(f64::NAN)).0, "INVALID_PORT");
        assert_eq!(
            err(SpiceConfigOptions { password: Some(String::new()), ..port(5901.0) }),
            ("INVALID_PASSWORD".into(), "SPICE configuration validation failed: Password cannot be empty string (use undefined for no password)".into())
        );
        assert_eq!(err(SpiceConfigOptions { password: Some("a".into()), disable_ticketing: Some(true), ..port(5901.0) }).0, "CONFLICTING_OPTIONS");
        assert_eq!(
            err(SpiceConfigOptions { image_compression: Some("zzz".into()), ..port(5901.0) }),
            (
                "INVALID_COMPRESSION_MODE".into(),
                "SPICE configuration validation failed: Invalid image compression mode: zzz. Must be one of: auto_glz, auto_lz, quic, glz, lz, off".into()
            )
        );
        assert_eq!(err(SpiceConfigOptions { streaming_video: Some("x".into()), ..port(5901.0) }).0, "INVALID_STREAMING_MODE");
        assert_eq!(
            err(SpiceConfigOptions { gl: Some(true), rendernode: Some("/nonexistent".into()), ..port(5901.0) }),
            ("RENDERNODE_NOT_FOUND".into(), "SPICE configuration validation failed: GL rendernode not found: /nonexistent".into())
        );
        let e = SpiceConfig::new(SpiceConfigOptions { addr: Some(String::new()), ..port(1.0) }).unwrap_err();
        assert_eq!(e.code(), "PORT_OUT_OF_RANGE");
        assert_eq!(e.to_string(), "SPICE configuration validation failed: Port must be between 5900 and 65535, Address cannot be empty");
        assert_eq!(e.fields()["context"]["validationErrors"].as_array().unwrap().len(), 2);
        assert_eq!(
            err(SpiceConfigOptions { addr: Some("bad addr!".into()), ..port(5901.0) }),
            ("INVALID_ADDRESS".into(), "SPICE configuration validation failed: Invalid address format: bad addr!".into())
        );
    }

    #[test]
    fn spec_52_getters() {
        let c = SpiceConfig::new(port(5905.0)).unwrap();
        assert!(!c.has_password());
        assert!(c.is_agent_enabled());
        assert!(SpiceConfig::new(SpiceConfigOptions { password: Some("x".into()), ..port(5905.0) }).unwrap().has_password());
    }

    #[test]
    fn password_commas_are_escaped_not_spliced() {
        let c = SpiceConfig::new(SpiceConfigOptions { password: Some("x,disable-ticketing=on".into()), ..port(5901.0) }).unwrap();
        assert!(c.generate_args().args[1].starts_with("port=5901,addr=0.0.0.0,password=x,,disable-ticketing=on,image-compression="));
    }

    #[test]
    fn playback_compression_is_a_closed_set() {
        assert_eq!(err(SpiceConfigOptions { playback_compression: Some("on,gl=on".into()), ..port(5901.0) }).0, "INVALID_COMPRESSION_MODE");
    }

    #[test]
    fn secret_file_form_keeps_password_off_argv() {
        let c = SpiceConfig::new(SpiceConfigOptions { password_secret_file: Some("/run/s,1".into()), ..port(5901.0) }).unwrap();
        let a = c.generate_args().args;
        assert_eq!(a[0], "-object");
        assert_eq!(a[1], "secret,id=infinivirt-spice-secret0,file=/run/s,,1,format=raw");
        assert!(a[3].contains(",password-secret=infinivirt-spice-secret0,"));
        assert!(c.has_password());
    }

    #[test]
    fn password_never_reaches_error_context() {
        let e = SpiceConfig::new(SpiceConfigOptions { password: Some("topsecret".into()), addr: Some("bad addr".into()), ..port(5901.0) }).unwrap_err();
        assert!(!serde_json::to_string(&e.fields()).unwrap().contains("topsecret"));
    }
}
