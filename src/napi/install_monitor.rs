//! Binding of the installation monitor's state machine (`src/unattended/monitor.rs`):
//! JS numbers and event data in, plain output objects out.

use napi_derive::napi;

use super::error::{to_napi, IntoNapi};
use crate::error::{ErrorShape, WireError};
use crate::unattended::monitor::{self, Input, InstallMonitor, MonitorConfig, Output, RawMonitorConfig};

#[napi(object)]
pub struct JsMonitorConfig {
    pub timeout: Option<f64>,
    pub max_resets: Option<f64>,
    pub check_interval: Option<f64>,
    pub min_install_time: Option<f64>,
    pub expected_reboots: Option<f64>,
    pub eject_after_resets: Option<f64>,
    pub eject_device: Option<String>,
}

/// The validated options, defaults applied.
#[napi(object)]
pub struct JsResolvedMonitorConfig {
    pub timeout: f64,
    pub max_resets: u32,
    pub check_interval: f64,
    pub min_install_time: f64,
    pub expected_reboots: u32,
    pub eject_after_resets: Option<u32>,
    pub eject_device: Option<String>,
}

/// One output of the state machine. `kind` is `progress` (phase, message),
/// `timeout-check` (elapsed, remaining, percentComplete), `eject` (device), `note` and
/// `warning` (message), `completed` or `failed` (error: the wire form of an `UnattendedError`).
#[napi(object)]
pub struct JsMonitorOutput {
    pub kind: String,
    pub phase: Option<String>,
    pub message: Option<String>,
    pub elapsed: Option<f64>,
    pub remaining: Option<f64>,
    pub percent_complete: Option<f64>,
    pub device: Option<String>,
    #[napi(ts_type = "{ class: string; code: string; message: string; fields: Record<string, unknown> }")]
    pub error: Option<serde_json::Value>,
}

#[allow(clippy::cast_precision_loss)] // milliseconds below 2^53
fn num(v: u64) -> f64 {
    v as f64
}

/// A clock reading from JS: negative or non-finite values count as 0.
fn millis(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // positive and finite, saturates
        return v as u64;
    }
    0
}

fn output(o: Output) -> JsMonitorOutput {
    let mut js =
        JsMonitorOutput { kind: String::new(), phase: None, message: None, elapsed: None, remaining: None, percent_complete: None, device: None, error: None };
    match o {
        Output::Progress { phase, message } => {
            js.kind = "progress".into();
            js.phase = Some(phase.as_str().into());
            js.message = Some(message);
        }
        Output::TimeoutCheck { elapsed_ms, remaining_ms, percent_complete } => {
            js.kind = "timeout-check".into();
            js.elapsed = Some(num(elapsed_ms));
            js.remaining = Some(num(remaining_ms));
            js.percent_complete = Some(num(percent_complete));
        }
        Output::EjectMedia { device } => {
            js.kind = "eject".into();
            js.device = Some(device);
        }
        Output::Note(message) => {
            js.kind = "note".into();
            js.message = Some(message);
        }
        Output::Warning(message) => {
            js.kind = "warning".into();
            js.message = Some(message);
        }
        Output::Completed => js.kind = "completed".into(),
        Output::Failed(e) => {
            js.kind = "failed".into();
            js.phase = Some(monitor::Phase::Failed.as_str().into());
            js.message = Some(e.to_string());
            // Serialising a WireError cannot fail; keep the code and message if it ever does.
            let fallback = || serde_json::json!({ "class": "UnattendedError", "code": e.code(), "message": e.to_string(), "fields": {} });
            js.error = Some(serde_json::to_value(WireError::from_shape(&e)).unwrap_or_else(|_| fallback()));
        }
    }
    js
}

fn outputs(v: Vec<Output>) -> Vec<JsMonitorOutput> {
    v.into_iter().map(output).collect()
}

#[napi(js_name = "NativeInstallMonitor")]
pub struct NativeInstallMonitor {
    inner: InstallMonitor,
}

#[napi]
impl NativeInstallMonitor {
    #[napi(constructor)]
    pub fn new(config: Option<JsMonitorConfig>) -> napi::Result<Self> {
        let raw = config.map_or_else(RawMonitorConfig::default, |c| RawMonitorConfig {
            timeout: c.timeout,
            max_resets: c.max_resets,
            check_interval: c.check_interval,
            min_install_time: c.min_install_time,
            expected_reboots: c.expected_reboots,
            eject_after_resets: c.eject_after_resets,
            eject_device: c.eject_device,
        });
        Ok(NativeInstallMonitor { inner: InstallMonitor::new(MonitorConfig::new(&raw).napi()?) })
    }

    #[napi]
    pub fn config(&self) -> JsResolvedMonitorConfig {
        let c = self.inner.config();
        JsResolvedMonitorConfig {
            timeout: num(c.timeout_ms()),
            max_resets: c.max_resets(),
            check_interval: num(c.check_interval_ms()),
            min_install_time: num(c.min_install_time_ms()),
            expected_reboots: c.expected_reboots(),
            eject_after_resets: c.eject().map(|p| p.after_resets),
            eject_device: c.eject().map(|p| p.device.clone()),
        }
    }

    #[napi]
    pub fn start(&mut self, client_connected: bool) -> napi::Result<Vec<JsMonitorOutput>> {
        self.inner.start(client_connected).map(outputs).map_err(|e| to_napi(&e))
    }

    /// `event`: `SHUTDOWN`, `RESET`, `POWERDOWN`, `disconnect`, `tick`, `deadline` or
    /// `stop`; `guest`/`reason` come from the QMP event data. Other names are ignored.
    #[napi]
    pub fn handle(&mut self, event: String, elapsed: f64, guest: Option<bool>, reason: Option<String>) -> Vec<JsMonitorOutput> {
        let input = match event.as_str() {
            "SHUTDOWN" => Input::Shutdown { guest, reason },
            "RESET" => Input::Reset { guest, reason },
            "POWERDOWN" => Input::Powerdown,
            "disconnect" => Input::Disconnect,
            "tick" => Input::Tick,
            "deadline" => Input::Deadline,
            "stop" => Input::Stop,
            _ => return Vec::new(),
        };
        outputs(self.inner.handle(input, millis(elapsed)))
    }

    #[napi]
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// The outcome has been reported; `start` may be called again.
    #[napi]
    pub fn finish(&mut self) {
        self.inner.finish();
    }

    #[napi]
    pub fn phase(&self) -> String {
        self.inner.phase().as_str().into()
    }

    #[napi]
    pub fn reset_count(&self) -> u32 {
        self.inner.reset_count()
    }

    #[napi]
    pub fn media_ejected(&self) -> bool {
        self.inner.media_ejected()
    }
}

/// Suggested `{ minInstallTime, expectedReboots }` for a spec `OSType`.
#[napi(object)]
pub struct JsCompletionDefaults {
    pub min_install_time: f64,
    pub expected_reboots: u32,
}

#[napi]
pub fn install_completion_defaults(os: String) -> JsCompletionDefaults {
    let (min, reboots) = monitor::completion_defaults(&os);
    JsCompletionDefaults { min_install_time: num(min), expected_reboots: reboots }
}
