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
}

impl ErrorShape for UnattendedError {
    fn code(&self) -> &'static str {
        match self {
            UnattendedError::InvalidConfig { .. } => UnattendedErrorCode::INVALID_CONFIG,
            UnattendedError::UnsupportedOs { .. } => UnattendedErrorCode::UNSUPPORTED_OS,
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
        }
    }
}
