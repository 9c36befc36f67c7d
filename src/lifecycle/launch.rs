//! Launching a VM's QEMU: the display port (chosen and bound under a host-wide lock),
//! the paused spawn, the TAP carrier check, the cgroup, QMP, the display password and
//! `cont`. Everything it makes is journaled before it is made (`undo.rs`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::command::{build_vm_command, VmCommandSpec};
use super::error::{LifecycleError, LifecycleErrorCode as C};
use super::identity;
use super::undo::Made;
use super::vm::{path_string, shutdown_sink, wrap, VmLifecycle, NS};
use crate::qemu::pid::pid_alive;
use crate::qemu::process::{LaunchSpec, QemuProcess};
use crate::qmp::client::{QmpClient, QmpOptions};

const CARRIER_ATTEMPTS: u32 = 10;
const CARRIER_INTERVAL: Duration = Duration::from_millis(500);
const SOCKET_WAIT: Duration = Duration::from_millis(5000);
const SOCKET_POLL: Duration = Duration::from_millis(100);
const QMP_CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);
const PORT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// First port from `start` (up to 100 further) that binds on 0.0.0.0 (spec §5.3).
pub(super) fn find_available_display_port(start: u16) -> Result<u16, LifecycleError> {
    let end = start.saturating_add(100);
    for port in start..=end {
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(LifecycleError::failed(
        C::RESOURCE_UNAVAILABLE,
        format!("No available display ports in range {start}-{end}. All ports are in use."),
        None,
        Some(json!({ "startPort": start, "endPort": end, "attemptsChecked": 100 })),
    ))
}

/// An exclusive `flock` on the display-port lock file; released on drop.
struct PortLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// Takes the host-wide display-port lock: every manager on the host (and every
/// create in this one) searches for a free port and starts QEMU on it under this
/// lock, so two VMs never pick the same port between the search and QEMU's bind.
async fn lock_display_ports(path: &Path) -> Result<PortLock, LifecycleError> {
    use super::oplock::{flock_until, FlockError};
    let failed = |what: String| LifecycleError::failed(C::RESOURCE_UNAVAILABLE, what, None, Some(json!({ "lockFile": path_string(path) })));
    match flock_until(path, Instant::now() + PORT_LOCK_WAIT, Duration::from_millis(20)).await {
        Ok(l) => Ok(PortLock(l)),
        Err(FlockError::Busy) => Err(failed(format!("Display-port lock {} not obtained: held longer than {} s", path.display(), PORT_LOCK_WAIT.as_secs()))),
        Err(FlockError::Io(e)) => Err(failed(format!("Display-port lock {} not obtained: {e}", path.display()))),
    }
}

pub(super) type LaunchFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, LifecycleError>> + Send + 'a>>;

/// Starting a VM's QEMU, in two halves that create runs beside its network work:
/// `spawn` (paused, journaled) and `finish` (carrier, cgroup, QMP, password, `cont`).
/// `QemuLauncher` is the real one; root-free tests substitute a stand-in process.
pub(super) trait Launcher: Send + Sync + 'static {
    fn spawn<'a>(
        &'a self,
        lc: &'a VmLifecycle,
        vm_id: &'a str,
        spec: &'a mut VmCommandSpec,
        made: &'a Made,
    ) -> LaunchFuture<'a, (Arc<QemuProcess>, Option<crate::secret::Secret>)>;
    #[allow(clippy::too_many_arguments)]
    fn finish<'a>(
        &'a self,
        lc: &'a VmLifecycle,
        vm_id: &'a str,
        spec: &'a VmCommandSpec,
        bridge: &'a str,
        pid: i32,
        password: Option<crate::secret::Secret>,
        made: &'a mut Made,
    ) -> LaunchFuture<'a, ()>;
}

/// QEMU itself.
pub(super) struct QemuLauncher;

impl Launcher for QemuLauncher {
    fn spawn<'a>(
        &'a self,
        lc: &'a VmLifecycle,
        vm_id: &'a str,
        spec: &'a mut VmCommandSpec,
        made: &'a Made,
    ) -> LaunchFuture<'a, (Arc<QemuProcess>, Option<crate::secret::Secret>)> {
        Box::pin(lc.spawn_paused(vm_id, spec, made))
    }
    fn finish<'a>(
        &'a self,
        lc: &'a VmLifecycle,
        vm_id: &'a str,
        spec: &'a VmCommandSpec,
        bridge: &'a str,
        pid: i32,
        password: Option<crate::secret::Secret>,
        made: &'a mut Made,
    ) -> LaunchFuture<'a, ()> {
        Box::pin(lc.finish_launch(vm_id, spec, bridge, pid, password, made))
    }
}

