//! The operations on a VM that exists: stop (bounded by its timeout, forced through
//! the pidfd), destroy, restart, suspend/resume/reset over QMP, and status (which
//! waits at most 1.5 s for a monitor). Create and start are in `vm.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::check_internal_name;
use super::error::{LifecycleError, LifecycleErrorCode as C};
use super::identity::{self, Verdict};
use super::journal::{Entry, Journal, Op};
use super::undo::journal_error;
use super::vm::{locked, path_string, pid_alive, wrap, OperationResult, Started, StatusResult, StopConfig, VmLifecycle, NS};
use super::watch::{HostHold, Live};
use crate::qemu::process::QemuProcess;
use crate::qmp::client::{QmpClient, QmpOptions};
use crate::state::queue::PendingWrite;
use crate::state::status::{Reason, VmStatus};

/// Waits for a QMP answer at most `limit`; `None` when the monitor did not answer in time.
async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(limit, f).await.ok()
}

/// How long `getVMStatus` waits for a monitor before reporting it unresponsive.
const STATUS_QMP_WAIT: Duration = Duration::from_millis(1500);
/// How long a suspend, resume or reset waits for the monitor.
const OPERATION_QMP_WAIT: Duration = Duration::from_secs(10);
const QMP_CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);
const RESTART_DELAY: Duration = Duration::from_millis(2000);
/// Longest the agent step of a stop waits for the agent to take `guest-shutdown`.
const AGENT_STOP_STEP: Duration = Duration::from_secs(10);

impl VmLifecycle {
    // ------------------------------------------------------------------ stop

    /// Spec §5.7. `cfg.timeout` bounds the whole stop; `force` then kills through the
    /// pidfd (which also reaches a stopped or wedged QEMU).
    pub async fn stop(&self, vm_id: &str, cfg: StopConfig) -> Result<OperationResult, LifecycleError> {
        let _guard = self.lock(vm_id).await?;
        self.stop_locked(vm_id, cfg).await
    }

    /// The QEMU process of `vm_id`: the one this manager runs, or the one its pidfile
    /// names once it is proven to be that VM's (a stranger is never returned).
    async fn process_of(&self, vm: &crate::state::records::VmConfigRecord) -> (Option<Arc<QemuProcess>>, Option<Arc<QmpClient>>, Option<HostHold>) {
        if let Some(l) = locked(&self.live).remove(&vm.id) {
            return (Some(l.process), l.qmp, Some(l.hold));
        }
        if check_internal_name(&vm.internal_name).is_err() {
            return (None, None, None);
        }
        let expected = self.expected_identity(&vm.id, &vm.name, &vm.internal_name);
        let Some(pid) = std::fs::read_to_string(&expected.pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok()) else {
            return (None, None, None);
        };
        match identity::check(pid, &expected) {
            Verdict::Ours => {}
            Verdict::Stranger { why } | Verdict::Unknown { why } => {
                crate::log::warn(NS, &format!("VM {}: PID {pid} behind its pidfile is left alone: {why}", vm.id));
                return (None, None, None);
            }
            Verdict::Gone => return (None, None, None),
        }
        let p = QemuProcess::new(vm.id.as_str());
        p.set_pidfile(&expected.pidfile);
        match p.attach(Some(path_string(&expected.pidfile))).await {
            Ok(Some(_)) => (Some(Arc::new(p)), None, None),
            _ => (None, None, None),
        }
    }

