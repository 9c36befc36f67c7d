//! Database errors: the spec's `PrismaAdapterError(message, code, vmId?, details?)`,
//! and the errors of the sync layer itself.

use serde_json::{json, Map, Value};

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

/// Whether retrying the same operation later may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The store was unreachable, restarting, or refused a transaction for
    /// serialisation reasons: a later attempt may well succeed.
    Transient,
    /// The store answered and said no (bad input, constraint, missing table).
    Permanent,
}

/// An error thrown by a caller's JS object (a `DatabaseAdapter`, a Prisma client, a
/// hook). It is rethrown to JS callers as the very object that was thrown
/// (`reference`), so a `PrismaAdapterError` from a `PrismaAdapter` stays one.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignError {
    /// `String(error)`-like text of what was thrown.
    pub message: String,
    /// Its `code` property, if any.
    pub code: Option<String>,
    /// Handle of the thrown object in the facade's registry.
    pub reference: Option<u64>,
    pub retry: Retry,
}

/// Error codes (Node's errno names, PostgreSQL SQLSTATEs, Prisma's P-codes) that mean
/// "the database is unreachable, restarting or busy": worth retrying later.
const TRANSIENT_CODES: [&str; 26] = [
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "EPIPE",
    "ENOTFOUND",
    "EAI_AGAIN",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "ECONNABORTED",
    "57P01",
    "57P02",
    "57P03",
    "53300",
    "40001",
    "40P01",
    "08000",
    "08001",
    "08003",
    "08004",
    "08006",
    "P1001",
    "P1002",
    "P1008",
    "P1017",
    "P2024",
    "P2034",
];

/// Messages of connection loss that carry no code (node-postgres' "Connection terminated").
const TRANSIENT_MESSAGES: [&str; 4] =
    ["Connection terminated", "Can't reach database server", "Timed out fetching a new connection", "Client has encountered a connection error"];

impl ForeignError {
    /// Classifies an error thrown by a JS adapter from the codes found on it (its own
    /// `code`, its `details`/`cause` chain) and, for node-postgres' code-less
    /// connection errors only, its message.
    pub fn classify(codes: &[String], message: &str) -> Retry {
        if codes.iter().any(|c| TRANSIENT_CODES.contains(&c.as_str())) || TRANSIENT_MESSAGES.iter().any(|m| message.contains(m)) {
            Retry::Transient
        } else {
            Retry::Permanent
        }
    }
}

