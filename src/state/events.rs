//! `EventHandler` (spec §10.2): QMP events of attached VMs → database status, `vm:*`
//! events, and the cleanup after a guest shutdown.
//!
//! Events of one VM are handled strictly in arrival order by one worker (the JS
//! facade enqueues synchronously as the QMP client emits), so two quick events can
//! never reach the database swapped. Differences from the original, all on purpose:
//! the events of a `SHUTDOWN` are emitted right after the status write and the
//! cleanup follows in the background (§19 #8), with a `vm:cleanup` event when done;
//! what the cleanup releases is read before the status flips (§19 #18); cgroup
//! scopes are cleaned when the VM had pinning (§19 #7); `POWERDOWN` (a request the
//! guest may ignore) changes no status; a panic is `error`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use super::cleanup::{NetworkRelease, ResourceState, ResourceType};
use super::emit::{date, now_ms, Emitter, StatusSource};
use super::error::StateError;
use super::queue::{PendingWrite, Submitted};
use super::records::RuntimeRecord;
use super::status::{transition_for_event, VmStatus};
use super::sync::StateSync;

const LOG: &str = "infinivirt:event-handler";

/// How long the cleanup after a shutdown waits for QEMU to exit (spec: 30 s).
pub const EXIT_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct EventHandlerConfig {
    pub enable_logging: bool,
    pub emit_custom_events: bool,
    pub exit_wait: Duration,
}

impl Default for EventHandlerConfig {
    fn default() -> Self {
        EventHandlerConfig { enable_logging: true, emit_custom_events: true, exit_wait: EXIT_WAIT }
    }
}

/// One unit of work for a VM's worker.
pub enum Job {
    /// A QMP event: name, `data`, `timestamp` in ms (None: now).
    Event { event: String, data: Option<Value>, timestamp: Option<f64>, done: Option<oneshot::Sender<()>> },
    /// The QMP connection went away: the VM counts as detached from here on.
    Disconnect { done: Option<oneshot::Sender<()>> },
    /// The QMP connection came back: re-read the run state.
    Resync { source: Arc<dyn StatusSource>, done: Option<oneshot::Sender<()>> },
}

pub struct EventHandlerCore {
    sync: Arc<StateSync>,
    net: Arc<dyn NetworkRelease>,
    emitter: Arc<dyn Emitter>,
    config: EventHandlerConfig,
    attached: Mutex<HashSet<String>>,
    workers: Mutex<HashMap<String, mpsc::UnboundedSender<Job>>>,
    me: Weak<EventHandlerCore>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The worker future a new VM needs; the caller spawns it on the runtime.
pub type Worker = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

impl EventHandlerCore {
    pub fn new(sync: Arc<StateSync>, net: Arc<dyn NetworkRelease>, emitter: Arc<dyn Emitter>, config: EventHandlerConfig) -> Arc<Self> {
        Arc::new_cyclic(|me| EventHandlerCore {
            sync,
            net,
            emitter,
            config,
            attached: Mutex::new(HashSet::new()),
            workers: Mutex::new(HashMap::new()),
            me: me.clone(),
        })
    }

    pub fn sync(&self) -> &Arc<StateSync> {
        &self.sync
    }

    pub fn attach(&self, vm: &str) {
        lock(&self.attached).insert(vm.to_string());
    }

    /// Forgets `vm` (`detachFromVM`): a shutdown handled after this does no cleanup.
    pub fn detach(&self, vm: &str) {
        lock(&self.attached).remove(vm);
    }

    pub fn is_attached(&self, vm: &str) -> bool {
        lock(&self.attached).contains(vm)
    }

    /// Queues `job` for `vm` without blocking (call it in arrival order). Returns the
    /// worker to spawn when `vm` has none yet.
    pub fn enqueue(&self, vm: &str, job: Job) -> Option<Worker> {
        let mut workers = lock(&self.workers);
        let job = match workers.get(vm) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return None,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel's receiver is alive: this send succeeds.
        let _ = tx.send(job);
        workers.insert(vm.to_string(), tx);
        Some(Box::pin(Self::run(self.me.clone(), vm.to_string(), rx)))
    }

