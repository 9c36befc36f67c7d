//! `VmLifecycle`: create, start, stop, destroy and status of one VM (spec §5.5–§5.10),
//! with the differences DESIGN.md asks for:
//!
//! * one operation per VM at a time, across every manager process of the host
//!   (`oplock.rs`); the loser of a race gets a typed error and touches nothing;
//! * every change an operation makes on the host is journaled first (`journal.rs`),
//!   so a killed manager's half-done operation is finished or undone (`undo.rs`);
//! * the VM's firewall chain and rules are in place before its TAP joins the bridge;
//! * QEMU starts paused (`-S`); the display password is set over QMP, then `cont`
//!   (`launch.rs`);
//! * exits are pushed and released without the database (`watch.rs`); store writes
//!   that fail are queued;
//! * every call answers in bounded time, whatever a wedged QEMU does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::config::{check_internal_name, validate_create, vm_paths, VmCreateConfig, VmPaths};
use super::error::{LifecycleError, LifecycleErrorCode as C};
use super::host::{HostNet, KernelNet};
use super::identity::{self, is_uuid, Verdict};
use super::journal::{remove_quietly, Entry, Journal, Op};
use super::launch::{Launcher, QemuLauncher};
use super::oplock::{OpLocks, VmGuard, LOCK_WAIT};
use super::spec::{vhost_for, Resolved, VmSpec};
use super::undo::Made;
use super::watch::{HostHold, Live};
use crate::error::ErrorShape;
use crate::network::firewall::service::NftablesService;
use crate::network::link::tap::TapManager;
use crate::qemu::accel::AccelChoice;
use crate::state::queue::{RetryPolicy, WriteQueue};
use crate::state::status::{Reason, VmStatus};
use crate::state::store::Store;
use crate::storage::qemu_img::{create_image, CreateImage, CreateImageRequest};
use crate::system::cgroups::CgroupsManager;

pub(super) const NS: &str = "infinivirt:vm-lifecycle";

/// Directories and test hooks of one lifecycle manager.
#[derive(Debug, Clone)]
pub struct LifecycleOptions {
    pub disk_dir: PathBuf,
    pub qmp_socket_dir: PathBuf,
    pub pidfile_dir: PathBuf,
    /// QEMU binary (default `qemu-system-x86_64`).
    pub qemu_binary: String,
    /// Test-only: raw arguments appended to every VM's command (e.g. `-kernel`).
    pub extra_args: Vec<String>,
    /// Host-wide lock file held from the display-port search until QEMU listens.
    pub port_lock: PathBuf,
}

impl Default for LifecycleOptions {
    fn default() -> Self {
        LifecycleOptions {
            disk_dir: PathBuf::from("/var/lib/infinivirt/disks"),
            qmp_socket_dir: PathBuf::from("/var/run/infinivirt"),
            pidfile_dir: PathBuf::from("/var/run/infinivirt/pids"),
            qemu_binary: "qemu-system-x86_64".into(),
            extra_args: Vec::new(),
            port_lock: PathBuf::from("/run/infinivirt/display-ports.lock"),
        }
    }
}

/// Spec `VMCreateResult` (without the unattended fields, which this increment does not do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateResult {
    pub vm_id: String,
    pub tap_device: String,
    pub qmp_socket_path: String,
    pub display_port: u16,
    pub pid: i32,
    pub disk_paths: Vec<String>,
    pub pid_file_path: String,
}

/// Spec `VMOperationResult` (the timestamp is added by the binding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationResult {
    pub success: bool,
    pub message: String,
    pub vm_id: String,
    pub forced: Option<bool>,
}

/// What a start that launched QEMU made (for the `power_on` event and the EventHandler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub pid: i32,
    pub tap_device: String,
    pub qmp_socket_path: String,
}

/// Spec `VMStatusResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResult {
    pub vm_id: String,
    pub status: VmStatus,
    pub qmp_status: Option<String>,
    pub pid: Option<i64>,
    pub process_alive: bool,
    pub consistent: bool,
    pub tap_device: Option<String>,
    pub qmp_socket_path: Option<String>,
    /// `Some(false)`: the process runs but its monitor did not answer in time
    /// (wedged or stopped); `None` when this manager holds no monitor connection.
    pub monitor_responsive: Option<bool>,
    /// For a running VM with a guest agent channel: whether the agent answered in
    /// time, and the guest's addresses it reported (`None` without a channel).
    pub agent_responsive: Option<bool>,
    pub guest_ip_addresses: Option<Vec<String>>,
}

