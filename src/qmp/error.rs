//! QMP errors. The spec's QMP client rejects with plain `Error`s whose messages are
//! fixed (§4.1, §4.3); ours keep those messages and add a `code`.

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
        QMP_INVALID_OPTION = "QMP_INVALID_OPTION",
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum QmpError {
    #[error("Not connected to QMP socket")]
    NotConnected,
    /// Dialling the socket failed; the message is the spec's per-errno text.
    #[error("{message}")]
    Connect { path: String, message: String, errno: Option<String> },
    #[error("{message}")]
    Handshake { message: String },
    #[error("Command '{command}' timed out after {ms}ms")]
    Timeout { command: String, ms: u64 },
    /// QEMU answered with an `error` object.
    #[error("QMP error: {desc} ({class})")]
    Command { class: String, desc: String },
    /// The connection went away with the command pending (`Connection closed`) or
    /// this client disconnected (`Client disconnected`).
    #[error("{reason}")]
    Closed { reason: &'static str },
    #[error("QMP protocol error: {message}")]
    Protocol { message: String },
    #[error("Invalid QMP client option {field}: {reason}")]
    InvalidOption { field: String, reason: String },
}

impl QmpError {
    pub const CONNECTION_CLOSED: QmpError = QmpError::Closed { reason: "Connection closed" };
    pub const CLIENT_DISCONNECTED: QmpError = QmpError::Closed { reason: "Client disconnected" };
}

impl ErrorShape for QmpError {
    fn code(&self) -> &'static str {
        match self {
            QmpError::NotConnected => QmpErrorCode::QMP_NOT_CONNECTED,
            QmpError::Connect { .. } => QmpErrorCode::QMP_CONNECT_FAILED,
            QmpError::Handshake { .. } => QmpErrorCode::QMP_HANDSHAKE_FAILED,
            QmpError::Timeout { .. } => QmpErrorCode::QMP_TIMEOUT,
            QmpError::Command { .. } => QmpErrorCode::QMP_COMMAND_ERROR,
            QmpError::Closed { .. } => QmpErrorCode::QMP_CONNECTION_CLOSED,
            QmpError::Protocol { .. } => QmpErrorCode::QMP_PROTOCOL_ERROR,
            QmpError::InvalidOption { .. } => QmpErrorCode::QMP_INVALID_OPTION,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            QmpError::Command { class, .. } => fields([("qmpClass", Some(Value::from(class.clone())))]),
            QmpError::Connect { path, errno, .. } => fields([("path", Some(Value::from(path.clone()))), ("errno", errno.clone().map(Value::from))]),
            QmpError::Timeout { command, .. } => fields([("command", Some(Value::from(command.clone())))]),
            _ => Map::new(),
        }
    }
}

/// The spec's message for a failed dial (§4.1), by errno.
pub fn connect_error(path: &str, e: &std::io::Error) -> QmpError {
    let errno = crate::exec::errno_name(e);
    let message = match errno.as_str() {
        "ECONNREFUSED" => format!("Connection refused: QMP socket at {path} is not accepting connections"),
        "ENOENT" => format!("Socket not found: {path} does not exist"),
        "EACCES" => format!("Permission denied: Cannot access {path}"),
        "ETIMEDOUT" => format!("Connection timed out: {path}"),
        "EAGAIN" => format!("Socket not ready: QMP socket at {path} is temporarily unavailable (QEMU may be shutting down)"),
        "EPIPE" => format!("Broken pipe: Connection to QMP socket at {path} was lost"),
        "ENOTCONN" => format!("Not connected: Socket at {path} is not connected"),
        _ => format!("Socket error: {e}"),
    };
    QmpError::Connect { path: path.to_string(), message, errno: e.raw_os_error().map(|_| errno) }
}
