//! `StateSync` (spec §10.1): QMP run state → database status, and the status helpers
//! the event handler and the crash handling build on.

use std::sync::Arc;

use serde_json::{json, Value};

use super::emit::{date, now_ms, StatusSource};
use super::error::{DatabaseError, StateError, SyncErrorCode};
use super::queue::{PendingWrite, RetryPolicy, Submitted, WriteQueue};
use super::records::RuntimeRecord;
use super::status::{db_status_for_qmp, Reason, VmStatus};
use super::store::{StatusChange, Store};

const LOG: &str = "infinivirt:state-sync";
/// The status a `SyncResult` reports when the store could not tell.
const UNKNOWN: &str = "unknown";

/// `SyncResult` (spec §17.7).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub success: bool,
    pub vm_id: String,
    pub previous_status: VmStatus,
    pub new_status: VmStatus,
    /// Time of the call, ms since the epoch.
    pub timestamp: f64,
    pub error: Option<SyncErrorCode>,
}

impl SyncResult {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "success": self.success,
            "vmId": self.vm_id,
            "previousStatus": self.previous_status.as_str(),
            "newStatus": self.new_status.as_str(),
            "timestamp": date(self.timestamp),
        });
        if let Some(e) = self.error {
            v["error"] = Value::from(e.as_str());
        }
        v
    }
}

/// `getVMInfo` (spec §10.1; `hasCpuPinning` reflects the stored pinning, §19 #7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    pub tap_device_name: Option<String>,
    pub has_cpu_pinning: bool,
}

pub struct StateSync {
    store: Arc<dyn Store>,
    /// Replaceable once ([`Self::share_queue`]): an event handler or health monitor
    /// made before the lifecycle moves onto the lifecycle's journaled queue.
    queue: std::sync::Mutex<Arc<WriteQueue>>,
}

