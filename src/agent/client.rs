//! The guest agent client as callers see it: connect, disconnect, `execute` with a
//! deadline, and the typed commands (exec, fsfreeze, guest info, files, shutdown).
//!
//! A QEMU chardev serves one peer at a time, so every client of one socket path
//! shares one [`Connection`]: a second client joins the live one instead of queueing
//! behind it in the listen backlog. The connection closes when its last client lets go.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::error::GuestAgentError;
use super::link::{expect_for, Connection, Expect, Request};

#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Dialling plus the first `guest-sync-delimited` (and any later resync).
    pub connect_timeout: Duration,
    /// The default deadline of one command.
    pub command_timeout: Duration,
    /// Most bytes kept of each of a `guestExec`'s stdout and stderr.
    pub max_output_bytes: usize,
}

/// qemu-ga itself caps each captured stream at 16 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 16 * 1024 * 1024;
/// Longest deadline accepted from a caller (one day).
const MAX_MS: f64 = 86_400_000.0;

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions { connect_timeout: Duration::from_millis(5000), command_timeout: Duration::from_millis(30000), max_output_bytes: DEFAULT_MAX_OUTPUT }
    }
}

impl AgentOptions {
    /// A millisecond value from JS: finite, > 0 and at most a day.
    pub fn millis(field: &str, v: f64) -> Result<Duration, GuestAgentError> {
        if v.is_finite() && v > 0.0 && v <= MAX_MS {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // range-checked above
            return Ok(Duration::from_micros((v * 1000.0) as u64));
        }
        Err(GuestAgentError::invalid(field, format!("must be a number of milliseconds above 0 and at most {MAX_MS}, got {v}")))
    }

    /// A byte count from JS: an integer from 1 to 1 GiB.
    pub fn bytes(field: &str, v: f64) -> Result<usize, GuestAgentError> {
        if v.is_finite() && v.fract() == 0.0 && (1.0..=1_073_741_824.0).contains(&v) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // range-checked above
            return Ok(v as usize);
        }
        Err(GuestAgentError::invalid(field, format!("must be a whole number of bytes from 1 to 1073741824, got {v}")))
    }

    /// The longest reply line kept: both streams of a `guest-exec-status` in base64.
    pub(crate) fn reply_cap(&self) -> usize {
        (self.max_output_bytes.saturating_mul(8) / 3).saturating_add(64 * 1024).max(4 * 1024 * 1024)
    }
}

/// One socket path's dial lock and its live connection, if any.
#[derive(Default)]
struct Slot {
    conn: tokio::sync::Mutex<Weak<Connection>>,
}

static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Arc<Slot>>>> = LazyLock::new(Default::default);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is one insert/remove/clone: a panic cannot break them.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The live connection to `path`, dialling one if needed. Dials of one path are
/// serialised (two clients never open two connections); other paths are not held up.
async fn obtain(path: &Path, connect_timeout: Duration) -> Result<Arc<Connection>, GuestAgentError> {
    let slot = {
        let mut reg = lock(&REGISTRY);
        // Forget paths nobody uses (no live connection, no dial in progress).
        reg.retain(|p, s| p == path || Arc::strong_count(s) > 1 || s.conn.try_lock().is_ok_and(|w| w.strong_count() > 0));
        reg.entry(path.to_path_buf()).or_default().clone()
    };
    let mut current = slot.conn.lock().await;
    if let Some(c) = current.upgrade().filter(|c| c.is_alive()) {
        match c.resync_if_idle(connect_timeout).await {
            Err(GuestAgentError::Closed { .. }) => {}
            r => return r.map(|()| c),
        }
    }
    let c = Arc::new(Connection::dial(path, connect_timeout).await?);
    *current = Arc::downgrade(&c);
    Ok(c)
}

/// One guest agent client (the JS `GuestAgentClient`).
pub struct GuestAgent {
    path: PathBuf,
    opts: AgentOptions,
    conn: Mutex<Option<Arc<Connection>>>,
    /// Bumped by `disconnect()`: every request of this client that is waiting gives up.
    cancel: watch::Sender<u64>,
}

