//! QMP errors. The spec's QMP client rejects with plain `Error`s; ours carry a `code`
//! so callers can branch without matching message text.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};

code_enum! {
    /// Codes of QMP failures (an Infinivirt addition; the spec has no QMP code enum).
    pub enum QmpErrorCode {
        QMP_NOT_CONNECTED = "QMP_NOT_CONNECTED",
        QMP_CONNECT_FAILED = "QMP_CONNECT_FAILED",
        QMP_HANDSHAKE_FAILED = "QMP_HANDSHAKE_FAILED",
        QMP_TIMEOUT = "QMP_TIMEOUT",
        QMP_COMMAND_ERROR = "QMP_COMMAND_ERROR",
        QMP_CONNECTION_CLOSED = "QMP_CONNECTION_CLOSED",
        QMP_PROTOCOL_ERROR = "QMP_PROTOCOL_ERROR",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("Not connected to QMP socket")]
    NotConnected,
    #[error("{message}")]
    Connect { path: String, message: String },
    #[error("Command '{command}' timed out after {ms}ms")]
    Timeout { command: String, ms: u64 },
    /// QEMU answered with an `error` object.
    #[error("QMP error: {desc} ({class})")]
    Command { class: String, desc: String },
    #[error("Connection closed")]
    Closed,
}

impl ErrorShape for QmpError {
    fn code(&self) -> &'static str {
        match self {
            QmpError::NotConnected => QmpErrorCode::QMP_NOT_CONNECTED,
            QmpError::Connect { .. } => QmpErrorCode::QMP_CONNECT_FAILED,
            QmpError::Timeout { .. } => QmpErrorCode::QMP_TIMEOUT,
            QmpError::Command { .. } => QmpErrorCode::QMP_COMMAND_ERROR,
            QmpError::Closed => QmpErrorCode::QMP_CONNECTION_CLOSED,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            QmpError::Command { class, .. } => fields([("qmpClass", Some(Value::from(class.clone())))]),
            QmpError::Connect { path, .. } => fields([("path", Some(Value::from(path.clone())))]),
            _ => Map::new(),
        }
    }
}
