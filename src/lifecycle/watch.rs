//! Watching the QEMUs a manager runs, and finding them again after a restart:
//! pushed exit handling (rule 5), the release of a dead VM's host resources (which
//! never waits for the database: DESIGN rule 9), and the reconcile of `initialize()`
//! (rule 8) with the identity rules of `identity.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::config::check_internal_name;
use super::host::HostNet;
use super::identity::{self, Expected, Verdict};
use super::journal::remove_quietly;
use super::journal::Entry;
use super::oplock::OpLocks;
use super::vm::{locked, path_string, shutdown_sink, stored_cores, ExitHook, ExitReport, ShutdownSlot, VmLifecycle, NS};
use crate::qemu::process::QemuProcess;
use crate::qmp::client::{QmpClient, QmpOptions};
use crate::state::queue::{PendingWrite, Submitted, WriteQueue};
use crate::state::records::{ExtendedMachineConfigurationRecord, MachineConfigUpdate};
use crate::state::status::{Reason, VmStatus};
use crate::system::cgroups::CgroupsManager;

const QMP_CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);
/// A wedged QEMU must not hold up the reconcile of the others.
const RECONCILE_QMP_WAIT: Duration = Duration::from_millis(2000);
/// How long an exit's report waits for its row to be written (it is queued beyond).
const EXIT_WRITE_WAIT: Duration = Duration::from_millis(1500);
/// How long `initialize()` waits for an unreachable database before it fails.
const RECONCILE_DB_WAIT: Duration = Duration::from_secs(60);

/// What a VM holds on the host while its QEMU runs, kept in memory so that its
/// release needs no database.
#[derive(Debug, Clone, Default)]
pub struct HostHold {
    /// The VM's names (its row stands in for them when the store is away).
    pub name: String,
    pub internal_name: String,
    pub tap: Option<String>,
    pub sockets: Vec<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub cpu_cores: Vec<i64>,
    pub pid: Option<i32>,
}

impl HostHold {
    /// What stop needs of the VM's row, from what the manager holds: used only while
    /// the store is unreachable, so a running VM can still be stopped and released.
    pub fn stand_in_row(&self, vm_id: &str) -> crate::state::records::VmConfigRecord {
        crate::state::records::VmConfigRecord {
            id: vm_id.into(),
            status: crate::state::status::VmStatus::Running,
            name: self.name.clone(),
            internal_name: self.internal_name.clone(),
            os: String::new(),
            cpu_cores: 0,
            ram_gb: 0,
            disk_size_gb: 0,
            gpu_pci_address: None,
            version: 0,
            configuration: Some(ExtendedMachineConfigurationRecord {
                qmp_socket_path: self.sockets.first().map(|p| p.display().to_string()),
                tap_device_name: self.tap.clone(),
                qemu_pid: self.pid.map(i64::from),
                ..ExtendedMachineConfigurationRecord::default()
            }),
            firewall_rule_set: None,
            department: None,
        }
    }

    /// From the stored runtime columns (a VM this process did not start).
    pub fn from_conf(pidfile: Option<PathBuf>, conf: &ExtendedMachineConfigurationRecord) -> Self {
        HostHold {
            name: String::new(),
            internal_name: String::new(),
            tap: conf.tap_device_name.clone(),
            sockets: [&conf.qmp_socket_path, &conf.guest_agent_socket_path, &conf.infini_service_socket_path]
                .into_iter()
                .flatten()
                .map(PathBuf::from)
                .collect(),
            pidfile,
            cpu_cores: stored_cores(conf.cpu_pinning.as_ref()),
            pid: conf.qemu_pid.and_then(|p| i32::try_from(p).ok()),
        }
    }

    /// From an operation's journal.
    pub fn from_entry(e: &Entry) -> Self {
        HostHold {
            name: e.name.clone().unwrap_or_default(),
            internal_name: e.internal_name.clone(),
            tap: e.tap.clone().or_else(|| e.tap_reused.clone()),
            sockets: e.sockets.clone(),
            pidfile: e.pidfile.clone(),
            cpu_cores: e.cpu_cores.clone(),
            pid: e.qemu.map(|q| q.0),
        }
    }
}

