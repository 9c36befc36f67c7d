//! Quiesced live snapshots: the guest's filesystems are frozen through its agent
//! (`guest-fsfreeze-freeze`), the internal snapshot is taken, and they are thawed.
//!
//! The thaw is owned by a [`ThawGuard`], armed before the freeze is sent: a freeze
//! that timed out on our side may still finish in the guest (qemu-ga freezes one
//! filesystem after another and answers only at the end), so every path after the
//! freeze was sent thaws — a snapshot that failed, a freeze that failed or timed
//! out, a future dropped half way (the guard's `Drop` thaws in the background). Each
//! thaw has its own deadline and is tried twice. A manager that dies while a guest
//! is frozen thaws it when it attaches again (`lifecycle::agent::thaw_if_frozen`).
//!
//! The guest side is a [`Quiescer`]: our own agent client on the VM's socket
//! ([`AgentQuiescer`]), or a caller's `GuestQuiesce` object reached from the binding.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::error::{Op, StorageError};
use super::live::{classify_failure, snapshot_args, snapshot_target, BlockDevice};
use super::snapshot::SnapshotName;
use crate::agent::client::{AgentOptions, GuestAgent};
use crate::agent::error::{GuestAgentError, GuestAgentErrorCode};
use crate::error::{fields, ErrorShape, JsClass};
use crate::qmp::client::QmpClient;
use crate::qmp::error::QmpError;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Default bound of the freeze (`freezeTimeoutMs`).
pub const DEFAULT_FREEZE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest freeze bound accepted: a guest's writes block while it is frozen.
pub const MAX_FREEZE_TIMEOUT: Duration = Duration::from_secs(120);
/// Deadline of each of the (at most two) thaw attempts.
pub const THAW_TIMEOUT: Duration = Duration::from_secs(10);
/// Dialling the agent's socket plus the first resync.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const FREEZE: &str = "guest-fsfreeze-freeze";
const THAW: &str = "guest-fsfreeze-thaw";

/// Why the guest side failed: our agent client's error, or what a caller's
/// `GuestQuiesce` object threw (its code kept when it is a guest agent code).
#[derive(Debug, Clone)]
pub enum AgentFailure {
    Agent(GuestAgentError),
    Foreign { code: Option<GuestAgentErrorCode>, message: String },
}

impl AgentFailure {
    pub fn code(&self) -> &'static str {
        match self {
            AgentFailure::Agent(e) => e.code(),
            AgentFailure::Foreign { code, .. } => code.unwrap_or(GuestAgentErrorCode::AGENT_COMMAND_FAILED).as_str(),
        }
    }
}

impl std::fmt::Display for AgentFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentFailure::Agent(e) => e.fmt(f),
            AgentFailure::Foreign { message, .. } => f.write_str(message),
        }
    }
}

impl From<GuestAgentError> for AgentFailure {
    fn from(e: GuestAgentError) -> Self {
        AgentFailure::Agent(e)
    }
}

/// A failed freeze, and whether the guest may be frozen anyway (the request went
/// out and its answer was not seen), so it must be thawed.
#[derive(Debug)]
pub struct FreezeFailure {
    pub failure: AgentFailure,
    pub maybe_frozen: bool,
}

/// The guest side of a quiesce.
pub trait Quiescer: Send + Sync + 'static {
    /// Freezes the guest's filesystems within `limit`; the number frozen.
    fn freeze(&self, limit: Duration) -> BoxFuture<'_, Result<i64, FreezeFailure>>;
    /// Thaws them within `limit`; the number thawed.
    fn thaw(&self, limit: Duration) -> BoxFuture<'_, Result<i64, AgentFailure>>;
    /// Called once the sequence is over (the socket client lets go of its connection).
    fn finish(&self) {}
}

/// Our own agent client on the VM's guest agent socket. It joins the connection any
/// other client of that socket holds (one per socket, see `agent::client`).
pub struct AgentQuiescer {
    agent: GuestAgent,
}

impl AgentQuiescer {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        AgentQuiescer { agent: GuestAgent::new(socket, AgentOptions { connect_timeout: CONNECT_TIMEOUT, ..AgentOptions::default() }) }
    }
}

