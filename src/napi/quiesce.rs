//! Binding of quiesced live snapshots (`SnapshotManager.createLiveSnapshot` with
//! `options.quiesce`). The sequence and its thaw guard are the core's
//! (`storage::quiesce`); the JS steps it needs — the caller's QMP client taking the
//! snapshot and, when the caller passed a `GuestQuiesce` object, its `fsFreeze` and
//! `fsThaw` — are reached through one `step(op)` function that never rejects.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{Function, Promise, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;
use serde_json::Value;

use super::error::{guarded, IntoNapi};
use crate::agent::error::GuestAgentError;
use crate::storage::error::Op;
use crate::storage::live::snapshot_target;
use crate::storage::quiesce::{self, AgentFailure, AgentQuiescer, BoxFuture, FreezeFailure, QuiesceError, QuiesceOptions, Quiescer};

type StepFn = ThreadsafeFunction<String, Promise<String>, String, Status, false>;

#[napi(object)]
pub struct JsQuiesceOptions {
    /// The guest agent socket to freeze through; absent when `step` drives a
    /// caller's `GuestQuiesce` object ("freeze" / "thaw").
    pub socket_path: Option<String>,
    pub freeze_timeout_ms: Option<f64>,
    pub required: Option<bool>,
}

#[napi(object)]
pub struct JsQuiesceResult {
    pub quiesced: bool,
    pub frozen_filesystems: Option<f64>,
}

/// What a step answered: `{ok: true, n?}` or `{ok: false, code?, message}`.
enum Answer {
    Ok(Option<i64>),
    Failed { code: Option<String>, message: String },
}

async fn step(f: &StepFn, op: &str) -> Answer {
    let gone = |e: napi::Error| Answer::Failed { code: None, message: format!("JS step '{op}' unavailable: {e}") };
    let text = match f.call_async_catch(op.to_string()).await {
        Ok(p) => match p.await {
            Ok(t) => t,
            Err(e) => return gone(e),
        },
        Err(e) => return gone(e),
    };
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if v.get("ok").and_then(Value::as_bool) == Some(true) {
        #[allow(clippy::cast_possible_truncation)] // a count of filesystems
        return Answer::Ok(v.get("n").and_then(Value::as_f64).map(|n| n as i64));
    }
    Answer::Failed {
        code: v.get("code").and_then(Value::as_str).map(str::to_string),
        message: v.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string(),
    }
}

/// A caller's `GuestQuiesce` object (`fsFreeze`, `fsThaw`), under our deadlines.
struct JsQuiescer {
    step: Arc<StepFn>,
}

fn foreign(code: Option<String>, message: String) -> AgentFailure {
    AgentFailure::Foreign { code: code.and_then(|c| c.parse().ok()), message }
}

impl JsQuiescer {
    async fn run(&self, op: &'static str, command: &str, limit: Duration) -> Result<i64, AgentFailure> {
        match tokio::time::timeout(limit, step(&self.step, op)).await {
            // The original returns 0 for a reply that is not a number (API-next §1.5).
            Ok(Answer::Ok(n)) => Ok(n.unwrap_or(0)),
            Ok(Answer::Failed { code, message }) => Err(foreign(code, message)),
            Err(_) => Err(GuestAgentError::Timeout { command: command.into(), ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX) }.into()),
        }
    }
}

impl Quiescer for JsQuiescer {
    fn freeze(&self, limit: Duration) -> BoxFuture<'_, Result<i64, FreezeFailure>> {
        // Whatever the object did before failing is unknown: always thaw after it.
        Box::pin(async move { self.run("freeze", "guest-fsfreeze-freeze", limit).await.map_err(|failure| FreezeFailure { failure, maybe_frozen: true }) })
    }

    fn thaw(&self, limit: Duration) -> BoxFuture<'_, Result<i64, AgentFailure>> {
        Box::pin(self.run("thaw", "guest-fsfreeze-thaw", limit))
    }
}

fn options(o: &JsQuiesceOptions) -> Result<QuiesceOptions, QuiesceError> {
    let mut q = QuiesceOptions { required: o.required.unwrap_or(false), ..QuiesceOptions::default() };
    if let Some(ms) = o.freeze_timeout_ms {
        q.freeze_timeout = QuiesceOptions::freeze_millis(ms).map_err(QuiesceError::Option)?;
    }
    Ok(q)
}

/// A live internal snapshot with the guest frozen: through our own agent client on
/// `options.socketPath`, else through `step("freeze"/"thaw")`; `step("snapshot")`
/// takes the snapshot with the caller's QMP client. Resolves with what was done;
/// rejects with a `StorageError` (the snapshot failed; the guest was thawed) or an
/// `AGENT_*` error (no freeze with `required`, or no thaw).
#[napi(
    ts_args_type = "device: string | undefined | null, name: string | undefined | null, options: JsQuiesceOptions, step: (op: 'snapshot' | 'freeze' | 'thaw') => Promise<string>",
    ts_return_type = "Promise<JsQuiesceResult>"
)]
pub fn storage_quiesced_snapshot<'e>(
    env: &'e Env,
    device: Option<String>,
    name: Option<String>,
    options_: JsQuiesceOptions,
    step_: Function<String, Promise<String>>,
) -> napi::Result<PromiseRaw<'e, JsQuiesceResult>> {
    let op = Op::LiveSnapshotCreate;
    let (device, name) = snapshot_target(op, device.as_deref().unwrap_or(""), name.as_deref().unwrap_or("")).napi()?;
    let opts = options(&options_).napi()?;
    let step_fn: Arc<StepFn> = Arc::new(step_.build_threadsafe_function::<String>().callee_handled::<false>().build()?);
    let q: Arc<dyn Quiescer> = match options_.socket_path {
        Some(p) if p.is_empty() || p.contains('\0') => {
            return Err(QuiesceError::Option(GuestAgentError::invalid("quiesce", "must be a non-empty socket path or a GuestQuiesce object"))).napi();
        }
        Some(p) => Arc::new(AgentQuiescer::new(PathBuf::from(p))),
        None => Arc::new(JsQuiescer { step: step_fn.clone() }),
    };
    env.spawn_future(guarded(async move {
        let snap = step_fn.clone();
        let (d, n) = (device.clone(), name.clone());
        let r = quiesce::quiesced_snapshot(q, &device, &name, &opts, || async move {
            match step(&snap, "snapshot").await {
                Answer::Ok(_) => Ok(()),
                Answer::Failed { code, message } => Err(quiesce::snapshot_failure(&d, &n, code.as_deref().unwrap_or(""), &message)),
            }
        })
        .await
        .napi()?;
        #[allow(clippy::cast_precision_loss)] // a count of filesystems
        Ok(JsQuiesceResult { quiesced: r.quiesced, frozen_filesystems: r.frozen.map(|n| n as f64) })
    }))
}
