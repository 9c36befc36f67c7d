//! Tests of the write queue, and the in-memory store other tests use.

use super::*;
use crate::state::error::Retry;
use crate::state::records::*;
use crate::state::store::StoreFuture;
use std::sync::atomic::AtomicBool;

/// An in-memory store that can be switched "down" (transient failures).
#[derive(Default)]
pub(crate) struct MemStore {
    pub machines: Mutex<HashMap<String, (VmStatus, Option<MachineConfigurationRecord>)>>,
    pub down: AtomicBool,
    /// Refuses every call with a permanent error.
    pub broken: AtomicBool,
    pub log: Mutex<Vec<String>>,
}

impl MemStore {
    pub fn with(vms: &[(&str, &str, Option<MachineConfigurationRecord>)]) -> Arc<MemStore> {
        let s = MemStore::default();
        for (id, st, c) in vms {
            lock(&s.machines).insert(id.to_string(), (VmStatus::from(*st), c.clone()));
        }
        Arc::new(s)
    }
    fn check(&self, action: &'static str) -> Result<(), DatabaseError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(DatabaseError::Update { action, vm_id: None, cause: "connect ECONNREFUSED".into(), sql_state: None, retry: Retry::Transient });
        }
        if self.broken.load(Ordering::SeqCst) {
            return Err(DatabaseError::Update { action, vm_id: None, cause: "check constraint violated".into(), sql_state: None, retry: Retry::Permanent });
        }
        Ok(())
    }
    pub fn set(&self, id: &str, status: &str) {
        if let Some(m) = lock(&self.machines).get_mut(id) {
            m.0 = VmStatus::from(status);
        }
    }
    pub fn status(&self, id: &str) -> Option<String> {
        lock(&self.machines).get(id).map(|m| m.0.to_string())
    }
    pub fn calls(&self) -> Vec<String> {
        lock(&self.log).clone()
    }
}

