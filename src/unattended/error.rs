//! Unattended-install errors: the spec's `UnattendedError(code, message, cause?, vmId?, context?)`.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};

code_enum! {
    /// Spec §17.12 `UnattendedErrorCode`.
    pub enum UnattendedErrorCode {
        INVALID_CONFIG = "INVALID_CONFIG",
        ISO_GENERATION_FAILED = "ISO_GENERATION_FAILED",
        MOUNT_FAILED = "MOUNT_FAILED",
        INSTALLATION_TIMEOUT = "INSTALLATION_TIMEOUT",
        INSTALLATION_RESET_LIMIT_EXCEEDED = "INSTALLATION_RESET_LIMIT_EXCEEDED",
        INSTALLATION_FAILED = "INSTALLATION_FAILED",
        CLEANUP_FAILED = "CLEANUP_FAILED",
        UNSUPPORTED_OS = "UNSUPPORTED_OS",
        MANAGER_NOT_FOUND = "MANAGER_NOT_FOUND",
        QMP_ERROR = "QMP_ERROR",
        MONITORING_ERROR = "MONITORING_ERROR",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnattendedError {
    #[error("Invalid unattended install configuration: {}", errors.join(", "))]
    InvalidConfig { vm_id: Option<String>, errors: Vec<String> },
    #[error("Unsupported operating system: {os}")]
    UnsupportedOs { vm_id: Option<String>, os: String },
    /// A monitor option that is not a usable number (or contradicts another).
    #[error("Invalid installation monitor configuration: {field} {reason}")]
    InvalidMonitorConfig { field: &'static str, reason: String },
    /// `InstallationMonitor.start()` while it runs (spec §14.2, message fixed).
    #[error("Monitor is already running")]
    MonitorAlreadyRunning,
    /// `InstallationMonitor.start()` with a disconnected client (spec §14.2, message fixed).
    #[error("QMP client is not connected")]
    QmpNotConnected,
    /// The QMP connection closed while monitoring (spec §14.2, message fixed).
    #[error("QMP connection lost during installation")]
    QmpConnectionLost,
    /// The installation outlived its deadline (spec §14.2, message fixed).
    #[error("Installation timed out after {timeout_ms}ms")]
    InstallationTimeout { timeout_ms: u64 },
    /// More guest resets than allowed (spec §14.2, message fixed).
    #[error("Installation failed: exceeded maximum reset count ({max_resets}). The VM may be stuck in a boot loop or installation failure loop.")]
    ResetLimitExceeded { max_resets: u32, reset_count: u32 },
    /// The guest powered off before either completion condition held.
    #[error(
        "Installation failed: the guest powered off after {elapsed_ms}ms and {reset_count} reboot(s), before the installation could have finished (completion needs {})",
        completion_rule(*min_install_time_ms, *expected_reboots)
    )]
    PoweredOffEarly {
        elapsed_ms: u64,
        reset_count: u32,
        min_install_time_ms: u64,
        expected_reboots: u32,
    },
    /// The VM stopped for a reason that is not the installer's own shutdown.
    #[error(
        "Installation failed: the VM was shut down by {cause} before the installation finished"
    )]
    Interrupted { cause: String },
    /// `InstallationMonitor.stop()` while the installation was still being watched.
    #[error("Installation monitoring was stopped before the installation finished")]
    MonitoringStopped,
}

fn completion_rule(min_install_time_ms: u64, expected_reboots: u32) -> String {
    match (min_install_time_ms, expected_reboots) {
        (0, r) => format!("{r} reboot(s)"),
        (m, 0) => format!("at least {m}ms"),
        (m, r) => format!("{r} reboot(s) or at least {m}ms"),
    }
}

impl ErrorShape for UnattendedError {
    fn code(&self) -> &'static str {
        match self {
            UnattendedError::InvalidConfig { .. } => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::UnsupportedOs { .. } => UnattendedErrorCode::UNSUPPORTED_OS,
            UnattendedError::InvalidMonitorConfig { .. } => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::MonitorAlreadyRunning => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::QmpNotConnected => UnattendedErrorCode::QMP_ERROR,
            UnattendedError::QmpConnectionLost => UnattendedErrorCode::QMP_ERROR,
            UnattendedError::InstallationTimeout { .. } => {
                UnattendedErrorCode::INSTALLATION_TIMEOUT
            }
            UnattendedError::ResetLimitExceeded { .. } => {
                UnattendedErrorCode::INSTALLATION_RESET_LIMIT_EXCEEDED
            }
            UnattendedError::PoweredOffEarly { .. } => UnattendedErrorCode::INSTALLATION_FAILED,
            UnattendedError::Interrupted { .. } => UnattendedErrorCode::INSTALLATION_FAILED,
            UnattendedError::MonitoringStopped => UnattendedErrorCode::MONITORING_ERROR,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::UnattendedError
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            UnattendedError::InvalidConfig { vm_id, errors } => fields([
                ("vmId", vm_id.clone().map(Value::from)),
                ("context", Some(serde_json::json!({ "errors": errors }))),
            ]),
            UnattendedError::UnsupportedOs { vm_id, .. } => fields([("vmId", vm_id.clone().map(Value::from))]),
            UnattendedError::InvalidMonitorConfig { field, .. } => {
                fields([("context", Some(serde_json::json!({ "field": field })))])
            }
            UnattendedError::ResetLimitExceeded {
                max_resets,
                reset_count,
            } => fields([(
                "context",
                Some(serde_json::json!({ "maxResets": max_resets, "resetCount": reset_count })),
            )]),
            UnattendedError::PoweredOffEarly {
                elapsed_ms,
                reset_count,
                min_install_time_ms,
                expected_reboots,
            } => fields([(
                "context",
                Some(serde_json::json!({
                    "elapsed": elapsed_ms,
                    "resetCount": reset_count,
                    "minInstallTime": min_install_time_ms,
                    "expectedReboots": expected_reboots,
                })),
            )]),
            UnattendedError::Interrupted { cause } => {
                fields([("context", Some(serde_json::json!({ "cause": cause })))])
            }
            UnattendedError::MonitorAlreadyRunning
            | UnattendedError::QmpNotConnected
            | UnattendedError::QmpConnectionLost
            | UnattendedError::InstallationTimeout { .. }
            | UnattendedError::MonitoringStopped => Map::new(),
        }
    }
}