impl Quiescer for AgentQuiescer {
    fn freeze(&self, limit: Duration) -> BoxFuture<'_, Result<i64, FreezeFailure>> {
        Box::pin(async move {
            // Nothing was sent while the agent cannot be reached: no thaw needed.
            self.agent.connect().await.map_err(|e| FreezeFailure { failure: e.into(), maybe_frozen: false })?;
            self.agent.fsfreeze_within(limit).await.map_err(|e| {
                // The agent refused (disabled, already frozen by someone else, no
                // filesystem to freeze): it froze nothing of ours.
                let maybe_frozen = !matches!(e, GuestAgentError::Command { .. } | GuestAgentError::InvalidArgument { .. });
                FreezeFailure { failure: e.into(), maybe_frozen }
            })
        })
    }

    fn thaw(&self, limit: Duration) -> BoxFuture<'_, Result<i64, AgentFailure>> {
        Box::pin(async move {
            let r = tokio::time::timeout(limit, async {
                self.agent.connect().await?;
                self.agent.fsthaw_within(limit).await
            })
            .await;
            match r {
                Ok(r) => r.map_err(AgentFailure::from),
                Err(_) => Err(GuestAgentError::Timeout { command: THAW.into(), ms: millis(limit) }.into()),
            }
        })
    }

    fn finish(&self) {
        self.agent.disconnect();
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone)]
pub struct QuiesceOptions {
    /// Bound of the freeze command (reaching the agent has its own 5 s bound).
    pub freeze_timeout: Duration,
    /// Deadline of each thaw attempt.
    pub thaw_timeout: Duration,
    /// Without a frozen guest, fail (true) or take the snapshot unquiesced (false).
    pub required: bool,
}

impl Default for QuiesceOptions {
    fn default() -> Self {
        QuiesceOptions { freeze_timeout: DEFAULT_FREEZE_TIMEOUT, thaw_timeout: THAW_TIMEOUT, required: false }
    }
}

impl QuiesceOptions {
    /// `freezeTimeoutMs` from JS: above 0 and at most [`MAX_FREEZE_TIMEOUT`].
    pub fn freeze_millis(v: f64) -> Result<Duration, GuestAgentError> {
        let max = MAX_FREEZE_TIMEOUT.as_secs_f64() * 1000.0;
        if v.is_finite() && v > 0.0 && v <= max {
            return Ok(Duration::from_secs_f64(v / 1000.0));
        }
        Err(GuestAgentError::invalid("freezeTimeoutMs", format!("must be a number of milliseconds above 0 and at most {max}, got {v}")))
    }
}

/// What a quiesced snapshot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiesced {
    /// The snapshot was taken with the guest's filesystems frozen.
    pub quiesced: bool,
    /// How many filesystems the agent froze.
    pub frozen: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum QuiesceError {
    /// The snapshot itself failed (or its request was invalid); the guest was thawed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An invalid quiesce option.
    #[error(transparent)]
    Option(GuestAgentError),
    /// The guest could not be frozen and quiescing was required: no snapshot was taken.
    #[error("Cannot quiesce the guest for live snapshot '{name}' on device {device}: {failure}. No snapshot was taken.")]
    Freeze { device: String, name: String, failure: Box<AgentFailure> },
    /// The guest was frozen but could not be thawed (twice): it may still be frozen.
    #[error("{}", thaw_message(device, name, failure, snapshot.as_deref()))]
    Thaw { device: String, name: String, failure: Box<AgentFailure>, snapshot: Option<Box<StorageError>> },
}

fn thaw_message(device: &str, name: &str, failure: &AgentFailure, snapshot: Option<&StorageError>) -> String {
    let taken = match snapshot {
        None => "the snapshot was taken".to_string(),
        Some(e) => format!("the snapshot failed too: {e}"),
    };
    format!("The guest's filesystems could not be thawed after live snapshot '{name}' on device {device} ({taken}): {failure}")
}

impl ErrorShape for QuiesceError {
    fn code(&self) -> &'static str {
        match self {
            QuiesceError::Storage(e) => e.code(),
            QuiesceError::Option(e) => e.code(),
            QuiesceError::Freeze { failure, .. } | QuiesceError::Thaw { failure, .. } => failure.code(),
        }
    }

    fn class(&self) -> JsClass {
        match self {
            QuiesceError::Storage(e) => e.class(),
            // Agent failures are plain errors with an AGENT_* code, as GuestAgentClient's are.
            _ => JsClass::Error,
        }
    }

    fn fields(&self) -> Map<String, Value> {
        let s = |v: &str| Some(Value::from(v));
        match self {
            QuiesceError::Storage(e) => e.fields(),
            QuiesceError::Option(e) => e.fields(),
            QuiesceError::Freeze { device, name, .. } => fields([("path", s(device)), ("snapshot", s(name)), ("command", s(FREEZE))]),
            QuiesceError::Thaw { device, name, snapshot, .. } => {
                fields([("path", s(device)), ("snapshot", s(name)), ("command", s(THAW)), ("snapshotTaken", Some(Value::from(snapshot.is_none())))])
            }
        }
    }
}

/// Owns the thaw once a freeze may have happened.
struct ThawGuard {
    q: Arc<dyn Quiescer>,
    limit: Duration,
    armed: bool,
    what: String,
}

impl ThawGuard {
    /// Thaws if armed, retrying once; `Ok(None)` when there was nothing to thaw.
    async fn release(&mut self) -> Result<Option<i64>, AgentFailure> {
        if !self.armed {
            return Ok(None);
        }
        let r = thaw_twice(self.q.as_ref(), self.limit, &self.what).await;
        // Disarmed only now: a release dropped half way still thaws from Drop.
        self.armed = false;
        r.map(Some)
    }
}