/// What this manager holds for a VM whose QEMU runs.
pub(super) struct Live {
    pub process: Arc<QemuProcess>,
    pub qmp: Option<Arc<QmpClient>>,
    pub hold: HostHold,
}

/// What releasing a dead VM needs; cheap to clone into a task.
#[derive(Clone)]
pub(super) struct Releaser {
    pub net: Arc<dyn HostNet>,
    pub cgroups: Arc<CgroupsManager>,
    pub queue: Arc<WriteQueue>,
}

impl Releaser {
    /// Releases the host side of a VM whose QEMU is gone: bridge port, firewall
    /// dispatch, sockets, pidfile and cgroup. Idempotent; never touches the database.
    pub async fn release_host(&self, vm_id: &str, h: &HostHold) {
        if let Some(tap) = &h.tap {
            self.net.tap_detach(tap);
        }
        self.net.detach_dispatch(vm_id).await;
        for s in &h.sockets {
            remove_quietly(s);
        }
        if let Some(p) = &h.pidfile {
            // A pidfile now naming a live process that is not the one released belongs
            // to someone else: left alone.
            let other = std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .is_some_and(|pid| Some(pid) != h.pid && crate::qemu::pid::pid_alive(pid));
            if !other {
                remove_quietly(p);
                identity::remove(p);
            }
        }
        if !h.cpu_cores.is_empty() {
            let (cg, pid) = (self.cgroups.clone(), h.pid);
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(pid) = pid {
                    cg.release_group(pid, Duration::from_secs(2));
                }
                cg.cleanup_empty_scopes()
            })
            .await;
        }
    }

    /// A status or runtime-column write: applied now, or queued until the store is back.
    pub async fn write(&self, vm_id: &str, w: PendingWrite) {
        match self.queue.submit(vm_id, w).await {
            Submitted::Queued { error } => crate::log::warn(
                NS,
                &format!("VM {vm_id}: store write queued until the database answers{}", error.map(|e| format!(": {e}")).unwrap_or_default()),
            ),
            Submitted::NotFound { .. } => crate::log::log(NS, &format!("VM {vm_id}: no row to write")),
            Submitted::Applied(_) => {}
        }
    }
}

impl VmLifecycle {
    pub(super) fn releaser(&self) -> Releaser {
        Releaser { net: self.net.clone(), cgroups: self.cgroups.clone(), queue: self.queue.clone() }
    }

    pub(super) async fn release_host(&self, vm_id: &str, h: &HostHold) {
        self.releaser().release_host(vm_id, h).await;
    }

    pub(super) async fn write(&self, vm_id: &str, w: PendingWrite) {
        self.releaser().write(vm_id, w).await;
    }

    /// The started QEMU and its QMP client now belong to the manager, not the rollback.
    pub(super) fn register_live(&self, vm_id: &str, process: Arc<QemuProcess>, qmp: Option<Arc<QmpClient>>, hold: HostHold, shutdown: ShutdownSlot) {
        locked(&self.live).insert(vm_id.to_string(), Live { process: process.clone(), qmp, hold });
        watch_exit(vm_id, process, shutdown, self.releaser(), self.locks.clone(), self.live.clone(), self.exit_hook.clone());
    }