/// Spec `VMStopConfig` with its defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopConfig {
    pub graceful: bool,
    pub timeout: Duration,
    pub force: bool,
}

impl Default for StopConfig {
    fn default() -> Self {
        StopConfig { graceful: true, timeout: Duration::from_millis(30_000), force: true }
    }
}

/// Records the cause of the `SHUTDOWN` event QEMU sends before it exits.
pub(super) fn shutdown_sink(slot: &ShutdownSlot) -> crate::qmp::client::Sink {
    let slot = slot.clone();
    Arc::new(move |n| {
        if let crate::qmp::client::Notice::Event { name, data, .. } = n {
            if name == "SHUTDOWN" {
                let guest = data.as_ref().and_then(|d| d.get("guest")).and_then(Value::as_bool).unwrap_or(false);
                let cause = data.as_ref().and_then(|d| d.get("reason")).and_then(Value::as_str).unwrap_or("").to_string();
                *locked(&slot) = Some(Reason::from_shutdown(guest, &cause));
            }
        }
    })
}

pub struct VmLifecycle {
    pub(super) store: Arc<dyn Store>,
    pub(super) opts: LifecycleOptions,
    pub(super) accel: AccelChoice,
    pub(super) taps: Arc<TapManager>,
    pub(super) nft: Arc<NftablesService>,
    /// What the lifecycle does to the host network (`taps` + `nft`, or a test fake).
    pub(super) net: Arc<dyn HostNet>,
    /// How QEMU is started (`QemuLauncher`, or a test stand-in).
    pub(super) launcher: Arc<dyn Launcher>,
    pub(super) locks: Arc<OpLocks>,
    pub(super) live: Arc<Mutex<HashMap<String, Live>>>,
    pub(super) exit_hook: Arc<Mutex<Option<ExitHook>>>,
    pub(super) cgroups: Arc<CgroupsManager>,
    /// Status and runtime-column writes that must land even across a store outage.
    pub(super) queue: Arc<WriteQueue>,
    pub(super) recovered: std::sync::Once,
}

/// How a VM's QEMU ended when it ended by itself (not through `stop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    pub vm_id: String,
    /// The status written: `off` after a shutdown, `error` otherwise.
    pub status: VmStatus,
    /// Not a shutdown: killed, crashed, or gone while no manager watched it.
    pub crashed: bool,
    /// Why, in words (for logs and the event).
    pub reason: String,
}

/// Told about every exit the manager did not ask for (the `crash` event of spec §6).
pub type ExitHook = Arc<dyn Fn(ExitReport) + Send + Sync>;

/// What a restarted manager found for one VM the store says may run (rule 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// Its QEMU runs and is ours: adopted (pidfd held, QMP connected when possible).
    Attached { vm_id: String, pid: i32, qmp_socket: String, status: VmStatus },
    /// Already tracked by this manager.
    Tracked { vm_id: String },
    /// Its QEMU is gone: status and runtime columns corrected, network released.
    Gone { vm_id: String, status: VmStatus },
    /// Could not be decided (unreadable `/proc`, database error, busy elsewhere): left untouched.
    Unknown { vm_id: String, why: String },
    /// A live process that is not this VM's QEMU holds its pidfile: reported only.
    Stranger { vm_id: String, pid: i32, why: String },
}

pub(super) type ShutdownSlot = Arc<Mutex<Option<Reason>>>;

pub(super) fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn pid_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => !is_zombie(pid),
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// The PID in `pidfile` when a live process has it; otherwise the stale file is removed.
pub(super) fn live_pid_or_clear(pidfile: &Path) -> Option<i64> {
    if !pidfile.exists() {
        return None;
    }
    let pid = std::fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse::<i64>().ok());
    let live = pid.filter(|p| pid_alive(*p));
    if live.is_none() {
        remove_quietly(pidfile);
    }
    live
}