impl VmLifecycle {
    /// The launcher's spawn, then the new QEMU's PID and start time recorded next to
    /// its pidfile, where a replay of the journal and later managers find them. (The
    /// journal already names the pidfile, `-uuid` and `-name`, fsynced; the PID needs
    /// no fsync: a crash of the machine that could lose it ends the QEMU too.)
    pub(super) async fn spawn_recorded(
        &self,
        vm_id: &str,
        spec: &mut VmCommandSpec,
        made: &Made,
    ) -> Result<(Arc<QemuProcess>, Option<crate::secret::Secret>), LifecycleError> {
        let (process, password) = self.launcher.spawn(self, vm_id, spec, made).await?;
        if let Some(pid) = process.pid() {
            let start_time = identity::start_time(pid).unwrap_or(0);
            let rec = identity::Recorded { vm_id: vm_id.into(), pid, start_time, uuid: spec.uuid.clone() };
            identity::save(&spec.pidfile, &rec).map_err(|e| super::undo::journal_error(vm_id, &e))?;
        }
        Ok((process, password))
    }

    /// [`Self::spawn_recorded`] then the launcher's finish.
    pub(super) async fn launch(&self, vm_id: &str, spec: &mut VmCommandSpec, bridge: &str, made: &mut Made) -> Result<i32, LifecycleError> {
        let (process, password) = self.spawn_recorded(vm_id, spec, made).await?;
        made.process = Some(process.clone());
        let pid = process.pid().unwrap_or(0);
        self.launcher.finish(self, vm_id, spec, bridge, pid, password, made).await?;
        Ok(pid)
    }