    /// Rule 8: after a manager restart, every VM the store says may run is checked
    /// against reality. A QEMU that is provably this VM's (`identity.rs`) is adopted:
    /// exits are pushed again, QMP is connected and the stored status and PID are
    /// corrected. A VM whose QEMU is gone gets status `off` and its host resources
    /// released. A stranger behind the pidfile is reported, never adopted or signalled.
    pub async fn reconcile(self: &Arc<Self>) -> Result<Vec<super::vm::Reconciled>, super::error::LifecycleError> {
        self.recover_writes();
        for (vm_id, what) in self.replay_all().await {
            crate::log::log(NS, &format!("recovered VM {vm_id}: {what}"));
        }
        // A manager started while the database is away waits for it (bounded): the
        // host side of every interrupted operation is already settled above.
        let deadline = std::time::Instant::now() + RECONCILE_DB_WAIT;
        let candidates = loop {
            match self.store.find_vms_with_process().await {
                Ok(c) => break c,
                Err(e) if e.is_transient() && std::time::Instant::now() < deadline => {
                    crate::log::warn(NS, &format!("reconcile: the database does not answer yet ({e}); retrying"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(super::error::LifecycleError::wrap_plain(super::error::LifecycleErrorCode::DATABASE_ERROR, &e)),
            }
        };
        // Every VM at once: a wedged or busy monitor costs its own VM 2 s, not the others.
        let tasks: Vec<_> = candidates
            .into_iter()
            .map(|rec| {
                let me = self.clone();
                tokio::spawn(async move {
                    let r = match me.locks.try_acquire(&me.opts.pidfile_dir, &rec.id) {
                        Some(_guard) => {
                            me.replay_journal(&rec.id).await;
                            me.reconcile_one(&rec.id, None).await
                        }
                        None => super::vm::Reconciled::Unknown { vm_id: rec.id.clone(), why: "an operation of another manager holds the VM".into() },
                    };
                    crate::log::log(NS, &format!("reconcile: {r:?}"));
                    r
                })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            match t.await {
                Ok(r) => out.push(r),
                Err(e) => crate::log::warn(NS, &format!("reconcile task failed: {e}")),
            }
        }
        Ok(out)
    }

    /// Spec §6 `attachToRunningVM`: adopts the VM's QEMU (as [`Self::reconcile`]
    /// does for one VM), its QMP socket being `qmp_socket`.
    pub async fn attach_running(&self, vm_id: &str, qmp_socket: &str) -> Result<super::vm::Reconciled, super::error::LifecycleError> {
        use super::error::{LifecycleError, LifecycleErrorCode as C};
        use super::vm::Reconciled;
        let _guard = self.lock(vm_id).await?;
        match self.reconcile_one(vm_id, Some(PathBuf::from(qmp_socket))).await {
            Reconciled::Gone { .. } => Err(LifecycleError::failed(C::VM_NOT_FOUND, format!("VM {vm_id} not found or not running"), Some(vm_id), None)),
            Reconciled::Unknown { why, .. } => Err(LifecycleError::failed(C::PROCESS_ERROR, why, Some(vm_id), None)),
            Reconciled::Stranger { pid, why, .. } => {
                Err(LifecycleError::failed(C::PROCESS_ERROR, why, Some(vm_id), Some(json!({ "pid": pid, "stranger": true }))))
            }
            r => Ok(r),
        }
    }

    /// What the VM's QEMU must carry (`identity.rs`), from its row.
    pub(super) fn expected_identity(&self, vm_id: &str, name: &str, internal_name: &str) -> Expected {
        let pidfile = self.paths(internal_name, 0).pidfile;
        let recorded = identity::load(&pidfile).filter(|r| r.vm_id == vm_id);
        Expected { vm_id: vm_id.into(), uuid: recorded.as_ref().and_then(|r| r.uuid.clone()), name: Some(name.into()), recorded, pidfile }
    }

    pub(super) async fn reconcile_one(&self, vm_id: &str, socket: Option<PathBuf>) -> super::vm::Reconciled {
        use super::vm::Reconciled;
        let unknown = |why: String| Reconciled::Unknown { vm_id: vm_id.to_string(), why };
        if locked(&self.live).contains_key(vm_id) {
            return Reconciled::Tracked { vm_id: vm_id.to_string() };
        }
        let vm = match self.store.find_machine_with_config(vm_id).await {
            Ok(Some(vm)) => vm,
            Ok(None) => return Reconciled::Gone { vm_id: vm_id.to_string(), status: "missing".into() },
            Err(e) => return unknown(format!("cannot read VM {vm_id}: {e}")),
        };
        if let Err(e) = check_internal_name(&vm.internal_name) {
            return unknown(e.to_string());
        }
        let conf = vm.configuration.clone().unwrap_or_default();
        let expected = self.expected_identity(vm_id, &vm.name, &vm.internal_name);
        let pidfile = expected.pidfile.clone();
        let file_pid = std::fs::read_to_string(&pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok());
        let verdict = file_pid.map_or(Verdict::Gone, |pid| identity::check(pid, &expected));
        match verdict {
            Verdict::Ours => {}
            Verdict::Unknown { why } => return unknown(format!("cannot tell whether the QEMU of VM {vm_id} runs: {why}")),
            Verdict::Stranger { why } => {
                let pid = file_pid.unwrap_or(0);
                crate::log::warn(NS, &format!("VM {vm_id}: a process that is not its QEMU holds its pidfile, left alone: {why}"));
                return Reconciled::Stranger { vm_id: vm_id.to_string(), pid, why };
            }
            Verdict::Gone => {
                // Gone while no manager watched it: the same release as a pushed exit.
                let reason = Reason::Operation { name: "reconcile: QEMU gone while the manager was not running".into() };
                self.release_host(vm_id, &HostHold::from_conf(Some(pidfile), &conf)).await;
                self.write(vm_id, PendingWrite::Automatic { status: VmStatus::Off, reason: reason.clone() }).await;
                self.write(vm_id, PendingWrite::ClearVolatile).await;
                let hook = locked(&self.exit_hook).clone();
                if let Some(hook) = hook {
                    hook(ExitReport { vm_id: vm_id.into(), status: VmStatus::Off, crashed: true, reason: reason.describe() });
                }
                return Reconciled::Gone { vm_id: vm_id.to_string(), status: VmStatus::Off };
            }
        }
        let process = Arc::new(QemuProcess::new(vm_id));
        process.set_pidfile(&pidfile);
        let pid = match process.attach(Some(path_string(&pidfile))).await {
            Err(e) => return unknown(format!("cannot adopt the QEMU of VM {vm_id}: {e}")),
            Ok(None) => return unknown(format!("the QEMU of VM {vm_id} exited while being adopted")),
            Ok(Some(pid)) => pid,
        };
        if expected.recorded.is_none() {
            if let Some(start_time) = identity::start_time(pid) {
                let r = identity::Recorded { vm_id: vm_id.into(), pid, start_time, uuid: None };
                if let Err(e) = identity::save(&pidfile, &r) {
                    crate::log::warn(NS, &format!("VM {vm_id}: cannot record the identity of PID {pid}: {e}"));
                }
            }
        }
        let socket = socket.or_else(|| conf.qmp_socket_path.clone().map(PathBuf::from)).unwrap_or_else(|| self.paths(&vm.internal_name, 0).qmp_socket);
        let shutdown = ShutdownSlot::default();
        let qmp = QmpClient::new(&socket, QmpOptions { connect_timeout: QMP_CONNECT_TIMEOUT, ..QmpOptions::default() }, shutdown_sink(&shutdown));
        let connected = tokio::time::timeout(RECONCILE_QMP_WAIT, async {
            qmp.connect().await?;
            qmp.execute("query-status", None).await
        })
        .await;
        let (qmp, run_state) = match connected {
            Ok(Ok(v)) => (Some(qmp), v.get("status").and_then(Value::as_str).map(str::to_string)),
            Ok(Err(e)) => {
                crate::log::warn(NS, &format!("VM {vm_id}: QEMU (PID {pid}) adopted but QMP at {} did not answer: {e}", socket.display()));
                qmp.disconnect().await;
                (None, None)
            }
            Err(_) => {
                crate::log::warn(NS, &format!("VM {vm_id}: QEMU (PID {pid}) adopted but its monitor is unresponsive"));
                qmp.disconnect().await;
                (None, None)
            }
        };
        // The stored status follows the run state; an interrupted start is an error.
        let status = match run_state.as_deref() {
            Some(st) => crate::state::status::db_status_for_qmp(st),
            None => vm.status.clone(),
        };
        let status = if vm.status == VmStatus::Starting && status != VmStatus::Running { VmStatus::Error } else { status };
        if status != vm.status {
            let why = Reason::Operation { name: format!("reconcile: QEMU runs, state {}", run_state.as_deref().unwrap_or("unknown")) };
            self.write(vm_id, PendingWrite::Direct { status: status.clone(), reason: why }).await;
        }
        if conf.qemu_pid != Some(i64::from(pid)) || conf.qmp_socket_path.as_deref() != Some(path_string(&socket).as_str()) {
            match MachineConfigUpdate::from_json(&json!({ "qemuPid": pid, "qmpSocketPath": path_string(&socket) })) {
                Ok(u) => {
                    if let Err(e) = self.store.update_machine_configuration(vm_id, &u).await {
                        crate::log::warn(NS, &format!("reconcile: could not record PID {pid} of {vm_id}: {e}"));
                    }
                }
                Err(m) => crate::log::warn(NS, &m),
            }
        }
        let mut hold = HostHold::from_conf(Some(pidfile), &conf);
        hold.pid = Some(pid);
        hold.name.clone_from(&vm.name);
        hold.internal_name.clone_from(&vm.internal_name);
        self.register_live(vm_id, process, qmp, hold, shutdown);
        // A guest frozen by a manager that died before thawing it: thaw it, in the
        // background (reconcile never waits for a guest).
        if let (Some(ga), Some("running")) = (conf.guest_agent_socket_path.clone(), run_state.as_deref()) {
            let id = vm_id.to_string();
            tokio::spawn(async move { super::agent::thaw_if_frozen(Path::new(&ga), &id).await });
        }
        Reconciled::Attached { vm_id: vm_id.to_string(), pid, qmp_socket: path_string(&socket), status }
    }
}

/// Pushed exit handling (rule 5): when a QEMU this manager runs exits by itself
/// (guest power-off, crash, kill), its host resources are released at once from
/// what the manager holds in memory, then the status and runtime columns are
/// written (queued while the database is away). An exit caused by `stop` is left to
/// `stop` (the VM is no longer in the live map then).
fn watch_exit(
    vm_id: &str,
    process: Arc<QemuProcess>,
    shutdown: ShutdownSlot,
    releaser: Releaser,
    locks: Arc<OpLocks>,
    live: Arc<Mutex<std::collections::HashMap<String, Live>>>,
    exit_hook: Arc<Mutex<Option<ExitHook>>>,
) {
    let vm_id = vm_id.to_string();
    tokio::spawn(async move {
        process.wait_exit().await;
        let _guard = locks.local_only(&vm_id).await;
        // Still listed while it is released (operations on the VM wait for this lock),
        // so the VM leaves the active list only once its exit is handled and reported.
        let ours = {
            let l = locked(&live);
            match l.get(&vm_id) {
                Some(entry) if Arc::ptr_eq(&entry.process, &process) => Some((entry.qmp.clone(), entry.hold.clone())),
                _ => None,
            }
        };
        let Some((qmp, hold)) = ours else { return };
        if let Some(q) = &qmp {
            q.disconnect().await;
        }
        let reason = locked(&shutdown).take().unwrap_or(Reason::Killed);
        crate::log::log(NS, &format!("QEMU of VM {vm_id} exited by itself: {}", reason.describe()));
        let status = if matches!(reason, Reason::GuestShutdown | Reason::HostShutdown { .. }) { VmStatus::Off } else { VmStatus::Error };
        // The row's writes are journaled first (they must outlive this manager even if
        // it dies next) but held back, the host is released without waiting for the
        // database, then the writes land (queued while the database is away): a reader
        // who sees the row `off` finds the host already released.
        let writes = vec![PendingWrite::Exited { status: status.clone(), reason: reason.clone(), pid: hold.pid }];
        let lane_hold = releaser.queue.hold(&vm_id);
        releaser.queue.submit_durably(&vm_id, writes);
        releaser.release_host(&vm_id, &hold).await;
        drop(lane_hold);
        if !releaser.queue.wait_drained(&vm_id, EXIT_WRITE_WAIT).await {
            crate::log::warn(NS, &format!("VM {vm_id}: the database does not answer; its exit is recorded once it does"));
        }
        {
            let mut l = locked(&live);
            if l.get(&vm_id).is_some_and(|e| Arc::ptr_eq(&e.process, &process)) {
                l.remove(&vm_id);
            }
        }
        let hook = locked(&exit_hook).clone();
        if let Some(hook) = hook {
            hook(ExitReport { vm_id, crashed: status == VmStatus::Error, status, reason: reason.describe() });
        }
    });
}