pub(super) fn path_string(p: &Path) -> String {
    p.display().to_string()
}

pub(super) fn wrap<E: ErrorShape>(code: C, vm_id: &str) -> impl FnOnce(E) -> LifecycleError + '_ {
    move |e| LifecycleError::wrap(code, vm_id, &e)
}

/// Hugepages for a guest of `ram_gb`: the spec's check (§5.3) plus a capacity
/// preflight. Like the original, a VM whose hugepages cannot be had runs without them,
/// but with a warning that says why instead of silently.
pub(super) fn hugepages_for(vm_id: &str, ram_gb: f64) -> bool {
    match crate::system::hugepages::preflight(crate::system::hugepages::ram_gb_to_bytes(ram_gb)) {
        Ok(_) => true,
        Err(e) => {
            crate::log::warn(NS, &format!("VM {vm_id}: hugepages requested but not used: {e}"));
            false
        }
    }
}

/// The cores of a stored `cpuPinning` (`{ "cores": [...] }`; older rows may hold `1.0`).
#[allow(clippy::cast_possible_truncation)] // integral and small, checked
pub(super) fn stored_cores(v: Option<&Value>) -> Vec<i64> {
    let as_core = |c: &Value| c.as_i64().or_else(|| c.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e9).map(|f| f as i64));
    v.and_then(|p| p.get("cores")).and_then(Value::as_array).map(|a| a.iter().filter_map(as_core).collect()).unwrap_or_default()
}

/// The `-uuid` QEMU gets: the create's, else the VM id when it is a UUID (so the
/// guest sees one stable UUID and the process carries the VM's identity).
pub(super) fn qemu_uuid(vm_id: &str, given: Option<&str>) -> Option<String> {
    given.filter(|u| is_uuid(u)).map(str::to_string).or_else(|| is_uuid(vm_id).then(|| vm_id.to_ascii_lowercase()))
}

impl VmLifecycle {
    pub fn new(store: Arc<dyn Store>, opts: LifecycleOptions, accel: AccelChoice, taps: Arc<TapManager>, nft: Arc<NftablesService>) -> Self {
        // Writes the store refused survive a restart next to the pidfiles (rule 9).
        let queue = WriteQueue::with_journal(store.clone(), RetryPolicy::default(), opts.pidfile_dir.join("pending-writes"));
        let net: Arc<dyn HostNet> = Arc::new(KernelNet { taps: taps.clone(), nft: nft.clone() });
        // Clones of golden images live here: the storage layer's clone guard looks here too.
        crate::storage::clones::register_dir(&opts.disk_dir);
        VmLifecycle {
            store,
            opts,
            accel,
            taps,
            nft,
            net,
            launcher: Arc::new(QemuLauncher),
            locks: Arc::default(),
            live: Arc::default(),
            exit_hook: Arc::default(),
            cgroups: Arc::new(CgroupsManager::new()),
            queue,
            recovered: std::sync::Once::new(),
        }
    }

    /// Loads the store writes a previous manager queued and could not land, once,
    /// before this manager writes anything (they are older than its own).
    pub(super) fn recover_writes(&self) {
        self.recovered.call_once(|| {
            let n = self.queue.recover();
            if n > 0 {
                crate::log::warn(NS, &format!("{n} store writes queued by a previous manager are being applied"));
            }
        });
    }

    /// Drives `net` instead of the kernel (tests without root).
    #[must_use]
    pub fn with_network(mut self, net: Arc<dyn HostNet>) -> Self {
        self.net = net;
        self
    }

    /// Starts VMs with `launcher` instead of QEMU (root-free tests).
    #[cfg(test)]
    pub(super) fn with_launcher(mut self, launcher: Arc<dyn Launcher>) -> Self {
        self.launcher = launcher;
        self
    }

    pub fn options(&self) -> &LifecycleOptions {
        &self.opts
    }

    pub fn nftables(&self) -> &Arc<NftablesService> {
        &self.nft
    }

    pub fn taps(&self) -> &Arc<TapManager> {
        &self.taps
    }

    /// Store writes still queued for `vm_id` (the database was away).
    pub fn pending_writes(&self, vm_id: &str) -> usize {
        self.queue.pending(vm_id)
    }