    async fn stop_locked(&self, vm_id: &str, cfg: StopConfig) -> Result<OperationResult, LifecycleError> {
        let deadline = Instant::now() + cfg.timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        // A VM this manager runs can be stopped while the database is away: what the
        // manager holds stands in for the row, and the row's writes are queued.
        let vm = match self.store.find_machine_with_config(vm_id).await {
            Err(e) if e.is_transient() => match locked(&self.live).get(vm_id).map(|l| l.hold.stand_in_row(vm_id)) {
                Some(row) => {
                    crate::log::warn(NS, &format!("VM {vm_id}: stopping without the database ({e}); its row is written once it answers"));
                    row
                }
                None => return Err(LifecycleError::wrap(C::STOP_FAILED, vm_id, &e)),
            },
            r => r
                .map_err(wrap(C::STOP_FAILED, vm_id))?
                .ok_or_else(|| LifecycleError::failed(C::VM_NOT_FOUND, format!("VM not found: {vm_id}"), Some(vm_id), None))?,
        };
        let conf = vm.configuration.clone().unwrap_or_default();
        let socket = conf.qmp_socket_path.clone().map(PathBuf::from);
        let (process, live_qmp, hold) = self.process_of(&vm).await;
        let pidfile = check_internal_name(&vm.internal_name).ok().map(|()| self.paths(&vm.internal_name, 0).pidfile);
        let hold = hold.unwrap_or_else(|| HostHold::from_conf(pidfile.clone(), &conf));
        let alive = process.as_ref().is_some_and(|p| p.is_alive());
        if vm.status == VmStatus::Off && !alive {
            return Ok(OperationResult { success: true, message: format!("VM {vm_id} is already stopped"), vm_id: vm_id.into(), forced: None });
        }
        let keep = |p: &Arc<QemuProcess>, qmp: Option<Arc<QmpClient>>| {
            locked(&self.live).insert(vm_id.into(), Live { process: p.clone(), qmp, hold: hold.clone() });
        };
        let mut forced = false;
        let journal = if let Some(p) = process.as_ref().filter(|_| alive) {
            let mut entry = Entry::new(Op::Stop, vm_id, &vm.internal_name);
            entry.pidfile = hold.pidfile.clone();
            entry.qemu = p.pid().map(|pid| (pid, identity::start_time(pid).unwrap_or(0)));
            entry.tap_reused = hold.tap.clone();
            entry.sockets = hold.sockets.clone();
            entry.cpu_cores = hold.cpu_cores.clone();
            entry.uuid = identity::load(hold.pidfile.as_deref().unwrap_or(Path::new(""))).and_then(|r| r.uuid);
            entry.name = Some(vm.name.clone());
            let journal = Journal::begin(&self.opts.pidfile_dir, entry).map_err(|e| journal_error(vm_id, &e))?;
            let mut exited = false;
            // With a guest agent, the power button gets half the time and the agent
            // the rest (each step has its own deadline; the stop's total is unchanged).
            let agent_socket = conf.guest_agent_socket_path.clone().map(PathBuf::from);
            let acpi_deadline = if agent_socket.is_some() { Instant::now() + cfg.timeout / 2 } else { deadline };
            let acpi_left = || acpi_deadline.saturating_duration_since(Instant::now());
            if cfg.graceful {
                if let Some(sock) = socket.as_ref().filter(|s| s.exists()) {
                    let qmp = match &live_qmp {
                        Some(q) => Some(q.clone()),
                        None => {
                            let q = QmpClient::new(
                                sock,
                                QmpOptions { connect_timeout: QMP_CONNECT_TIMEOUT.min(left()), ..QmpOptions::default() },
                                Arc::new(|_| {}),
                            );
                            matches!(bounded(left(), q.connect()).await, Some(Ok(()))).then_some(q)
                        }
                    };
                    if let Some(q) = &qmp {
                        if matches!(bounded(acpi_left(), q.execute("system_powerdown", None)).await, Some(Ok(_))) {
                            exited = bounded(acpi_left(), p.wait_exit()).await.is_some();
                        }
                        q.disconnect().await;
                    }
                } else if !cfg.force {
                    let s = socket.as_ref().map(|s| path_string(s)).unwrap_or_default();
                    journal.finish();
                    keep(p, live_qmp);
                    return Err(LifecycleError::failed(C::STOP_FAILED, format!("QMP socket {s} does not exist and force is disabled"), Some(vm_id), None));
                }
            }
            if !exited && cfg.graceful {
                // The guest ignored the power button: ask its agent, if it has one.
                if let Some(ga) = agent_socket.as_ref().filter(|s| s.exists()) {
                    if super::agent::shutdown(ga, left().min(AGENT_STOP_STEP)).await {
                        exited = bounded(left(), p.wait_exit()).await.is_some();
                    }
                }
            }
            if !exited {
                if !cfg.force {
                    journal.finish();
                    keep(p, None);
                    let msg = if cfg.graceful {
                        format!("VM {vm_id} did not shut down within {}ms and force is disabled", cfg.timeout.as_millis())
                    } else {
                        "Cannot stop VM without graceful or force option".to_string()
                    };
                    return Err(LifecycleError::failed(C::STOP_FAILED, msg, Some(vm_id), None));
                }
                p.force_kill().await;
                forced = true;
            }
            Some(journal)
        } else {
            if let Some(q) = live_qmp {
                q.disconnect().await;
            }
            None
        };
        // The host first (it never waits for the database), then the row.
        self.release_host(vm_id, &hold).await;
        self.write(vm_id, PendingWrite::Direct { status: VmStatus::Off, reason: Reason::Operation { name: "stop".into() } }).await;
        self.write(vm_id, PendingWrite::ClearVolatile).await;
        if let Some(j) = journal {
            j.finish();
        }
        let message = format!("VM {vm_id} stopped successfully{}", if forced { " (forced)" } else { "" });
        Ok(OperationResult { success: true, message, vm_id: vm_id.into(), forced: Some(forced) })
    }

