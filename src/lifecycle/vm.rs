//! `VmLifecycle`: create, stop, destroy and status of one VM (spec §5.5, §5.7, §5.8,
//! §5.10), with the differences DESIGN.md asks for:
//!
//! * one operation per VM at a time (different VMs run in parallel);
//! * the VM's firewall chain and rules are in place before its TAP joins the bridge;
//! * QEMU starts paused (`-S`); the display password is set over QMP, then `cont`;
//! * a failed create releases exactly what it made, in reverse order, sets the
//!   status `error` and returns the original error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::command::{build_vm_command, DiskSpec, VmCommandSpec};
use super::config::{check_internal_name, normalize, validate_create, vm_paths, VmCreateConfig, VmPaths};
use super::error::{LifecycleError, LifecycleErrorCode as C};
use crate::error::ErrorShape;
use crate::network::firewall::rule::FirewallRuleInput;
use crate::network::firewall::service::NftablesService;
use crate::network::link::tap::TapManager;
use crate::qemu::accel::AccelChoice;
use crate::qemu::options::PinningStrategy;
use crate::qemu::presets::{detect_os_family, driver_preset};
use crate::qemu::process::{LaunchSpec, QemuProcess};
use crate::qmp::client::{QmpClient, QmpOptions};
use crate::state::records::{ExtendedMachineConfigurationRecord, MachineConfigUpdate};
use crate::state::status::Reason;
use crate::state::store::Store;
use crate::storage::qemu_img::{create_image, CreateImage, CreateImageRequest};
use crate::system::cgroups::CgroupsManager;

const NS: &str = "infinivirt:vm-lifecycle";
const CARRIER_ATTEMPTS: u32 = 10;
const CARRIER_INTERVAL: Duration = Duration::from_millis(500);
const SOCKET_WAIT: Duration = Duration::from_millis(5000);
const EXIT_POLL: Duration = Duration::from_millis(100);
const QMP_CONNECT_TIMEOUT: Duration = Duration::from_millis(5000);
const RESTART_DELAY: Duration = Duration::from_millis(2000);

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
    pub status: String,
    pub qmp_status: Option<String>,
    pub pid: Option<i64>,
    pub process_alive: bool,
    pub consistent: bool,
    pub tap_device: Option<String>,
    pub qmp_socket_path: Option<String>,
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

/// What this manager holds for a VM it started.
struct Live {
    process: Arc<QemuProcess>,
    qmp: Option<Arc<QmpClient>>,
}

/// Records the cause of the `SHUTDOWN` event QEMU sends before it exits.
fn shutdown_sink(slot: &ShutdownSlot) -> crate::qmp::client::Sink {
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

/// Everything one create made so far, for the rollback.
#[derive(Default)]
struct Made {
    disks: Vec<PathBuf>,
    tap: Option<String>,
    /// A stopped VM's TAP this start put on the bridge again (detached on failure).
    tap_reused: Option<String>,
    chain: bool,
    /// The chain existed; only its dispatch was attached (detached on failure).
    chain_attached: bool,
    status_written: bool,
    /// A failed start keeps the VM's TAP name and other stored settings.
    volatile_only: bool,
    process: Option<Arc<QemuProcess>>,
    qmp: Option<Arc<QmpClient>>,
    qmp_socket: Option<PathBuf>,
    /// Guest-agent and InfiniService sockets QEMU serves (stale after a kill).
    channel_sockets: Vec<PathBuf>,
    pidfile: Option<PathBuf>,
    shutdown: ShutdownSlot,
    /// `cpuPinning` cores: the new QEMU is placed in a cgroup limited to them.
    cpu_cores: Vec<i64>,
}

impl Made {
    /// Takes over what a launch recorded in its own `Made` (run beside other work).
    fn absorb_launch(&mut self, l: Made) {
        self.process = l.process;
        self.pidfile = l.pidfile;
        self.qmp_socket = l.qmp_socket;
        self.channel_sockets = l.channel_sockets;
    }
}

pub struct VmLifecycle {
    store: Arc<dyn Store>,
    opts: LifecycleOptions,
    accel: AccelChoice,
    taps: Arc<TapManager>,
    nft: Arc<NftablesService>,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    live: Arc<Mutex<HashMap<String, Live>>>,
    exit_hook: Arc<Mutex<Option<ExitHook>>>,
    cgroups: Arc<CgroupsManager>,
}

/// How a VM's QEMU ended when it ended by itself (not through `stop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    pub vm_id: String,
    /// The status written: `off` after a shutdown, `error` otherwise.
    pub status: String,
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
    Attached { vm_id: String, pid: i32, qmp_socket: String, status: String },
    /// Already tracked by this manager.
    Tracked { vm_id: String },
    /// Its QEMU is gone: status and runtime columns corrected, network released.
    Gone { vm_id: String, status: String },
    /// Could not be decided (unreadable `/proc`, database error): left untouched.
    Unknown { vm_id: String, why: String },
}

type ShutdownSlot = Arc<Mutex<Option<Reason>>>;

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pid_alive(pid: i64) -> bool {
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

fn remove_file_quietly(p: &Path) {
    match std::fs::remove_file(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => crate::log::warn(NS, &format!("could not remove {}: {e}", p.display())),
    }
}

/// The PID in `pidfile` when a live process has it; otherwise the stale file is removed.
fn live_pid_or_clear(pidfile: &Path) -> Option<i64> {
    if !pidfile.exists() {
        return None;
    }
    let pid = std::fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse::<i64>().ok());
    let live = pid.filter(|p| pid_alive(*p));
    if live.is_none() {
        remove_file_quietly(pidfile);
    }
    live
}

/// The sockets QEMU served for a VM (QMP, guest agent, InfiniService): stale once it exited.
fn channel_sockets(conf: &ExtendedMachineConfigurationRecord) -> Vec<PathBuf> {
    [&conf.qmp_socket_path, &conf.guest_agent_socket_path, &conf.infini_service_socket_path].into_iter().flatten().map(PathBuf::from).collect()
}

/// What releasing a dead VM's runtime state needs; cheap to clone into a task.
#[derive(Clone)]
struct Releaser {
    store: Arc<dyn Store>,
    taps: Arc<TapManager>,
    nft: Arc<NftablesService>,
    cgroups: Arc<CgroupsManager>,
    pid_dir: PathBuf,
}

impl Releaser {
    /// Releases the runtime state of a VM whose QEMU is gone: columns, bridge port,
    /// firewall dispatch, sockets, pidfile and cgroup. Idempotent; failures are logged.
    async fn release(&self, vm_id: &str, internal_name: &str, conf: &ExtendedMachineConfigurationRecord) {
        if let Err(e) = self.store.clear_volatile_machine_configuration(vm_id).await {
            crate::log::warn(NS, &format!("could not clear the runtime columns of VM {vm_id}: {e}"));
        }
        if let Some(tap) = &conf.tap_device_name {
            self.taps.detach_from_bridge(tap);
        }
        self.nft.detach_jump_rules(vm_id).await;
        for s in channel_sockets(conf) {
            remove_file_quietly(&s);
        }
        if check_internal_name(internal_name).is_ok() {
            remove_file_quietly(&self.pid_dir.join(format!("{internal_name}.pid")));
        }
        if !stored_cores(conf.cpu_pinning.as_ref()).is_empty() {
            let (cg, pid) = (self.cgroups.clone(), conf.qemu_pid.and_then(|p| i32::try_from(p).ok()));
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(pid) = pid {
                    cg.release_group(pid, Duration::from_secs(2));
                }
                cg.cleanup_empty_scopes()
            })
            .await;
        }
    }
}

