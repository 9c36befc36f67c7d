//! VM lifecycle errors: the spec's `LifecycleError(code, message, vmId?, context?)`.
//!
//! The QEMU command builder reports unsafe or out-of-range values here too, as
//! `INVALID_CONFIG`: building a VM's command line is the first step of its lifecycle.

use serde_json::{json, Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};

code_enum! {
    /// Spec §17.9 `LifecycleErrorCode`.
    pub enum LifecycleErrorCode {
        VM_NOT_FOUND = "VM_NOT_FOUND",
        ALREADY_RUNNING = "ALREADY_RUNNING",
        ALREADY_STOPPED = "ALREADY_STOPPED",
        CREATE_FAILED = "CREATE_FAILED",
        START_FAILED = "START_FAILED",
        STOP_FAILED = "STOP_FAILED",
        CLEANUP_FAILED = "CLEANUP_FAILED",
        TIMEOUT = "TIMEOUT",
        QMP_ERROR = "QMP_ERROR",
        DISK_ERROR = "DISK_ERROR",
        NETWORK_ERROR = "NETWORK_ERROR",
        FIREWALL_ERROR = "FIREWALL_ERROR",
        INVALID_CONFIG = "INVALID_CONFIG",
        PROCESS_ERROR = "PROCESS_ERROR",
        DATABASE_ERROR = "DATABASE_ERROR",
        INVALID_STATE = "INVALID_STATE",
        CONCURRENT_MODIFICATION = "CONCURRENT_MODIFICATION",
        RESOURCE_UNAVAILABLE = "RESOURCE_UNAVAILABLE",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// A value rejected before it could reach QEMU's command line.
    #[error("Invalid {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    /// A check whose message the spec fixes (PCI address, ROM directory, …).
    #[error("{message}")]
    InvalidConfig { message: String, vm_id: Option<String>, context: Option<Value> },
    /// Any other lifecycle failure, with the spec's code (`CREATE_FAILED`, `TIMEOUT`, …).
    #[error("{}", .0.message)]
    Failed(Box<Failure>),
}

/// The fields of [`LifecycleError::Failed`] (boxed: errors stay small on the happy path).
#[derive(Debug)]
pub struct Failure {
    pub code: LifecycleErrorCode,
    pub message: String,
    pub vm_id: Option<String>,
    pub context: Option<Value>,
}

impl LifecycleError {
    pub fn failed(code: LifecycleErrorCode, message: impl Into<String>, vm_id: Option<&str>, context: Option<Value>) -> Self {
        LifecycleError::Failed(Box::new(Failure { code, message: message.into(), vm_id: vm_id.map(str::to_string), context }))
    }

    /// A lower layer's error as a lifecycle error with `code`: same message; its own
    /// code and fields go to `context.cause`, so nothing about the original is lost.
    pub fn wrap<E: ErrorShape>(code: LifecycleErrorCode, vm_id: &str, e: &E) -> Self {
        let mut cause = e.fields();
        cause.insert("code".into(), Value::from(e.code()));
        let context = json!({ "cause": Value::Object(cause) });
        LifecycleError::failed(code, e.to_string(), Some(vm_id), Some(context))
    }

    /// [`Self::wrap`] for an error that concerns no single VM.
    pub fn wrap_plain<E: ErrorShape>(code: LifecycleErrorCode, e: &E) -> Self {
        let mut cause = e.fields();
        cause.insert("code".into(), Value::from(e.code()));
        LifecycleError::failed(code, e.to_string(), None, Some(json!({ "cause": Value::Object(cause) })))
    }

    /// The spec code of this error.
    pub fn lifecycle_code(&self) -> LifecycleErrorCode {
        match self {
            LifecycleError::Failed(f) => f.code,
            _ => LifecycleErrorCode::INVALID_CONFIG,
        }
    }
}

impl ErrorShape for LifecycleError {
    fn code(&self) -> &'static str {
        match self {
            LifecycleError::InvalidArgument { .. } | LifecycleError::InvalidConfig { .. } => LifecycleErrorCode::INVALID_CONFIG.as_str(),
            LifecycleError::Failed(f) => f.code.as_str(),
        }
    }

    fn class(&self) -> JsClass {
        JsClass::LifecycleError
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            LifecycleError::InvalidArgument { field, .. } => fields([("context", Some(json!({ "field": field })))]),
            LifecycleError::InvalidConfig { vm_id, context, .. } => fields([("vmId", vm_id.clone().map(Value::from)), ("context", context.clone())]),
            LifecycleError::Failed(f) => fields([("vmId", f.vm_id.clone().map(Value::from)), ("context", f.context.clone())]),
        }
    }
}