    async fn run(me: Weak<EventHandlerCore>, vm: String, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(job) = rx.recv().await {
            let Some(core) = me.upgrade() else { return };
            core.process(&vm, job).await;
        }
    }

    async fn process(&self, vm: &str, job: Job) {
        match job {
            Job::Event { event, data, timestamp, done } => {
                self.handle_event(vm, &event, data, timestamp).await;
                if let Some(d) = done {
                    let _ = d.send(());
                }
            }
            Job::Disconnect { done } => {
                // In order behind the events before it: a SHUTDOWN still queued was
                // received while attached and keeps its cleanup. (`vm:disconnect`
                // itself is emitted by the facade at once, as the spec does.)
                self.detach(vm);
                if let Some(d) = done {
                    let _ = d.send(());
                }
            }
            Job::Resync { source, done } => {
                let r = self.sync.sync_state(vm, source.as_ref()).await;
                let payload = json!({ "vmId": vm, "timestamp": date(now_ms()), "sync": r.to_json() });
                if let Err(e) = self.emitter.emit("vm:reconnect", payload).await {
                    self.report(vm, "reconnect", &e).await;
                }
                if let Some(d) = done {
                    let _ = d.send(());
                }
            }
        }
    }

    fn log(&self, msg: &str) {
        if self.config.enable_logging {
            crate::log::log(LOG, msg);
        }
    }

    /// The spec's `'error'` event: `{ vmId, event, error }`.
    async fn report(&self, vm: &str, event: &str, error: &str) {
        self.log(&format!("VM {vm}: handling {event} failed: {error}"));
        let payload = json!({ "vmId": vm, "event": event, "error": error });
        if let Err(e) = self.emitter.emit("error", payload).await {
            crate::log::log(&format!("{LOG}:error"), &format!("'error' listener failed: {e}"));
        }
    }