async fn thaw_twice(q: &dyn Quiescer, limit: Duration, what: &str) -> Result<i64, AgentFailure> {
    match q.thaw(limit).await {
        Ok(n) => Ok(n),
        Err(e) => {
            crate::log::warn("storage", &format!("{what}: thawing the guest failed ({e}); trying once more"));
            q.thaw(limit).await
        }
    }
}

impl Drop for ThawGuard {
    fn drop(&mut self) {
        if !self.armed {
            self.q.finish();
            return;
        }
        let (q, limit, what) = (self.q.clone(), self.limit, std::mem::take(&mut self.what));
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = thaw_twice(q.as_ref(), limit, &what).await {
                        crate::log::warn("storage", &format!("{what}: the guest may still be frozen: {e}"));
                    }
                    q.finish();
                });
            }
            Err(_) => crate::log::warn("storage", &format!("{what}: no runtime left to thaw the guest; it may still be frozen")),
        }
    }
}

/// Freezes the guest through `q`, runs `snapshot`, and thaws on every path.
///
/// Without a frozen guest (no agent, a freeze that failed or timed out) the snapshot
/// is taken unquiesced with a warning, or, with `opts.required`, not at all
/// ([`QuiesceError::Freeze`]). A snapshot error comes back as is, after the thaw.
pub async fn quiesced_snapshot<F, Fut>(
    q: Arc<dyn Quiescer>,
    device: &BlockDevice,
    name: &SnapshotName,
    opts: &QuiesceOptions,
    snapshot: F,
) -> Result<Quiesced, QuiesceError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), StorageError>>,
{
    let what = format!("live snapshot '{}' of {}", name.as_str(), device.as_str());
    let mut guard = ThawGuard { q: q.clone(), limit: opts.thaw_timeout, armed: true, what: what.clone() };
    let frozen = match q.freeze(opts.freeze_timeout).await {
        Ok(n) => Some(n),
        Err(FreezeFailure { failure, maybe_frozen }) => {
            guard.armed = maybe_frozen;
            let thawed = guard.release().await;
            if let Err(e) = thawed {
                // Frozen late and not thawed: the snapshot would be quiesced by luck;
                // the caller has to know the guest may be stuck.
                crate::log::warn("storage", &format!("{what}: the freeze failed ({failure}) and the thaw after it too: {e}"));
            }
            if opts.required {
                return Err(QuiesceError::Freeze { device: device.as_str().to_string(), name: name.as_str().to_string(), failure: Box::new(failure) });
            }
            crate::log::warn("storage", &format!("{what}: the guest could not be frozen ({failure}); taking the snapshot unquiesced"));
            guard.armed = false;
            None
        }
    };
    if frozen.is_some() {
        guard.armed = true;
    }
    let taken = snapshot().await;
    match guard.release().await {
        Ok(_) => {}
        Err(failure) => {
            let snapshot = taken.err().map(Box::new);
            return Err(QuiesceError::Thaw { device: device.as_str().to_string(), name: name.as_str().to_string(), failure: Box::new(failure), snapshot });
        }
    }
    taken?;
    Ok(Quiesced { quiesced: frozen.is_some(), frozen })
}

/// The snapshot step's failure, as QEMU or the QMP client reported it.
pub fn snapshot_failure(device: &BlockDevice, name: &SnapshotName, code: &str, text: &str) -> StorageError {
    let op = Op::LiveSnapshotCreate;
    match classify_failure(op, device.as_str(), Some(name.as_str()), code, text) {
        Err(e) => e,
        // Only a delete's "does not exist" classifies as nothing to report.
        Ok(()) => StorageError::CommandFailed { op, path: device.as_str().to_string(), target: Some(name.as_str().to_string()), detail: text.to_string() },
    }
}

/// A quiesced internal snapshot of a running VM's disk through our own QMP client,
/// the guest frozen through the agent on `agent_socket`.
pub async fn create_quiesced_snapshot(
    qmp: &QmpClient,
    agent_socket: PathBuf,
    device: &str,
    name: &str,
    opts: &QuiesceOptions,
) -> Result<Quiesced, QuiesceError> {
    let op = Op::LiveSnapshotCreate;
    let (device, name) = snapshot_target(op, device, name)?;
    let q: Arc<dyn Quiescer> = Arc::new(AgentQuiescer::new(agent_socket));
    quiesced_snapshot(q, &device, &name, opts, || async {
        match qmp.execute(op.command(), Some(snapshot_args(&device, &name))).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = match &e {
                    QmpError::Command { desc, .. } => desc.clone(),
                    other => other.to_string(),
                };
                Err(snapshot_failure(&device, &name, e.code(), &text))
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests;