    /// Sets the function told about exits the manager did not ask for.
    pub fn set_exit_hook(&self, hook: ExitHook) {
        *locked(&self.exit_hook) = Some(hook);
    }

    /// Ids of the VMs whose QEMU this manager started and still tracks.
    pub fn active_vms(&self) -> Vec<String> {
        locked(&self.live).keys().cloned().collect()
    }

    /// Serialises operations on one VM across processes, then finishes or undoes
    /// whatever a killed manager left half-done on it.
    pub(super) async fn lock(&self, vm_id: &str) -> Result<VmGuard, LifecycleError> {
        self.recover_writes();
        let g = self.locks.acquire(&self.opts.pidfile_dir, vm_id, LOCK_WAIT).await?;
        if let Some(what) = self.replay_journal(vm_id).await {
            crate::log::log(NS, &format!("VM {vm_id}: recovered an interrupted {what}"));
        }
        Ok(g)
    }

    /// The VM's row with its configuration: `VM_NOT_FOUND` (spec message) when there is
    /// none, `code` when the store fails.
    pub(super) async fn load_vm(&self, vm_id: &str, code: C) -> Result<crate::state::records::VmConfigRecord, LifecycleError> {
        self.store
            .find_machine_with_config(vm_id)
            .await
            .map_err(wrap(code, vm_id))?
            .ok_or_else(|| LifecycleError::failed(C::VM_NOT_FOUND, format!("VM not found: {vm_id}"), Some(vm_id), None))
    }

    /// `mkdir -p` of the disk, socket and pidfile directories (spec `ensureDirectories`).
    pub(super) fn ensure_dirs(&self, code: C, vm_id: &str) -> Result<(), LifecycleError> {
        for d in [&self.opts.disk_dir, &self.opts.qmp_socket_dir, &self.opts.pidfile_dir] {
            std::fs::create_dir_all(d).map_err(|e| LifecycleError::failed(code, format!("Cannot create directory {}: {e}", d.display()), Some(vm_id), None))?;
        }
        Ok(())
    }

    /// The queue of this manager's status and runtime-column writes (journaled under
    /// the pidfile directory, so they survive a restart).
    pub fn write_queue(&self) -> Arc<WriteQueue> {
        self.queue.clone()
    }

    pub(super) fn paths(&self, internal_name: &str, disks: usize) -> VmPaths {
        vm_paths(internal_name, disks, &self.opts.disk_dir, &self.opts.qmp_socket_dir, &self.opts.pidfile_dir)
    }

    /// Whether a QEMU of this VM runs: tracked here, or provably its own behind its pidfile.
    pub(super) fn runs(&self, vm: &crate::state::records::VmConfigRecord) -> bool {
        if locked(&self.live).contains_key(&vm.id) {
            return true;
        }
        if check_internal_name(&vm.internal_name).is_err() {
            return false;
        }
        let expected = self.expected_identity(&vm.id, &vm.name, &vm.internal_name);
        let pid = std::fs::read_to_string(&expected.pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok());
        pid.is_some_and(|p| identity::check(p, &expected) == Verdict::Ours)
    }