impl StateSync {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_policy(store, RetryPolicy::default())
    }

    pub fn with_policy(store: Arc<dyn Store>, policy: RetryPolicy) -> Self {
        StateSync { queue: std::sync::Mutex::new(WriteQueue::new(store.clone(), policy)), store }
    }

    /// Over a queue made by the caller (e.g. `WriteQueue::with_journal`, so queued
    /// writes survive a restart); the store is the queue's.
    pub fn with_queue(queue: Arc<WriteQueue>) -> Self {
        StateSync { store: queue.store().clone(), queue: std::sync::Mutex::new(queue) }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn queue(&self) -> Arc<WriteQueue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// From now on writes go through `queue` (over the same store), so that they are
    /// journaled and ordered with the lifecycle's own. Writes still queued in the
    /// previous queue move over, in front (they are older).
    pub fn share_queue(&self, queue: Arc<WriteQueue>) {
        let old = std::mem::replace(&mut *self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner), queue.clone());
        if Arc::ptr_eq(&old, &queue) {
            return;
        }
        for (vm, writes) in old.take_all() {
            queue.requeue_front(&vm, writes);
        }
    }

    pub fn map_qmp_status(status: &str) -> VmStatus {
        db_status_for_qmp(status)
    }

    /// Spec `syncState`: store first (missing → `VM_NOT_FOUND`, failure → `DB_ERROR`),
    /// then QMP (`QMP_UNAVAILABLE`), then a write only when the mapped status differs.
    pub async fn sync_state(&self, vm: &str, qmp: &dyn StatusSource) -> SyncResult {
        let t = now_ms();
        let result = |success, prev: &VmStatus, new: &VmStatus, error| SyncResult {
            success,
            vm_id: vm.to_string(),
            previous_status: prev.clone(),
            new_status: new.clone(),
            timestamp: t,
            error,
        };
        let unknown = VmStatus::from(UNKNOWN);
        let previous = match self.store().find_machine(vm).await {
            Ok(Some(m)) => m.status,
            Ok(None) => return result(false, &unknown, &unknown, Some(SyncErrorCode::VM_NOT_FOUND)),
            Err(e) => {
                crate::log::log(LOG, &format!("syncState {vm}: {e}"));
                return result(false, &unknown, &unknown, Some(SyncErrorCode::DB_ERROR));
            }
        };
        let qmp_status = match qmp.query_status().await {
            Ok(s) => s,
            Err(e) => {
                crate::log::log(LOG, &format!("syncState {vm}: QMP unavailable: {e}"));
                return result(false, &previous, &previous, Some(SyncErrorCode::QMP_UNAVAILABLE));
            }
        };
        let mapped = db_status_for_qmp(&qmp_status);
        if mapped == previous {
            return result(true, &previous, &mapped, None);
        }
        let reason = Reason::QmpStatus { status: qmp_status.clone() };
        match self.store().update_status_with_reason(vm, &mapped, &reason).await {
            Ok(()) => result(true, &previous, &mapped, None),
            Err(e) => {
                crate::log::log(LOG, &format!("syncState {vm}: write failed: {e}"));
                result(false, &previous, &mapped, Some(SyncErrorCode::DB_ERROR))
            }
        }
    }

    /// Spec `updateVMStatus` = `db.updateMachineStatus`.
    pub async fn update_vm_status(&self, vm: &str, status: &VmStatus) -> Result<(), DatabaseError> {
        self.store().update_machine_status(vm, status).await
    }

    /// Spec `getVMStatus`: missing → `VM <id> not found`.
    pub async fn get_vm_status(&self, vm: &str) -> Result<VmStatus, StateError> {
        match self.store().find_machine(vm).await? {
            Some(m) => Ok(m.status),
            None => Err(StateError::VmNotFound { vm_id: vm.to_string() }),
        }
    }

    /// Spec `getVMPid`: among running VMs only.
    pub async fn get_vm_pid(&self, vm: &str) -> Result<Option<i64>, DatabaseError> {
        let running = self.store().find_running_vms().await?;
        Ok(running.into_iter().find(|r| r.id == vm).and_then(|r| r.configuration).and_then(|c| c.qemu_pid))
    }

    /// Spec `getVMInfo`: among running VMs only; `None` when not running.
    pub async fn get_vm_info(&self, vm: &str) -> Result<Option<VmInfo>, DatabaseError> {
        let running = self.store().find_running_vms().await?;
        Ok(running.into_iter().find(|r| r.id == vm).map(|r| VmInfo {
            tap_device_name: r.configuration.as_ref().and_then(|c| c.tap_device_name.clone()),
            has_cpu_pinning: r.configuration.as_ref().is_some_and(|c| c.has_cpu_pinning()),
        }))
    }

    /// The runtime columns of `vm` whatever its status (native stores), or among the
    /// running VMs (plain adapters): what a cleanup must release, read before the
    /// status flips.
    pub async fn capture(&self, vm: &str) -> Result<Option<RuntimeRecord>, DatabaseError> {
        self.store().find_runtime(vm).await
    }

    pub async fn clear_volatile(&self, vm: &str) -> Result<(), DatabaseError> {
        self.store().clear_volatile_machine_configuration(vm).await
    }

    /// Spec `updateStatusDirect`, with writes the store could not take queued for retry.
    pub async fn update_status_direct(&self, vm: &str, status: &VmStatus, reason: Reason) -> SyncResult {
        let t = now_ms();
        let result = |success, prev: VmStatus, error| SyncResult {
            success,
            vm_id: vm.to_string(),
            previous_status: prev,
            new_status: status.clone(),
            timestamp: t,
            error,
        };
        match self.queue().submit(vm, PendingWrite::Direct { status: status.clone(), reason }).await {
            Submitted::Applied(StatusChange::Written { previous }) => result(true, previous, None),
            Submitted::Applied(StatusChange::Unchanged | StatusChange::Refused { .. }) => result(true, status.clone(), None),
            Submitted::Applied(StatusChange::NotFound) | Submitted::NotFound { .. } => result(false, UNKNOWN.into(), Some(SyncErrorCode::VM_NOT_FOUND)),
            Submitted::Queued { .. } => result(false, UNKNOWN.into(), Some(SyncErrorCode::DB_ERROR)),
        }
    }

    /// `update_status_direct` when the store was just seen unreachable: queued at once
    /// (no attempt that would wait out another connection timeout); `DB_ERROR`.
    pub fn defer_status_direct(&self, vm: &str, status: &VmStatus, reason: Reason) -> SyncResult {
        self.queue().defer(vm, PendingWrite::Direct { status: status.clone(), reason });
        SyncResult {
            success: false,
            vm_id: vm.to_string(),
            previous_status: UNKNOWN.into(),
            new_status: status.clone(),
            timestamp: now_ms(),
            error: Some(SyncErrorCode::DB_ERROR),
        }
    }

    /// An automatic transition (crash, shutdown seen by a watcher): conditional, never
    /// demoting `error`, queued when the store is away.
    pub async fn set_automatic(&self, vm: &str, status: &VmStatus, reason: Reason) -> Submitted {
        self.queue().submit(vm, PendingWrite::Automatic { status: status.clone(), reason }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::emit::BoxFuture;
    use crate::state::queue::tests::{rt, MemStore};
    use crate::state::records::MachineConfigurationRecord;

    struct Qmp(Result<String, String>);
    impl StatusSource for Qmp {
        fn query_status(&self) -> BoxFuture<'_, Result<String, String>> {
            let r = self.0.clone();
            Box::pin(async move { r })
        }
    }

    #[test]
    fn sync_state_results() {
        rt().block_on(async {
            let store = MemStore::with(&[("a", "running", None)]);
            let s = StateSync::new(store.clone());
            let r = s.sync_state("a", &Qmp(Ok("paused".into()))).await;
            assert_eq!((r.success, r.previous_status.as_str(), r.new_status.as_str(), r.error), (true, "running", "suspended", None));
            assert_eq!(store.status("a").as_deref(), Some("suspended"));
            let r = s.sync_state("a", &Qmp(Ok("paused".into()))).await;
            assert!(r.success);
            let r = s.sync_state("a", &Qmp(Err("not connected".into()))).await;
            assert_eq!((r.new_status.as_str(), r.error), ("suspended", Some(SyncErrorCode::QMP_UNAVAILABLE)));
            let r = s.sync_state("zz", &Qmp(Ok("running".into()))).await;
            assert_eq!((r.previous_status.as_str(), r.error), ("unknown", Some(SyncErrorCode::VM_NOT_FOUND)));
            store.down.store(true, std::sync::atomic::Ordering::SeqCst);
            let r = s.sync_state("a", &Qmp(Ok("running".into()))).await;
            assert_eq!(r.error, Some(SyncErrorCode::DB_ERROR));
            assert!(r.to_json()["timestamp"]["$date"].is_number());
        });
    }

    #[test]
    fn info_reflects_pinning_and_direct_updates() {
        rt().block_on(async {
            let cfg = MachineConfigurationRecord {
                qemu_pid: Some(7),
                tap_device_name: Some("vnet-a".into()),
                cpu_pinning: Some(json!({"cores": [1]})),
                ..Default::default()
            };
            let store = MemStore::with(&[("a", "running", Some(cfg))]);
            let s = StateSync::new(store.clone());
            assert_eq!(s.get_vm_pid("a").await.unwrap(), Some(7));
            assert_eq!(s.get_vm_info("a").await.unwrap(), Some(VmInfo { tap_device_name: Some("vnet-a".into()), has_cpu_pinning: true }));
            let r = s.update_status_direct("a", &VmStatus::Running, Reason::Event { event: "RESUME".into() }).await;
            assert!(r.success);
            let r = s.update_status_direct("a", &VmStatus::Off, Reason::GuestShutdown).await;
            assert_eq!((r.previous_status.as_str(), r.success), ("running", true));
            assert_eq!(s.get_vm_info("a").await.unwrap(), None);
            let r = s.update_status_direct("nope", &VmStatus::Off, Reason::GuestShutdown).await;
            assert_eq!(r.error, Some(SyncErrorCode::VM_NOT_FOUND));
            assert!(matches!(s.get_vm_status("nope").await, Err(StateError::VmNotFound { .. })));
        });
    }

    /// An event handler's writes queued in memory move onto the lifecycle's journaled
    /// queue when they are shared, and later writes go there too: a restart finds them.
    #[test]
    fn shared_queue_takes_the_queued_writes_and_journals_them() {
        use std::sync::atomic::Ordering::SeqCst;
        let dir = std::env::temp_dir().join(format!("iv-sync-share-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = MemStore::with(&[("a", "running", None)]);
        let slow = RetryPolicy { first_delay: std::time::Duration::from_secs(3600), ..RetryPolicy::default() };
        rt().block_on(async {
            store.down.store(true, SeqCst);
            let s = StateSync::with_policy(store.clone(), slow);
            s.defer_status_direct("a", &VmStatus::Suspended, Reason::Event { event: "STOP".into() });
            let shared = WriteQueue::with_journal(store.clone(), slow, dir.clone());
            s.share_queue(shared.clone());
            assert_eq!(shared.pending("a"), 1);
            let r = s.update_status_direct("a", &VmStatus::Error, Reason::Crash { detail: "gone".into() }).await;
            assert_eq!(r.error, Some(SyncErrorCode::DB_ERROR));
            assert_eq!(shared.pending("a"), 2);
            assert!(dir.join(super::super::queue::journal_file_name("a")).exists());
        });
        // "restarted": the next manager lands both, in order
        store.down.store(false, SeqCst);
        rt().block_on(async {
            let q = WriteQueue::with_journal(store.clone(), RetryPolicy::default(), dir.clone());
            assert_eq!(q.recover(), 2);
            assert!(q.wait_drained("a", std::time::Duration::from_secs(5)).await);
            let writes: Vec<String> = store.calls().into_iter().filter(|c| c.starts_with("updateMachineStatus")).collect();
            assert_eq!(writes[writes.len() - 2..], ["updateMachineStatus a suspended".to_string(), "updateMachineStatus a error".to_string()]);
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
