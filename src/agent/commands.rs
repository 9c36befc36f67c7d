//! Typed agent commands beyond exec and files: liveness, guest information,
//! filesystem freeze, shutdown and passwords.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use super::client::GuestAgent;
use super::error::GuestAgentError;
use super::link::Expect;
use crate::secret::Secret;

/// `guest-shutdown` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    Powerdown,
    Reboot,
    Halt,
}

impl std::str::FromStr for ShutdownMode {
    type Err = GuestAgentError;
    fn from_str(s: &str) -> Result<Self, GuestAgentError> {
        match s {
            "powerdown" => Ok(ShutdownMode::Powerdown),
            "reboot" => Ok(ShutdownMode::Reboot),
            "halt" => Ok(ShutdownMode::Halt),
            other => Err(GuestAgentError::invalid("mode", format!("must be powerdown, reboot or halt, got {other:?}"))),
        }
    }
}

impl ShutdownMode {
    fn as_str(self) -> &'static str {
        match self {
            ShutdownMode::Powerdown => "powerdown",
            ShutdownMode::Reboot => "reboot",
            ShutdownMode::Halt => "halt",
        }
    }
}

fn number(command: &str, v: &Value) -> Result<i64, GuestAgentError> {
    v.as_i64().ok_or_else(|| GuestAgentError::InvalidReply { command: command.into(), why: format!("expected a number, got {v}") })
}

impl GuestAgent {
    /// `guest-ping`, with its own deadline (a liveness probe should not wait 30 s).
    pub async fn ping(&self, timeout: Option<Duration>) -> Result<(), GuestAgentError> {
        self.request("guest-ping", None, Expect::Reply, timeout.unwrap_or(self.options().command_timeout)).await.map(drop)
    }

    /// `guest-info`: the agent's version and its commands (with `enabled` flags).
    pub async fn info(&self) -> Result<Value, GuestAgentError> {
        self.call("guest-info", None).await
    }

    pub async fn os_info(&self) -> Result<Value, GuestAgentError> {
        self.call("guest-get-osinfo", None).await
    }

    pub async fn host_name(&self) -> Result<String, GuestAgentError> {
        let v = self.call("guest-get-host-name", None).await?;
        v.get("host-name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GuestAgentError::InvalidReply { command: "guest-get-host-name".into(), why: "no host-name".into() })
    }

    /// `guest-network-get-interfaces`, with its own deadline.
    pub async fn network_interfaces(&self, timeout: Option<Duration>) -> Result<Value, GuestAgentError> {
        self.request("guest-network-get-interfaces", None, Expect::Reply, timeout.unwrap_or(self.options().command_timeout)).await
    }

    pub async fn fs_info(&self) -> Result<Value, GuestAgentError> {
        self.call("guest-get-fsinfo", None).await
    }

    /// `"thawed"` or `"frozen"`.
    pub async fn fsfreeze_status(&self) -> Result<String, GuestAgentError> {
        let v = self.call("guest-fsfreeze-status", None).await?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| GuestAgentError::InvalidReply { command: "guest-fsfreeze-status".into(), why: format!("expected a string, got {v}") })
    }

    /// Freezes the guest's filesystems; the number frozen. A timeout does not undo a
    /// freeze in progress in the guest: callers thaw on every path.
    pub async fn fsfreeze(&self) -> Result<i64, GuestAgentError> {
        self.fsfreeze_within(self.options().command_timeout).await
    }

    /// [`Self::fsfreeze`] with its own deadline.
    pub async fn fsfreeze_within(&self, limit: Duration) -> Result<i64, GuestAgentError> {
        let v = self.request("guest-fsfreeze-freeze", None, Expect::Reply, limit).await?;
        number("guest-fsfreeze-freeze", &v)
    }

    /// Thaws the guest's filesystems; the number thawed (0 when none were frozen).
    pub async fn fsthaw(&self) -> Result<i64, GuestAgentError> {
        self.fsthaw_within(self.options().command_timeout).await
    }

    /// [`Self::fsthaw`] with its own deadline.
    pub async fn fsthaw_within(&self, limit: Duration) -> Result<i64, GuestAgentError> {
        let v = self.request("guest-fsfreeze-thaw", None, Expect::Reply, limit).await?;
        number("guest-fsfreeze-thaw", &v)
    }

    /// `guest-shutdown`. The agent answers only on failure, so success is its answer to
    /// a following sync; a guest already going down may answer neither, which counts
    /// as success once `timeout` passes without an error.
    pub async fn shutdown(&self, mode: ShutdownMode, timeout: Option<Duration>) -> Result<(), GuestAgentError> {
        let args = json!({ "mode": mode.as_str() });
        match self.request("guest-shutdown", Some(&args), Expect::NoReplyOnSuccess, timeout.unwrap_or(self.options().command_timeout)).await {
            Ok(_) | Err(GuestAgentError::Timeout { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `guest-set-user-password`. The password travels base64-encoded (as the agent
    /// wants) and never appears in an error: any echo of it is masked.
    pub async fn set_user_password(&self, username: &str, password: &Secret, crypted: bool) -> Result<(), GuestAgentError> {
        if username.is_empty() || username.len() > 256 || username.chars().any(char::is_control) {
            return Err(GuestAgentError::invalid("username", "must be 1 to 256 characters without control characters"));
        }
        if password.expose().is_empty() {
            return Err(GuestAgentError::invalid("password", "must not be empty"));
        }
        let encoded = base64::engine::general_purpose::STANDARD.encode(password.expose());
        let args = json!({ "username": username, "password": encoded, "crypted": crypted });
        match self.call("guest-set-user-password", Some(&args)).await {
            Ok(_) => Ok(()),
            Err(GuestAgentError::Command { command, class, desc, kind }) => {
                let desc = desc.replace(password.expose(), "***").replace(&encoded, "***");
                Err(GuestAgentError::Command { command, class, desc, kind })
            }
            Err(e) => Err(e),
        }
    }
}
