//! The lifecycle core reached without root: create, start, stop, destroy, rollback,
//! journal replay and exit release. The host network is a recording fake (`HostNet`),
//! the store a real SQLite file or the in-memory test store (which can be switched
//! "down"), and the "QEMU" a real process whose command line carries what a VM's QEMU
//! carries (`sh -c 'sleep …; exit' qemu-system-x86_64 -uuid … -pidfile …`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::host::{HostNet, NetFuture};
use super::identity;
use super::journal::{self, Entry, Journal, Op};
use super::undo::Made;
use super::vm::{LifecycleOptions, VmLifecycle};
use super::watch::HostHold;
use crate::network::error::NetworkError;
use crate::network::firewall::error::NftablesError;
use crate::network::firewall::rule::FirewallRuleInput;
use crate::network::firewall::service::{NftablesService, ServiceConfig};
use crate::network::link::tap::{TapConfig, TapManager};
use crate::qemu::process::QemuProcess;
use crate::state::error::{DatabaseError, Retry};
use crate::state::queue::tests::MemStore;
use crate::state::records::MachineConfigurationRecord;
use crate::state::records::{FirewallRuleRecord, MachineConfigUpdate, MachineRecord, RunningVmRecord, TransitionResult, VmConfigRecord};
use crate::state::status::VmStatus;
use crate::state::store::{Store, StoreFuture};

const VM: &str = "550e8400-e29b-41d4-a716-446655440000";

#[derive(Default)]
struct FakeNet {
    calls: Mutex<Vec<String>>,
    taps: Mutex<HashSet<String>>,
    /// The multi-queue flag of the TAPs `tap_create` made (others: unknown).
    multi_queue: Mutex<std::collections::HashMap<String, bool>>,
}

impl FakeNet {
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl HostNet for FakeNet {
    fn tap_create(&self, vm_id: &str, _bridge: Option<&str>, queues: u32) -> Result<String, NetworkError> {
        let t = crate::network::link::names::tap_for_vm(vm_id)?.to_string();
        self.taps.lock().unwrap().insert(t.clone());
        self.multi_queue.lock().unwrap().insert(t.clone(), queues > 1);
        self.log(format!("create {t}"));
        Ok(t)
    }
    fn tap_configure(&self, tap: &str, _bridge: Option<&str>) -> Result<(), NetworkError> {
        self.log(format!("configure {tap}"));
        Ok(())
    }
    fn tap_attach(&self, tap: &str, _bridge: &str, _vm_id: &str) -> Result<(), NetworkError> {
        self.log(format!("attach {tap}"));
        Ok(())
    }
    fn tap_detach(&self, tap: &str) {
        self.log(format!("detach {tap}"));
    }
    fn tap_bring_down(&self, tap: &str) {
        self.log(format!("down {tap}"));
    }
    fn tap_destroy(&self, tap: &str) -> Result<(), NetworkError> {
        self.taps.lock().unwrap().remove(tap);
        self.multi_queue.lock().unwrap().remove(tap);
        self.log(format!("destroy {tap}"));
        Ok(())
    }
    fn tap_exists(&self, tap: &str) -> bool {
        self.taps.lock().unwrap().contains(tap)
    }
    fn tap_has_carrier(&self, _tap: &str) -> bool {
        // Only the TAP of a running QEMU has carrier; this fake's QEMU never opens it.
        false
    }
    fn tap_multi_queue(&self, tap: &str) -> Option<bool> {
        self.multi_queue.lock().unwrap().get(tap).copied()
    }
    fn device_state(&self, dev: &str) -> String {
        format!("{dev}: fake")
    }
    fn apply_rules<'a>(&'a self, vm_id: &'a str, _tap: &'a str, _rules: &'a [FirewallRuleInput]) -> NetFuture<'a, Result<(), NftablesError>> {
        Box::pin(async move {
            self.log(format!("apply {vm_id}"));
            Ok(())
        })
    }
    fn chain_exists<'a>(&'a self, _vm_id: &'a str) -> NetFuture<'a, bool> {
        Box::pin(async { false })
    }
    fn create_chain<'a>(&'a self, vm_id: &'a str, _tap: &'a str) -> NetFuture<'a, Result<(), NftablesError>> {
        Box::pin(async move {
            self.log(format!("chain {vm_id}"));
            Ok(())
        })
    }
    fn detach_dispatch<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, ()> {
        Box::pin(async move { self.log(format!("undispatch {vm_id}")) })
    }
    fn remove_chain<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, ()> {
        Box::pin(async move { self.log(format!("unchain {vm_id}")) })
    }
}