impl GuestAgent {
    pub fn new(path: impl Into<PathBuf>, opts: AgentOptions) -> Self {
        GuestAgent { path: path.into(), opts, conn: Mutex::new(None), cancel: watch::Sender::new(0) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> &AgentOptions {
        &self.opts
    }

    fn current(&self) -> Option<Arc<Connection>> {
        lock(&self.conn).clone().filter(|c| c.is_alive())
    }

    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    /// Runs `fut` unless `disconnect()` is called meanwhile.
    async fn cancellable<T>(&self, fut: impl std::future::Future<Output = Result<T, GuestAgentError>>) -> Result<T, GuestAgentError> {
        let mut rx = self.cancel.subscribe();
        let at = *rx.borrow_and_update();
        tokio::select! {
            r = fut => r,
            _ = rx.wait_for(|g| *g != at) => Err(GuestAgentError::CLIENT_DISCONNECTED),
        }
    }

    /// Opens (or joins) the connection to the socket and makes sure the agent answers.
    pub async fn connect(&self) -> Result<(), GuestAgentError> {
        if self.is_connected() {
            return Ok(());
        }
        let conn = self.cancellable(obtain(&self.path, self.opts.connect_timeout)).await?;
        *lock(&self.conn) = Some(conn);
        Ok(())
    }

    /// Lets go of the connection (closing it if no other client uses it) and rejects
    /// this client's waiting requests with `QGA client disconnected`.
    pub fn disconnect(&self) {
        let conn = lock(&self.conn).take();
        self.cancel.send_modify(|g| *g = g.wrapping_add(1));
        drop(conn);
    }

    /// One command with its own deadline; the stream is resynced first if needed.
    pub(crate) async fn request(&self, command: &str, args: Option<&Value>, expect: Expect, limit: Duration) -> Result<Value, GuestAgentError> {
        let conn = self.current().ok_or(GuestAgentError::NotConnected)?;
        let req = Request { command, args, expect, reply_cap: self.opts.reply_cap(), sync_limit: self.opts.connect_timeout };
        let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let attempt = async {
            let mut sent = false;
            let r = conn.exchange(&req, &mut sent).await;
            if sent || !matches!(r, Err(GuestAgentError::Closed { .. })) {
                return r;
            }
            // The socket died while idle (its QEMU exited or restarted) and the command
            // never left: dial the socket again once and send it there.
            let fresh = obtain(&self.path, self.opts.connect_timeout).await?;
            *lock(&self.conn) = Some(fresh.clone());
            fresh.exchange(&req, &mut sent).await
        };
        self.cancellable(async {
            match tokio::time::timeout(limit, attempt).await {
                Ok(r) => r,
                Err(_) => Err(GuestAgentError::Timeout { command: command.to_string(), ms }),
            }
        })
        .await
    }

    /// Any agent command (`execute` of the JS API). `args` must be an object or null;
    /// the sync commands are refused (they would break the framing this client keeps).
    pub async fn execute(&self, command: &str, args: Option<&Value>, timeout: Option<Duration>) -> Result<Value, GuestAgentError> {
        check_command(command)?;
        if args.is_some_and(|a| !a.is_object() && !a.is_null()) {
            return Err(GuestAgentError::invalid("args", "must be an object"));
        }
        self.request(command, args, expect_for(command), timeout.unwrap_or(self.opts.command_timeout)).await
    }

    /// A command of ours with the default deadline.
    pub(crate) async fn call(&self, command: &str, args: Option<&Value>) -> Result<Value, GuestAgentError> {
        self.request(command, args, Expect::Reply, self.opts.command_timeout).await
    }
}

/// libvirt's `qemuAgentCommand` timeouts: `None`, -1 (default) and -2 (block, which
/// here is the default too: every call answers in bounded time) give the client's
/// command timeout; otherwise seconds, above 0 and at most a day.
pub fn pass_through_timeout(seconds: Option<f64>) -> Result<Option<Duration>, GuestAgentError> {
    match seconds {
        None => Ok(None),
        Some(s) if s == -1.0 || s == -2.0 => Ok(None),
        Some(s) => AgentOptions::millis("timeoutSeconds", s * 1000.0).map(Some),
    }
}

impl GuestAgent {
    /// A raw pass-through like libvirt's: `{"execute": …, "arguments"?: {…}}` in,
    /// the agent's answer as `{"return": …}` JSON text out (an `error` answer is a
    /// typed error). A caller's `id` is ignored: the client numbers requests itself.
    pub async fn command_json(&self, json: &str, timeout: Option<Duration>) -> Result<String, GuestAgentError> {
        let v: Value = serde_json::from_str(json).map_err(|e| GuestAgentError::invalid("jsonCommand", format!("is not JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| GuestAgentError::invalid("jsonCommand", "must be a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "execute" | "arguments" | "id")) {
            return Err(GuestAgentError::invalid("jsonCommand", format!("has an unknown key {k:?}")));
        }
        let command = obj.get("execute").and_then(Value::as_str).ok_or_else(|| GuestAgentError::invalid("jsonCommand", "needs a string \"execute\""))?;
        let r = self.execute(command, obj.get("arguments"), timeout).await?;
        Ok(serde_json::json!({ "return": r }).to_string())
    }
}

fn check_command(command: &str) -> Result<(), GuestAgentError> {
    if command.is_empty() || command.len() > 128 || !command.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(GuestAgentError::invalid("command", "must be 1 to 128 printable ASCII characters"));
    }
    if command == "guest-sync" || command == "guest-sync-delimited" {
        return Err(GuestAgentError::invalid("command", format!("{command} is issued by the client itself")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