impl Store for MemStore {
    fn kind(&self) -> &'static str {
        "js"
    }
    fn find_machine<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MachineRecord>> {
        Box::pin(async move {
            lock(&self.log).push(format!("findMachine {id}"));
            self.check("find machine")?;
            Ok(lock(&self.machines).get(id).map(|(s, _)| MachineRecord { id: id.into(), status: s.clone() }))
        })
    }
    fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a VmStatus) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            lock(&self.log).push(format!("updateMachineStatus {id} {status}"));
            self.check("update machine status")?;
            if let Some(m) = lock(&self.machines).get_mut(id) {
                m.0 = status.clone();
            }
            Ok(())
        })
    }
    fn find_running_vms(&self) -> StoreFuture<'_, Vec<RunningVmRecord>> {
        Box::pin(async move {
            lock(&self.log).push("findRunningVMs".into());
            self.check("find running VMs")?;
            Ok(lock(&self.machines)
                .iter()
                .filter(|(_, (s, _))| *s == VmStatus::Running)
                .map(|(id, (s, c))| RunningVmRecord { id: id.clone(), status: s.clone(), configuration: c.clone() })
                .collect())
        })
    }
    fn clear_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            lock(&self.log).push(format!("clearMachineConfiguration {id}"));
            self.check("clear machine configuration")?;
            if let Some((_, Some(c))) = lock(&self.machines).get_mut(id) {
                c.qemu_pid = None;
                c.tap_device_name = None;
                c.qmp_socket_path = None;
            }
            Ok(())
        })
    }
    fn clear_volatile_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            lock(&self.log).push(format!("clearVolatileMachineConfiguration {id}"));
            self.check("clear volatile machine configuration")?;
            if let Some((_, Some(c))) = lock(&self.machines).get_mut(id) {
                c.qemu_pid = None;
                c.qmp_socket_path = None;
            }
            Ok(())
        })
    }
    fn find_machine_with_config<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<VmConfigRecord>> {
        Box::pin(async move {
            // Down like every other call; otherwise not offered by this store.
            self.check("find machine with config")?;
            Err(DatabaseError::Unsupported { message: "no".into() })
        })
    }
    fn update_machine_configuration<'a>(&'a self, id: &'a str, update: &'a MachineConfigUpdate) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            lock(&self.log).push(format!("updateMachineConfiguration {id} {}", update.to_json()));
            self.check("update machine configuration")?;
            // Only the PID is kept (what the exit handling compares).
            if let (Some(pid), Some((_, c))) = (update.to_json().get("qemuPid").and_then(serde_json::Value::as_i64), lock(&self.machines).get_mut(id)) {
                c.get_or_insert_with(MachineConfigurationRecord::default).qemu_pid = Some(pid);
            }
            Ok(())
        })
    }
    fn transition_vm_status<'a>(&'a self, _: &'a str, _: &'a VmStatus, _: &'a VmStatus, _: i64) -> StoreFuture<'a, TransitionResult> {
        Box::pin(async { Err(DatabaseError::Unsupported { message: "no".into() }) })
    }
    fn get_firewall_rules<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Vec<FirewallRuleRecord>> {
        Box::pin(async { Ok(vec![]) })
    }
    fn get_firewall_rule_set_id<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }
    fn get_machine_internal_name<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async { Ok(None) })
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy { first_delay: Duration::from_millis(5), max_delay: Duration::from_millis(20), ..RetryPolicy::default() }
}

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn outage_queues_in_order_and_applies_when_back() {
    rt().block_on(async {
        let store = MemStore::with(&[("a", "running", None)]);
        let q = WriteQueue::new(store.clone(), fast());
        store.down.store(true, Ordering::SeqCst);
        let st = |s: &str| PendingWrite::Direct { status: s.into(), reason: Reason::Event { event: "X".into() } };
        assert!(matches!(q.submit("a", st("suspended")).await, Submitted::Queued { error: Some(_) }));
        assert!(matches!(q.submit("a", st("running")).await, Submitted::Queued { error: None }));
        assert!(matches!(q.submit("a", st("suspended")).await, Submitted::Queued { error: None }));
        assert_eq!(q.pending("a"), 3);
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.down.store(false, Ordering::SeqCst);
        for _ in 0..100 {
            if q.pending("a") == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(q.pending("a"), 0);
        assert_eq!(store.status("a").as_deref(), Some("suspended"));
        let writes: Vec<String> = store.calls().into_iter().filter(|c| c.starts_with("update") && !c.is_empty()).collect();
        let ok: Vec<&String> = writes.iter().rev().take(3).collect();
        assert_eq!(
            ok.into_iter().rev().cloned().collect::<Vec<_>>(),
            ["updateMachineStatus a suspended", "updateMachineStatus a running", "updateMachineStatus a suspended"]
        );
        // the lane is gone: the next write applies directly
        assert!(matches!(q.submit("a", st("running")).await, Submitted::Applied(StatusChange::Written { .. })));
    });
}

#[test]
fn automatic_writes_never_demote_error_and_missing_is_not_queued() {
    rt().block_on(async {
        let store = MemStore::with(&[("a", "error", None)]);
        let q = WriteQueue::new(store.clone(), fast());
        let w = PendingWrite::Automatic { status: "off".into(), reason: Reason::Killed };
        assert!(matches!(q.submit("a", w.clone()).await, Submitted::Applied(StatusChange::Refused { .. })));
        assert!(matches!(q.submit("zz", w).await, Submitted::Applied(StatusChange::NotFound)));
        assert_eq!(store.status("a").as_deref(), Some("error"));
        assert_eq!(q.pending_total(), 0);
    });
}

fn dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!("iv-queue-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = fs::remove_dir_all(&d);
    d
}

fn paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap()
}

fn st(s: &str) -> PendingWrite {
    PendingWrite::Direct { status: s.into(), reason: Reason::Event { event: "X".into() } }
}

fn auto(s: &str) -> PendingWrite {
    PendingWrite::Automatic { status: s.into(), reason: Reason::Crash { detail: "test".into() } }
}

