//! Writes that must not be lost: a status write (or the clearing of a VM's runtime
//! columns) that fails because the store is unreachable is queued per VM, bounded and
//! in order, and retried with backoff until it lands; later writes for the same VM
//! queue behind it, so the database sees the transitions in the order they happened.
//!
//! Callers serialise their own writes per VM (one event worker, one crash task); the
//! queue's job is only to keep order across a store outage.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::DatabaseError;
use super::status::Reason;
use super::store::{StatusChange, Store};

const LOG: &str = "infinivirt:state-sync";

/// One write to make.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingWrite {
    /// Spec `updateStatusDirect`: read the status, write it if it differs.
    Direct { status: String, reason: Reason },
    /// An automatic transition: never demotes `error` (`Store::set_status_automatic`).
    Automatic { status: String, reason: Reason },
    /// `clearVolatileMachineConfiguration`.
    ClearVolatile,
    /// `clearMachineConfiguration` (an undone create).
    ClearConfig,
}

/// Retry limits of queued writes.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A write the store keeps refusing for a non-transient reason is dropped after
    /// this many attempts.
    pub permanent_attempts: u32,
    /// A write still failing this long after its first failure is dropped (logged).
    pub max_age: Duration,
    /// Queued writes per VM; beyond it the oldest is dropped (logged).
    pub per_vm: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            permanent_attempts: 3,
            max_age: Duration::from_secs(600),
            per_vm: 256,
        }
    }
}

/// What happened to a submitted write.
#[derive(Debug)]
pub enum Submitted {
    /// Applied now.
    Applied(StatusChange),
    /// Not applied yet: queued for retry (`error` is why the attempt failed, `None` when
    /// it queued behind earlier writes without an attempt).
    Queued { error: Option<DatabaseError> },
    /// The store answered that the machine does not exist (or, for a plain adapter,
    /// threw an error saying so); nothing is queued.
    NotFound { error: Option<DatabaseError> },
}

struct Entry {
    write: PendingWrite,
    first_failure: Instant,
    attempts: u32,
}

#[derive(Default)]
struct Lane {
    pending: VecDeque<Entry>,
    draining: bool,
}

