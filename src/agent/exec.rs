//! `guest-exec` + `guest-exec-status`: run a program in the guest and collect its
//! exit status and output, within an overall deadline.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use super::client::GuestAgent;
use super::error::GuestAgentError;

/// What a finished guest process left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit code; -1 when the process was killed by a signal.
    pub exit_code: i64,
    pub signal: Option<i64>,
    /// Output was cut (by the agent's own 16 MiB cap or by ours).
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

/// The first poll comes quickly (most commands are short), later ones every 200 ms.
const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(200);

fn check_text(field: &str, s: &str) -> Result<(), GuestAgentError> {
    if s.contains('\0') {
        return Err(GuestAgentError::invalid(field, "must not contain NUL characters"));
    }
    Ok(())
}

impl GuestAgent {
    /// Runs `path` with `args` in the guest (no shell) and waits for it at most
    /// `timeout` (default: the command timeout). On timeout the process keeps running
    /// in the guest: the agent cannot kill it.
    pub async fn exec(&self, path: &str, args: &[String], timeout: Option<Duration>) -> Result<ExecOutput, GuestAgentError> {
        if path.is_empty() {
            return Err(GuestAgentError::invalid("command", "must not be empty"));
        }
        check_text("command", path)?;
        for a in args {
            check_text("args", a)?;
        }
        let overall = timeout.unwrap_or(self.options().command_timeout);
        let started = Instant::now();
        let mut spawn = json!({ "path": path, "capture-output": true });
        if !args.is_empty() {
            spawn["arg"] = json!(args);
        }
        let r = self.call("guest-exec", Some(&spawn)).await?;
        let pid = match r.get("pid").and_then(Value::as_i64) {
            Some(p) if p >= 0 => p,
            _ => return Err(GuestAgentError::NoPid),
        };
        let outcome = tokio::time::timeout(overall.saturating_sub(started.elapsed()), self.wait_exec(pid)).await;
        let result = match outcome {
            Ok(r) => r,
            Err(_) => Err(GuestAgentError::ExecTimeout { command: path.to_string(), pid, ms: u64::try_from(overall.as_millis()).unwrap_or(u64::MAX) }),
        };
        if result.is_err() {
            // The agent keeps the entry of a process nobody collected: ask once more
            // so it can reap it when it ends (the answer does not matter).
            let args = json!({ "pid": pid });
            if let Err(e) = self.request("guest-exec-status", Some(&args), super::link::Expect::Reply, Duration::from_millis(1000)).await {
                crate::log::log("infinivirt:qga-client", &format!("final guest-exec-status of pid {pid}: {e}"));
            }
        }
        result
    }

    async fn wait_exec(&self, pid: i64) -> Result<ExecOutput, GuestAgentError> {
        let args = json!({ "pid": pid });
        let mut pause = FIRST_POLL;
        loop {
            let st = self.call("guest-exec-status", Some(&args)).await?;
            if st.get("exited").and_then(Value::as_bool) == Some(true) {
                return self.collect(&st);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    fn collect(&self, st: &Value) -> Result<ExecOutput, GuestAgentError> {
        let cap = self.options().max_output_bytes;
        let stream = |data: &str, cut: &str| -> Result<(Vec<u8>, bool), GuestAgentError> {
            let mut bytes = match st.get(data).and_then(Value::as_str) {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| GuestAgentError::InvalidReply { command: "guest-exec-status".into(), why: format!("{data} is not base64: {e}") })?,
                None => Vec::new(),
            };
            let mut truncated = st.get(cut).and_then(Value::as_bool).unwrap_or(false);
            if bytes.len() > cap {
                bytes.truncate(cap);
                truncated = true;
            }
            Ok((bytes, truncated))
        };
        let (stdout, stdout_truncated) = stream("out-data", "out-truncated")?;
        let (stderr, stderr_truncated) = stream("err-data", "err-truncated")?;
        Ok(ExecOutput {
            stdout,
            stderr,
            exit_code: st.get("exitcode").and_then(Value::as_i64).unwrap_or(-1),
            signal: st.get("signal").and_then(Value::as_i64),
            stdout_truncated,
            stderr_truncated,
        })
    }
}
