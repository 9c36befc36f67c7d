//! `HealthMonitor` (spec §10.3) and pushed crash detection.
//!
//! Crashes are pushed: [`HealthMonitorCore::watch`] follows one VM through its pidfd
//! (the kernel reports the exit) and its QMP connection (EOF, and whether a `SHUTDOWN`
//! came first). A QEMU that vanishes without a shutdown is a crash: what it held is
//! read from the store first, the status is demoted conditionally (`running → off`,
//! reason `killed`, never over `error`), the resources are released and `crash` is
//! emitted — within milliseconds. The periodic sweep of the spec stays as the safety
//! net. A store that cannot be read is never taken for "no such VM": the sweep then
//! reports an error and releases nothing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::cleanup::{Cleaner, NetworkRelease, Resources, CLEANUP_RETRY_BASE_DELAY};
use super::emit::{date, now_ms, BoxFuture, Emitter};
use super::queue::{PendingWrite, Submitted};
use super::status::{Reason, VmStatus};
use super::store::StatusChange;
use super::sync::StateSync;
use crate::qemu::pid::{pid_alive, PidFd};
use crate::qemu::process::QemuProcess;
use crate::qmp::client::{Notice, QmpClient, QmpOptions};

const LOG: &str = "infinivirt:health-monitor";
/// Spec `DEFAULT_HEALTH_CHECK_INTERVAL`.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_millis(30_000);
pub const DEFAULT_PIDFILE_DIR: &str = "/var/run/infinivirt/pids";
/// After the exit, how long the watcher lets QMP deliver what QEMU said last.
const QMP_DRAIN: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub check_interval: Duration,
    pub enable_cleanup: bool,
    pub pidfile_dir: PathBuf,
    /// First cleanup retry delay (spec 1000 ms, doubling).
    pub retry_base: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            check_interval: DEFAULT_CHECK_INTERVAL,
            enable_cleanup: true,
            pidfile_dir: PathBuf::from(DEFAULT_PIDFILE_DIR),
            retry_base: CLEANUP_RETRY_BASE_DELAY,
        }
    }
}

/// `onCrashDetected` / `onCleanupAlert` of `HealthMonitorConfig`.
pub trait HealthHooks: Send + Sync {
    fn on_crash_detected<'a>(&'a self, vm: &'a str) -> BoxFuture<'a, Result<(), String>>;
    fn on_cleanup_alert(&self, alert: Value) -> BoxFuture<'_, Result<(), String>>;
}

pub struct NoHooks;

impl HealthHooks for NoHooks {
    fn on_crash_detected<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn on_cleanup_alert(&self, _: Value) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// How a watched VM's exit is observed.
pub enum ExitSource {
    /// A `QemuProcess` (its pidfd, held since the PID was proven ours).
    Process(Arc<QemuProcess>),
    /// A bare PID: a pidfd is opened now (we only watch it, never signal it).
    Pid(i32),
}

/// What to watch for one VM.
pub struct WatchSpec {
    pub pid: i32,
    pub exit: ExitSource,
    /// The VM's QMP socket: a `SHUTDOWN` seen before the exit makes it a shutdown,
    /// not a crash, and EOF triggers an immediate liveness check.
    pub qmp_socket: Option<PathBuf>,
    /// What the VM holds, as far as the caller knows (merged with the store's view).
    pub resources: Resources,
    /// A file QEMU's stderr goes to: a non-empty tail makes the reason `qemu-error`.
    pub stderr_path: Option<PathBuf>,
}

struct WatchState {
    shutdown: Mutex<Option<Reason>>,
    eof: Notify,
    closed: AtomicBool,
}

struct Watch {
    cancel: Arc<Notify>,
    task_id: u64,
}

pub struct HealthMonitorCore {
    sync: Arc<StateSync>,
    cleaner: Cleaner,
    emitter: Arc<dyn Emitter>,
    hooks: Arc<dyn HealthHooks>,
    config: HealthConfig,
    running: AtomicBool,
    ticker: Mutex<Option<JoinHandle<()>>>,
    checking: tokio::sync::Mutex<()>,
    crash_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    handled: Mutex<HashMap<String, i32>>,
    watches: Mutex<HashMap<String, Watch>>,
    next_watch: std::sync::atomic::AtomicU64,
    me: Weak<HealthMonitorCore>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A future the caller spawns on the runtime.
pub type Task = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>>;

/// `HealthCheckSummary`.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub results: Vec<Value>,
    pub alive: usize,
    pub crashed: usize,
    pub errors: usize,
    pub timestamp: f64,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "totalChecked": self.results.len(),
            "alive": self.alive,
            "crashed": self.crashed,
            "errors": self.errors,
            "timestamp": date(self.timestamp),
            "results": self.results,
        })
    }
}

