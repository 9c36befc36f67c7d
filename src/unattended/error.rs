//! Unattended-install errors: the spec's `UnattendedError(code, message, cause?, vmId?, context?)`.

use serde_json::{json, Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};
use crate::exec::ExecError;

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

/// Where building the install media failed (reported in `context.stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStage {
    /// Creating the private work directory.
    WorkDir,
    /// Reading a script file from the scripts directory.
    ReadScript,
    /// Writing the answer files into the work directory.
    WriteFiles,
    /// Running xorriso.
    Xorriso,
    /// Moving the image into the output directory.
    Output,
}

impl MediaStage {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaStage::WorkDir => "work-dir",
            MediaStage::ReadScript => "read-script",
            MediaStage::WriteFiles => "write-files",
            MediaStage::Xorriso => "xorriso",
            MediaStage::Output => "output",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnattendedError {
    /// Every problem found in the config at once, in the spec's message format.
    #[error("Invalid unattended install configuration: {}", errors.join(", "))]
    InvalidConfig { vm_id: Option<String>, errors: Vec<String> },
    #[error("Unsupported operating system: {os}")]
    UnsupportedOs { vm_id: Option<String>, os: String },
    /// A filesystem step of building the media failed.
    #[error("Failed to generate installation ISO: {stage_text} {path}: {source}", stage_text = describe(*stage))]
    MediaIo {
        vm_id: Option<String>,
        stage: MediaStage,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// xorriso could not be run or failed.
    #[error("Failed to generate installation ISO: {}", xorriso_text(source))]
    Xorriso {
        vm_id: Option<String>,
        #[source]
        source: ExecError,
    },
    /// The installer ISO to remaster does not have the layout we patch.
    #[error("Failed to generate installation ISO: {reason}")]
    Remaster { vm_id: Option<String>, iso: String, reason: String },
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
    PoweredOffEarly { elapsed_ms: u64, reset_count: u32, min_install_time_ms: u64, expected_reboots: u32 },
    /// The VM stopped for a reason that is not the installer's own shutdown.
    #[error("Installation failed: the VM was shut down by {cause} before the installation finished")]
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

fn describe(stage: MediaStage) -> &'static str {
    match stage {
        MediaStage::WorkDir => "cannot create the work directory",
        MediaStage::ReadScript => "cannot read the script file",
        MediaStage::WriteFiles => "cannot write the answer file",
        MediaStage::Xorriso => "cannot run xorriso on",
        MediaStage::Output => "cannot move the image to",
    }
}

fn xorriso_text(e: &ExecError) -> String {
    if e.is_not_found() {
        return "xorriso is not installed (Debian package xorriso)".to_string();
    }
    match e {
        ExecError::Exit { code, .. } => {
            let tail = e.stderr_tail().trim();
            let code = code.map_or_else(|| "a signal".to_string(), |c| c.to_string());
            format!("xorriso exited with {code}: {tail}")
        }
        other => other.to_string(),
    }
}

impl UnattendedError {
    /// The single-error form of [`UnattendedError::InvalidConfig`].
    pub fn invalid(vm_id: Option<&str>, error: impl Into<String>) -> Self {
        UnattendedError::InvalidConfig { vm_id: vm_id.map(str::to_string), errors: vec![error.into()] }
    }

    fn vm_id(&self) -> Option<&String> {
        match self {
            UnattendedError::InvalidConfig { vm_id, .. }
            | UnattendedError::UnsupportedOs { vm_id, .. }
            | UnattendedError::MediaIo { vm_id, .. }
            | UnattendedError::Xorriso { vm_id, .. }
            | UnattendedError::Remaster { vm_id, .. } => vm_id.as_ref(),
            _ => None,
        }
    }
}

impl ErrorShape for UnattendedError {
    fn code(&self) -> &'static str {
        match self {
            UnattendedError::InvalidConfig { .. } => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::UnsupportedOs { .. } => UnattendedErrorCode::UNSUPPORTED_OS,
            UnattendedError::MediaIo { .. } | UnattendedError::Xorriso { .. } | UnattendedError::Remaster { .. } => UnattendedErrorCode::ISO_GENERATION_FAILED,
            UnattendedError::InvalidMonitorConfig { .. } => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::MonitorAlreadyRunning => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::QmpNotConnected => UnattendedErrorCode::QMP_ERROR,
            UnattendedError::QmpConnectionLost => UnattendedErrorCode::QMP_ERROR,
            UnattendedError::InstallationTimeout { .. } => UnattendedErrorCode::INSTALLATION_TIMEOUT,
            UnattendedError::ResetLimitExceeded { .. } => UnattendedErrorCode::INSTALLATION_RESET_LIMIT_EXCEEDED,
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
        let context = match self {
            UnattendedError::InvalidConfig { errors, .. } => json!({ "errors": errors }),
            UnattendedError::UnsupportedOs { os, .. } => json!({ "os": os }),
            UnattendedError::MediaIo { stage, path, source, .. } => {
                json!({ "stage": stage.as_str(), "path": path, "errno": crate::exec::errno_name(source) })
            }
            UnattendedError::Xorriso { source, .. } => json!({
                "stage": MediaStage::Xorriso.as_str(),
                "exitCode": source.exit_code(),
                "stderr": source.stderr_tail(),
            }),
            UnattendedError::Remaster { iso, .. } => {
                json!({ "stage": "remaster", "installerIso": iso })
            }
            UnattendedError::InvalidMonitorConfig { field, .. } => json!({ "field": field }),
            UnattendedError::ResetLimitExceeded { max_resets, reset_count } => {
                json!({ "maxResets": max_resets, "resetCount": reset_count })
            }
            UnattendedError::PoweredOffEarly { elapsed_ms, reset_count, min_install_time_ms, expected_reboots } => json!({
                "elapsed": elapsed_ms,
                "resetCount": reset_count,
                "minInstallTime": min_install_time_ms,
                "expectedReboots": expected_reboots,
            }),
            UnattendedError::Interrupted { cause } => json!({ "cause": cause }),
            UnattendedError::MonitorAlreadyRunning
            | UnattendedError::QmpNotConnected
            | UnattendedError::QmpConnectionLost
            | UnattendedError::InstallationTimeout { .. }
            | UnattendedError::MonitoringStopped => return Map::new(),
        };
        fields([("vmId", self.vm_id().cloned().map(Value::from)), ("context", Some(context))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_config_joins_every_error() {
        let e = UnattendedError::InvalidConfig { vm_id: Some("vm-1".into()), errors: vec!["Username is required".into(), "Password is required".into()] };
        assert_eq!(e.code(), "INVALID_CONFIG");
        assert_eq!(e.to_string(), "Invalid unattended install configuration: Username is required, Password is required");
        assert_eq!(e.fields()["context"]["errors"][1], "Password is required");
        assert_eq!(e.fields()["vmId"], "vm-1");
    }

    #[test]
    fn unsupported_os_message_is_the_spec_one() {
        let e = UnattendedError::UnsupportedOs { vm_id: None, os: "beos".into() };
        assert_eq!(e.to_string(), "Unsupported operating system: beos");
        assert_eq!(e.code(), "UNSUPPORTED_OS");
        assert!(!e.fields().contains_key("vmId"));
    }
}