impl std::fmt::Display for ForeignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a store operation can fail with. Messages and codes follow spec §11.1.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DatabaseError {
    /// A read failed (`Failed to <action>: <cause>`, `QUERY_FAILED`).
    #[error("Failed to {action}: {cause}")]
    Query { action: &'static str, vm_id: Option<String>, cause: String, sql_state: Option<String>, retry: Retry },
    /// A write failed (`UPDATE_FAILED`).
    #[error("Failed to {action}: {cause}")]
    Update { action: &'static str, vm_id: Option<String>, cause: String, sql_state: Option<String>, retry: Retry },
    #[error("Machine not found: {vm_id}")]
    MachineNotFound { vm_id: String },
    #[error("Version conflict: expected {expected}, found {found}. Another process may have modified this VM.")]
    VersionConflict { vm_id: String, expected: i64, found: i64 },
    #[error("Status conflict: expected '{expected}', found '{found}'. VM may already be {found}.")]
    StatusConflict { vm_id: String, expected: String, found: String },
    #[error("Failed to transition VM status: concurrent modification detected")]
    ConcurrentModification { vm_id: String, expected_status: String, expected_version: i64 },
    #[error("{message}")]
    InvalidInput { message: String, vm_id: Option<String> },
    /// The operation is not available on this store (a plain JS adapter without the
    /// extended methods, or an embedded-only operation on PostgreSQL).
    #[error("{message}")]
    Unsupported { message: String },
    /// Thrown by a caller's JS adapter.
    #[error("{0}")]
    Foreign(ForeignError),
}

impl DatabaseError {
    pub fn retry(&self) -> Retry {
        match self {
            DatabaseError::Query { retry, .. } | DatabaseError::Update { retry, .. } => *retry,
            DatabaseError::Foreign(f) => f.retry,
            DatabaseError::MachineNotFound { .. }
            | DatabaseError::VersionConflict { .. }
            | DatabaseError::StatusConflict { .. }
            | DatabaseError::ConcurrentModification { .. }
            | DatabaseError::InvalidInput { .. }
            | DatabaseError::Unsupported { .. } => Retry::Permanent,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.retry() == Retry::Transient
    }

    /// A lost optimistic-concurrency race (`VERSION_CONFLICT`), also when a JS adapter
    /// (a `PrismaAdapter` called through the host bridge) threw it.
    pub fn is_version_conflict(&self) -> bool {
        match self {
            DatabaseError::VersionConflict { .. } | DatabaseError::ConcurrentModification { .. } => true,
            DatabaseError::Foreign(f) => f.code.as_deref() == Some("VERSION_CONFLICT"),
            _ => false,
        }
    }

    /// `MACHINE_NOT_FOUND`, ours or thrown by a JS adapter (a `PrismaAdapter`).
    pub fn is_machine_not_found(&self) -> bool {
        match self {
            DatabaseError::MachineNotFound { .. } => true,
            DatabaseError::Foreign(f) => f.code.as_deref() == Some("MACHINE_NOT_FOUND"),
            _ => false,
        }
    }

    /// The spec's rule for `updateStatusDirect` (§10.1): a message mentioning
    /// `not found` reads as `VM_NOT_FOUND`. Only used for that result code, never for a
    /// decision that kills or cleans up.
    pub fn mentions_not_found(&self) -> bool {
        matches!(self, DatabaseError::MachineNotFound { .. }) || self.to_string().contains("not found")
    }
}

impl ErrorShape for DatabaseError {
    fn code(&self) -> &'static str {
        use PrismaAdapterErrorCode as C;
        match self {
            DatabaseError::Query { .. } | DatabaseError::Unsupported { .. } => C::QUERY_FAILED.as_str(),
            DatabaseError::Update { .. } | DatabaseError::StatusConflict { .. } => C::UPDATE_FAILED.as_str(),
            DatabaseError::MachineNotFound { .. } => C::MACHINE_NOT_FOUND.as_str(),
            DatabaseError::VersionConflict { .. } | DatabaseError::ConcurrentModification { .. } => C::VERSION_CONFLICT.as_str(),
            DatabaseError::InvalidInput { .. } => C::INVALID_INPUT.as_str(),
            // Not a PrismaAdapterError of ours: the facade rethrows the original object.
            DatabaseError::Foreign(_) => "FOREIGN_ERROR",
        }
    }

    fn class(&self) -> JsClass {
        match self {
            DatabaseError::Foreign(_) => JsClass::Foreign,
            _ => JsClass::PrismaAdapterError,
        }
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            DatabaseError::Query { vm_id, cause, sql_state, retry, .. } | DatabaseError::Update { vm_id, cause, sql_state, retry, .. } => {
                let details = json!({ "message": cause, "sqlState": sql_state, "transient": *retry == Retry::Transient });
                fields([("vmId", vm_id.clone().map(Value::from)), ("details", Some(details))])
            }
            DatabaseError::MachineNotFound { vm_id } => fields([("vmId", Some(Value::from(vm_id.clone())))]),
            DatabaseError::VersionConflict { vm_id, expected, found } => {
                fields([("vmId", Some(Value::from(vm_id.clone()))), ("details", Some(json!({ "expectedVersion": expected, "currentVersion": found })))])
            }
            DatabaseError::StatusConflict { vm_id, expected, found } => {
                fields([("vmId", Some(Value::from(vm_id.clone()))), ("details", Some(json!({ "expectedStatus": expected, "currentStatus": found })))])
            }
            DatabaseError::ConcurrentModification { vm_id, expected_status, expected_version } => fields([
                ("vmId", Some(Value::from(vm_id.clone()))),
                ("details", Some(json!({ "expectedStatus": expected_status, "expectedVersion": expected_version }))),
            ]),
            DatabaseError::InvalidInput { vm_id, .. } => fields([("vmId", vm_id.clone().map(Value::from))]),
            DatabaseError::Unsupported { .. } => Map::new(),
            DatabaseError::Foreign(f) => fields([("ref", f.reference.map(Value::from)), ("foreignCode", f.code.clone().map(Value::from))]),
        }
    }
}

/// Errors of `StateSync` itself (not of the store).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// `getVMStatus` / `updateStatusDirect` on a machine the store does not have.
    #[error("VM {vm_id} not found")]
    VmNotFound { vm_id: String },
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// A QMP status source failed (not connected, command failed).
    #[error("{message}")]
    Qmp { message: String },
    /// A caller-supplied option is out of range.
    #[error("Invalid {field}: {reason}")]
    InvalidOption { field: String, reason: String },
}