    async fn handle_event(&self, vm: &str, event: &str, data: Option<Value>, timestamp: Option<f64>) {
        let at = timestamp.unwrap_or_else(now_ms);
        // While earlier writes of this VM wait for the store, reading it would only
        // wait out another connection timeout: the event is queued behind them.
        let mut store_down = self.sync.queue().pending(vm) > 0;
        let previous = if store_down {
            VmStatus::from("unknown")
        } else {
            match self.sync.get_vm_status(vm).await {
                Ok(s) => s,
                Err(e) => {
                    store_down = matches!(&e, StateError::Database(d) if d.is_transient());
                    VmStatus::from("unknown")
                }
            }
        };
        let transition = transition_for_event(event, data.as_ref());
        let shutdown = event == "SHUTDOWN";
        // Read what the cleanup must release before the status flips (§19 #18).
        let captured = if shutdown && !store_down {
            match self.sync.capture(vm).await {
                Ok(c) => c,
                Err(e) => {
                    self.log(&format!("VM {vm}: cannot read its runtime state before the shutdown write: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let mut new_status = previous.clone();
        let mut reason = None;
        if let Some((status, why)) = transition {
            let r = if store_down {
                self.sync.defer_status_direct(vm, &status, why.clone())
            } else {
                self.sync.update_status_direct(vm, &status, why.clone()).await
            };
            if !r.success {
                self.log(&format!("VM {vm}: {event} -> {status} not written now ({:?})", r.error));
            }
            self.log(&format!("VM {vm}: {event}: {previous} -> {status} ({})", why.describe()));
            new_status = status;
            reason = Some(why);
        }
        if self.config.emit_custom_events {
            let mut payload = json!({
                "vmId": vm,
                "event": event,
                "previousStatus": previous.as_str(),
                "newStatus": new_status.as_str(),
                "timestamp": date(at.floor()),
            });
            if let Some(d) = &data {
                payload["qmpData"] = d.clone();
            }
            if let Some(r) = &reason {
                payload["reason"] = r.to_json();
            }
            let mut names = vec![format!("vm:{}", event.to_lowercase())];
            if reason.is_some() {
                names.push(format!("vm:{new_status}"));
            }
            names.push("vm:event".to_string());
            for name in names {
                if let Err(e) = self.emitter.emit(&name, payload.clone()).await {
                    self.report(vm, event, &e).await;
                    break;
                }
            }
        }
        let host_quit = data.as_ref().and_then(|d| d.get("reason")).and_then(Value::as_str) == Some("host-qmp-quit");
        if shutdown && !host_quit && self.is_attached(vm) {
            if let Some(core) = self.me.upgrade() {
                let vm = vm.to_string();
                tokio::spawn(async move { core.cleanup_after_shutdown(&vm, captured).await });
            }
        }
    }

    /// Waits for QEMU to exit (never kills it), then releases the VM's runtime state.
    async fn cleanup_after_shutdown(&self, vm: &str, captured: Option<RuntimeRecord>) {
        let cfg = captured.and_then(|c| c.configuration);
        if let Some(pid) = cfg.as_ref().and_then(|c| c.qemu_pid).and_then(|p| i32::try_from(p).ok()) {
            if !wait_for_exit(pid, self.config.exit_wait).await {
                self.log(&format!("VM {vm}: QEMU (PID {pid}) still runs {}s after SHUTDOWN; nothing released", self.config.exit_wait.as_secs()));
                return;
            }
            // The VM may have been started again meanwhile: its new run is not ours to release.
            if let Ok(Some(now)) = self.sync.capture(vm).await {
                if let Some(new_pid) = now.configuration.and_then(|c| c.qemu_pid).filter(|p| *p != i64::from(pid)) {
                    self.log(&format!("VM {vm}: runs again as PID {new_pid}; the cleanup of PID {pid} is skipped"));
                    return;
                }
            }
        }
        let mut steps = Vec::new();
        let at = now_ms();
        let state = |kind, id: &str, r: Result<Option<String>, String>| ResourceState {
            kind,
            identifier: id.to_string(),
            success: r.is_ok(),
            attempts: 1,
            last_error: r.as_ref().err().cloned(),
            last_attempt_at: Some(at),
            note: r.ok().flatten(),
        };
        let cleared = match self.sync.clear_volatile(vm).await {
            Ok(()) => Ok(None),
            Err(e) => {
                let queued = matches!(self.sync.queue().submit(vm, PendingWrite::ClearVolatile).await, Submitted::Queued { .. });
                if queued {
                    Ok(Some(format!("queued until the database is reachable ({e})")))
                } else {
                    Err(e.to_string())
                }
            }
        };
        steps.push(state(ResourceType::DbConfiguration, vm, cleared));
        if let Some(tap) = cfg.as_ref().and_then(|c| c.tap_device_name.clone()) {
            steps.push(state(ResourceType::TapDevice, &tap, self.net.detach_tap(&tap).await));
        }
        steps.push(state(ResourceType::FirewallChain, vm, self.net.detach_firewall(vm).await));
        if cfg.as_ref().is_some_and(|c| c.has_cpu_pinning()) {
            if let Err(e) = self.net.cleanup_cgroups().await {
                self.log(&format!("VM {vm}: cgroup cleanup failed: {e}"));
            }
        }
        let result = super::cleanup::CleanupResult { vm_id: vm.to_string(), resources: steps, timestamp: now_ms() };
        let mut payload = result.to_json();
        payload["event"] = Value::from("SHUTDOWN");
        if let Err(e) = self.emitter.emit("vm:cleanup", payload).await {
            self.report(vm, "SHUTDOWN", &e).await;
        }
    }
}

/// True once `pid` is gone (pidfd when available, else `/proc` polling every 100 ms),
/// false if it still runs after `limit`.
pub async fn wait_for_exit(pid: i32, limit: Duration) -> bool {
    use crate::qemu::pid::{pid_alive, PidFd};
    match PidFd::open(pid) {
        Some(fd) => tokio::time::timeout(limit, fd.wait_exit()).await.is_ok(),
        None => {
            let deadline = tokio::time::Instant::now() + limit;
            while pid_alive(pid) {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::cleanup::NoNetwork;
    use crate::state::emit::Recorder;
    use crate::state::queue::tests::{rt, MemStore};
    use crate::state::records::MachineConfigurationRecord;

    fn handler(store: Arc<MemStore>) -> (Arc<EventHandlerCore>, Arc<Recorder>) {
        let rec = Arc::new(Recorder::default());
        let cfg = EventHandlerConfig { exit_wait: Duration::from_millis(200), ..Default::default() };
        (EventHandlerCore::new(Arc::new(StateSync::new(store)), Arc::new(NoNetwork), rec.clone(), cfg), rec)
    }

    async fn send(h: &Arc<EventHandlerCore>, vm: &str, event: &str, data: Option<Value>, ts: Option<f64>) {
        let (tx, rx) = oneshot::channel();
        if let Some(w) = h.enqueue(vm, Job::Event { event: event.into(), data, timestamp: ts, done: Some(tx) }) {
            tokio::spawn(w);
        }
        rx.await.unwrap();
    }

    #[test]
    fn spec_90_stop() {
        rt().block_on(async {
            let store = MemStore::with(&[("vm1", "running", None)]);
            let (h, rec) = handler(store.clone());
            h.attach("vm1");
            send(&h, "vm1", "STOP", None, Some(1_700_000_000_500.0)).await;
            assert_eq!(store.status("vm1").as_deref(), Some("suspended"));
            let ev = rec.take();
            assert_eq!(ev.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["vm:stop", "vm:suspended", "vm:event"]);
            assert_eq!(ev[0].1["timestamp"], json!({"$date": 1_700_000_000_500.0}));
            assert_eq!((ev[0].1["previousStatus"].as_str(), ev[0].1["newStatus"].as_str()), (Some("running"), Some("suspended")));
        });
    }

    #[test]
    fn spec_91_shutdown_reset_and_order() {
        rt().block_on(async {
            let cfg = MachineConfigurationRecord { qemu_pid: Some(999_999), tap_device_name: Some("vnet-vm1".into()), ..Default::default() };
            let store = MemStore::with(&[("vm1", "running", Some(cfg))]);
            let (h, rec) = handler(store.clone());
            h.attach("vm1");
            send(&h, "vm1", "RESET", None, None).await;
            assert_eq!(rec.names(), ["vm:reset", "vm:event"]);
            rec.take();
            send(&h, "vm1", "SHUTDOWN", Some(json!({"guest": true, "reason": "guest-shutdown"})), None).await;
            // the events come first; the cleanup (QEMU is already gone here) follows
            assert_eq!(rec.names()[..3], ["vm:shutdown", "vm:off", "vm:event"]);
            // the runtime state was read before the write
            let calls = store.calls();
            let read = calls.iter().position(|c| c == "findRunningVMs").unwrap();
            let write = calls.iter().position(|c| c == "updateMachineStatus vm1 off").unwrap();
            assert!(read < write, "{calls:?}");
            for _ in 0..100 {
                if rec.names().contains(&"vm:cleanup".to_string()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let ev = rec.take();
            let cleanup = &ev.iter().find(|e| e.0 == "vm:cleanup").unwrap().1;
            let ids: Vec<&str> = cleanup["resources"].as_array().unwrap().iter().map(|r| r["identifier"].as_str().unwrap()).collect();
            assert_eq!(ids, ["vm1", "vnet-vm1", "vm1"]);
            assert!(store.calls().contains(&"clearVolatileMachineConfiguration vm1".to_string()));
            // strict order for quick events
            for e in ["RESUME", "STOP", "RESUME", "STOP"] {
                let _ = h.enqueue("vm1", Job::Event { event: e.into(), data: None, timestamp: None, done: None });
            }
            send(&h, "vm1", "RESUME", None, None).await;
            let writes: Vec<String> = store.calls().into_iter().filter(|c| c.starts_with("updateMachineStatus")).collect();
            assert_eq!(
                &writes[writes.len() - 5..],
                [
                    "updateMachineStatus vm1 running",
                    "updateMachineStatus vm1 suspended",
                    "updateMachineStatus vm1 running",
                    "updateMachineStatus vm1 suspended",
                    "updateMachineStatus vm1 running"
                ]
            );
        });
    }

    #[test]
    fn host_quit_and_detached_do_no_cleanup() {
        rt().block_on(async {
            let store = MemStore::with(&[("vm1", "running", None)]);
            let (h, rec) = handler(store.clone());
            h.attach("vm1");
            send(&h, "vm1", "SHUTDOWN", Some(json!({"guest": false, "reason": "host-qmp-quit"})), None).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(rec.names(), ["vm:shutdown", "vm:off", "vm:event"]);
            assert!(!store.calls().iter().any(|c| c.starts_with("clearVolatile")));
        });
    }
}