fn files(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(d).map(|l| l.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn writes_after(store: &MemStore, from: usize) -> Vec<String> {
    store.calls()[from..].iter().filter(|c| !c.starts_with("find")).cloned().collect()
}

#[test]
fn pending_writes_round_trip_through_json() {
    let cfg = MachineConfigUpdate::from_json(&serde_json::json!({"qemuPid": 7, "qmpSocketPath": "/run/q.sock", "cpuPinning": {"cores": [1]}})).unwrap();
    let all = vec![
        st("running"),
        auto("off"),
        PendingWrite::ClearVolatile,
        PendingWrite::ClearConfig,
        PendingWrite::Status { status: "off".into() },
        PendingWrite::Config(cfg),
        PendingWrite::Direct { status: "error".into(), reason: Reason::QemuError { stderr: "x".into() } },
        PendingWrite::Direct { status: "off".into(), reason: Reason::Killed },
    ];
    let text = serde_json::to_string(&all).unwrap();
    assert_eq!(serde_json::from_str::<Vec<PendingWrite>>(&text).unwrap(), all);
    assert!(serde_json::from_str::<PendingWrite>(r#"{"config":{"nope":1}}"#).is_err());
}

/// The journal keeps a status as the plain string, unknown values included.
#[test]
fn pending_write_json_keeps_plain_status_strings() {
    let w = PendingWrite::Automatic { status: VmStatus::Off, reason: Reason::Killed };
    assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"automatic":{"status":"off","reason":"killed"}}"#);
    let odd = r#"{"status":{"status":"migrating"}}"#;
    let w: PendingWrite = serde_json::from_str(odd).unwrap();
    assert_eq!(w, PendingWrite::Status { status: VmStatus::Other("migrating".into()) });
    assert_eq!(serde_json::to_string(&w).unwrap(), odd);
}

#[test]
fn journal_file_names_are_safe() {
    assert_eq!(journal_file_name("4f1c-AB_9"), "vm-4f1c-AB_9.json");
    for bad in ["../../etc/passwd", "a/b", "", ".", "a.json", &"x".repeat(300)] {
        let n = journal_file_name(bad);
        assert!(n.starts_with("sha-") && n.len() == 4 + 64 + 5 && !n.contains('/'), "{bad}: {n}");
    }
    assert_ne!(journal_file_name("a/b"), journal_file_name("a/c"));
}

/// Writes queued while the store is down are journaled before `submit`/`defer`
/// return; a new queue over the same directory (a restarted manager) loads them and
/// lands them in order; the files go when the lanes are empty.
#[test]
fn journaled_writes_survive_a_restart_and_land_in_order() {
    let d = dir("restart");
    let store = MemStore::with(&[("a", "running", None), ("b/../x", "running", None)]);
    store.down.store(true, Ordering::SeqCst);
    let cfg = MachineConfigUpdate::from_json(&serde_json::json!({"qemuPid": 42, "tapDeviceName": "vnet-a"})).unwrap();
    // first process: a slow first retry, so nothing lands before it "dies"
    let slow = RetryPolicy { first_delay: Duration::from_secs(3600), ..RetryPolicy::default() };
    rt().block_on(async {
        let q = WriteQueue::with_journal(store.clone(), slow, d.clone());
        assert!(matches!(q.submit("a", st("suspended")).await, Submitted::Queued { error: Some(_) }));
        q.defer("a", PendingWrite::Status { status: "running".into() });
        assert!(matches!(q.submit("a", PendingWrite::Config(cfg.clone())).await, Submitted::Queued { error: None }));
        q.defer("a", PendingWrite::ClearConfig);
        q.defer("b/../x", auto("off"));
        assert_eq!(q.pending("a"), 4);
        let name = journal_file_name("a");
        assert_eq!(files(&d), [journal_file_name("b/../x"), name.clone()]);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&d).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(d.join(&name)).unwrap().permissions().mode() & 0o777, 0o600);
        let on_disk: serde_json::Value = serde_json::from_slice(&fs::read(d.join(&name)).unwrap()).unwrap();
        assert_eq!(on_disk["vm"], "a");
        assert_eq!(on_disk["writes"].as_array().unwrap().len(), 4);
        assert_eq!(on_disk["writes"][0]["attempts"], 1);
    });
    // the runtime is gone with its drain tasks: the process "died"
    store.down.store(false, Ordering::SeqCst);
    let from = store.calls().len();
    rt().block_on(async {
        let q = WriteQueue::with_journal(store.clone(), fast(), d.clone());
        assert_eq!(q.recover(), 5);
        assert_eq!(
            q.pending_writes("a"),
            [st("suspended"), PendingWrite::Status { status: "running".into() }, PendingWrite::Config(cfg), PendingWrite::ClearConfig]
        );
        assert!(q.wait_drained("a", Duration::from_secs(5)).await);
        assert!(q.wait_drained("b/../x", Duration::from_secs(5)).await);
        let mut a: Vec<String> = writes_after(&store, from).into_iter().filter(|c| c.ends_with(" a") || c.contains(" a ")).collect();
        a.dedup();
        assert_eq!(
            a,
            [
                "updateMachineStatus a suspended",
                "updateMachineStatus a running",
                "updateMachineConfiguration a {\"qemuPid\":42,\"tapDeviceName\":\"vnet-a\"}",
                "clearMachineConfiguration a"
            ]
        );
        assert_eq!(store.status("b/../x").as_deref(), Some("off"));
        assert!(files(&d).is_empty(), "{:?}", files(&d));
        // nothing left to recover
        assert_eq!(WriteQueue::with_journal(store.clone(), fast(), d.clone()).recover(), 0);
    });
    let _ = fs::remove_dir_all(&d);
}

/// A transient failure is retried with no time limit (here well beyond the old
/// ten-minute cut-off), the backoff capped at `max_delay`.
#[test]
fn transient_failures_are_retried_without_a_time_limit() {
    paused().block_on(async {
        let store = MemStore::with(&[("a", "running", None)]);
        store.down.store(true, Ordering::SeqCst);
        let q = WriteQueue::new(store.clone(), RetryPolicy::default());
        assert!(matches!(q.submit("a", st("off")).await, Submitted::Queued { error: Some(_) }));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(q.pending("a"), 1);
        let attempts = store.calls().iter().filter(|c| c.starts_with("findMachine")).count();
        // one hour at a 5 s cap: about 720 attempts
        assert!((600..=800).contains(&attempts), "{attempts}");
        store.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(q.pending("a"), 0);
        assert_eq!(store.status("a").as_deref(), Some("off"));
    });
    // an explicit limit still applies
    paused().block_on(async {
        let store = MemStore::with(&[("a", "running", None)]);
        store.down.store(true, Ordering::SeqCst);
        let q = WriteQueue::new(store.clone(), RetryPolicy { max_age: Some(Duration::from_secs(60)), ..RetryPolicy::default() });
        q.defer("a", st("off"));
        tokio::time::sleep(Duration::from_secs(70)).await;
        assert_eq!(q.pending("a"), 0);
        assert_eq!(store.status("a").as_deref(), Some("running"));
    });
}

#[test]
fn permanent_failures_are_dropped_after_the_attempts() {
    paused().block_on(async {
        let d = dir("perm");
        let store = MemStore::with(&[("a", "running", None)]);
        store.broken.store(true, Ordering::SeqCst);
        let q = WriteQueue::with_journal(store.clone(), RetryPolicy::default(), d.clone());
        assert!(matches!(q.submit("a", PendingWrite::Status { status: "off".into() }).await, Submitted::Queued { error: Some(_) }));
        assert_eq!(files(&d).len(), 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(q.pending("a"), 0);
        assert_eq!(store.calls().len(), 3, "{:?}", store.calls());
        assert!(files(&d).is_empty());
        let _ = fs::remove_dir_all(&d);
    });
}

/// A full lane coalesces a status write a later one makes redundant, else drops the
/// oldest write; the journal follows.
#[test]
fn a_full_lane_coalesces_then_drops_the_oldest() {
    let d = dir("cap");
    rt().block_on(async {
        let store = MemStore::with(&[("a", "running", None)]);
        store.down.store(true, Ordering::SeqCst);
        let policy = RetryPolicy { first_delay: Duration::from_secs(3600), per_vm: 4, ..RetryPolicy::default() };
        let q = WriteQueue::with_journal(store.clone(), policy, d.clone());
        for w in [auto("off"), st("running"), PendingWrite::ClearVolatile, auto("error")] {
            q.defer("a", w);
        }
        assert_eq!(q.pending("a"), 4);
        // auto("off") is made redundant by the unconditional write after it
        q.defer("a", PendingWrite::Status { status: "off".into() });
        assert_eq!(q.pending_writes("a"), [st("running"), PendingWrite::ClearVolatile, auto("error"), PendingWrite::Status { status: "off".into() }]);
        // auto("error") is made redundant by Status off
        q.defer("a", PendingWrite::ClearConfig);
        assert_eq!(
            q.pending_writes("a"),
            [st("running"), PendingWrite::ClearVolatile, PendingWrite::Status { status: "off".into() }, PendingWrite::ClearConfig]
        );
        // nothing redundant any more: the oldest goes
        q.defer("a", auto("running"));
        let expect = [PendingWrite::ClearVolatile, PendingWrite::Status { status: "off".into() }, PendingWrite::ClearConfig, auto("running")];
        assert_eq!(q.pending_writes("a"), expect);
        let on_disk: JournalFile = serde_json::from_slice(&fs::read(d.join(journal_file_name("a"))).unwrap()).unwrap();
        assert_eq!(on_disk.writes.into_iter().map(|w| w.write).collect::<Vec<_>>(), expect);
    });
    let _ = fs::remove_dir_all(&d);
}

/// Unreadable journal files are renamed aside with a warning, interrupted temporary
/// files are removed, and the good files still load.
#[test]
fn corrupt_journal_files_are_set_aside() {
    let d = dir("corrupt");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join(journal_file_name("x")), b"{\"version\":1,\"vm\":\"x\",\"wri").unwrap();
    // a valid file under another VM's name
    fs::write(d.join(journal_file_name("y")), br#"{"version":1,"vm":"z","writes":[{"write":"clearVolatile","attempts":0}]}"#).unwrap();
    fs::write(d.join(journal_file_name("v")), br#"{"version":99,"vm":"v","writes":[]}"#).unwrap();
    fs::write(d.join(format!("{}.tmp", journal_file_name("a"))), b"partial").unwrap();
    fs::write(d.join("README"), b"not a journal").unwrap();
    fs::write(
        d.join(journal_file_name("a")),
        br#"{"version":1,"vm":"a","writes":[{"write":{"status":{"status":"off"}},"attempts":3},{"write":"clearConfig","attempts":0}]}"#,
    )
    .unwrap();
    rt().block_on(async {
        let store = MemStore::with(&[("a", "running", None)]);
        let q = WriteQueue::with_journal(store.clone(), fast(), d.clone());
        assert_eq!(q.recover(), 2);
        assert!(q.wait_drained("a", Duration::from_secs(5)).await);
        assert_eq!(writes_after(&store, 0), ["updateMachineStatus a off", "clearMachineConfiguration a"]);
    });
    let left = files(&d);
    assert_eq!(left.iter().filter(|f| f.contains(".corrupt-")).count(), 3, "{left:?}");
    assert!(left.contains(&"README".to_string()));
    assert_eq!(left.len(), 4, "{left:?}");
    let _ = fs::remove_dir_all(&d);
}

/// Held writes are journaled but do not land until the hold ends, also when a drain
/// was already retrying the lane; a process that dies while holding them leaves them
/// in the journal for the next start.
#[test]
fn held_writes_land_only_after_the_hold() {
    let d = dir("hold");
    let store = MemStore::with(&[("a", "running", None), ("b", "running", None)]);
    rt().block_on(async {
        let q = WriteQueue::with_journal(store.clone(), fast(), d.clone());
        let h = q.hold("a");
        q.submit_durably("a", vec![auto("off")]);
        assert!(matches!(q.submit("a", PendingWrite::ClearVolatile).await, Submitted::Queued { error: None }));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.status("a").as_deref(), Some("running"));
        assert_eq!(q.pending("a"), 2);
        assert_eq!(files(&d), [journal_file_name("a")]);
        drop(h);
        assert!(q.wait_drained("a", Duration::from_secs(5)).await);
        assert_eq!(store.status("a").as_deref(), Some("off"));
        assert!(files(&d).is_empty(), "{:?}", files(&d));
        // the lane is gone: the next write applies directly
        assert!(matches!(q.submit("a", st("running")).await, Submitted::Applied(_)));

        // a hold taken while the drain retries an outage: the drain stops at the
        // hold, the release starts it again
        store.down.store(true, Ordering::SeqCst);
        assert!(matches!(q.submit("b", st("suspended")).await, Submitted::Queued { error: Some(_) }));
        let h = q.hold("b");
        store.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(store.status("b").as_deref(), Some("running"));
        drop(h);
        assert!(q.wait_drained("b", Duration::from_secs(5)).await);
        assert_eq!(store.status("b").as_deref(), Some("suspended"));
        // a hold with nothing queued leaves no lane behind
        drop(q.hold("b"));
        assert_eq!(q.pending_total(), 0);
        assert!(matches!(q.submit("b", st("running")).await, Submitted::Applied(_)));
    });
    // died while holding: the next process lands the writes
    rt().block_on(async {
        let q = WriteQueue::with_journal(store.clone(), fast(), d.clone());
        let h = q.hold("a");
        q.submit_durably("a", vec![auto("off")]);
        std::mem::forget(h);
    });
    assert_eq!(store.status("a").as_deref(), Some("running"));
    rt().block_on(async {
        let q = WriteQueue::with_journal(store.clone(), fast(), d.clone());
        assert_eq!(q.recover(), 1);
        assert!(q.wait_drained("a", Duration::from_secs(5)).await);
        assert_eq!(store.status("a").as_deref(), Some("off"));
    });
    let _ = fs::remove_dir_all(&d);
}
