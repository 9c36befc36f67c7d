//! Database errors: the spec's `PrismaAdapterError(message, code, vmId?, details?)`.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};

code_enum! {
    /// Spec §17.8 `PrismaAdapterErrorCode`.
    pub enum PrismaAdapterErrorCode {
        MACHINE_NOT_FOUND = "MACHINE_NOT_FOUND",
        DB_CONNECTION_ERROR = "DB_CONNECTION_ERROR",
        UPDATE_FAILED = "UPDATE_FAILED",
        QUERY_FAILED = "QUERY_FAILED",
        INVALID_INPUT = "INVALID_INPUT",
        CONSTRAINT_VIOLATION = "CONSTRAINT_VIOLATION",
        VERSION_CONFLICT = "VERSION_CONFLICT",
    }
}

code_enum! {
    /// Spec §17.7 `SyncErrorCode`.
    pub enum SyncErrorCode {
        QMP_UNAVAILABLE = "QMP_UNAVAILABLE",
        DB_ERROR = "DB_ERROR",
        VM_NOT_FOUND = "VM_NOT_FOUND",
        INVALID_STATUS = "INVALID_STATUS",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// A read failed (`Failed to <action>: <cause>`).
    #[error("Failed to {action}: {cause}")]
    Query { action: &'static str, vm_id: Option<String>, cause: String },
    /// A write failed.
    #[error("Failed to {action}: {cause}")]
    Update { action: &'static str, vm_id: Option<String>, cause: String },
    /// The store could not be reached.
    #[error("Database unavailable: {cause}")]
    Connection { cause: String },
    #[error("Version conflict for machine {vm_id}: expected version {expected}")]
    VersionConflict { vm_id: String, expected: i64 },
}

impl ErrorShape for DatabaseError {
    fn code(&self) -> &'static str {
        match self {
            DatabaseError::Query { .. } => PrismaAdapterErrorCode::QUERY_FAILED,
            DatabaseError::Update { .. } => PrismaAdapterErrorCode::UPDATE_FAILED,
            DatabaseError::Connection { .. } => PrismaAdapterErrorCode::DB_CONNECTION_ERROR,
            DatabaseError::VersionConflict { .. } => PrismaAdapterErrorCode::VERSION_CONFLICT,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::PrismaAdapterError
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            DatabaseError::Query { vm_id, .. } | DatabaseError::Update { vm_id, .. } => {
                fields([("vmId", vm_id.clone().map(Value::from))])
            }
            DatabaseError::VersionConflict { vm_id, .. } => fields([("vmId", Some(Value::from(vm_id.clone())))]),
            DatabaseError::Connection { .. } => Map::new(),
        }
    }
}