struct Fixture {
    dir: PathBuf,
    net: Arc<FakeNet>,
    store: Arc<MemStore>,
    lifecycle: VmLifecycle,
}

fn fixture(tag: &str, status: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("iv-recovery-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for d in ["disks", "run", "pids"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let opts = LifecycleOptions {
        disk_dir: dir.join("disks"),
        qmp_socket_dir: dir.join("run"),
        pidfile_dir: dir.join("pids"),
        port_lock: dir.join("ports.lock"),
        ..LifecycleOptions::default()
    };
    let conf = MachineConfigurationRecord { qemu_pid: Some(1), tap_device_name: Some("vnet-550e8400e2".into()), ..Default::default() };
    let store = MemStore::with(&[(VM, status, Some(conf))]);
    let net = Arc::new(FakeNet::default());
    let lifecycle = VmLifecycle::new(
        store.clone(),
        opts,
        crate::qemu::accel::detect(),
        Arc::new(TapManager::new(TapConfig::default())),
        Arc::new(NftablesService::new(ServiceConfig::default())),
    )
    .with_network(net.clone());
    Fixture { dir, net, store, lifecycle }
}

/// A process that passes for the VM's QEMU (or, with another uuid, for a stranger's).
fn fake_qemu(pidfile: &Path, uuid: &str) -> std::process::Child {
    let child =
        std::process::Command::new("/bin/sh").args(["-c", "sleep 30; exit 0", "qemu-system-x86_64", "-uuid", uuid, "-pidfile"]).arg(pidfile).spawn().unwrap();
    std::fs::write(pidfile, child.id().to_string()).unwrap();
    // The shell has its final argv once it runs.
    for _ in 0..100 {
        let cmd = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
        if cmd.windows(11).any(|w| w == b"qemu-system") {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn exited(child: &mut std::process::Child) -> bool {
    for _ in 0..200 {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn pid_of(child: &std::process::Child) -> i32 {
    i32::try_from(child.id()).unwrap()
}

fn create_entry(f: &Fixture, child: &std::process::Child) -> Entry {
    let pids = f.dir.join("pids");
    let disk = f.dir.join("disks/vm-x.qcow2");
    let sock = f.dir.join("run/vm-x.sock");
    std::fs::write(&disk, b"qcow").unwrap();
    std::fs::write(&sock, b"").unwrap();
    let mut e = Entry::new(Op::Create, VM, "vm-x");
    e.disks = vec![disk];
    e.tap = Some("vnet-550e8400e2".into());
    e.chain = true;
    e.pidfile = Some(pids.join("vm-x.pid"));
    e.sockets = vec![sock];
    e.uuid = Some(VM.into());
    let pid = pid_of(child);
    e.qemu = Some((pid, identity::start_time(pid).unwrap()));
    e
}

#[tokio::test]
async fn an_interrupted_create_is_undone_from_its_journal() {
    let f = fixture("create", "starting");
    let pidfile = f.dir.join("pids/vm-x.pid");
    let mut qemu = fake_qemu(&pidfile, VM);
    let entry = create_entry(&f, &qemu);
    let j = Journal::begin(&f.dir.join("pids"), entry.clone()).unwrap();
    drop(j); // the manager "dies": the journal stays

    let _guard = f.lifecycle.lock(VM).await.unwrap(); // the next operation replays it

    assert!(exited(&mut qemu), "the create's QEMU was killed");
    assert!(!entry.disks[0].exists() && !entry.sockets[0].exists() && !pidfile.exists());
    assert_eq!(f.net.calls(), ["down vnet-550e8400e2", "unchain 550e8400-e29b-41d4-a716-446655440000", "destroy vnet-550e8400e2"]);
    assert_eq!(f.store.status(VM).as_deref(), Some("off"));
    assert!(f.store.calls().iter().any(|c| c.starts_with("clearMachineConfiguration")));
    assert!(journal::load(&f.dir.join("pids"), VM).is_none(), "journal removed");
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn a_stranger_behind_the_pidfile_is_never_signalled() {
    let f = fixture("stranger", "starting");
    let pidfile = f.dir.join("pids/vm-x.pid");
    let mut stranger = fake_qemu(&pidfile, "11111111-2222-3333-4444-555555555555");
    let mut entry = create_entry(&f, &stranger);
    entry.qemu = None; // the create died before it recorded a PID
    Journal::begin(&f.dir.join("pids"), entry).unwrap();

    let _guard = f.lifecycle.lock(VM).await.unwrap();

    assert!(stranger.try_wait().unwrap().is_none(), "the stranger still runs");
    assert!(crate::qemu::pid::pid_alive(pid_of(&stranger)));
    assert_eq!(f.store.status(VM).as_deref(), Some("off"), "the create itself is still undone");
    stranger.kill().unwrap();
    let _ = stranger.wait();
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn a_failed_start_releases_only_what_it_made() {
    let f = fixture("start", "starting");
    let mut e = Entry::new(Op::Start, VM, "vm-x");
    e.tap_reused = Some("vnet-550e8400e2".into());
    e.chain_attached = true;
    let made = Made { status_written: true, volatile_only: true, ..Made::new(Journal::begin(&f.dir.join("pids"), e).unwrap()) };

    f.lifecycle.rollback(VM, made).await;

    // The VM's own TAP and chain stay (a failed start keeps them); only what the start
    // attached is detached.
    assert_eq!(f.net.calls(), ["detach vnet-550e8400e2", "undispatch 550e8400-e29b-41d4-a716-446655440000"]);
    assert_eq!(f.store.status(VM).as_deref(), Some("error"));
    assert!(f.store.calls().iter().any(|c| c.starts_with("clearVolatileMachineConfiguration")));
    assert!(!f.store.calls().iter().any(|c| c.starts_with("clearMachineConfiguration")));
    assert!(journal::load(&f.dir.join("pids"), VM).is_none());
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn an_exit_is_released_while_the_store_is_down_and_recorded_when_it_is_back() {
    let f = fixture("exit", "running");
    let pidfile = f.dir.join("pids/vm-x.pid");
    let mut qemu = fake_qemu(&pidfile, VM);
    let process = Arc::new(QemuProcess::new(VM));
    process.set_pidfile(&pidfile);
    assert_eq!(process.attach(None).await.unwrap(), Some(pid_of(&qemu)));
    let hold = HostHold { tap: Some("vnet-550e8400e2".into()), pidfile: Some(pidfile.clone()), pid: Some(pid_of(&qemu)), ..HostHold::default() };
    f.lifecycle.register_live(VM, process, None, hold, Arc::default());
    let conf = MachineConfigUpdate::from_json(&serde_json::json!({ "qemuPid": pid_of(&qemu) })).unwrap();
    f.store.update_machine_configuration(VM, &conf).await.unwrap();

    f.store.down.store(true, Ordering::SeqCst);
    qemu.kill().unwrap();
    let _ = qemu.wait();
    // The host is released although every store call fails.
    for _ in 0..200 {
        if f.net.calls().len() >= 2 && !pidfile.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.net.calls(), ["detach vnet-550e8400e2", "undispatch 550e8400-e29b-41d4-a716-446655440000"]);
    assert!(!pidfile.exists());
    // Reported (and off the active list) once the write had its bounded chance.
    for _ in 0..300 {
        if f.lifecycle.active_vms().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(f.lifecycle.active_vms().is_empty());
    assert_eq!(f.store.status(VM).as_deref(), Some("running"));
    assert!(f.lifecycle.pending_writes(VM) > 0, "the status write is queued");
    assert!(f.dir.join("pids/pending-writes").read_dir().unwrap().next().is_some(), "and journaled");

    f.store.down.store(false, Ordering::SeqCst);
    for _ in 0..200 {
        if f.lifecycle.pending_writes(VM) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(f.store.status(VM).as_deref(), Some("error"), "a kill is recorded as error once the store is back");

    // A QEMU killed by another manager's stop or destroy, which recorded `off` first
    // (or whose row names another process by now): its exit does not overwrite that.
    for (status, row_pid) in [("off", None), ("running", Some(1))] {
        let mut qemu = fake_qemu(&pidfile, VM);
        let process = Arc::new(QemuProcess::new(VM));
        process.set_pidfile(&pidfile);
        assert_eq!(process.attach(None).await.unwrap(), Some(pid_of(&qemu)));
        let hold = HostHold { pidfile: Some(pidfile.clone()), pid: Some(pid_of(&qemu)), ..HostHold::default() };
        f.lifecycle.register_live(VM, process, None, hold, Arc::default());
        let conf = MachineConfigUpdate::from_json(&serde_json::json!({ "qemuPid": row_pid.unwrap_or(pid_of(&qemu)) })).unwrap();
        f.store.update_machine_configuration(VM, &conf).await.unwrap();
        f.store.set(VM, status);
        qemu.kill().unwrap();
        let _ = qemu.wait();
        for _ in 0..300 {
            if f.lifecycle.active_vms().is_empty() && f.lifecycle.pending_writes(VM) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(f.lifecycle.active_vms().is_empty());
        assert_eq!(f.store.status(VM).as_deref(), Some(status), "row {status} with PID {row_pid:?} left standing");
    }
    let _ = std::fs::remove_dir_all(&f.dir);
}

// ---------------------------------------------------------------------------------
// create and start through the whole orchestration, on a real SQLite store, with the
// recording network and a stand-in QEMU.

use super::command::VmCommandSpec;
use super::error::LifecycleError;
use super::launch::{LaunchFuture, Launcher};

#[derive(Default)]
struct FakeLauncher {
    children: Mutex<Vec<std::process::Child>>,
    fail_finish: std::sync::atomic::AtomicBool,
}

impl Launcher for FakeLauncher {
    fn spawn<'a>(
        &'a self,
        _lc: &'a VmLifecycle,
        vm_id: &'a str,
        spec: &'a mut VmCommandSpec,
        made: &'a Made,
    ) -> LaunchFuture<'a, (Arc<QemuProcess>, Option<crate::secret::Secret>)> {
        Box::pin(async move {
            made.record(vm_id, |e| {
                e.pidfile = Some(spec.pidfile.clone());
                e.uuid = spec.uuid.clone();
                e.name = Some(spec.vm_name.clone());
                e.sockets = vec![spec.qmp_socket.clone()];
            })?;
            let child = fake_qemu(&spec.pidfile, spec.uuid.as_deref().unwrap_or("none"));
            std::fs::write(&spec.qmp_socket, b"").unwrap();
            let pid = pid_of(&child);
            self.children.lock().unwrap().push(child);
            let process = Arc::new(QemuProcess::new(vm_id));
            process.set_pidfile(&spec.pidfile);
            assert_eq!(process.attach(None).await.unwrap(), Some(pid));
            Ok((process, None))
        })
    }
    fn finish<'a>(
        &'a self,
        _lc: &'a VmLifecycle,
        vm_id: &'a str,
        _spec: &'a VmCommandSpec,
        _bridge: &'a str,
        _pid: i32,
        _password: Option<crate::secret::Secret>,
        _made: &'a mut Made,
    ) -> LaunchFuture<'a, ()> {
        Box::pin(async move {
            if self.fail_finish.load(Ordering::SeqCst) {
                return Err(LifecycleError::failed(super::error::LifecycleErrorCode::QMP_ERROR, "injected: QMP did not answer", Some(vm_id), None));
            }
            Ok(())
        })
    }
}

impl Drop for FakeLauncher {
    fn drop(&mut self) {
        for c in self.children.lock().unwrap().iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Full {
    dir: PathBuf,
    net: Arc<FakeNet>,
    store: Arc<dyn Store>,
    launcher: Arc<FakeLauncher>,
}

impl Full {
    async fn new(tag: &str) -> Full {
        let dir = std::env::temp_dir().join(format!("iv-core-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store: Arc<dyn Store> = Arc::new(crate::state::sqlite::SqliteStore::new(dir.join("state.db")));
        let row = serde_json::json!({ "id": VM, "name": "Desk", "internalName": "vm-desk", "status": "off", "os": "ubuntu", "cpuCores": 1, "ramGB": 1, "diskSizeGB": 1 });
        store.insert_record("Machine", &row).await.unwrap();
        Full { dir, net: Arc::new(FakeNet::default()), store, launcher: Arc::new(FakeLauncher::default()) }
    }

    /// A manager (another one per call: its own locks and live map, as another process).
    fn manager(&self) -> VmLifecycle {
        let opts = LifecycleOptions {
            disk_dir: self.dir.join("disks"),
            qmp_socket_dir: self.dir.join("run"),
            pidfile_dir: self.dir.join("pids"),
            port_lock: self.dir.join("ports.lock"),
            ..LifecycleOptions::default()
        };
        VmLifecycle::new(
            self.store.clone(),
            opts,
            crate::qemu::accel::detect(),
            Arc::new(TapManager::new(TapConfig::default())),
            Arc::new(NftablesService::new(ServiceConfig::default())),
        )
        .with_network(self.net.clone())
        .with_launcher(self.launcher.clone())
    }

    fn config(&self) -> super::config::VmCreateConfig {
        serde_json::from_value(serde_json::json!({
            "vmId": VM, "name": "Desk", "internalName": "vm-desk", "os": "ubuntu", "cpuCores": 1, "ramGB": 1,
            "disks": [{ "sizeGB": 1 }], "bridge": "br0", "displayType": "vnc", "displayPort": 5900
        }))
        .unwrap()
    }

    async fn status(&self) -> String {
        self.store.find_machine(VM).await.unwrap().unwrap().status.as_str().to_string()
    }
}

/// `qemu-img` makes the disks (scripts/setup-system.sh installs it; CI always has it).
fn qemu_img_available() -> bool {
    let ok = std::process::Command::new("qemu-img").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("qemu-img missing: scripts/setup-system.sh installs it; test skipped");
    }
    ok
}

#[tokio::test]
async fn create_records_everything_and_a_failed_create_releases_exactly_what_it_made() {
    if !qemu_img_available() {
        return;
    }
    let f = Full::new("create").await;
    let m = f.manager();
    let r = m.create(&f.config()).await.unwrap();
    assert_eq!(f.status().await, "running");
    assert!(Path::new(&r.disk_paths[0]).exists());
    assert_eq!(m.active_vms(), vec![VM.to_string()]);
    assert!(journal::load(&f.dir.join("pids"), VM).is_none(), "a completed create leaves no journal");
    let calls = f.net.calls();
    assert!(calls.contains(&format!("create {}", r.tap_device)) && calls.contains(&format!("apply {VM}")), "{calls:?}");
    let rec = identity::load(Path::new(&r.pid_file_path)).unwrap();
    assert_eq!((rec.pid, rec.uuid.as_deref()), (r.pid, Some(VM)));

    // The VM runs: a second create (another manager) is refused and touches nothing.
    let e = f.manager().create(&f.config()).await.unwrap_err();
    assert_eq!(crate::error::ErrorShape::code(&e), "INVALID_STATE");
    assert!(Path::new(&r.disk_paths[0]).exists() && crate::qemu::pid::pid_alive(r.pid));
    assert_eq!(f.status().await, "running");

    // Stop, destroy, then a create that fails at its last step.
    m.stop(VM, super::vm::StopConfig { graceful: false, timeout: Duration::from_secs(3), force: true }).await.unwrap();
    assert!(!crate::qemu::pid::pid_alive(r.pid));
    assert_eq!(f.status().await, "off");
    m.destroy_resources(VM).await.unwrap();
    std::fs::remove_file(&r.disk_paths[0]).unwrap();
    f.launcher.fail_finish.store(true, Ordering::SeqCst);
    let before = f.net.calls().len();
    let e = m.create(&f.config()).await.unwrap_err();
    assert_eq!(crate::error::ErrorShape::code(&e), "QMP_ERROR");
    assert_eq!(f.status().await, "error");
    assert!(!Path::new(&r.disk_paths[0]).exists(), "the disk it made is removed");
    assert!(!Path::new(&r.pid_file_path).exists() && !Path::new(&r.qmp_socket_path).exists());
    let undo: Vec<String> =
        f.net.calls()[before..].iter().filter(|c| c.starts_with("down") || c.starts_with("unchain") || c.starts_with("destroy")).cloned().collect();
    assert_eq!(undo.len(), 3, "TAP down, chain removed, TAP destroyed: {undo:?}");
    assert!(m.active_vms().is_empty());
    assert!(journal::load(&f.dir.join("pids"), VM).is_none());
    let _ = std::fs::remove_dir_all(&f.dir);
}

/// The SQLite store with faults: with `no_rules` the rule lookup fails with
/// `MACHINE_NOT_FOUND` (as a `PrismaAdapter` reports a machine it cannot find) or,
/// with `down`, a query error; `kind` poses as another store (a shared PostgreSQL);
/// with `peer_claim` another manager claims the row right after each row read.
struct TweakedStore {
    inner: Arc<dyn Store>,
    kind: &'static str,
    no_rules: bool,
    down: std::sync::atomic::AtomicBool,
    peer_claim: std::sync::atomic::AtomicBool,
}

impl TweakedStore {
    fn new(inner: Arc<dyn Store>, kind: &'static str, no_rules: bool) -> Arc<Self> {
        Arc::new(TweakedStore { inner, kind, no_rules, down: Default::default(), peer_claim: Default::default() })
    }
}

impl Store for TweakedStore {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn find_machine<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MachineRecord>> {
        self.inner.find_machine(id)
    }
    fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a VmStatus) -> StoreFuture<'a, ()> {
        self.inner.update_machine_status(id, status)
    }
    fn find_running_vms(&self) -> StoreFuture<'_, Vec<RunningVmRecord>> {
        self.inner.find_running_vms()
    }
    fn clear_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.inner.clear_machine_configuration(id)
    }
    fn clear_volatile_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        self.inner.clear_volatile_machine_configuration(id)
    }
    fn find_machine_with_config<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<VmConfigRecord>> {
        Box::pin(async move {
            let row = self.inner.find_machine_with_config(id).await?;
            if let (true, Some(vm)) = (self.peer_claim.load(Ordering::SeqCst), &row) {
                self.inner.transition_vm_status(id, &vm.status, &VmStatus::Starting, vm.version).await?;
            }
            Ok(row)
        })
    }
    fn update_machine_configuration<'a>(&'a self, id: &'a str, update: &'a MachineConfigUpdate) -> StoreFuture<'a, ()> {
        self.inner.update_machine_configuration(id, update)
    }
    fn transition_vm_status<'a>(&'a self, id: &'a str, from: &'a VmStatus, to: &'a VmStatus, version: i64) -> StoreFuture<'a, TransitionResult> {
        self.inner.transition_vm_status(id, from, to, version)
    }
    fn get_firewall_rules<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<FirewallRuleRecord>> {
        if !self.no_rules {
            return self.inner.get_firewall_rules(id);
        }
        let down = self.down.load(Ordering::SeqCst);
        Box::pin(async move {
            if down {
                return Err(DatabaseError::Query {
                    action: "get firewall rules",
                    vm_id: Some(id.into()),
                    cause: "connection refused".into(),
                    sql_state: None,
                    retry: Retry::Transient,
                });
            }
            Err(DatabaseError::MachineNotFound { vm_id: id.into() })
        })
    }
    fn get_firewall_rule_set_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        self.inner.get_firewall_rule_set_id(id)
    }
    fn get_machine_internal_name<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        self.inner.get_machine_internal_name(id)
    }
}

#[tokio::test]
async fn a_machine_the_rule_lookup_cannot_find_has_no_rules_and_other_errors_still_fail() {
    if !qemu_img_available() {
        return;
    }
    // Spec §5.5 step 7: the rule lookup's MACHINE_NOT_FOUND means "no rules"; it used
    // to abort create and start with DATABASE_ERROR.
    let mut f = Full::new("no-rules").await;
    let store = TweakedStore::new(f.store.clone(), "sqlite", true);
    f.store = store.clone();
    let m = f.manager();
    let r = m.create(&f.config()).await.unwrap();
    assert!(f.net.calls().contains(&format!("apply {VM}")));
    m.stop(VM, super::vm::StopConfig { graceful: false, timeout: Duration::from_secs(3), force: true }).await.unwrap();
    assert!(!crate::qemu::pid::pid_alive(r.pid));
    let started = m.start_detailed(VM).await.unwrap().1.unwrap();
    m.stop(VM, super::vm::StopConfig { graceful: false, timeout: Duration::from_secs(3), force: true }).await.unwrap();
    assert!(!crate::qemu::pid::pid_alive(started.pid));
    // Any other database error still fails the start.
    store.down.store(true, Ordering::SeqCst);
    let e = m.start(VM).await.unwrap_err();
    assert_eq!(crate::error::ErrorShape::code(&e), "DATABASE_ERROR");
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn start_restores_a_stopped_vm_and_two_managers_start_it_once() {
    if !qemu_img_available() {
        return;
    }
    let f = Full::new("start").await;
    let m = f.manager();
    let r = m.create(&f.config()).await.unwrap();
    m.stop(VM, super::vm::StopConfig { graceful: false, timeout: Duration::from_secs(3), force: true }).await.unwrap();
    assert_eq!(f.status().await, "off");

    let (a, b) = (f.manager(), f.manager());
    let (ra, rb) = tokio::join!(a.start_detailed(VM), b.start_detailed(VM));
    // One starts it; the other finds it running (spec answer) or loses the claim.
    let started: Vec<_> = [&ra, &rb].iter().filter_map(|r| r.as_ref().ok().and_then(|(_, s)| s.clone())).collect();
    assert_eq!(started.len(), 1, "exactly one QEMU started: {ra:?} / {rb:?}");
    for r in [&ra, &rb] {
        if let Err(e) = r {
            assert!(["CONCURRENT_MODIFICATION", "INVALID_STATE"].contains(&crate::error::ErrorShape::code(e)), "{e}");
        }
    }
    assert_eq!(f.status().await, "running");
    assert!(crate::qemu::pid::pid_alive(started[0].pid));
    assert!(Path::new(&r.disk_paths[0]).exists());
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn a_running_vm_is_stopped_and_released_while_the_store_is_down() {
    let f = fixture("stop-down", "running");
    let pidfile = f.dir.join("pids/vm-x.pid");
    let mut qemu = fake_qemu(&pidfile, VM);
    let process = Arc::new(QemuProcess::new(VM));
    process.set_pidfile(&pidfile);
    assert_eq!(process.attach(None).await.unwrap(), Some(pid_of(&qemu)));
    let hold = HostHold {
        name: "Desk".into(),
        internal_name: "vm-x".into(),
        tap: Some("vnet-550e8400e2".into()),
        pidfile: Some(pidfile.clone()),
        pid: Some(pid_of(&qemu)),
        ..HostHold::default()
    };
    f.lifecycle.register_live(VM, process, None, hold, Arc::default());

    f.store.down.store(true, Ordering::SeqCst);
    let r = f.lifecycle.stop(VM, super::vm::StopConfig { graceful: true, timeout: Duration::from_millis(500), force: true }).await.unwrap();
    assert_eq!(r.forced, Some(true), "no monitor: the graceful part times out, then the kill");
    assert!(exited(&mut qemu));
    assert_eq!(f.net.calls(), ["detach vnet-550e8400e2", "undispatch 550e8400-e29b-41d4-a716-446655440000"]);
    assert!(!pidfile.exists());
    assert_eq!(f.store.status(VM).as_deref(), Some("running"), "not written yet");
    assert!(f.lifecycle.pending_writes(VM) > 0);

    f.store.down.store(false, Ordering::SeqCst);
    for _ in 0..200 {
        if f.lifecycle.pending_writes(VM) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(f.store.status(VM).as_deref(), Some("off"));
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn a_create_whose_claim_fails_makes_nothing_and_undoes_nothing() {
    let f = Full::new("claim").await;
    // The row refuses `starting` (as a claim lost to another manager would).
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(f.dir.join("state.db"));
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    sqlx::query("CREATE TRIGGER refuse_claim BEFORE UPDATE OF status ON Machine WHEN NEW.status = 'starting' BEGIN SELECT RAISE(ABORT, 'claim refused'); END")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // A TAP of this VM's name already there (not this create's to remove).
    f.net.taps.lock().unwrap().insert(crate::network::link::names::tap_for_vm(VM).unwrap().to_string());

    let e = f.manager().create(&f.config()).await.unwrap_err();
    assert_eq!(crate::error::ErrorShape::code(&e), "DATABASE_ERROR", "{e}");
    assert!(f.net.calls().is_empty(), "no TAP, chain or dispatch made or removed: {:?}", f.net.calls());
    assert!(f.net.tap_exists(crate::network::link::names::tap_for_vm(VM).unwrap().as_ref()));
    assert_eq!(f.status().await, "off", "the row is left as it was");
    assert!(std::fs::read_dir(f.dir.join("disks")).map_or(true, |mut d| d.next().is_none()), "no disk made");
    assert!(journal::load(&f.dir.join("pids"), VM).is_none(), "no journal left to replay");
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn an_interrupted_create_finds_its_qemu_by_the_identity_record() {
    let f = fixture("create-id", "starting");
    let pidfile = f.dir.join("pids/vm-x.pid");
    let mut qemu = fake_qemu(&pidfile, VM);
    let mut entry = create_entry(&f, &qemu);
    // The journal holds the plan only; the PID and start time are beside the pidfile.
    let (pid, start_time) = entry.qemu.take().unwrap();
    identity::save(&pidfile, &identity::Recorded { vm_id: VM.into(), pid, start_time, uuid: Some(VM.into()) }).unwrap();
    std::fs::remove_file(&pidfile).unwrap(); // killed before QEMU's own pidfile was read back
    Journal::begin(&f.dir.join("pids"), entry).unwrap();

    let _guard = f.lifecycle.lock(VM).await.unwrap();

    assert!(exited(&mut qemu), "the create's QEMU, known by its identity record only, was killed");
    assert!(!identity::record_path(&pidfile).exists(), "identity record removed with the pidfile");
    assert_eq!(f.store.status(VM).as_deref(), Some("off"));
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn start_makes_a_tap_of_the_wrong_queue_mode_anew_and_its_rollback_removes_it() {
    if !qemu_img_available() {
        return;
    }
    let f = Full::new("mq").await;
    let m = f.manager();
    let stop = || super::vm::StopConfig { graceful: false, timeout: Duration::from_secs(3), force: true };
    let mut config = f.config();
    config.cpu_cores = Some(2.0);
    let r = m.create(&config).await.unwrap();
    let tap = r.tap_device.clone();
    let mq = |f: &Full| f.net.multi_queue.lock().unwrap().get(&tap).copied();
    assert_eq!(mq(&f), Some(true), "2 cores: QEMU opens 2 queues, the TAP is multi-queue");
    m.stop(VM, stop()).await.unwrap();

    // The stored TAP suits QEMU: reused (attached, not made anew).
    let before = f.net.calls().len();
    m.start(VM).await.unwrap();
    let calls = f.net.calls()[before..].to_vec();
    assert!(calls.contains(&format!("attach {tap}")) && !calls.iter().any(|c| c.starts_with("create") || c.starts_with("destroy")), "{calls:?}");
    m.stop(VM, stop()).await.unwrap();

    // A single-queue TAP under the VM's name (an older version made it): removed and
    // made multi-queue, then configured as a new TAP.
    f.net.multi_queue.lock().unwrap().insert(tap.clone(), false);
    let before = f.net.calls().len();
    m.start(VM).await.unwrap();
    let calls = f.net.calls()[before..].to_vec();
    let at = |what: &str| calls.iter().position(|c| c == &format!("{what} {tap}")).unwrap_or_else(|| panic!("no {what}: {calls:?}"));
    assert!(at("destroy") < at("create") && at("create") < at("configure"), "{calls:?}");
    assert!(!calls.contains(&format!("attach {tap}")));
    assert_eq!(mq(&f), Some(true));
    m.stop(VM, stop()).await.unwrap();

    // A start that makes the TAP anew and then fails removes the TAP it made (it is
    // this start's, not a reused one that is only detached).
    f.net.multi_queue.lock().unwrap().insert(tap.clone(), false);
    f.launcher.fail_finish.store(true, Ordering::SeqCst);
    let before = f.net.calls().len();
    let e = m.start(VM).await.unwrap_err();
    assert_eq!(crate::error::ErrorShape::code(&e), "QMP_ERROR");
    let calls = f.net.calls()[before..].to_vec();
    assert_eq!(calls.iter().filter(|c| **c == format!("destroy {tap}")).count(), 2, "the old TAP, then the new one on rollback: {calls:?}");
    assert!(calls.contains(&format!("down {tap}")) && !calls.contains(&format!("detach {tap}")), "{calls:?}");
    assert!(!f.net.tap_exists(&tap));
    assert_eq!(f.status().await, "error");
    assert!(journal::load(&f.dir.join("pids"), VM).is_none());
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[tokio::test]
async fn a_create_that_fails_before_its_claim_marks_error_only_over_the_row_it_read() {
    // On a store other hosts' managers share, a create that fails before its claim
    // (here: its disk exists, as on shared storage) must not overwrite what another
    // manager made of the row meanwhile.
    let mut f = Full::new("pre-claim").await;
    let store = TweakedStore::new(f.store.clone(), "postgres", false);
    f.store = store.clone();
    let disk = f.dir.join("disks").join("vm-desk.qcow2");
    std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
    std::fs::write(&disk, b"another manager's disk").unwrap();
    let conf = MachineConfigUpdate::from_json(&serde_json::json!({ "tapDeviceName": "vnet-peer" })).unwrap();
    f.store.update_machine_configuration(VM, &conf).await.unwrap();

    store.peer_claim.store(true, Ordering::SeqCst);
    let e = f.manager().create(&f.config()).await.unwrap_err();
    store.peer_claim.store(false, Ordering::SeqCst);
    assert_eq!(crate::error::ErrorShape::code(&e), "DISK_ERROR", "{e}");
    assert_eq!(f.status().await, "starting", "the other manager's claim stands");
    let row = f.store.find_machine_with_config(VM).await.unwrap().unwrap();
    assert_eq!(row.configuration.and_then(|c| c.tap_device_name).as_deref(), Some("vnet-peer"), "its settings are kept");
    assert_eq!(std::fs::read(&disk).unwrap(), b"another manager's disk");
    assert!(f.net.calls().is_empty(), "{:?}", f.net.calls());

    // Nobody else touched the row: the failure leaves `error` (spec §5.11).
    f.store.update_machine_status(VM, &VmStatus::Off).await.unwrap();
    let e = f.manager().create(&f.config()).await.unwrap_err();
    assert_eq!(crate::error::ErrorShape::code(&e), "DISK_ERROR", "{e}");
    assert_eq!(f.status().await, "error");
    assert!(journal::load(&f.dir.join("pids"), VM).is_none());
    let _ = std::fs::remove_dir_all(&f.dir);
}