impl HealthMonitorCore {
    pub fn new(sync: Arc<StateSync>, net: Arc<dyn NetworkRelease>, emitter: Arc<dyn Emitter>, hooks: Arc<dyn HealthHooks>, config: HealthConfig) -> Arc<Self> {
        let cleaner = Cleaner { sync: sync.clone(), net, pidfile_dir: config.pidfile_dir.clone(), retry_base: config.retry_base };
        Arc::new_cyclic(|me| HealthMonitorCore {
            sync,
            cleaner,
            emitter,
            hooks,
            config,
            running: AtomicBool::new(false),
            ticker: Mutex::new(None),
            checking: tokio::sync::Mutex::new(()),
            crash_locks: Mutex::new(HashMap::new()),
            handled: Mutex::new(HashMap::new()),
            watches: Mutex::new(HashMap::new()),
            next_watch: std::sync::atomic::AtomicU64::new(1),
            me: me.clone(),
        })
    }

    pub fn sync(&self) -> &Arc<StateSync> {
        &self.sync
    }

    pub fn is_monitoring(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Spec `start()`: one check now (awaited), then one every interval; a tick while
    /// a check still runs is skipped. No-op when already running.
    pub async fn start(self: &Arc<Self>) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.tick().await;
        let me = Arc::downgrade(self);
        let every = self.config.check_interval.max(Duration::from_millis(1));
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                let Some(core) = me.upgrade() else { return };
                if !core.is_monitoring() {
                    return;
                }
                core.tick().await;
            }
        });
        if let Some(old) = lock(&self.ticker).replace(task) {
            old.abort();
        }
    }

    pub fn stop(&self) {
        self.running.store(false, Ordering::Release);
        if let Some(t) = lock(&self.ticker).take() {
            t.abort();
        }
    }

    /// One scheduled check; errors are swallowed (spec), overlapping ticks skipped.
    async fn tick(&self) {
        let Ok(_guard) = self.checking.try_lock() else { return };
        let _ = self.check_all_inner().await;
    }

    /// Spec `checkVM(vmId, pid)`: `kill(pid, 0)`, zombies dead, `EPERM` alive.
    pub fn check_vm(pid: i64) -> bool {
        i32::try_from(pid).is_ok_and(pid_alive)
    }

    /// Spec `checkAllVMs()`.
    pub async fn check_all(&self) -> Summary {
        let _guard = self.checking.lock().await;
        self.check_all_inner().await
    }

    async fn check_all_inner(&self) -> Summary {
        let mut s = Summary { timestamp: now_ms(), ..Summary::default() };
        let vms = match self.sync.store().find_running_vms().await {
            Ok(v) => v,
            Err(e) => {
                // A failed read is not an empty list: nothing is declared dead.
                crate::log::log(LOG, &format!("health check: cannot list running VMs: {e}"));
                let payload = json!({ "message": e.to_string(), "timestamp": date(now_ms()) });
                if let Err(err) = self.emitter.emit("error", payload).await {
                    crate::log::log(&format!("{LOG}:error"), &format!("'error' listener failed: {err}"));
                }
                return s;
            }
        };
        for vm in vms {
            let pid = vm.configuration.as_ref().and_then(|c| c.qemu_pid);
            let alive = match pid {
                None => true,
                Some(p) => match i32::try_from(p) {
                    Ok(p) => pid_alive(p),
                    Err(_) => {
                        s.errors += 1;
                        true
                    }
                },
            };
            s.results.push(json!({ "vmId": vm.id, "pid": pid, "isAlive": alive, "status": vm.status.as_str(), "timestamp": date(now_ms()) }));
            if alive {
                s.alive += 1;
                continue;
            }
            s.crashed += 1;
            let pid = pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
            let res = vm.configuration.as_ref().map(Resources::from_config);
            self.handle_crash(&vm.id, pid, res, Reason::Killed, VmStatus::Off, VmStatus::Running, false).await;
        }
        s
    }

    fn crash_lock(&self, vm: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.crash_locks).entry(vm.to_string()).or_default().clone()
    }

    /// Crash handling (spec §10.3): demote the status (conditionally), release what the
    /// VM held (already captured in `res`), call `onCrashDetected`, emit `crash`. One
    /// crash of one PID is handled once, whichever path saw it first.
    #[allow(clippy::too_many_arguments)]
    async fn handle_crash(&self, vm: &str, pid: i32, res: Option<Resources>, reason: Reason, status: VmStatus, last_known: VmStatus, store_down: bool) {
        let crash_lock = self.crash_lock(vm);
        let _g = crash_lock.lock().await;
        if pid > 0 && lock(&self.handled).get(vm) == Some(&pid) {
            return;
        }
        let detected_at = now_ms();
        let mut last_known = last_known;
        let write = if store_down {
            self.sync.queue().defer(vm, PendingWrite::Automatic { status: status.clone(), reason: reason.clone() })
        } else {
            self.sync.set_automatic(vm, &status, reason.clone()).await
        };
        match write {
            Submitted::Applied(StatusChange::Written { previous }) => last_known = previous,
            Submitted::Applied(StatusChange::Refused { current }) => {
                crate::log::log(LOG, &format!("VM {vm}: status stays {current} (an automatic {status} never overwrites it)"));
                last_known = current;
            }
            Submitted::Applied(_) => {}
            Submitted::Queued { error } => {
                crate::log::log(LOG, &format!("VM {vm}: status write queued until the database is back ({error:?})"));
            }
            Submitted::NotFound { .. } => crate::log::log(LOG, &format!("VM {vm}: not in the database")),
        }
        crate::log::log(LOG, &format!("VM {vm} (PID {pid}) crashed: {}", reason.describe()));
        let cleanup = match res.filter(|_| self.config.enable_cleanup) {
            Some(r) => {
                let result = self.cleaner.release_with(vm, &r, store_down).await;
                if let Some(alert) = result.alert() {
                    if let Err(e) = self.emitter.emit("cleanup-alert", alert.clone()).await {
                        crate::log::log(&format!("{LOG}:error"), &format!("'cleanup-alert' listener failed: {e}"));
                    }
                    if let Err(e) = self.hooks.on_cleanup_alert(alert).await {
                        crate::log::log(&format!("{LOG}:error"), &format!("onCleanupAlert failed: {e}"));
                    }
                }
                Some(result)
            }
            None => None,
        };
        if let Err(e) = self.hooks.on_crash_detected(vm).await {
            crate::log::log(&format!("{LOG}:error"), &format!("onCrashDetected({vm}) failed: {e}"));
        }
        let mut event = json!({
            "vmId": vm,
            "pid": pid,
            "lastKnownStatus": last_known.as_str(),
            "detectedAt": date(detected_at),
            "cleanupPerformed": cleanup.is_some(),
            "reason": reason.to_json(),
        });
        if let Some(c) = &cleanup {
            event["cleanupResult"] = c.to_json();
        }
        if pid > 0 {
            lock(&self.handled).insert(vm.to_string(), pid);
        }
        if let Err(e) = self.emitter.emit("crash", event).await {
            crate::log::log(&format!("{LOG}:error"), &format!("'crash' listener failed: {e}"));
        }
    }

    /// Spec `retryCleanup(vmId, config)`.
    pub async fn retry_cleanup(&self, vm: &str, res: &Resources) -> Value {
        let result = self.cleaner.release(vm, res).await;
        if let Some(alert) = result.alert() {
            if let Err(e) = self.emitter.emit("cleanup-alert", alert.clone()).await {
                crate::log::log(&format!("{LOG}:error"), &format!("'cleanup-alert' listener failed: {e}"));
            }
            if let Err(e) = self.hooks.on_cleanup_alert(alert).await {
                crate::log::log(&format!("{LOG}:error"), &format!("onCleanupAlert failed: {e}"));
            }
        }
        result.to_json()
    }

    /// Starts watching `vm` (replacing an earlier watch of it). Returns the task the
    /// caller spawns; it ends when the VM exits (crash handled) or is unwatched.
    pub fn watch(&self, vm: &str, spec: WatchSpec) -> Task {
        let cancel = Arc::new(Notify::new());
        let task_id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = lock(&self.watches).insert(vm.to_string(), Watch { cancel: cancel.clone(), task_id }) {
            old.cancel.notify_one();
        }
        let me = self.me.clone();
        let vm = vm.to_string();
        Box::pin(async move {
            Self::follow(me.clone(), vm.clone(), spec, cancel, task_id).await;
            if let Some(core) = me.upgrade() {
                core.forget_watch(&vm, task_id);
            }
        })
    }

    /// Drops the registration of watch `task_id` of `vm` (not a newer one).
    fn forget_watch(&self, vm: &str, task_id: u64) {
        let mut w = lock(&self.watches);
        if w.get(vm).is_some_and(|x| x.task_id == task_id) {
            w.remove(vm);
        }
    }

    /// Stops watching `vm` (a deliberate stop is coming). True if it was watched.
    pub fn unwatch(&self, vm: &str) -> bool {
        match lock(&self.watches).remove(vm) {
            Some(w) => {
                w.cancel.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn watched(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.watches).keys().cloned().collect();
        v.sort();
        v
    }

    async fn follow(me: Weak<HealthMonitorCore>, vm: String, spec: WatchSpec, cancel: Arc<Notify>, task_id: u64) {
        let state = Arc::new(WatchState { shutdown: Mutex::new(None), eof: Notify::new(), closed: AtomicBool::new(false) });
        let qmp = match &spec.qmp_socket {
            Some(path) => {
                let st = state.clone();
                let sink: crate::qmp::client::Sink = Arc::new(move |n: Notice| match n {
                    Notice::Event { name, data, .. } if name == "SHUTDOWN" => {
                        let guest = data.as_ref().and_then(|d| d.get("guest")).and_then(Value::as_bool).unwrap_or(false);
                        let cause = data.as_ref().and_then(|d| d.get("reason")).and_then(Value::as_str).unwrap_or("").to_string();
                        *lock(&st.shutdown) = Some(Reason::from_shutdown(guest, &cause));
                    }
                    Notice::Disconnected => {
                        st.closed.store(true, Ordering::Release);
                        st.eof.notify_waiters();
                    }
                    _ => {}
                });
                let opts = QmpOptions { connect_timeout: Duration::from_secs(2), ..QmpOptions::default() };
                let c = QmpClient::new(path.clone(), opts, sink);
                match c.connect().await {
                    Ok(()) => Some(c),
                    Err(e) => {
                        crate::log::log(LOG, &format!("VM {vm}: watching without QMP ({e})"));
                        None
                    }
                }
            }
            None => None,
        };
        let (pid, exit) = (spec.pid, spec.exit);
        let alive = |exit: &ExitSource| match exit {
            ExitSource::Process(p) => p.is_alive(),
            ExitSource::Pid(pid) => pid_alive(*pid),
        };
        let pidfd = match &exit {
            ExitSource::Pid(p) => PidFd::open(*p),
            ExitSource::Process(_) => None,
        };
        let exited = async {
            match &exit {
                ExitSource::Process(p) => p.wait_exit().await,
                ExitSource::Pid(p) => match &pidfd {
                    Some(fd) => fd.wait_exit().await,
                    None => crate::qemu::pid::wait_exit_polling(*p).await,
                },
            }
        };
        tokio::pin!(exited);
        loop {
            tokio::select! {
                () = &mut exited => break,
                () = cancel.notified() => {
                    if let Some(c) = &qmp { c.disconnect().await; }
                    return;
                }
                () = state.eof.notified(), if qmp.is_some() && !state.closed.load(Ordering::Acquire) => {
                    // QMP EOF: if the process is gone, that is the exit.
                    if !alive(&exit) { break; }
                }
            }
        }
        // Let QMP deliver what QEMU said before it went (its SHUTDOWN, if any).
        if qmp.is_some() && !state.closed.load(Ordering::Acquire) {
            let _ = tokio::time::timeout(QMP_DRAIN, state.eof.notified()).await;
        }
        if let Some(c) = &qmp {
            c.disconnect().await;
        }
        let Some(core) = me.upgrade() else { return };
        // The VM is gone: it is no longer watched, whatever comes next.
        core.forget_watch(&vm, task_id);
        let shutdown = lock(&state.shutdown).clone();
        let (reason, status) = match shutdown {
            Some(r @ Reason::Crash { .. }) => (r, VmStatus::Error),
            Some(r) => {
                crate::log::log(LOG, &format!("VM {vm} (PID {pid}) exited after a shutdown ({})", r.describe()));
                return;
            }
            None => match spec.stderr_path.as_deref().and_then(|p| std::fs::read_to_string(p).ok()).filter(|s| !s.trim().is_empty()) {
                Some(stderr) => (Reason::QemuError { stderr: crate::exec::tail(&crate::redact::text(&stderr), 2048).to_string() }, VmStatus::Off),
                None => (Reason::Killed, VmStatus::Off),
            },
        };
        core.crash_from_watch(&vm, pid, spec.resources, reason, status).await;
    }

    async fn crash_from_watch(&self, vm: &str, pid: i32, known: Resources, reason: Reason, status: VmStatus) {
        // Capture before the flip. A store that is unreachable is not asked again (each
        // try waits out a connection timeout): the caller's own knowledge of the VM's
        // resources is all the cleanup gets, and the writes are queued.
        let mut captured = None;
        let mut store_down = self.sync.queue().pending(vm) > 0;
        if !store_down {
            for attempt in 0..3u32 {
                match self.sync.capture(vm).await {
                    Ok(c) => {
                        captured = c;
                        break;
                    }
                    Err(e) if e.is_transient() => {
                        crate::log::log(LOG, &format!("VM {vm}: database unreachable, cannot read its runtime state: {e}"));
                        store_down = true;
                        break;
                    }
                    Err(e) => {
                        crate::log::log(LOG, &format!("VM {vm}: cannot read its runtime state (attempt {}): {e}", attempt + 1));
                        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                    }
                }
            }
        }
        let last_known = captured.as_ref().map_or(VmStatus::Running, |c| c.status.clone());
        let res = match captured.and_then(|c| c.configuration) {
            Some(cfg) => Resources::from_config(&cfg).merged(&known),
            None => known,
        };
        self.handle_crash(vm, pid, Some(res), reason, status, last_known, store_down).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::cleanup::NoNetwork;
    use crate::state::emit::Recorder;
    use crate::state::queue::tests::{rt, MemStore};
    use crate::state::records::MachineConfigurationRecord;

    fn monitor(store: Arc<MemStore>) -> (Arc<HealthMonitorCore>, Arc<Recorder>) {
        let rec = Arc::new(Recorder::default());
        let h = HealthMonitorCore::new(Arc::new(StateSync::new(store)), Arc::new(NoNetwork), rec.clone(), Arc::new(NoHooks), HealthConfig::default());
        (h, rec)
    }

    #[test]
    fn spec_92_sweep() {
        rt().block_on(async {
            let dead = MachineConfigurationRecord {
                qemu_pid: Some(999_999),
                tap_device_name: Some("vnet-vm1".into()),
                qmp_socket_path: Some("/nonexist/vm1.sock".into()),
                ..Default::default()
            };
            let store = MemStore::with(&[("vm1", "running", Some(dead)), ("vm2", "running", Some(MachineConfigurationRecord::default()))]);
            let (h, rec) = monitor(store.clone());
            let s = h.check_all().await.to_json();
            assert_eq!((s["totalChecked"].as_u64(), s["alive"].as_u64(), s["crashed"].as_u64(), s["errors"].as_u64()), (Some(2), Some(1), Some(1), Some(0)));
            let writes: Vec<String> = store.calls().into_iter().filter(|c| !c.starts_with("find")).collect();
            assert_eq!(writes, ["updateMachineStatus vm1 off", "clearVolatileMachineConfiguration vm1"]);
            let ev = rec.take();
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].0, "crash");
            assert_eq!(ev[0].1["lastKnownStatus"], "running");
            assert_eq!(ev[0].1["cleanupPerformed"], true);
            assert_eq!(ev[0].1["cleanupResult"]["resources"].as_array().unwrap().len(), 5);
            // one crash of one PID is handled once, whichever path sees it again
            store.set("vm1", "running");
            h.handle_crash("vm1", 999_999, None, Reason::Killed, VmStatus::Off, VmStatus::Running, false).await;
            assert!(rec.take().is_empty());
            assert_eq!(store.status("vm1").as_deref(), Some("running"));
        });
    }

    #[test]
    fn db_failure_is_an_error_not_an_empty_list() {
        rt().block_on(async {
            let store = MemStore::with(&[("vm1", "running", None)]);
            store.down.store(true, Ordering::SeqCst);
            let (h, rec) = monitor(store.clone());
            let s = h.check_all().await.to_json();
            assert_eq!(s["totalChecked"].as_u64(), Some(0));
            assert_eq!(rec.names(), ["error"]);
        });
    }

    #[test]
    fn watch_reports_a_killed_process_at_once() {
        rt().block_on(async {
            let mut child = tokio::process::Command::new("sleep").arg("30").spawn().unwrap();
            let pid = child.id().unwrap() as i32;
            let cfg = MachineConfigurationRecord { qemu_pid: Some(i64::from(pid)), ..Default::default() };
            let store = MemStore::with(&[("vm1", "running", Some(cfg))]);
            let (h, rec) = monitor(store.clone());
            let task = h.watch("vm1", WatchSpec { pid, exit: ExitSource::Pid(pid), qmp_socket: None, resources: Resources::default(), stderr_path: None });
            let join = tokio::spawn(task);
            assert_eq!(h.watched(), ["vm1"]);
            let t = std::time::Instant::now();
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
            child.wait().await.unwrap();
            join.await.unwrap();
            assert!(t.elapsed() < Duration::from_millis(500), "{:?}", t.elapsed());
            assert_eq!(store.status("vm1").as_deref(), Some("off"));
            let ev = rec.take();
            assert_eq!(ev[0].0, "crash");
            assert_eq!(ev[0].1["reason"]["code"], "killed");
            assert!(h.watched().is_empty());
        });
    }

    #[test]
    fn unwatch_cancels() {
        rt().block_on(async {
            let store = MemStore::with(&[]);
            let (h, rec) = monitor(store);
            let task = h.watch(
                "v",
                WatchSpec {
                    pid: std::process::id() as i32,
                    exit: ExitSource::Pid(std::process::id() as i32),
                    qmp_socket: None,
                    resources: Resources::default(),
                    stderr_path: None,
                },
            );
            let join = tokio::spawn(task);
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(h.unwatch("v"));
            tokio::time::timeout(Duration::from_secs(2), join).await.unwrap().unwrap();
            assert!(rec.take().is_empty());
        });
    }
}