    /// Moves the row from `from` to `starting` only if nobody changed it since it was
    /// read (PostgreSQL and SQLite compare the version column): two managers on
    /// different hosts cannot both start one VM.
    pub(super) async fn claim_start(&self, vm: &crate::state::records::VmConfigRecord, code: C) -> Result<(), LifecycleError> {
        // The embedded SQLite file is local: every manager that shares it runs on this
        // host and is already kept out by the per-VM lock, so the claim is a plain
        // status write there (a version-checked transaction would only add contention).
        if self.store.kind() == "sqlite" {
            return self.store.update_machine_status(&vm.id, &VmStatus::Starting).await.map_err(wrap(code, &vm.id));
        }
        match self.store.transition_vm_status(&vm.id, &vm.status, &VmStatus::Starting, vm.version).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_version_conflict() => Err(LifecycleError::failed(
                C::CONCURRENT_MODIFICATION,
                format!("VM {} is being started by another process", vm.id),
                Some(&vm.id),
                Some(json!({ "originalError": e.to_string() })),
            )),
            Err(e) => Err(LifecycleError::wrap(code, &vm.id, &e)),
        }
    }

    // ------------------------------------------------------------------ create

    /// Spec §5.5 (see the module comment for the differences).
    pub async fn create(&self, c: &VmCreateConfig) -> Result<CreateResult, LifecycleError> {
        self.create_installing(c, None).await
    }

    /// [`Self::create`] for an unattended install: `install_media` (the answer medium
    /// the caller built) is attached as a second CD-ROM, and the installer ISO
    /// (`isoPath`) boots once, every later boot coming from the disk.
    pub async fn create_installing(&self, c: &VmCreateConfig, install_media: Option<&Path>) -> Result<CreateResult, LifecycleError> {
        validate_create(c)?;
        let vm_id = c.vm_id.clone().unwrap_or_default();
        let internal = c.internal_name.clone().unwrap_or_default();
        check_internal_name(&internal)?;
        let cores = crate::system::cores::from_js_numbers(c.cpu_pinning.as_deref().unwrap_or_default())
            .and_then(|cores| self.cgroups.validate_cores(&cores).map(|()| cores))
            .map_err(|e| LifecycleError::failed(C::INVALID_CONFIG, e.to_string(), Some(&vm_id), Some(json!({ "requestedCores": c.cpu_pinning }))))?;
        let _guard = self.lock(&vm_id).await?;
        // A VM that runs (another manager's create won the race) is not created again.
        let row = self.store.find_machine_with_config(&vm_id).await.map_err(wrap(C::DATABASE_ERROR, &vm_id))?;
        if let Some(vm) = &row {
            if vm.status.may_have_process() && self.runs(vm) {
                return Err(LifecycleError::failed(
                    C::INVALID_STATE,
                    format!("VM {vm_id} already exists and is {}; not created again", vm.status),
                    Some(&vm_id),
                    Some(json!({ "status": vm.status })),
                ));
            }
        }
        let mut entry = Entry::new(Op::Create, &vm_id, &internal);
        entry.cpu_cores = cores;
        // Written with the plan (`create_steps`), before the host or the row changes.
        let mut made = Made::new(Journal::unwritten(&self.opts.pidfile_dir, entry));
        match self.create_steps(c, &vm_id, &internal, install_media, row, &mut made).await {
            Ok(r) => Ok(r),
            Err(e) => {
                crate::log::warn(NS, &format!("create of VM {vm_id} failed, rolling back: {e}"));
                self.rollback(&vm_id, made).await;
                Err(e)
            }
        }
    }

    async fn create_steps(
        &self,
        c: &VmCreateConfig,
        vm_id: &str,
        internal: &str,
        install_media: Option<&Path>,
        row: Option<crate::state::records::VmConfigRecord>,
        made: &mut Made,
    ) -> Result<CreateResult, LifecycleError> {
        let disks = c.disks.clone().unwrap_or_default();
        let paths = self.paths(internal, disks.len());
        // Orphans: a live QEMU under this name is refused (nothing changed, not even
        // the status: it may be this very VM running); a stale pidfile is removed.
        if let Some(pid) = live_pid_or_clear(&paths.pidfile) {
            let pf = path_string(&paths.pidfile);
            return Err(LifecycleError::failed(
                C::CREATE_FAILED,
                format!("A QEMU process (PID {pid}) is already running with internalName '{internal}'. This may indicate a duplicate VM or orphaned process. If you are sure no QEMU process should be running, manually remove: {pf}"),
                Some(vm_id),
                Some(json!({ "existingPid": pid, "pidFilePath": pf, "internalName": internal })),
            ));
        }
        remove_quietly(&paths.qmp_socket);
        // From here on a failure leaves the VM in `error` (spec §5.11); before the claim
        // only if the row is still as read.
        made.status_written = true;
        made.unclaimed = row.as_ref().map(|vm| (vm.status.clone(), vm.version));
        self.ensure_dirs(C::CREATE_FAILED, vm_id)?;

        // Disks: never over an existing image (qemu-img create would wipe it); every
        // request is validated before anything is made.
        let mut images = Vec::with_capacity(disks.len());
        for (i, (disk, path)) in disks.iter().zip(&paths.disks).enumerate() {
            if path.exists() {
                return Err(LifecycleError::failed(
                    C::DISK_ERROR,
                    format!("Disk {i}: image {} already exists; refusing to overwrite it", path.display()),
                    Some(vm_id),
                    Some(json!({ "path": path_string(path) })),
                ));
            }
            // A thin clone (API-next §3) is an overlay on its golden image: no
            // preallocation, and the golden image's size unless a larger one is given.
            let req = match &disk.backing_file {
                Some(b) => CreateImageRequest {
                    path: path_string(path),
                    size_gb: disk.size_gb,
                    format: disk.format.clone().unwrap_or_else(|| "qcow2".into()),
                    backing_file: Some(b.clone()),
                    ..Default::default()
                },
                None => CreateImageRequest {
                    path: path_string(path),
                    size_gb: Some(disk.size_gb.unwrap_or(0.0)),
                    format: disk.format.clone().unwrap_or_else(|| "qcow2".into()),
                    preallocation: Some("metadata".into()),
                    ..Default::default()
                },
            };
            let img = CreateImage::parse(&req).map_err(wrap(C::DISK_ERROR, vm_id))?;
            images.push((path.clone(), if disk.backing_file.is_some() { img.raising_size_to_backing() } else { img }));
        }
        // The VM's stored rules, read before the TAP exists.
        let rules = self.stored_rules(vm_id).await?;

        let bridge = c.bridge.clone().unwrap_or_default();

        // The TAP, claimed for this VM (it joins the bridge only behind its firewall).
        let tap_name = crate::network::link::names::tap_for_vm(vm_id).map_err(wrap(C::CREATE_FAILED, vm_id))?.to_string();
        // Everything this create is about to make, in one journal write: the TAP, the
        // disks (none exists yet: checked above), the chain, the UEFI vars file, and
        // the pidfile and sockets of the QEMU to come. Undoing an intent that was never
        // carried out is a no-op.
        let uefi = c.uefi_firmware.as_deref().map(PathBuf::from).filter(|p| std::fs::File::open(p).is_ok());
        let vars = crate::lifecycle::uefi::vars_path(&self.opts.disk_dir, vm_id).ok().filter(|p| uefi.is_some() && !p.exists());
        made.record(vm_id, |e| {
            e.tap = Some(tap_name.clone());
            e.disks.extend(vars.iter().cloned());
            e.disks.extend(images.iter().map(|(p, _)| p.clone()));
            e.chain = true;
            e.pidfile = Some(paths.pidfile.clone());
            e.uuid = qemu_uuid(vm_id, c.uuid.as_deref());
            e.name = Some(c.name.clone().unwrap_or_default());
            e.sockets = vec![paths.qmp_socket.clone()];
            e.sockets.extend([&c.guest_agent_socket_path, &c.infini_service_socket_path].into_iter().flatten().map(PathBuf::from));
        })?;
        // `starting` before anything is made; the row's version makes it a claim. A
        // claim that fails made nothing: the plan is dropped, not undone, and the row
        // (perhaps another manager's by now) is left alone.
        let claimed = match row.as_ref().filter(|vm| vm.status.is_startable()) {
            Some(vm) => self.claim_start(vm, C::DATABASE_ERROR).await,
            None => self.store.update_machine_status(vm_id, &VmStatus::Starting).await.map_err(wrap(C::DATABASE_ERROR, vm_id)),
        };
        if let Err(e) = claimed {
            made.journal.clear();
            made.status_written = false;
            return Err(e);
        }
        made.unclaimed = None;
        // Multi-queue exactly when QEMU will open it with several queues.
        let queues = VmSpec::create_queues(c);
        let tap = self.net.tap_create(vm_id, Some(&bridge), queues).map_err(wrap(C::CREATE_FAILED, vm_id))?;

        // Effective values (spec §5.5 step 9), with what needs the host resolved here.
        let resolved = Resolved {
            tap: tap.clone(),
            uuid: qemu_uuid(vm_id, c.uuid.as_deref()),
            uefi_vars: uefi.as_deref().and_then(|fw| crate::lifecycle::uefi::setup_uefi_vars(fw, &self.opts.disk_dir, vm_id)),
            uefi_firmware: uefi,
            hugepages: c.hugepages == Some(true) && hugepages_for(vm_id, c.ram_gb.unwrap_or(0.0)),
            vhost_net: vhost_for(queues),
        };
        let cores = made.journal.entry().cpu_cores;
        let mut vm_spec = VmSpec::from_create(c, vm_id, &paths, install_media, &cores, resolved);
        let spec = &mut vm_spec.cmd;
        // Two independent lines of work: the disks then QEMU, started paused (it cannot
        // send a frame before `cont`), and the VM's firewall then the bridge port. The
        // guest runs only once both are done. Both journal what they make first.
        let shared: &Made = made;
        let (spawned, networked) = tokio::join!(
            async {
                for (_, img) in &images {
                    create_image(img, None).await.map_err(wrap(C::DISK_ERROR, vm_id)).map_err(Err)?;
                }
                self.spawn_recorded(vm_id, spec, shared).await.map_err(Ok)
            },
            async {
                // One transaction writes the whole chain (rules, terminal policy) and
                // its dispatch, with or without rules.
                self.net.apply_rules(vm_id, &tap, &rules).await.map_err(wrap(C::CREATE_FAILED, vm_id))?;
                self.net.tap_configure(&tap, Some(&bridge)).map_err(wrap(C::CREATE_FAILED, vm_id))
            }
        );
        // Errors in the order of the spec's steps: disks, network, then QEMU
        // (`Err(Err(_))` is a disk error, `Err(Ok(_))` a QEMU one).
        let spawned = match spawned {
            Err(Err(disk)) => return Err(disk),
            other => other,
        };
        networked?;
        let (process, password) = spawned.map_err(|e| e.unwrap_or_else(|e| e))?;
        made.process = Some(process.clone());
        let pid = process.pid().unwrap_or(0);
        self.launcher.finish(self, vm_id, &vm_spec.cmd, &bridge, pid, password, made).await?;
        let display_port = vm_spec.cmd.display_port;
        let disk_paths: Vec<String> = paths.disks.iter().map(|p| path_string(p)).collect();
        let update = vm_spec.runtime_update(pid).map_err(|m| LifecycleError::failed(C::DATABASE_ERROR, m, Some(vm_id), None))?;
        self.store.update_machine_configuration(vm_id, &update).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.store.update_machine_status(vm_id, &VmStatus::Running).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.commit(vm_id, made, pid);
        crate::log::log(NS, &format!("VM {vm_id} created: PID {pid}, TAP {tap}"));
        Ok(CreateResult {
            vm_id: vm_id.to_string(),
            tap_device: tap,
            qmp_socket_path: path_string(&paths.qmp_socket),
            display_port,
            pid,
            disk_paths,
            pid_file_path: path_string(&paths.pidfile),
        })
    }

    /// The operation is complete and recorded: its QEMU belongs to the manager and
    /// the journal has nothing left to undo.
    pub(super) fn commit(&self, vm_id: &str, made: &mut Made, pid: i32) {
        let entry = made.journal.entry();
        let hold = HostHold { pid: Some(pid), ..HostHold::from_entry(&entry) };
        if let Some(process) = made.process.take() {
            self.register_live(vm_id, process, made.qmp.take(), hold, made.shutdown.clone());
        }
        made.journal.clone().finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_keep_message_and_cause() {
        let e = LifecycleError::wrap(C::CREATE_FAILED, "vm1", &LifecycleError::failed(C::TIMEOUT, "late", None, None));
        assert_eq!(e.code(), "CREATE_FAILED");
        assert_eq!(e.to_string(), "late");
        assert_eq!(e.fields()["context"]["cause"]["code"], "TIMEOUT");
        assert_eq!(e.fields()["vmId"], "vm1");
    }

    #[test]
    fn liveness() {
        assert!(pid_alive(i64::from(std::process::id())));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-1));
    }

    #[test]
    fn qemu_gets_the_vm_uuid() {
        let id = "550E8400-e29b-41d4-a716-446655440000";
        assert_eq!(qemu_uuid(id, None).as_deref(), Some("550e8400-e29b-41d4-a716-446655440000"));
        assert_eq!(qemu_uuid("vm-1", None), None);
        assert_eq!(qemu_uuid("vm-1", Some("not-a-uuid")), None);
    }
}