pub struct WriteQueue {
    store: Arc<dyn Store>,
    lanes: Mutex<HashMap<String, Lane>>,
    policy: RetryPolicy,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WriteQueue {
    pub fn new(store: Arc<dyn Store>, policy: RetryPolicy) -> Arc<Self> {
        Arc::new(WriteQueue { store, lanes: Mutex::new(HashMap::new()), policy })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Writes queued (not yet applied) for `vm`.
    pub fn pending(&self, vm: &str) -> usize {
        lock(&self.lanes).get(vm).map_or(0, |l| l.pending.len())
    }

    /// Writes queued for every VM.
    pub fn pending_total(&self) -> usize {
        lock(&self.lanes).values().map(|l| l.pending.len()).sum()
    }

    /// Applies `write` now, or queues it when earlier writes for `vm` are still queued
    /// or the attempt fails.
    pub async fn submit(self: &Arc<Self>, vm: &str, write: PendingWrite) -> Submitted {
        {
            let mut lanes = lock(&self.lanes);
            if let Some(lane) = lanes.get_mut(vm).filter(|l| l.draining) {
                Self::push(lane, vm, Entry { write, first_failure: Instant::now(), attempts: 0 }, self.policy.per_vm);
                return Submitted::Queued { error: None };
            }
        }
        match self.apply(vm, &write).await {
            Ok(change) => Submitted::Applied(change),
            Err(e) if e.mentions_not_found() && !e.is_transient() => Submitted::NotFound { error: Some(e) },
            Err(e) => {
                crate::log::log(LOG, &format!("VM {vm}: write queued after failure: {e}"));
                let start = {
                    let mut lanes = lock(&self.lanes);
                    let lane = lanes.entry(vm.to_string()).or_default();
                    lane.pending.push_front(Entry { write, first_failure: Instant::now(), attempts: 1 });
                    let start = !lane.draining;
                    lane.draining = true;
                    start
                };
                if start {
                    self.spawn_drain(vm.to_string());
                }
                Submitted::Queued { error: Some(e) }
            }
        }
    }

    /// Queues `write` without trying it now (the caller just saw the store fail).
    pub fn defer(self: &Arc<Self>, vm: &str, write: PendingWrite) -> Submitted {
        let start = {
            let mut lanes = lock(&self.lanes);
            let lane = lanes.entry(vm.to_string()).or_default();
            Self::push(lane, vm, Entry { write, first_failure: Instant::now(), attempts: 0 }, self.policy.per_vm);
            let start = !lane.draining;
            lane.draining = true;
            start
        };
        if start {
            self.spawn_drain(vm.to_string());
        }
        Submitted::Queued { error: None }
    }

    fn push(lane: &mut Lane, vm: &str, e: Entry, cap: usize) {
        if lane.pending.len() >= cap {
            if let Some(old) = lane.pending.pop_front() {
                crate::log::warn("state-sync", &format!("VM {vm}: write queue full; dropping the oldest queued write {:?}", old.write));
            }
        }
        lane.pending.push_back(e);
    }

    async fn apply(&self, vm: &str, write: &PendingWrite) -> Result<StatusChange, DatabaseError> {
        match write {
            PendingWrite::Direct { status, reason } => {
                let Some(m) = self.store.find_machine(vm).await? else { return Ok(StatusChange::NotFound) };
                if &m.status == status {
                    return Ok(StatusChange::Unchanged);
                }
                self.store.update_status_with_reason(vm, status, reason).await?;
                Ok(StatusChange::Written { previous: m.status })
            }
            PendingWrite::Automatic { status, reason } => self.store.set_status_automatic(vm, status, reason).await,
            PendingWrite::ClearVolatile => {
                self.store.clear_volatile_machine_configuration(vm).await?;
                Ok(StatusChange::Unchanged)
            }
            PendingWrite::ClearConfig => {
                self.store.clear_machine_configuration(vm).await?;
                Ok(StatusChange::Unchanged)
            }
        }
    }

    fn spawn_drain(self: &Arc<Self>, vm: String) {
        let me = self.clone();
        tokio::spawn(async move { me.drain(vm).await });
    }

    /// Retries the queued writes of `vm` in order until the lane is empty.
    async fn drain(self: Arc<Self>, vm: String) {
        let mut delay = self.policy.first_delay;
        loop {
            tokio::time::sleep(delay).await;
            let front = {
                let mut lanes = lock(&self.lanes);
                let Some(lane) = lanes.get_mut(&vm) else { return };
                match lane.pending.front() {
                    Some(e) => e.write.clone(),
                    None => {
                        lanes.remove(&vm);
                        return;
                    }
                }
            };
            let result = self.apply(&vm, &front).await;
            let mut lanes = lock(&self.lanes);
            let Some(lane) = lanes.get_mut(&vm) else { return };
            match result {
                Ok(change) => {
                    lane.pending.pop_front();
                    crate::log::log(LOG, &format!("VM {vm}: queued write {front:?} applied ({change:?})"));
                    delay = Duration::ZERO;
                }
                Err(e) => {
                    let Some(entry) = lane.pending.front_mut() else { continue };
                    entry.attempts += 1;
                    let attempts = entry.attempts;
                    let give_up = (!e.is_transient() && attempts >= self.policy.permanent_attempts) || entry.first_failure.elapsed() > self.policy.max_age;
                    if give_up {
                        lane.pending.pop_front();
                        crate::log::warn("state-sync", &format!("VM {vm}: giving up on write {front:?} after {attempts} attempts: {e}"));
                        delay = Duration::ZERO;
                    } else {
                        delay = if delay.is_zero() { self.policy.first_delay } else { (delay * 2).min(self.policy.max_delay) };
                    }
                }
            }
            if lane.pending.is_empty() {
                lanes.remove(&vm);
                return;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::state::error::Retry;
    use crate::state::records::*;
    use crate::state::store::StoreFuture;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An in-memory store that can be switched "down" (transient failures).
    #[derive(Default)]
    pub(crate) struct MemStore {
        pub machines: Mutex<HashMap<String, (String, Option<MachineConfigurationRecord>)>>,
        pub down: AtomicBool,
        pub log: Mutex<Vec<String>>,
    }

    impl MemStore {
        pub fn with(vms: &[(&str, &str, Option<MachineConfigurationRecord>)]) -> Arc<MemStore> {
            let s = MemStore::default();
            for (id, st, c) in vms {
                lock(&s.machines).insert(id.to_string(), (st.to_string(), c.clone()));
            }
            Arc::new(s)
        }
        fn check(&self, action: &'static str) -> Result<(), DatabaseError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(DatabaseError::Update { action, vm_id: None, cause: "connect ECONNREFUSED".into(), sql_state: None, retry: Retry::Transient });
            }
            Ok(())
        }
        pub fn set(&self, id: &str, status: &str) {
            if let Some(m) = lock(&self.machines).get_mut(id) {
                m.0 = status.to_string();
            }
        }
        pub fn status(&self, id: &str) -> Option<String> {
            lock(&self.machines).get(id).map(|m| m.0.clone())
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
        fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, ()> {
            Box::pin(async move {
                lock(&self.log).push(format!("updateMachineStatus {id} {status}"));
                self.check("update machine status")?;
                if let Some(m) = lock(&self.machines).get_mut(id) {
                    m.0 = status.to_string();
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
                    .filter(|(_, (s, _))| s == "running")
                    .map(|(id, (s, c))| RunningVmRecord { id: id.clone(), status: s.clone(), configuration: c.clone() })
                    .collect())
            })
        }
        fn clear_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
            self.clear_volatile_machine_configuration(id)
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
            Box::pin(async { Err(DatabaseError::Unsupported { message: "no".into() }) })
        }
        fn update_machine_configuration<'a>(&'a self, _: &'a str, _: &'a MachineConfigUpdate) -> StoreFuture<'a, ()> {
            Box::pin(async { Err(DatabaseError::Unsupported { message: "no".into() }) })
        }
        fn transition_vm_status<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str, _: i64) -> StoreFuture<'a, TransitionResult> {
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
}