fn path_string(p: &Path) -> String {
    p.display().to_string()
}

fn wrap<E: ErrorShape>(code: C, vm_id: &str) -> impl FnOnce(E) -> LifecycleError + '_ {
    move |e| LifecycleError::wrap(code, vm_id, &e)
}

/// First port from `start` (up to 100 further) that binds on 0.0.0.0 (spec §5.3).
fn find_available_display_port(start: u16) -> Result<u16, LifecycleError> {
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

const PORT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// An exclusive `flock` on the display-port lock file; released on drop.
struct PortLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// Takes the host-wide display-port lock: every manager on the host (and every
/// create in this one) searches for a free port and starts QEMU on it under this
/// lock, so two VMs never pick the same port between the search and QEMU's bind.
async fn lock_display_ports(path: &Path) -> Result<PortLock, LifecycleError> {
    use nix::fcntl::{Flock, FlockArg};
    let failed = |what: String| LifecycleError::failed(C::RESOURCE_UNAVAILABLE, what, None, Some(json!({ "lockFile": path_string(path) })));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(format!("Cannot create {}: {e}", dir.display())))?;
    }
    let deadline = Instant::now() + PORT_LOCK_WAIT;
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| failed(format!("Cannot open the display-port lock {}: {e}", path.display())))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(PortLock(l)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err((_, e)) => return Err(failed(format!("Display-port lock {} not obtained: {e}", path.display()))),
        }
    }
}

/// Hugepages for a guest of `ram_gb`: the spec's check (§5.3) plus a capacity
/// preflight. Like the original, a VM whose hugepages cannot be had runs without them,
/// but with a warning that says why instead of silently.
fn hugepages_for(vm_id: &str, ram_gb: f64) -> bool {
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
fn stored_cores(v: Option<&Value>) -> Vec<i64> {
    let as_core = |c: &Value| c.as_i64().or_else(|| c.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e9).map(|f| f as i64));
    v.and_then(|p| p.get("cores")).and_then(Value::as_array).map(|a| a.iter().filter_map(as_core).collect()).unwrap_or_default()
}

/// The numactl strategy a VM asked for (spec §5.4 step 18).
fn numactl_strategy(enabled: Option<bool>, strategy: Option<&str>) -> Option<PinningStrategy> {
    if enabled != Some(true) {
        return None;
    }
    Some(if normalize::pinning_strategy(strategy) == Some("hybrid") { PinningStrategy::Hybrid } else { PinningStrategy::Basic })
}