impl ErrorShape for StateError {
    fn code(&self) -> &'static str {
        match self {
            StateError::VmNotFound { .. } => SyncErrorCode::VM_NOT_FOUND.as_str(),
            StateError::Database(e) => e.code(),
            StateError::Qmp { .. } => SyncErrorCode::QMP_UNAVAILABLE.as_str(),
            StateError::InvalidOption { .. } => "INVALID_OPTION",
        }
    }

    fn class(&self) -> JsClass {
        match self {
            StateError::Database(e) => e.class(),
            // The spec throws plain `Error('VM <id> not found')`.
            StateError::VmNotFound { .. } | StateError::Qmp { .. } | StateError::InvalidOption { .. } => JsClass::Error,
        }
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            StateError::Database(e) => e.fields(),
            StateError::VmNotFound { vm_id } => fields([("vmId", Some(Value::from(vm_id.clone())))]),
            StateError::Qmp { .. } | StateError::InvalidOption { .. } => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_messages_and_codes() {
        let e = DatabaseError::VersionConflict { vm_id: "v".into(), expected: 1, found: 2 };
        assert_eq!(e.to_string(), "Version conflict: expected 1, found 2. Another process may have modified this VM.");
        assert_eq!(e.code(), "VERSION_CONFLICT");
        assert_eq!(e.fields()["details"], json!({"expectedVersion": 1, "currentVersion": 2}));
        let e = DatabaseError::StatusConflict { vm_id: "v".into(), expected: "off".into(), found: "running".into() };
        assert_eq!(e.to_string(), "Status conflict: expected 'off', found 'running'. VM may already be running.");
        assert_eq!(e.code(), "UPDATE_FAILED");
        let e =
            DatabaseError::Update { action: "update machine status", vm_id: Some("v".into()), cause: "boom".into(), sql_state: None, retry: Retry::Transient };
        assert_eq!(e.to_string(), "Failed to update machine status: boom");
        assert!(e.is_transient());
        assert!(!DatabaseError::MachineNotFound { vm_id: "x".into() }.is_transient());
        assert!(DatabaseError::MachineNotFound { vm_id: "x".into() }.mentions_not_found());
        assert_eq!(StateError::VmNotFound { vm_id: "a".into() }.to_string(), "VM a not found");
        let codes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(ForeignError::classify(&codes(&["UPDATE_FAILED", "ECONNREFUSED"]), "x"), Retry::Transient);
        assert_eq!(ForeignError::classify(&codes(&["P1001"]), "x"), Retry::Transient);
        assert_eq!(ForeignError::classify(&[], "Failed: Error: Connection terminated unexpectedly"), Retry::Transient);
        assert_eq!(ForeignError::classify(&codes(&["UPDATE_FAILED"]), "Error: boom"), Retry::Permanent);
    }
}