    // ------------------------------------------------------------------ destroy

    /// Spec §5.8: stops a running VM (forced), then removes its TAP and chain and the
    /// runtime columns. Disks and rows stay.
    pub async fn destroy_resources(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        let _guard = self.lock(vm_id).await?;
        let Some(vm) = self.store.find_machine_with_config(vm_id).await.map_err(wrap(C::STOP_FAILED, vm_id))? else {
            return Ok(OperationResult { success: true, message: format!("VM {vm_id} not found, nothing to destroy"), vm_id: vm_id.into(), forced: None });
        };
        if vm.status == VmStatus::Running || vm.status == VmStatus::Starting || locked(&self.live).contains_key(vm_id) {
            self.stop_locked(vm_id, StopConfig { graceful: false, timeout: Duration::from_millis(5000), force: true }).await?;
        }
        let tap = vm
            .configuration
            .as_ref()
            .and_then(|c| c.tap_device_name.clone())
            .or_else(|| crate::network::link::names::tap_for_vm(vm_id).ok().map(|t| t.to_string()));
        let mut entry = Entry::new(Op::Destroy, vm_id, &vm.internal_name);
        entry.tap = tap.clone();
        let journal = Journal::begin(&self.opts.pidfile_dir, entry).map_err(|e| journal_error(vm_id, &e))?;
        if let Some(tap) = tap {
            if let Err(e) = self.net.tap_destroy(&tap) {
                crate::log::warn(NS, &format!("destroy: could not remove TAP {tap}: {e}"));
            }
        }
        self.net.remove_chain(vm_id).await;
        self.write(vm_id, PendingWrite::ClearConfig).await;
        journal.finish();
        Ok(OperationResult { success: true, message: format!("VM {vm_id} resources destroyed successfully"), vm_id: vm_id.into(), forced: None })
    }

    // ------------------------------------------------------------------ restart, suspend, resume, reset

    /// Spec §5.9 `restart`: a graceful stop (forced after 30 s), 2 s, then `start`.
    pub async fn restart(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        Ok(self.restart_detailed(vm_id).await?.0)
    }

    /// [`Self::restart`], plus the stop's result and what the start launched (for the
    /// `power_off` and `power_on` events).
    pub async fn restart_detailed(&self, vm_id: &str) -> Result<(OperationResult, OperationResult, Option<Started>), LifecycleError> {
        let stopped = self.stop(vm_id, StopConfig::default()).await?;
        tokio::time::sleep(RESTART_DELAY).await;
        let (_, started) = self.start_detailed(vm_id).await?;
        let r = OperationResult { success: true, message: format!("VM {vm_id} restarted successfully"), vm_id: vm_id.into(), forced: None };
        Ok((r, stopped, started))
    }

    /// Spec §5.9 `suspend`: QMP `stop`, status `suspended`.
    pub async fn suspend(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.qmp_operation(vm_id, &[VmStatus::Running], "suspend", "stop", Some(VmStatus::Suspended), "suspended").await
    }

    /// Spec §5.9 `resume`: QMP `cont`, status `running`.
    pub async fn resume(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.qmp_operation(vm_id, &[VmStatus::Suspended, VmStatus::Paused], "resume", "cont", Some(VmStatus::Running), "resumed").await
    }

    /// Spec §5.9 `reset`: QMP `system_reset`; the status stays `running`.
    pub async fn reset(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.qmp_operation(vm_id, &[VmStatus::Running], "reset", "system_reset", None, "reset").await
    }