impl VmLifecycle {
    pub fn new(store: Arc<dyn Store>, opts: LifecycleOptions, accel: AccelChoice, taps: Arc<TapManager>, nft: Arc<NftablesService>) -> Self {
        VmLifecycle {
            store,
            opts,
            accel,
            taps,
            nft,
            locks: Arc::default(),
            live: Arc::default(),
            exit_hook: Arc::default(),
            cgroups: Arc::new(CgroupsManager::new()),
        }
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

    /// Sets the function told about exits the manager did not ask for.
    pub fn set_exit_hook(&self, hook: ExitHook) {
        *locked(&self.exit_hook) = Some(hook);
    }

    /// Ids of the VMs whose QEMU this manager started and still tracks.
    pub fn active_vms(&self) -> Vec<String> {
        locked(&self.live).keys().cloned().collect()
    }

    /// Serialises operations on one VM.
    async fn lock(&self, vm_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = locked(&self.locks).entry(vm_id.to_string()).or_default().clone();
        m.lock_owned().await
    }

    /// The VM's row with its configuration: `VM_NOT_FOUND` (spec message) when there is
    /// none, `code` when the store fails.
    async fn load_vm(&self, vm_id: &str, code: C) -> Result<crate::state::records::VmConfigRecord, LifecycleError> {
        self.store
            .find_machine_with_config(vm_id)
            .await
            .map_err(wrap(code, vm_id))?
            .ok_or_else(|| LifecycleError::failed(C::VM_NOT_FOUND, format!("VM not found: {vm_id}"), Some(vm_id), None))
    }

    /// `mkdir -p` of the disk, socket and pidfile directories (spec `ensureDirectories`).
    fn ensure_dirs(&self, code: C, vm_id: &str) -> Result<(), LifecycleError> {
        for d in [&self.opts.disk_dir, &self.opts.qmp_socket_dir, &self.opts.pidfile_dir] {
            std::fs::create_dir_all(d).map_err(|e| LifecycleError::failed(code, format!("Cannot create directory {}: {e}", d.display()), Some(vm_id), None))?;
        }
        Ok(())
    }

    fn paths(&self, internal_name: &str, disks: usize) -> VmPaths {
        vm_paths(internal_name, disks, &self.opts.disk_dir, &self.opts.qmp_socket_dir, &self.opts.pidfile_dir)
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
        let _guard = self.lock(&vm_id).await;
        let mut made = Made { cpu_cores: cores, ..Made::default() };
        match self.create_steps(c, &vm_id, &internal, install_media, &mut made).await {
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
        remove_file_quietly(&paths.qmp_socket);
        // From here on a failure leaves the VM in `error` (spec §5.11).
        made.status_written = true;
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
            let req = CreateImageRequest {
                path: path_string(path),
                size_gb: disk.size_gb.unwrap_or(0.0),
                format: disk.format.clone().unwrap_or_else(|| "qcow2".into()),
                preallocation: Some("metadata".into()),
                ..Default::default()
            };
            images.push((path.clone(), CreateImage::parse(&req).map_err(wrap(C::DISK_ERROR, vm_id))?));
        }
        // The VM's stored rules, validated before the TAP exists (a bad rule fails early).
        let records = self.store.get_firewall_rules(vm_id).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        let rules = records
            .iter()
            .map(|r| FirewallRuleInput::from_json(serde_json::to_value(r).unwrap_or(Value::Null)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(wrap(C::CREATE_FAILED, vm_id))?;

        let mac = c.mac_address.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| crate::network::mac::generate_from_vm_id(vm_id));
        let bridge = c.bridge.clone().unwrap_or_default();

        // The TAP, claimed for this VM (it joins the bridge only behind its firewall).
        let tap = self.taps.create(vm_id, Some(&bridge)).map_err(wrap(C::CREATE_FAILED, vm_id))?.to_string();
        made.tap = Some(tap.clone());

        // Effective values (spec §5.5 step 9).
        let preset = driver_preset(detect_os_family(c.os.as_deref()));
        let machine_type = normalize::machine_type(c.machine_type.as_deref()).to_string();
        let cpu_model = c.cpu_model.clone().unwrap_or_else(|| "host".into());
        let disk_bus = normalize::disk_bus(Some(c.disk_bus.as_deref().unwrap_or(preset.disk_bus))).to_string();
        let disk_cache = normalize::disk_cache(Some(c.disk_cache_mode.as_deref().unwrap_or(preset.disk_cache_mode))).to_string();
        let network_model = normalize::network_model(Some(c.network_model.as_deref().unwrap_or(preset.network_model))).to_string();
        let cpu_cores = c.cpu_cores.unwrap_or(1.0);
        let network_queues = normalize::network_queues(cpu_cores, c.network_queues);
        let uefi = c.uefi_firmware.as_deref().map(PathBuf::from).filter(|p| std::fs::File::open(p).is_ok());
        let vars_existed = crate::lifecycle::uefi::vars_path(&self.opts.disk_dir, vm_id).is_ok_and(|p| p.exists());
        let uefi_vars = uefi.as_deref().and_then(|fw| crate::lifecycle::uefi::setup_uefi_vars(fw, &self.opts.disk_dir, vm_id));
        if let (Some(v), false) = (&uefi_vars, vars_existed) {
            made.disks.push(v.clone()); // made by this create: removed if it fails
        }
        let hugepages = c.hugepages == Some(true) && hugepages_for(vm_id, c.ram_gb.unwrap_or(0.0));
        let display_port = normalize::display_port(c.display_port);
        let display_type = c.display_type.clone().unwrap_or_else(|| "spice".into());
        let display_addr = c.display_addr.clone().unwrap_or_else(|| "0.0.0.0".into());
        let strategy = normalize::pinning_strategy(c.cpu_pinning_strategy.as_deref());
        let numactl = numactl_strategy(c.enable_numa_ctl_pinning, c.cpu_pinning_strategy.as_deref());

        let mut spec = VmCommandSpec {
            vm_name: c.name.clone().unwrap_or_default(),
            internal_name: internal.to_string(),
            uuid: c.uuid.clone(),
            os: c.os.clone().unwrap_or_default(),
            cpu_cores,
            ram_gb: c.ram_gb.unwrap_or(1.0),
            cpu_model: Some(cpu_model.clone()),
            machine_type: Some(machine_type.clone()),
            disk_bus: Some(disk_bus.clone()),
            disk_cache: Some(disk_cache.clone()),
            network_model: Some(network_model.clone()),
            network_queues: Some(f64::from(network_queues)),
            disks: disks
                .iter()
                .zip(&paths.disks)
                .map(|(d, p)| DiskSpec {
                    path: p.clone(),
                    format: d.format.clone().unwrap_or_else(|| "qcow2".into()),
                    bus: d.bus.clone(),
                    cache: d.cache.clone(),
                    discard: d.discard,
                })
                .collect(),
            tap: tap.clone(),
            mac,
            memory_balloon: c.memory_balloon.unwrap_or(false),
            uefi_firmware: uefi.clone(),
            uefi_vars,
            hugepages,
            display_protocol: display_type.clone(),
            display_port,
            display_addr: display_addr.clone(),
            display_password: c.display_password.clone().filter(|p| !p.is_empty()).map(crate::secret::Secret::new),
            qmp_socket: paths.qmp_socket.clone(),
            pidfile: paths.pidfile.clone(),
            iso_path: c.iso_path.as_deref().map(PathBuf::from),
            installing: install_media.is_some(),
            install_media: install_media.map(Path::to_path_buf),
            gpu_pci_address: c.gpu_pci_address.clone(),
            gpu_romfile: c.gpu_romfile.clone(),
            tpm_socket: c.tpm_socket_path.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            guest_agent_socket: c.guest_agent_socket_path.as_deref().map(PathBuf::from),
            infini_service_socket: c.infini_service_socket_path.as_deref().map(PathBuf::from),
            virtio_drivers_iso: c.virtio_drivers_iso.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            enable_audio: c.enable_audio.unwrap_or(false),
            enable_usb_tablet: c.enable_usb_tablet,
            numactl_pinning: numactl,
            strict_display: false,
        };
        // `starting` is recorded before QEMU is spawned.
        made.status_written = true;
        self.store.update_machine_status(vm_id, "starting").await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        // Two independent lines of work: the disks then QEMU, started paused (it cannot
        // send a frame before `cont`), and the VM's firewall then the bridge port. The
        // guest runs only once both are done.
        let mut launch_made = Made { cpu_cores: made.cpu_cores.clone(), ..Made::default() };
        let (spawned, networked) = tokio::join!(
            async {
                for (path, img) in &images {
                    launch_made.disks.push(path.clone());
                    create_image(img, None).await.map_err(wrap(C::DISK_ERROR, vm_id)).map_err(Err)?;
                }
                self.spawn_paused(vm_id, &mut spec, &mut launch_made).await.map_err(Ok)
            },
            async {
                // One transaction writes the whole chain (rules, terminal policy) and
                // its dispatch, with or without rules.
                self.nft.apply_rules(vm_id, &tap, &rules, &[]).await.map_err(wrap(C::CREATE_FAILED, vm_id))?;
                self.taps.configure(&tap, Some(&bridge)).map_err(wrap(C::CREATE_FAILED, vm_id))
            }
        );
        made.chain = true;
        made.disks.append(&mut launch_made.disks);
        made.absorb_launch(launch_made);
        // Errors in the order of the spec's steps: disks, network, then QEMU
        // (`Err(Err(_))` is a disk error, `Err(Ok(_))` a QEMU one).
        let spawned = match spawned {
            Err(Err(disk)) => return Err(disk),
            other => other,
        };
        networked?;
        let (pid, password) = spawned.map_err(|e| e.unwrap_or_else(|e| e))?;
        self.finish_launch(vm_id, &spec, &bridge, pid, password, made).await?;
        let display_port = spec.display_port;

        let disk_paths: Vec<String> = paths.disks.iter().map(|p| path_string(p)).collect();
        let os_windows = c.os.as_deref().unwrap_or("").to_lowercase().contains("windows");
        let update = json!({
            "qmpSocketPath": path_string(&paths.qmp_socket),
            "qemuPid": pid,
            "tapDeviceName": tap,
            "graphicProtocol": display_type,
            "graphicPort": display_port,
            "graphicPassword": c.display_password,
            "graphicHost": display_addr,
            "bridge": bridge,
            "machineType": machine_type,
            "cpuModel": cpu_model,
            "diskBus": disk_bus,
            "diskCacheMode": disk_cache,
            "networkModel": network_model,
            "networkQueues": network_queues,
            "memoryBalloon": c.memory_balloon.unwrap_or(false),
            "diskPaths": disk_paths,
            "uefiFirmware": uefi.as_deref().map(path_string),
            "hugepages": hugepages,
            "cpuPinning": Some(&made.cpu_cores).filter(|v| !v.is_empty()).map(|v| json!({ "cores": v })),
            "tpmSocketPath": c.tpm_socket_path,
            "guestAgentSocketPath": c.guest_agent_socket_path,
            "infiniServiceSocketPath": c.infini_service_socket_path,
            "virtioDriversIso": c.virtio_drivers_iso,
            "enableAudio": c.enable_audio.unwrap_or(false),
            "enableUsbTablet": c.enable_usb_tablet.unwrap_or(os_windows),
            // Kept so that start restores them (spec §19 #3: the original dropped them).
            "enableNumaCtlPinning": c.enable_numa_ctl_pinning.unwrap_or(false),
            "cpuPinningStrategy": strategy,
        });
        let update = MachineConfigUpdate::from_json(&update).map_err(|m| LifecycleError::failed(C::DATABASE_ERROR, m, Some(vm_id), None))?;
        self.store.update_machine_configuration(vm_id, &update).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.store.update_machine_status(vm_id, "running").await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;

        self.register_live(vm_id, made);
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

    /// [`Self::spawn_paused`] then [`Self::finish_launch`].
    async fn launch(&self, vm_id: &str, spec: &mut VmCommandSpec, bridge: &str, made: &mut Made) -> Result<i32, LifecycleError> {
        let (pid, password) = self.spawn_paused(vm_id, spec, made).await?;
        self.finish_launch(vm_id, spec, bridge, pid, password, made).await?;
        Ok(pid)
    }

    /// Builds the command and starts QEMU paused (`-S`) on a display port found under
    /// the host-wide lock. Registers what it makes in `made`. `spec.display_port` is the
    /// first port tried; it holds the port used afterwards. Returns the PID and the
    /// display password to set over QMP.
    async fn spawn_paused(&self, vm_id: &str, spec: &mut VmCommandSpec, made: &mut Made) -> Result<(i32, Option<crate::secret::Secret>), LifecycleError> {
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
        made.process = Some(process.clone());
        made.pidfile = Some(spec.pidfile.clone());
        made.qmp_socket = Some(spec.qmp_socket.clone());
        made.channel_sockets = [&spec.guest_agent_socket, &spec.infini_service_socket].into_iter().flatten().cloned().collect();
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
        Ok((pid, cmd.display_password))
    }

    /// Checks the TAP carrier, places QEMU in its cgroup, connects QMP, sets the
    /// display password and lets the guest run.
    async fn finish_launch(
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
        if !made.cpu_cores.is_empty() {
            let (cg, cores) = (self.cgroups.clone(), made.cpu_cores.clone());
            let placed = tokio::task::spawn_blocking(move || cg.apply_cpu_pinning(pid, &cores)).await;
            crate::log::log(NS, &format!("VM {vm_id}: CPU placement {placed:?}"));
        }

        // QMP: password first, then let the guest run.
        let started = Instant::now();
        while !spec.qmp_socket.exists() {
            if started.elapsed() > SOCKET_WAIT {
                return Err(LifecycleError::failed(C::TIMEOUT, format!("Socket not available after 5000ms: {}", spec.qmp_socket.display()), None, None));
            }
            tokio::time::sleep(EXIT_POLL).await;
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

    /// The started QEMU and its QMP client now belong to the manager, not the rollback.
    fn register_live(&self, vm_id: &str, made: &mut Made) {
        if let Some(process) = made.process.take() {
            locked(&self.live).insert(vm_id.to_string(), Live { process: process.clone(), qmp: made.qmp.take() });
            self.watch_exit(vm_id, process, made.shutdown.clone());
        }
    }

    /// Pushed exit handling (rule 5): when the QEMU this manager started exits by
    /// itself (guest power-off, crash, kill), the VM's status and runtime columns are
    /// updated and its TAP and dispatch released, within milliseconds. An exit caused
    /// by `stop` is left to `stop` (the VM is no longer in the live map then).
    fn watch_exit(&self, vm_id: &str, process: Arc<QemuProcess>, shutdown: ShutdownSlot) {
        let (vm_id, store, releaser) = (vm_id.to_string(), self.store.clone(), self.releaser());
        let (locks, live, exit_hook) = (self.locks.clone(), self.live.clone(), self.exit_hook.clone());
        tokio::spawn(async move {
            process.wait_exit().await;
            let m = locked(&locks).entry(vm_id.clone()).or_default().clone();
            let _guard = m.lock().await;
            let ours = {
                let mut l = locked(&live);
                match l.get(&vm_id) {
                    Some(entry) if Arc::ptr_eq(&entry.process, &process) => l.remove(&vm_id),
                    _ => None,
                }
            };
            let Some(entry) = ours else { return };
            if let Some(q) = &entry.qmp {
                q.disconnect().await;
            }
            let reason = locked(&shutdown).take().unwrap_or(Reason::Killed);
            crate::log::log(NS, &format!("QEMU of VM {vm_id} exited by itself: {}", reason.describe()));
            let vm = store.find_machine_with_config(&vm_id).await.ok().flatten();
            let conf = vm.as_ref().and_then(|v| v.configuration.clone());
            let status = if matches!(reason, Reason::GuestShutdown | Reason::HostShutdown { .. }) { "off" } else { "error" };
            if let Err(e) = store.set_status_automatic(&vm_id, status, &reason).await {
                crate::log::warn(NS, &format!("could not record the exit of VM {vm_id}: {e}"));
            }
            if let Some(v) = &vm {
                let conf = conf.unwrap_or_default();
                releaser.release(&vm_id, &v.internal_name, &conf).await;
            }
            let hook = locked(&exit_hook).clone();
            if let Some(hook) = hook {
                hook(ExitReport { vm_id, status: status.to_string(), crashed: status == "error", reason: reason.describe() });
            }
        });
    }

    /// Spec §5.13: the TAP gets a carrier once QEMU has attached to it.
    async fn verify_tap_connection(&self, tap: &str, vm_id: &str, pid: i32, bridge: &str) -> Result<(), LifecycleError> {
        for attempt in 0..CARRIER_ATTEMPTS {
            if self.taps.has_carrier(tap) {
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
            format!("  - Process Alive: {}", pid_alive(i64::from(pid))),
            format!("  - TAP State: {}", self.taps.device_state(tap)),
            format!("  - Bridge State: {}", self.taps.device_state(bridge)),
        ];
        Err(LifecycleError::failed(C::NETWORK_ERROR, lines.join("\n"), Some(vm_id), None))
    }

    /// Releases what a failed create made, newest first. Every step is best-effort.
    async fn rollback(&self, vm_id: &str, made: Made) {
        if let Some(q) = &made.qmp {
            q.disconnect().await;
        }
        if let Some(p) = &made.process {
            p.force_kill().await;
            if let (false, Some(pid)) = (made.cpu_cores.is_empty(), p.pid()) {
                let cg = self.cgroups.clone();
                let _ = tokio::task::spawn_blocking(move || cg.release_group(pid, Duration::from_secs(2))).await;
            }
        }
        if let Some(tap) = &made.tap {
            self.taps.bring_down(tap);
        }
        if let Some(tap) = &made.tap_reused {
            self.taps.detach_from_bridge(tap);
        }
        if made.chain {
            self.nft.remove_vm_chain(vm_id).await;
        } else if made.chain_attached {
            self.nft.detach_jump_rules(vm_id).await;
        }
        if let Some(tap) = &made.tap {
            if let Err(e) = self.taps.destroy(tap) {
                crate::log::warn(NS, &format!("rollback: could not remove TAP {tap}: {e}"));
            }
        }
        for d in made.disks.iter().rev() {
            remove_file_quietly(d);
        }
        for s in made.qmp_socket.iter().chain(&made.channel_sockets) {
            remove_file_quietly(s);
        }
        if let Some(p) = &made.pidfile {
            remove_file_quietly(p);
        }
        if made.status_written || made.tap.is_some() || !made.disks.is_empty() {
            let cleared = if made.volatile_only {
                self.store.clear_volatile_machine_configuration(vm_id).await
            } else {
                self.store.clear_machine_configuration(vm_id).await
            };
            if let Err(e) = cleared {
                crate::log::warn(NS, &format!("rollback: could not clear the configuration of {vm_id}: {e}"));
            }
            if let Err(e) = self.store.update_machine_status(vm_id, "error").await {
                crate::log::warn(NS, &format!("rollback: could not set {vm_id} to error: {e}"));
            }
        }
    }

    // ------------------------------------------------------------------ start

    /// Spec §5.6: starts a stopped VM from its stored configuration. Refused unless the
    /// VM is off or in error (a `running` VM whose QEMU is gone counts as off).
    pub async fn start(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        Ok(self.start_detailed(vm_id).await?.0)
    }

    /// [`Self::start`], plus the new QEMU's PID and TAP when it started one (for the
    /// `power_on` event).
    pub async fn start_detailed(&self, vm_id: &str) -> Result<(OperationResult, Option<Started>), LifecycleError> {
        let _guard = self.lock(vm_id).await;
        let mut vm = self.load_vm(vm_id, C::START_FAILED).await?;
        if vm.status == "running" {
            if vm.configuration.as_ref().and_then(|c| c.qemu_pid).is_some_and(pid_alive) {
                let r = OperationResult { success: true, message: format!("VM {vm_id} is already running"), vm_id: vm_id.into(), forced: None };
                return Ok((r, None));
            }
            self.store.update_machine_status(vm_id, "off").await.map_err(wrap(C::START_FAILED, vm_id))?;
            self.store.clear_volatile_machine_configuration(vm_id).await.map_err(wrap(C::START_FAILED, vm_id))?;
            vm.status = "off".into();
        }
        match vm.status.as_str() {
            "off" => match self.store.transition_vm_status(vm_id, "off", "starting", vm.version).await {
                Ok(t) => vm = t.vm_config,
                Err(e) if e.is_version_conflict() => {
                    let original = e.to_string();
                    return Err(LifecycleError::failed(
                        C::CONCURRENT_MODIFICATION,
                        format!("VM {vm_id} is being started by another process"),
                        Some(vm_id),
                        Some(json!({ "originalError": original })),
                    ));
                }
                Err(e) => return Err(LifecycleError::wrap(C::START_FAILED, vm_id, &e)),
            },
            "error" => {}
            other => {
                return Err(LifecycleError::failed(C::INVALID_STATE, format!("Cannot start VM in state: {other}"), Some(vm_id), None));
            }
        }
        let mut made = Made { status_written: true, volatile_only: true, ..Made::default() };
        match self.start_steps(&vm, &mut made).await {
            Ok(started) => {
                crate::log::log(NS, &format!("VM {vm_id} started: PID {}", started.pid));
                let r = OperationResult { success: true, message: format!("VM {vm_id} started successfully"), vm_id: vm_id.into(), forced: None };
                Ok((r, Some(started)))
            }
            Err(e) => {
                crate::log::warn(NS, &format!("start of VM {vm_id} failed, rolling back: {e}"));
                self.rollback(vm_id, made).await;
                Err(e)
            }
        }
    }

    async fn start_steps(&self, vm: &crate::state::records::VmConfigRecord, made: &mut Made) -> Result<Started, LifecycleError> {
        let vm_id = vm.id.as_str();
        let internal = vm.internal_name.as_str();
        if vm.cpu_cores <= 0 || vm.ram_gb <= 0 || internal.is_empty() {
            return Err(LifecycleError::failed(
                C::INVALID_CONFIG,
                format!("VM {vm_id} missing required hardware configuration (cpuCores, ramGB, or internalName)"),
                Some(vm_id),
                Some(json!({ "cpuCores": vm.cpu_cores, "ramGB": vm.ram_gb, "internalName": internal })),
            ));
        }
        check_internal_name(internal)?;
        let conf = vm.configuration.clone().unwrap_or_default();
        let stored_disks: Vec<PathBuf> =
            conf.disk_paths.as_ref().and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(PathBuf::from).collect()).unwrap_or_default();
        let disk_paths = if stored_disks.is_empty() { self.paths(internal, 1).disks } else { stored_disks };
        let paths = self.paths(internal, disk_paths.len());
        self.ensure_dirs(C::START_FAILED, vm_id)?;
        if let Some(pid) = live_pid_or_clear(&paths.pidfile) {
            let pf = path_string(&paths.pidfile);
            return Err(LifecycleError::failed(
                C::START_FAILED,
                format!("VM {vm_id} appears to have a running QEMU process (PID {pid}) that is not tracked. This may indicate a previous crash or unclean shutdown. If you are sure no QEMU process is running for this VM, manually remove: {pf}"),
                Some(vm_id),
                Some(json!({ "existingPid": pid, "pidFilePath": pf })),
            ));
        }
        remove_file_quietly(&paths.qmp_socket);
        for (i, d) in disk_paths.iter().enumerate() {
            if !d.exists() {
                let dp = path_string(d);
                return Err(LifecycleError::failed(
                    C::DISK_ERROR,
                    format!("Disk image {i} not found: {dp}"),
                    Some(vm_id),
                    Some(json!({ "diskPath": dp, "diskIndex": i })),
                ));
            }
        }
        let display_type = conf.graphic_protocol.clone().unwrap_or_else(|| "spice".into());
        let display_addr = conf.graphic_host.clone().unwrap_or_else(|| "0.0.0.0".into());
        // The stored port is tried first, so a VM keeps its console port across runs
        // when it is free (spec §19 #4: the original always searched from 5900).
        #[allow(clippy::cast_precision_loss)]
        let display_port = normalize::display_port(conf.graphic_port.map(|p| p as f64));
        // Spec §5.6 step 7: the InfiniService channel is always there on start.
        let infini_socket = match conf.infini_service_socket_path.clone() {
            Some(p) => PathBuf::from(p),
            None => {
                check_internal_name(vm_id)?;
                self.opts.qmp_socket_dir.join(format!("{vm_id}.socket"))
            }
        };
        let bridge = conf.bridge.clone().unwrap_or_else(|| "virbr0".into());

        // TAP (the stored one when it still exists), firewall, then the bridge.
        let stored_tap = conf.tap_device_name.clone().filter(|t| self.taps.exists(t));
        let tap = match stored_tap {
            Some(t) => {
                if self.taps.has_carrier(&t) {
                    crate::log::warn(NS, &format!("TAP {t} of VM {vm_id} already has a carrier before QEMU starts"));
                }
                made.tap_reused = Some(t.clone());
                t
            }
            None => {
                let t = self.taps.create(vm_id, Some(&bridge)).map_err(wrap(C::START_FAILED, vm_id))?.to_string();
                made.tap = Some(t.clone());
                t
            }
        };
        let chain = crate::network::names::vm_chain_name(vm_id);
        let chain_existed = self.nft.chain_exists(&chain).await;
        self.nft.create_vm_chain(vm_id, &tap).await.map_err(wrap(C::START_FAILED, vm_id))?;
        made.chain = !chain_existed;
        made.chain_attached = true;
        let records = self.store.get_firewall_rules(vm_id).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        if !records.is_empty() {
            let rules = records
                .iter()
                .map(|r| FirewallRuleInput::from_json(serde_json::to_value(r).unwrap_or(Value::Null)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(wrap(C::START_FAILED, vm_id))?;
            self.nft.apply_rules(vm_id, &tap, &rules, &[]).await.map_err(wrap(C::START_FAILED, vm_id))?;
        }
        if made.tap_reused.is_some() {
            self.taps.attach_to_bridge(&tap, &bridge, Some(vm_id)).map_err(wrap(C::START_FAILED, vm_id))?;
        } else {
            self.taps.configure(&tap, Some(&bridge)).map_err(wrap(C::START_FAILED, vm_id))?;
        }

        let machine_type = normalize::machine_type(conf.machine_type.as_deref()).to_string();
        let cpu_model = conf.cpu_model.clone().unwrap_or_else(|| "host".into());
        let disk_bus = normalize::disk_bus(conf.disk_bus.as_deref()).to_string();
        let disk_cache = normalize::disk_cache(conf.disk_cache_mode.as_deref()).to_string();
        let network_model = normalize::network_model(conf.network_model.as_deref()).to_string();
        #[allow(clippy::cast_precision_loss)] // small integers from the database
        let (cpu_cores, ram_gb, queues) = (vm.cpu_cores as f64, vm.ram_gb as f64, conf.network_queues.map(|q| q as f64));
        let uefi = conf.uefi_firmware.as_deref().map(PathBuf::from).filter(|p| std::fs::File::open(p).is_ok());
        made.cpu_cores = stored_cores(conf.cpu_pinning.as_ref());
        let mut spec = VmCommandSpec {
            vm_name: vm.name.clone(),
            internal_name: internal.to_string(),
            uuid: None,
            os: vm.os.clone(),
            cpu_cores,
            ram_gb,
            cpu_model: Some(cpu_model.clone()),
            machine_type: Some(machine_type.clone()),
            disk_bus: Some(disk_bus.clone()),
            disk_cache: Some(disk_cache.clone()),
            network_model: Some(network_model.clone()),
            network_queues: queues,
            disks: disk_paths.iter().map(|p| DiskSpec { path: p.clone(), format: "qcow2".into(), bus: None, cache: None, discard: None }).collect(),
            tap: tap.clone(),
            mac: crate::network::mac::generate_from_vm_id(vm_id),
            memory_balloon: conf.memory_balloon.unwrap_or(false),
            uefi_firmware: uefi.clone(),
            uefi_vars: uefi.as_deref().and_then(|fw| crate::lifecycle::uefi::setup_uefi_vars(fw, &self.opts.disk_dir, vm_id)),
            hugepages: conf.hugepages == Some(true) && hugepages_for(vm_id, ram_gb),
            display_protocol: display_type.clone(),
            display_port,
            display_addr: display_addr.clone(),
            display_password: conf.graphic_password.clone().filter(|p| !p.is_empty()).map(crate::secret::Secret::new),
            qmp_socket: paths.qmp_socket.clone(),
            pidfile: paths.pidfile.clone(),
            iso_path: None,
            installing: false,
            install_media: None,
            gpu_pci_address: vm.gpu_pci_address.clone(),
            gpu_romfile: None,
            tpm_socket: conf.tpm_socket_path.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            guest_agent_socket: conf.guest_agent_socket_path.as_deref().map(PathBuf::from),
            infini_service_socket: Some(infini_socket.clone()),
            virtio_drivers_iso: conf.virtio_drivers_iso.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            enable_audio: conf.enable_audio.unwrap_or(false),
            enable_usb_tablet: conf.enable_usb_tablet,
            numactl_pinning: numactl_strategy(conf.enable_numa_ctl_pinning, conf.cpu_pinning_strategy.as_deref()),
            strict_display: false,
        };
        let pid = self.launch(vm_id, &mut spec, &bridge, made).await?;
        let display_port = spec.display_port;
        let update = json!({
            "qmpSocketPath": path_string(&paths.qmp_socket),
            "qemuPid": pid,
            "tapDeviceName": &tap,
            "graphicProtocol": display_type,
            "graphicPort": display_port,
            "graphicPassword": conf.graphic_password,
            "graphicHost": display_addr,
            "bridge": bridge,
            "machineType": machine_type,
            "cpuModel": cpu_model,
            "diskBus": disk_bus,
            "diskCacheMode": disk_cache,
            "networkModel": network_model,
            "networkQueues": conf.network_queues,
            "memoryBalloon": conf.memory_balloon.unwrap_or(false),
            "diskPaths": disk_paths.iter().map(|p| path_string(p)).collect::<Vec<_>>(),
            "infiniServiceSocketPath": path_string(&infini_socket),
        });
        let update = MachineConfigUpdate::from_json(&update).map_err(|m| LifecycleError::failed(C::DATABASE_ERROR, m, Some(vm_id), None))?;
        self.store.update_machine_configuration(vm_id, &update).await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.store.update_machine_status(vm_id, "running").await.map_err(wrap(C::DATABASE_ERROR, vm_id))?;
        self.register_live(vm_id, made);
        Ok(Started { pid, tap_device: tap, qmp_socket_path: path_string(&paths.qmp_socket) })
    }

    // ------------------------------------------------------------------ stop

    /// Spec §5.7.
    pub async fn stop(&self, vm_id: &str, cfg: StopConfig) -> Result<OperationResult, LifecycleError> {
        let _guard = self.lock(vm_id).await;
        self.stop_locked(vm_id, cfg).await
    }

    /// The QEMU process of `vm_id`: the one this manager started, or the one its
    /// pidfile names once `/proc` proves it is that VM's.
    async fn process_of(&self, vm_id: &str, internal_name: &str) -> (Option<Arc<QemuProcess>>, Option<Arc<QmpClient>>) {
        if let Some(l) = locked(&self.live).remove(vm_id) {
            return (Some(l.process), l.qmp);
        }
        if internal_name.is_empty() {
            return (None, None);
        }
        let pidfile = self.paths(internal_name, 0).pidfile;
        let p = QemuProcess::new(vm_id);
        p.set_pidfile(&pidfile);
        match p.attach(Some(path_string(&pidfile))).await {
            Ok(Some(_)) => (Some(Arc::new(p)), None),
            _ => (None, None),
        }
    }

    async fn stop_locked(&self, vm_id: &str, cfg: StopConfig) -> Result<OperationResult, LifecycleError> {
        let vm = self.load_vm(vm_id, C::STOP_FAILED).await?;
        let conf = vm.configuration.clone().unwrap_or_default();
        let socket = conf.qmp_socket_path.clone().map(PathBuf::from);
        let (process, live_qmp) = self.process_of(vm_id, &vm.internal_name).await;
        let alive = process.as_ref().is_some_and(|p| p.is_alive());
        if vm.status == "off" && !alive {
            return Ok(OperationResult { success: true, message: format!("VM {vm_id} is already stopped"), vm_id: vm_id.into(), forced: None });
        }
        let mut forced = false;
        if let Some(p) = process.as_ref().filter(|_| alive) {
            let mut exited = false;
            if cfg.graceful {
                if let Some(sock) = socket.as_ref().filter(|s| s.exists()) {
                    let qmp = match &live_qmp {
                        Some(q) => Some(q.clone()),
                        None => {
                            let q = QmpClient::new(sock, QmpOptions { connect_timeout: QMP_CONNECT_TIMEOUT, ..QmpOptions::default() }, Arc::new(|_| {}));
                            q.connect().await.ok().map(|()| q)
                        }
                    };
                    if let Some(q) = &qmp {
                        if q.execute("system_powerdown", None).await.is_ok() {
                            exited = tokio::time::timeout(cfg.timeout, p.wait_exit()).await.is_ok();
                        }
                        q.disconnect().await;
                    }
                } else if !cfg.force {
                    let s = socket.as_ref().map(|s| path_string(s)).unwrap_or_default();
                    locked(&self.live).insert(vm_id.into(), Live { process: p.clone(), qmp: live_qmp });
                    return Err(LifecycleError::failed(C::STOP_FAILED, format!("QMP socket {s} does not exist and force is disabled"), Some(vm_id), None));
                }
            }
            if !exited {
                if !cfg.force {
                    locked(&self.live).insert(vm_id.into(), Live { process: p.clone(), qmp: None });
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
        } else if let Some(q) = live_qmp {
            q.disconnect().await;
        }
        self.cleanup_after_stop(vm_id, &vm.internal_name, &conf).await?;
        let message = format!("VM {vm_id} stopped successfully{}", if forced { " (forced)" } else { "" });
        Ok(OperationResult { success: true, message, vm_id: vm_id.into(), forced: Some(forced) })
    }

    async fn cleanup_after_stop(&self, vm_id: &str, internal_name: &str, conf: &ExtendedMachineConfigurationRecord) -> Result<(), LifecycleError> {
        self.store.update_machine_status(vm_id, "off").await.map_err(wrap(C::STOP_FAILED, vm_id))?;
        self.release_runtime(vm_id, internal_name, conf).await;
        Ok(())
    }

    // ------------------------------------------------------------------ destroy

    /// Spec §5.8: stops a running VM (forced), then removes its TAP and chain and the
    /// runtime columns. Disks and rows stay.
    pub async fn destroy_resources(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        let _guard = self.lock(vm_id).await;
        let Some(vm) = self.store.find_machine_with_config(vm_id).await.map_err(wrap(C::STOP_FAILED, vm_id))? else {
            return Ok(OperationResult { success: true, message: format!("VM {vm_id} not found, nothing to destroy"), vm_id: vm_id.into(), forced: None });
        };
        if vm.status == "running" || vm.status == "starting" || locked(&self.live).contains_key(vm_id) {
            self.stop_locked(vm_id, StopConfig { graceful: false, timeout: Duration::from_millis(5000), force: true }).await?;
        }
        let tap = vm
            .configuration
            .as_ref()
            .and_then(|c| c.tap_device_name.clone())
            .or_else(|| crate::network::link::names::tap_for_vm(vm_id).ok().map(|t| t.to_string()));
        if let Some(tap) = tap {
            if let Err(e) = self.taps.destroy(&tap) {
                crate::log::warn(NS, &format!("destroy: could not remove TAP {tap}: {e}"));
            }
        }
        self.nft.remove_vm_chain(vm_id).await;
        self.store.clear_machine_configuration(vm_id).await.map_err(wrap(C::STOP_FAILED, vm_id))?;
        Ok(OperationResult { success: true, message: format!("VM {vm_id} resources destroyed successfully"), vm_id: vm_id.into(), forced: None })
    }

    // ------------------------------------------------------------------ restart, suspend, resume, reset

    /// Spec §5.9 `restart`: a graceful stop (forced after 30 s), 2 s, then `start`.
    pub async fn restart(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.stop(vm_id, StopConfig::default()).await?;
        tokio::time::sleep(RESTART_DELAY).await;
        self.start(vm_id).await?;
        Ok(OperationResult { success: true, message: format!("VM {vm_id} restarted successfully"), vm_id: vm_id.into(), forced: None })
    }

    /// Spec §5.9 `suspend`: QMP `stop`, status `suspended`.
    pub async fn suspend(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.qmp_operation(vm_id, &["running"], "suspend", "stop", Some("suspended"), "suspended").await
    }

    /// Spec §5.9 `resume`: QMP `cont`, status `running`.
    pub async fn resume(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.qmp_operation(vm_id, &["suspended", "paused"], "resume", "cont", Some("running"), "resumed").await
    }

    /// Spec §5.9 `reset`: QMP `system_reset`; the status stays `running`.
    pub async fn reset(&self, vm_id: &str) -> Result<OperationResult, LifecycleError> {
        self.qmp_operation(vm_id, &["running"], "reset", "system_reset", None, "reset").await
    }

    /// One QMP command on a VM in one of `allowed` statuses, over the manager's own
    /// connection (QEMU takes one), else a temporary one to the stored socket.
    async fn qmp_operation(
        &self,
        vm_id: &str,
        allowed: &[&str],
        verb: &str,
        command: &str,
        new_status: Option<&str>,
        done: &str,
    ) -> Result<OperationResult, LifecycleError> {
        let _guard = self.lock(vm_id).await;
        let vm = self.load_vm(vm_id, C::QMP_ERROR).await?;
        if !allowed.contains(&vm.status.as_str()) {
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
        let r = qmp.execute(command, None).await.map_err(wrap(C::QMP_ERROR, vm_id));
        if temporary {
            qmp.disconnect().await;
        }
        r?;
        if let Some(st) = new_status {
            self.store.update_machine_status(vm_id, st).await.map_err(wrap(C::QMP_ERROR, vm_id))?;
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

    // ------------------------------------------------------------------ restart of the manager

    /// Rule 8: after a manager restart, every VM the store says may run is checked
    /// against reality. A QEMU that runs and is provably this VM's (pidfile + `/proc`
    /// identity, then a pidfd) is adopted: exits are pushed again, QMP is connected
    /// and the stored status and PID are corrected. A VM whose QEMU is gone gets
    /// status `off`, its runtime columns cleared and its network released (the exit
    /// hook reports it as a crash). Nothing is ever killed here; what cannot be
    /// decided (unreadable `/proc`, database errors) is left as it is.
    pub async fn reconcile(&self) -> Result<Vec<Reconciled>, LifecycleError> {
        let candidates = self.store.find_vms_with_process().await.map_err(|e| LifecycleError::wrap_plain(C::DATABASE_ERROR, &e))?;
        let mut out = Vec::with_capacity(candidates.len());
        for rec in candidates {
            let _guard = self.lock(&rec.id).await;
            let r = self.reconcile_one(&rec.id, None).await;
            crate::log::log(NS, &format!("reconcile: {r:?}"));
            out.push(r);
        }
        Ok(out)
    }

    /// Spec §6 `attachToRunningVM`: adopts the VM's QEMU (as [`Self::reconcile`]
    /// does for one VM), its QMP socket being `qmp_socket`.
    pub async fn attach_running(&self, vm_id: &str, qmp_socket: &str) -> Result<Reconciled, LifecycleError> {
        let _guard = self.lock(vm_id).await;
        match self.reconcile_one(vm_id, Some(PathBuf::from(qmp_socket))).await {
            Reconciled::Gone { .. } => Err(LifecycleError::failed(C::VM_NOT_FOUND, format!("VM {vm_id} not found or not running"), Some(vm_id), None)),
            Reconciled::Unknown { why, .. } => Err(LifecycleError::failed(C::PROCESS_ERROR, why, Some(vm_id), None)),
            r => Ok(r),
        }
    }

    async fn reconcile_one(&self, vm_id: &str, socket: Option<PathBuf>) -> Reconciled {
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
        let paths = self.paths(&vm.internal_name, 0);
        let process = Arc::new(QemuProcess::new(vm_id));
        process.set_pidfile(&paths.pidfile);
        let pid = match process.attach(Some(path_string(&paths.pidfile))).await {
            Err(e) => return unknown(format!("cannot tell whether the QEMU of VM {vm_id} runs: {e}")),
            Ok(pid) => pid,
        };
        let Some(pid) = pid else {
            // Gone while no manager watched it: the same release as a pushed exit.
            let reason = Reason::Operation { name: "reconcile: QEMU gone while the manager was not running".into() };
            if let Err(e) = self.store.set_status_automatic(vm_id, "off", &reason).await {
                return unknown(format!("cannot record that VM {vm_id} stopped: {e}"));
            }
            self.release_runtime(vm_id, &vm.internal_name, &conf).await;
            let hook = locked(&self.exit_hook).clone();
            if let Some(hook) = hook {
                hook(ExitReport { vm_id: vm_id.into(), status: "off".into(), crashed: true, reason: reason.describe() });
            }
            return Reconciled::Gone { vm_id: vm_id.to_string(), status: "off".into() };
        };
        let socket = socket.or_else(|| conf.qmp_socket_path.clone().map(PathBuf::from)).unwrap_or(paths.qmp_socket);
        let shutdown = ShutdownSlot::default();
        let qmp = QmpClient::new(&socket, QmpOptions { connect_timeout: QMP_CONNECT_TIMEOUT, ..QmpOptions::default() }, shutdown_sink(&shutdown));
        let (qmp, run_state) = match qmp.connect().await {
            Ok(()) => {
                let st = qmp.execute("query-status", None).await.ok().and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string));
                (Some(qmp), st)
            }
            Err(e) => {
                crate::log::warn(NS, &format!("VM {vm_id}: QEMU (PID {pid}) adopted but QMP at {} did not answer: {e}", socket.display()));
                (None, None)
            }
        };
        // The stored status follows the run state; an interrupted start is an error.
        let status = match run_state.as_deref() {
            Some(st) => crate::state::status::db_status_for_qmp(st).to_string(),
            None => vm.status.clone(),
        };
        let status = if vm.status == "starting" && status != "running" { "error".to_string() } else { status };
        if status != vm.status {
            let why = Reason::Operation { name: format!("reconcile: QEMU runs, state {}", run_state.as_deref().unwrap_or("unknown")) };
            if let Err(e) = self.store.update_status_with_reason(vm_id, &status, &why).await {
                crate::log::warn(NS, &format!("reconcile: could not correct the status of {vm_id}: {e}"));
            }
        }
        if conf.qemu_pid != Some(i64::from(pid)) || conf.qmp_socket_path.as_deref() != Some(path_string(&socket).as_str()) {
            let update = MachineConfigUpdate::from_json(&json!({ "qemuPid": pid, "qmpSocketPath": path_string(&socket) }));
            match update {
                Ok(u) => {
                    if let Err(e) = self.store.update_machine_configuration(vm_id, &u).await {
                        crate::log::warn(NS, &format!("reconcile: could not record PID {pid} of {vm_id}: {e}"));
                    }
                }
                Err(m) => crate::log::warn(NS, &m),
            }
        }
        let mut made = Made { process: Some(process), qmp, shutdown, ..Made::default() };
        self.register_live(vm_id, &mut made);
        Reconciled::Attached { vm_id: vm_id.to_string(), pid, qmp_socket: path_string(&socket), status }
    }

    fn releaser(&self) -> Releaser {
        Releaser {
            store: self.store.clone(),
            taps: self.taps.clone(),
            nft: self.nft.clone(),
            cgroups: self.cgroups.clone(),
            pid_dir: self.opts.pidfile_dir.clone(),
        }
    }

    async fn release_runtime(&self, vm_id: &str, internal_name: &str, conf: &ExtendedMachineConfigurationRecord) {
        self.releaser().release(vm_id, internal_name, conf).await;
    }

    // ------------------------------------------------------------------ status

    /// Spec §5.10; `qmpStatus` comes from this manager's own QMP connection.
    pub async fn get_status(&self, vm_id: &str) -> Result<StatusResult, LifecycleError> {
        let vm = self.load_vm(vm_id, C::DATABASE_ERROR).await?;
        let conf = vm.configuration.clone().unwrap_or_default();
        let pid = conf.qemu_pid;
        let process_alive = pid.is_some_and(pid_alive);
        let qmp = locked(&self.live).get(vm_id).and_then(|l| l.qmp.clone());
        let mut qmp_status = None;
        if let (true, Some(q)) = (process_alive, qmp) {
            if let Ok(v) = q.execute("query-status", None).await {
                qmp_status = v.get("status").and_then(Value::as_str).map(str::to_string);
            }
        }
        Ok(StatusResult {
            vm_id: vm_id.into(),
            consistent: (vm.status == "running") == process_alive,
            status: vm.status,
            qmp_status,
            pid,
            process_alive,
            tap_device: conf.tap_device_name,
            qmp_socket_path: conf.qmp_socket_path,
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
}