    /// Builds the command and starts QEMU paused (`-S`) on a display port found under
    /// the host-wide lock. Its pidfile, sockets and then PID and start time are
    /// journaled in `made` (shared with work running beside it). `spec.display_port`
    /// is the first port tried; it holds the port used afterwards. Returns the
    /// process (whose handle the caller keeps even on failure) and the display
    /// password to set over QMP.
    pub(super) async fn spawn_paused(
        &self,
        vm_id: &str,
        spec: &mut VmCommandSpec,
        made: &Made,
    ) -> Result<(Arc<QemuProcess>, Option<crate::secret::Secret>), LifecycleError> {
        let ports = lock_display_ports(&self.opts.port_lock).await?;
        spec.display_port = find_available_display_port(spec.display_port)?;
        let mut cmd = build_vm_command(spec, &self.accel).map_err(wrap(C::INVALID_CONFIG, vm_id))?;
        cmd.builder.add_raw_arg("-S").map_err(wrap(C::INVALID_CONFIG, vm_id))?;
        for a in &self.opts.extra_args {
            cmd.builder.add_raw_arg(a).map_err(wrap(C::INVALID_CONFIG, vm_id))?;
        }
        let args = cmd.builder.build();

        let process = Arc::new(QemuProcess::new(vm_id));
        process.set_pidfile(&spec.pidfile);
        process.set_qmp_socket(&spec.qmp_socket);
        let sockets: Vec<_> =
            [Some(&spec.qmp_socket), spec.guest_agent_socket.as_ref(), spec.infini_service_socket.as_ref()].into_iter().flatten().cloned().collect();
        let known = made.journal.entry();
        // Journaled already when the caller recorded its whole plan at once (create).
        if known.pidfile.as_ref() != Some(&spec.pidfile) || known.sockets != sockets || known.uuid != spec.uuid || known.name.as_ref() != Some(&spec.vm_name) {
            made.record(vm_id, |e| {
                e.pidfile = Some(spec.pidfile.clone());
                e.uuid = spec.uuid.clone();
                e.name = Some(spec.vm_name.clone());
                e.sockets = sockets;
            })?;
        }
        // numactl pinning (spec §5.4 step 18) wraps the command; without numactl it
        // degrades to no pinning with a warning.
        let wrapper = spec.numactl_pinning.and_then(|st| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // validated ≥ 1, small
            let vcpus = spec.cpu_cores.max(1.0) as u32;
            crate::lifecycle::pinning::plan_launch(vcpus, st, None).wrapper()
        });
        let launch = LaunchSpec {
            vm_id: vm_id.to_string(),
            wrapper,
            binary: self.opts.qemu_binary.clone(),
            args,
            daemonize: true,
            pidfile: Some(spec.pidfile.clone()),
            qmp_socket: Some(spec.qmp_socket.clone()),
        };
        let pid = process.start(launch).await.map_err(wrap(C::PROCESS_ERROR, vm_id))?;
        // QEMU has bound its display port once its daemonizing parent returned.
        drop(ports);
        crate::log::log(NS, &format!("VM {vm_id}: QEMU PID {pid} started paused"));
        Ok((process, cmd.display_password))
    }

    /// Checks the TAP carrier, places QEMU in its cgroup, connects QMP, sets the
    /// display password and lets the guest run.
    pub(super) async fn finish_launch(
        &self,
        vm_id: &str,
        spec: &VmCommandSpec,
        bridge: &str,
        pid: i32,
        password: Option<crate::secret::Secret>,
        made: &mut Made,
    ) -> Result<(), LifecycleError> {
        self.verify_tap_connection(&spec.tap, vm_id, pid, bridge).await?;
        // Explicit cores (spec §5.5 step 12): a cgroup, best-effort, never fatal.
        let cores = made.journal.entry().cpu_cores;
        if !cores.is_empty() {
            let cg = self.cgroups.clone();
            let placed = tokio::task::spawn_blocking(move || cg.apply_cpu_pinning(pid, &cores)).await;
            crate::log::log(NS, &format!("VM {vm_id}: CPU placement {placed:?}"));
        }

        // QMP: password first, then let the guest run.
        let started = Instant::now();
        while !spec.qmp_socket.exists() {
            if started.elapsed() > SOCKET_WAIT {
                return Err(LifecycleError::failed(C::TIMEOUT, format!("Socket not available after 5000ms: {}", spec.qmp_socket.display()), None, None));
            }
            tokio::time::sleep(SOCKET_POLL).await;
        }
        let qmp = QmpClient::new(&spec.qmp_socket, QmpOptions { connect_timeout: QMP_CONNECT_TIMEOUT, ..QmpOptions::default() }, shutdown_sink(&made.shutdown));
        made.qmp = Some(qmp.clone());
        qmp.connect().await.map_err(wrap(C::QMP_ERROR, vm_id))?;
        if let Some(pw) = &password {
            let protocol = if spec.display_protocol == "vnc" { "vnc" } else { "spice" };
            qmp.execute("set_password", Some(json!({ "protocol": protocol, "password": pw.expose() }))).await.map_err(wrap(C::QMP_ERROR, vm_id))?;
        }
        qmp.execute("cont", None).await.map_err(wrap(C::QMP_ERROR, vm_id))?;
        Ok(())
    }

    /// Spec §5.13: the TAP gets a carrier once QEMU has attached to it.
    async fn verify_tap_connection(&self, tap: &str, vm_id: &str, pid: i32, bridge: &str) -> Result<(), LifecycleError> {
        for attempt in 0..CARRIER_ATTEMPTS {
            if self.net.tap_has_carrier(tap) {
                return Ok(());
            }
            if attempt + 1 < CARRIER_ATTEMPTS {
                tokio::time::sleep(CARRIER_INTERVAL).await;
            }
        }
        let lines = [
            format!("QEMU failed to connect to TAP device {tap}."),
            "The TAP device has no carrier, indicating QEMU did not attach to it.".into(),
            "This may be caused by:".into(),
            "  (1) QEMU permissions issue accessing /dev/net/tun".into(),
            "  (2) TAP device configuration error".into(),
            "  (3) QEMU network configuration mismatch".into(),
            String::new(),
            "Diagnostics:".into(),
            format!("  - TAP Device: {tap}"),
            format!("  - Bridge: {bridge}"),
            format!("  - QEMU PID: {pid}"),
            format!("  - Process Alive: {}", pid_alive(pid)),
            format!("  - TAP State: {}", self.net.device_state(tap)),
            format!("  - Bridge State: {}", self.net.device_state(bridge)),
        ];
        Err(LifecycleError::failed(C::NETWORK_ERROR, lines.join("\n"), Some(vm_id), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_port_search_skips_taken_ports() {
        let l = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let taken = l.local_addr().unwrap().port();
        let got = find_available_display_port(taken).unwrap();
        assert_ne!(got, taken);
        assert!(got > taken && got <= taken.saturating_add(100));
    }
}
