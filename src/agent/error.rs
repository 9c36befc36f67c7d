//! Guest agent errors. The later original rejects with plain `Error`s whose messages
//! we keep (API-next §1.2–§1.4, the backend logs them); ours add a `code` and fields.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};

code_enum! {
    /// Codes of guest agent failures (an Infinivirt addition, see COMPATIBILITY.md).
    pub enum GuestAgentErrorCode {
        AGENT_NOT_CONNECTED = "AGENT_NOT_CONNECTED",
        AGENT_CONNECT_FAILED = "AGENT_CONNECT_FAILED",
        AGENT_NOT_RUNNING = "AGENT_NOT_RUNNING",
        AGENT_TIMEOUT = "AGENT_TIMEOUT",
        AGENT_COMMAND_FAILED = "AGENT_COMMAND_FAILED",
        AGENT_COMMAND_DISABLED = "AGENT_COMMAND_DISABLED",
        AGENT_COMMAND_NOT_FOUND = "AGENT_COMMAND_NOT_FOUND",
        AGENT_INVALID_REPLY = "AGENT_INVALID_REPLY",
        AGENT_REPLY_TOO_LARGE = "AGENT_REPLY_TOO_LARGE",
        AGENT_CONNECTION_CLOSED = "AGENT_CONNECTION_CLOSED",
        AGENT_INVALID_ARGUMENT = "AGENT_INVALID_ARGUMENT",
        AGENT_FILE_TOO_LARGE = "AGENT_FILE_TOO_LARGE",
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GuestAgentError {
    #[error("Not connected to QGA socket")]
    NotConnected,
    /// Dialling the socket failed (no such socket, refused, …): the VM is not running
    /// or has no agent channel.
    #[error("QGA socket error: connect {errno} {path}")]
    Connect { path: String, errno: String },
    #[error("QGA connection timeout after {ms}ms")]
    ConnectTimeout { path: String, ms: u64 },
    /// The socket is open but nothing answered `guest-sync-delimited`: no agent runs in
    /// the guest (or it is wedged).
    #[error("QEMU guest agent at {path} did not answer guest-sync-delimited within {ms}ms (is qemu-ga running in the guest?)")]
    NotRunning { path: String, ms: u64 },
    #[error("QGA command '{command}' timed out after {ms}ms")]
    Timeout { command: String, ms: u64 },
    /// `guestExec`'s overall deadline passed with the process still running.
    #[error("guest-exec timed out for command \"{command}\" (pid {pid}) after {ms}ms")]
    ExecTimeout { command: String, pid: i64, ms: u64 },
    /// The agent answered with an `error` object.
    #[error("QGA error: {desc} ({class})")]
    Command { command: String, class: String, desc: String, kind: CommandErrorKind },
    #[error("QGA sent an invalid reply to '{command}': {why}")]
    InvalidReply { command: String, why: String },
    #[error("Guest agent returned no pid (guest-exec not supported?)")]
    NoPid,
    #[error("QGA reply to '{command}' is larger than {limit} bytes")]
    ReplyTooLarge { command: String, limit: usize },
    /// `QGA connection closed` (the socket went away) or `QGA client disconnected`.
    #[error("{reason}")]
    Closed { reason: &'static str },
    #[error("Invalid guest agent argument {field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("Guest file {path} is larger than the limit of {limit} bytes")]
    FileTooLarge { path: String, limit: usize },
}

/// How an agent `error` object is classified (once, here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandErrorKind {
    Failed,
    Disabled,
    NotFound,
}

impl CommandErrorKind {
    /// qemu-ga reports a command blocked by `--block-rpcs`/`--allow-rpcs` and an
    /// unknown command both with class `CommandNotFound`; only the text tells them apart.
    pub fn classify(class: &str, desc: &str) -> Self {
        match class {
            "CommandNotFound" if desc.contains("has been disabled") => CommandErrorKind::Disabled,
            "CommandNotFound" => CommandErrorKind::NotFound,
            _ => CommandErrorKind::Failed,
        }
    }
}

impl GuestAgentError {
    pub const CONNECTION_CLOSED: GuestAgentError = GuestAgentError::Closed { reason: "QGA connection closed" };
    pub const CLIENT_DISCONNECTED: GuestAgentError = GuestAgentError::Closed { reason: "QGA client disconnected" };

    pub fn command(command: &str, class: String, desc: String) -> Self {
        let kind = CommandErrorKind::classify(&class, &desc);
        GuestAgentError::Command { command: command.to_string(), class, desc, kind }
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Self {
        GuestAgentError::InvalidArgument { field: field.to_string(), reason: reason.into() }
    }

    /// The stream may hold bytes of this exchange: the next request must resync first.
    pub(crate) fn leaves_stream_dirty(&self) -> bool {
        !matches!(self, GuestAgentError::Command { .. } | GuestAgentError::InvalidArgument { .. })
    }
}

impl ErrorShape for GuestAgentError {
    fn code(&self) -> &'static str {
        use GuestAgentErrorCode as C;
        match self {
            GuestAgentError::NotConnected => C::AGENT_NOT_CONNECTED,
            GuestAgentError::Connect { .. } | GuestAgentError::ConnectTimeout { .. } => C::AGENT_CONNECT_FAILED,
            GuestAgentError::NotRunning { .. } => C::AGENT_NOT_RUNNING,
            GuestAgentError::Timeout { .. } | GuestAgentError::ExecTimeout { .. } => C::AGENT_TIMEOUT,
            GuestAgentError::Command { kind: CommandErrorKind::Failed, .. } => C::AGENT_COMMAND_FAILED,
            GuestAgentError::Command { kind: CommandErrorKind::Disabled, .. } => C::AGENT_COMMAND_DISABLED,
            GuestAgentError::Command { kind: CommandErrorKind::NotFound, .. } => C::AGENT_COMMAND_NOT_FOUND,
            GuestAgentError::InvalidReply { .. } | GuestAgentError::NoPid => C::AGENT_INVALID_REPLY,
            GuestAgentError::ReplyTooLarge { .. } => C::AGENT_REPLY_TOO_LARGE,
            GuestAgentError::Closed { .. } => C::AGENT_CONNECTION_CLOSED,
            GuestAgentError::InvalidArgument { .. } => C::AGENT_INVALID_ARGUMENT,
            GuestAgentError::FileTooLarge { .. } => C::AGENT_FILE_TOO_LARGE,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        let s = |v: &str| Some(Value::from(v));
        match self {
            GuestAgentError::Connect { path, errno } => fields([("path", s(path)), ("errno", s(errno))]),
            GuestAgentError::ConnectTimeout { path, .. } | GuestAgentError::NotRunning { path, .. } => fields([("path", s(path))]),
            GuestAgentError::Timeout { command, .. } | GuestAgentError::InvalidReply { command, .. } | GuestAgentError::ReplyTooLarge { command, .. } => {
                fields([("command", s(command))])
            }
            GuestAgentError::ExecTimeout { pid, .. } => fields([("pid", Some(Value::from(*pid)))]),
            GuestAgentError::Command { command, class, .. } => fields([("command", s(command)), ("agentClass", s(class))]),
            GuestAgentError::FileTooLarge { path, .. } => fields([("path", s(path))]),
            GuestAgentError::NotConnected | GuestAgentError::NoPid | GuestAgentError::Closed { .. } | GuestAgentError::InvalidArgument { .. } => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_messages_and_codes() {
        let e = GuestAgentError::command("guest-exec", "GenericError".into(), "boom".into());
        assert_eq!((e.to_string().as_str(), e.code()), ("QGA error: boom (GenericError)", "AGENT_COMMAND_FAILED"));
        let e = GuestAgentError::command("guest-exec", "CommandNotFound".into(), "Command guest-exec has been disabled".into());
        assert_eq!(e.code(), "AGENT_COMMAND_DISABLED");
        let e = GuestAgentError::command("guest-x", "CommandNotFound".into(), "The command guest-x has not been found".into());
        assert_eq!(e.code(), "AGENT_COMMAND_NOT_FOUND");
        let e = GuestAgentError::Connect { path: "/x.sock".into(), errno: "ENOENT".into() };
        assert!(e.to_string().starts_with("QGA socket error: connect ENOENT"));
        assert_eq!(GuestAgentError::Timeout { command: "guest-ping".into(), ms: 5 }.to_string(), "QGA command 'guest-ping' timed out after 5ms");
        assert_eq!(GuestAgentError::NoPid.to_string(), "Guest agent returned no pid (guest-exec not supported?)");
    }
}