    /// One QMP command on a VM in one of `allowed` statuses, over the manager's own
    /// connection (QEMU takes one), else a temporary one to the stored socket.
    async fn qmp_operation(
        &self,
        vm_id: &str,
        allowed: &[VmStatus],
        verb: &str,
        command: &str,
        new_status: Option<VmStatus>,
        done: &str,
    ) -> Result<OperationResult, LifecycleError> {
        let _guard = self.lock(vm_id).await?;
        let vm = self.load_vm(vm_id, C::QMP_ERROR).await?;
        if !allowed.contains(&vm.status) {
            return Err(LifecycleError::failed(C::INVALID_STATE, format!("Cannot {verb} VM in state: {}", vm.status), Some(vm_id), None));
        }
        let Some(socket) = vm.configuration.as_ref().and_then(|c| c.qmp_socket_path.clone()) else {
            return Err(LifecycleError::failed(C::QMP_ERROR, "QMP socket path not found", Some(vm_id), None));
        };
        let live = locked(&self.live).get(vm_id).and_then(|l| l.qmp.clone()).filter(|q| q.is_connected());
        let (qmp, temporary) = match live {
            Some(q) => (q, false),
            None => {
                let q = QmpClient::new(&socket, QmpOptions { connect_timeout: QMP_CONNECT_TIMEOUT, ..QmpOptions::default() }, Arc::new(|_| {}));
                q.connect().await.map_err(wrap(C::QMP_ERROR, vm_id))?;
                (q, true)
            }
        };
        let r = bounded(OPERATION_QMP_WAIT, qmp.execute(command, None)).await;
        if temporary {
            qmp.disconnect().await;
        }
        match r {
            Some(r) => r.map_err(wrap(C::QMP_ERROR, vm_id))?,
            None => {
                return Err(LifecycleError::failed(
                    C::TIMEOUT,
                    format!("VM {vm_id}: the monitor did not answer '{command}' within {} ms", OPERATION_QMP_WAIT.as_millis()),
                    Some(vm_id),
                    None,
                ))
            }
        };
        if let Some(st) = new_status {
            self.store.update_machine_status(vm_id, &st).await.map_err(wrap(C::QMP_ERROR, vm_id))?;
        }
        Ok(OperationResult { success: true, message: format!("VM {vm_id} {done}"), vm_id: vm_id.into(), forced: None })
    }

    /// One QMP command over the manager's connection to a VM it runs (spec §6
    /// `ejectCdrom`, `queryBlockDevices`).
    pub async fn qmp_command(&self, vm_id: &str, command: &str, args: Option<Value>) -> Result<Value, LifecycleError> {
        let qmp = locked(&self.live).get(vm_id).and_then(|l| l.qmp.clone()).filter(|q| q.is_connected());
        let Some(qmp) = qmp else {
            return Err(LifecycleError::failed(C::VM_NOT_FOUND, format!("VM {vm_id} not found or not running"), None, None));
        };
        qmp.execute(command, args).await.map_err(wrap(C::QMP_ERROR, vm_id))
    }

    // ------------------------------------------------------------------ status

    /// Spec §5.10; `qmpStatus` comes from this manager's own QMP connection and is
    /// waited for at most 1.5 s (`monitorResponsive: false` beyond that).
    pub async fn get_status(&self, vm_id: &str) -> Result<StatusResult, LifecycleError> {
        let vm = self.load_vm(vm_id, C::DATABASE_ERROR).await?;
        let conf = vm.configuration.clone().unwrap_or_default();
        let pid = conf.qemu_pid;
        let process_alive = pid.is_some_and(pid_alive);
        let qmp = locked(&self.live).get(vm_id).and_then(|l| l.qmp.clone());
        let mut qmp_status = None;
        let mut monitor_responsive = None;
        let monitor = async {
            if let (true, Some(q)) = (process_alive, qmp) {
                match bounded(STATUS_QMP_WAIT, q.execute("query-status", None)).await {
                    Some(Ok(v)) => {
                        qmp_status = v.get("status").and_then(Value::as_str).map(str::to_string);
                        monitor_responsive = Some(true);
                    }
                    Some(Err(_)) | None => monitor_responsive = Some(false),
                }
            }
        };
        // The guest agent is asked at the same time, within the same limit.
        let agent_socket = conf.guest_agent_socket_path.clone().filter(|_| process_alive);
        let agent = async {
            match &agent_socket {
                Some(s) => Some(super::agent::status(Path::new(s), STATUS_QMP_WAIT).await),
                None => None,
            }
        };
        let ((), agent) = tokio::join!(monitor, agent);
        Ok(StatusResult {
            vm_id: vm_id.into(),
            consistent: (vm.status == VmStatus::Running) == process_alive,
            status: vm.status,
            qmp_status,
            pid,
            process_alive,
            tap_device: conf.tap_device_name,
            qmp_socket_path: conf.qmp_socket_path,
            monitor_responsive,
            agent_responsive: agent.as_ref().map(|a| a.responsive),
            guest_ip_addresses: agent.map(|a| a.ip_addresses),
        })
    }

    /// Disconnects this manager's QMP clients (QEMU keeps running: rule 8).
    /// The manager lets go of its VMs: it stops watching their exits (a later manager
    /// finds them through the database, pidfile and `/proc`).
    pub async fn shutdown(&self) {
        let clients: Vec<Arc<QmpClient>> = locked(&self.live).drain().filter_map(|(_, l)| l.qmp).collect();
        for q in clients {
            q.disconnect().await;
        }
    }
}
