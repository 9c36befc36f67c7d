//! Writes that must not be lost: a status write (or a change of a VM's runtime columns)
//! that fails because the store is unreachable is queued per VM, bounded and in order,
//! and retried with backoff until it lands; later writes for the same VM queue behind
//! it, so the database sees the transitions in the order they happened.
//!
//! There is no time limit: a write the store refuses for a transient reason (the server
//! is down, restarting, shedding load) is retried for as long as it takes. Only a write
//! the store keeps refusing for a permanent reason is dropped, after
//! `RetryPolicy::permanent_attempts`, with a warning. A lane is bounded
//! (`RetryPolicy::per_vm`): when full, an older status write that a later one makes
//! redundant is coalesced into it, else the oldest write is dropped — both with a
//! warning, never silently.
//!
//! With a journal (`WriteQueue::with_journal`) every lane that holds queued writes is
//! also a file, `<dir>/<name from the VM id>.json`, rewritten atomically (temporary
//! file, fsync, rename, fsync of the directory) before `submit`/`defer` return and
//! whenever a write lands, and removed when the lane is empty. A restarted manager
//! calls `recover` once, before it submits writes, to load the lanes and land them.
//!
//! Callers serialise their own writes per VM (one event worker, one crash task); the
//! queue's job is only to keep order across a store outage.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::error::DatabaseError;
use super::records::MachineConfigUpdate;
use super::status::{Reason, VmStatus};
use super::store::{StatusChange, Store};

const LOG: &str = "infinivirt:state-sync";
const WARN: &str = "state-sync";
/// Version of the journal file format.
const JOURNAL_VERSION: u32 = 1;

/// One write to make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PendingWrite {
    /// Spec `updateStatusDirect`: read the status, write it if it differs.
    Direct { status: VmStatus, reason: Reason },
    /// An automatic transition: never demotes `error` (`Store::set_status_automatic`).
    Automatic { status: VmStatus, reason: Reason },
    /// `clearVolatileMachineConfiguration`.
    ClearVolatile,
    /// `clearMachineConfiguration` (PID, TAP device and QMP socket).
    ClearConfig,
    /// `updateMachineStatus`: unconditional. Applied, it reports
    /// `StatusChange::Written` with an empty `previous` (the store does not say).
    Status { status: VmStatus },
    /// `updateMachineConfiguration` with this update.
    Config(MachineConfigUpdate),
}

impl PendingWrite {
    /// A write whose outcome does not depend on the status before it: it sets it.
    fn sets_status(&self) -> bool {
        matches!(self, PendingWrite::Direct { .. } | PendingWrite::Status { .. })
    }

    fn writes_status(&self) -> bool {
        matches!(self, PendingWrite::Direct { .. } | PendingWrite::Automatic { .. } | PendingWrite::Status { .. })
    }

    /// Whether applying `self` and then `later` leaves the store as applying `later`
    /// alone does (so `self` may be dropped when a lane is full).
    fn superseded_by(&self, later: &PendingWrite) -> bool {
        use PendingWrite as W;
        (self.writes_status() && later.sets_status())
            || matches!((self, later), (W::ClearVolatile, W::ClearVolatile | W::ClearConfig) | (W::ClearConfig, W::ClearConfig))
    }
}

/// Retry limits of queued writes.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    /// Cap of the exponential backoff between attempts.
    pub max_delay: Duration,
    /// A write the store keeps refusing for a non-transient reason is dropped after
    /// this many attempts (logged).
    pub permanent_attempts: u32,
    /// `Some`: a write still failing this long after its first failure is dropped
    /// (logged). `None` (the default): transient failures are retried without limit.
    pub max_age: Option<Duration>,
    /// Queued writes per VM; beyond it a redundant status write is coalesced, else the
    /// oldest is dropped (logged).
    pub per_vm: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { first_delay: Duration::from_millis(100), max_delay: Duration::from_secs(5), permanent_attempts: 3, max_age: None, per_vm: 256 }
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
    /// Identifies the entry while the drain applies it (coalescing may remove it).
    seq: u64,
    write: PendingWrite,
    first_failure: Instant,
    attempts: u32,
}

#[derive(Default)]
struct Lane {
    pending: VecDeque<Entry>,
    draining: bool,
}

/// One journaled write.
#[derive(Serialize, Deserialize)]
struct JournalEntry {
    write: PendingWrite,
    attempts: u32,
}

/// A journal file: the whole pending lane of one VM, oldest first.
#[derive(Serialize, Deserialize)]
struct JournalFile {
    version: u32,
    vm: String,
    writes: Vec<JournalEntry>,
}

struct Journal {
    dir: PathBuf,
    /// Held from a lane's change until its file is written, so files are written in
    /// the order of the changes (lock order: `io`, then `lanes`).
    io: Mutex<()>,
}

pub struct WriteQueue {
    store: Arc<dyn Store>,
    lanes: Mutex<HashMap<String, Lane>>,
    policy: RetryPolicy,
    journal: Option<Journal>,
    seq: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The journal file name of `vm`: the id itself when it is short and made of
/// `[A-Za-z0-9_-]` only, else a SHA-256 of it (the file also records the id).
pub fn journal_file_name(vm: &str) -> String {
    let plain = !vm.is_empty() && vm.len() <= 128 && vm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        format!("vm-{vm}.json")
    } else {
        let digest = Sha256::digest(vm.as_bytes());
        format!("sha-{}.json", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// Writes `bytes` to `dir/name` atomically and durably, mode 0600.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

fn remove_durably(dir: &Path, name: &str) -> std::io::Result<()> {
    match fs::remove_file(dir.join(name)) {
        Ok(()) => fs::File::open(dir)?.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl WriteQueue {
    /// A queue kept in memory only: queued writes are lost with the process.
    pub fn new(store: Arc<dyn Store>, policy: RetryPolicy) -> Arc<Self> {
        Arc::new(WriteQueue { store, lanes: Mutex::new(HashMap::new()), policy, journal: None, seq: AtomicU64::new(0) })
    }

    /// A queue that journals every pending lane under `dir` (created 0700 when it is
    /// first needed), so queued writes survive a restart: call `recover` once at start.
    pub fn with_journal(store: Arc<dyn Store>, policy: RetryPolicy, dir: PathBuf) -> Arc<Self> {
        Arc::new(WriteQueue { store, lanes: Mutex::new(HashMap::new()), policy, journal: Some(Journal { dir, io: Mutex::new(()) }), seq: AtomicU64::new(0) })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The journal directory, when the queue has one.
    pub fn journal_dir(&self) -> Option<&Path> {
        self.journal.as_ref().map(|j| j.dir.as_path())
    }

    /// Writes queued (not yet applied) for `vm`.
    pub fn pending(&self, vm: &str) -> usize {
        lock(&self.lanes).get(vm).map_or(0, |l| l.pending.len())
    }

    /// The writes queued for `vm`, oldest first.
    pub fn pending_writes(&self, vm: &str) -> Vec<PendingWrite> {
        lock(&self.lanes).get(vm).map_or_else(Vec::new, |l| l.pending.iter().map(|e| e.write.clone()).collect())
    }

    /// Writes queued for every VM.
    pub fn pending_total(&self) -> usize {
        lock(&self.lanes).values().map(|l| l.pending.len()).sum()
    }

    /// Waits until nothing is queued for `vm`; `false` when `limit` passed first.
    pub async fn wait_drained(&self, vm: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.pending(vm) == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn entry(&self, write: PendingWrite, attempts: u32) -> Entry {
        Entry { seq: self.seq.fetch_add(1, Ordering::Relaxed), write, first_failure: Instant::now(), attempts }
    }

    /// Applies `write` now, or queues it when earlier writes for `vm` are still queued
    /// or the attempt fails. A queued write is journaled before this returns.
    pub async fn submit(self: &Arc<Self>, vm: &str, write: PendingWrite) -> Submitted {
        if lock(&self.lanes).get(vm).is_some_and(|l| !l.pending.is_empty()) {
            self.enqueue(vm, vec![self.entry(write, 0)], false);
            return Submitted::Queued { error: None };
        }
        match self.apply(vm, &write).await {
            Ok(change) => Submitted::Applied(change),
            Err(e) if e.mentions_not_found() && !e.is_transient() => Submitted::NotFound { error: Some(e) },
            Err(e) => {
                crate::log::log(LOG, &format!("VM {vm}: write {write:?} queued after failure: {e}"));
                // Writes queued meanwhile (by `defer`) came later: this one goes first.
                self.enqueue(vm, vec![self.entry(write, 1)], true);
                Submitted::Queued { error: Some(e) }
            }
        }
    }

    /// Queues `write` without trying it now (the caller just saw the store fail). The
    /// write is journaled before this returns.
    pub fn defer(self: &Arc<Self>, vm: &str, write: PendingWrite) -> Submitted {
        self.enqueue(vm, vec![self.entry(write, 0)], false);
        Submitted::Queued { error: None }
    }

    /// Loads every journaled lane under the journal directory into the queue (in front
    /// of anything queued meanwhile, as it is older) and starts landing them; returns
    /// how many writes it loaded. Unreadable files are renamed aside (`.corrupt-<ms>`)
    /// with a warning. Call it once, at start, before submitting writes, from within
    /// the tokio runtime. Without a journal it does nothing.
    pub fn recover(self: &Arc<Self>) -> usize {
        let Some(journal) = &self.journal else { return 0 };
        let dir = &journal.dir;
        let listing = match fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(e) => {
                crate::log::warn(WARN, &format!("cannot read the write journal {}: {e}", dir.display()));
                return 0;
            }
        };
        let mut names: Vec<String> = listing.filter_map(|d| d.ok()).filter_map(|d| d.file_name().into_string().ok()).collect();
        names.sort();
        let mut loaded = 0;
        for name in names {
            if name.ends_with(".json.tmp") {
                // A write interrupted before its rename: the previous file is complete.
                let _ = fs::remove_file(dir.join(&name));
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let file = match fs::read(dir.join(&name)).map_err(|e| e.to_string()).and_then(|b| Self::parse_journal(&name, &b)) {
                Ok(f) => f,
                Err(why) => {
                    let aside = format!("{name}.corrupt-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()));
                    let moved = fs::rename(dir.join(&name), dir.join(&aside))
                        .map_or_else(|e| format!("could not rename it aside: {e}"), |()| format!("renamed to {aside}"));
                    crate::log::warn(WARN, &format!("ignoring unreadable write journal {}: {why} ({moved})", dir.join(&name).display()));
                    continue;
                }
            };
            let entries: Vec<Entry> = file.writes.into_iter().map(|w| self.entry(w.write, w.attempts)).collect();
            loaded += entries.len();
            crate::log::log(LOG, &format!("VM {}: recovered {} queued writes from the journal", file.vm, entries.len()));
            self.enqueue(&file.vm, entries, true);
        }
        loaded
    }

    fn parse_journal(name: &str, bytes: &[u8]) -> Result<JournalFile, String> {
        let file: JournalFile = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != JOURNAL_VERSION {
            return Err(format!("unknown journal version {}", file.version));
        }
        if journal_file_name(&file.vm) != name {
            return Err(format!("the file names VM {:?}, which is not the VM of this file name", file.vm));
        }
        Ok(file)
    }

    /// Adds `entries` (in their order) at the front or back of `vm`'s lane, makes room
    /// first when the lane is full, journals the lane and starts its drain if needed.
    fn enqueue(self: &Arc<Self>, vm: &str, entries: Vec<Entry>, at_front: bool) {
        self.enqueue_with(vm, entries, at_front, self.policy.first_delay);
    }

    /// Journals `writes` (in order) before returning, then lands them at once in the
    /// background: for writes that must outlive a caller that may die right after.
    pub fn submit_durably(self: &Arc<Self>, vm: &str, writes: Vec<PendingWrite>) {
        let entries = writes.into_iter().map(|w| self.entry(w, 0)).collect();
        self.enqueue_with(vm, entries, false, Duration::ZERO);
    }

    fn enqueue_with(self: &Arc<Self>, vm: &str, entries: Vec<Entry>, at_front: bool, first: Duration) {
        let io = self.journal.as_ref().map(|j| lock(&j.io));
        let (start, snapshot) = {
            let mut lanes = lock(&self.lanes);
            let lane = lanes.entry(vm.to_string()).or_default();
            if at_front {
                for e in entries.into_iter().rev() {
                    self.make_room(lane, vm);
                    lane.pending.push_front(e);
                }
            } else {
                for e in entries {
                    self.make_room(lane, vm);
                    lane.pending.push_back(e);
                }
            }
            let start = !lane.draining && !lane.pending.is_empty();
            lane.draining |= start;
            (start, self.journal.as_ref().map(|_| Self::snapshot(lane)))
        };
        if let Some(s) = snapshot {
            self.persist(vm, s);
        }
        drop(io);
        if start {
            self.spawn_drain(vm.to_string(), first);
        }
    }

    /// Frees one place in a full lane: an older write made redundant by the next one is
    /// coalesced into it, else the oldest write is dropped. Logged either way.
    fn make_room(&self, lane: &mut Lane, vm: &str) {
        let cap = self.policy.per_vm.max(1);
        while lane.pending.len() >= cap {
            let pair = (1..lane.pending.len()).find(|&i| lane.pending[i - 1].write.superseded_by(&lane.pending[i].write));
            if let Some(i) = pair {
                if let Some(old) = lane.pending.remove(i - 1) {
                    crate::log::warn(
                        WARN,
                        &format!("VM {vm}: write queue full ({cap}); coalescing queued write {:?} into the later {:?}", old.write, lane.pending[i - 1].write),
                    );
                }
            } else if let Some(old) = lane.pending.pop_front() {
                crate::log::warn(WARN, &format!("VM {vm}: write queue full ({cap}); dropping the oldest queued write {:?}", old.write));
            }
        }
    }

    fn snapshot(lane: &Lane) -> Vec<JournalEntry> {
        lane.pending.iter().map(|e| JournalEntry { write: e.write.clone(), attempts: e.attempts }).collect()
    }

    /// Writes (or, for an empty lane, removes) `vm`'s journal file. Called with the
    /// journal's `io` lock held. A failure is logged: the writes stay queued in memory.
    fn persist(&self, vm: &str, writes: Vec<JournalEntry>) {
        let Some(journal) = &self.journal else { return };
        let name = journal_file_name(vm);
        let result = if writes.is_empty() {
            remove_durably(&journal.dir, &name)
        } else {
            let file = JournalFile { version: JOURNAL_VERSION, vm: vm.to_string(), writes };
            serde_json::to_vec(&file).map_err(std::io::Error::other).and_then(|bytes| {
                fs::DirBuilder::new().recursive(true).mode(0o700).create(&journal.dir)?;
                write_atomic(&journal.dir, &name, &bytes)
            })
        };
        if let Err(e) = result {
            crate::log::warn(WARN, &format!("VM {vm}: cannot journal queued writes in {}: {e} (they stay queued in memory)", journal.dir.display()));
        }
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
            PendingWrite::Status { status } => {
                self.store.update_machine_status(vm, status).await?;
                Ok(StatusChange::Written { previous: VmStatus::Other(String::new()) })
            }
            PendingWrite::Config(update) => {
                self.store.update_machine_configuration(vm, update).await?;
                Ok(StatusChange::Unchanged)
            }
        }
    }

    fn spawn_drain(self: &Arc<Self>, vm: String, first: Duration) {
        let me = self.clone();
        tokio::spawn(async move { me.drain(vm, first).await });
    }

    /// Retries the queued writes of `vm` in order until the lane is empty.
    async fn drain(self: Arc<Self>, vm: String, first: Duration) {
        let mut delay = first;
        loop {
            tokio::time::sleep(delay).await;
            let front = lock(&self.lanes).get(&vm).and_then(|l| l.pending.front().map(|e| (e.seq, e.write.clone())));
            let Some((seq, front)) = front else {
                // Only the drain empties a lane; this is a guard.
                let _io = self.journal.as_ref().map(|j| lock(&j.io));
                let mut lanes = lock(&self.lanes);
                if lanes.get(&vm).is_some_and(|l| l.pending.is_empty()) {
                    lanes.remove(&vm);
                    drop(lanes);
                    self.persist(&vm, Vec::new());
                } else if let Some(l) = lanes.get_mut(&vm) {
                    l.draining = false;
                }
                return;
            };
            let result = self.apply(&vm, &front).await;
            let io = self.journal.as_ref().map(|j| lock(&j.io));
            let mut lanes = lock(&self.lanes);
            let Some(lane) = lanes.get_mut(&vm) else { return };
            let position = lane.pending.iter().position(|e| e.seq == seq);
            let mut changed = false;
            match result {
                Ok(change) => {
                    crate::log::log(LOG, &format!("VM {vm}: queued write {front:?} applied ({change:?})"));
                    if let Some(i) = position {
                        lane.pending.remove(i);
                        changed = true;
                    }
                    delay = Duration::ZERO;
                }
                Err(e) => match position.and_then(|i| lane.pending.get_mut(i).map(|entry| (i, entry))) {
                    // coalesced away while it was being applied: go on with the next
                    None => delay = Duration::ZERO,
                    Some((i, entry)) => {
                        entry.attempts = entry.attempts.saturating_add(1);
                        let attempts = entry.attempts;
                        let permanent = !e.is_transient() && attempts >= self.policy.permanent_attempts;
                        let expired = self.policy.max_age.is_some_and(|age| entry.first_failure.elapsed() > age);
                        if permanent || expired {
                            lane.pending.remove(i);
                            changed = true;
                            let why = if permanent { "a permanent failure" } else { "the time limit" };
                            crate::log::warn(WARN, &format!("VM {vm}: dropping queued write {front:?} after {attempts} attempts ({why}): {e}"));
                            delay = Duration::ZERO;
                        } else {
                            if attempts == 2 || attempts % 50 == 0 {
                                crate::log::log(LOG, &format!("VM {vm}: queued write {front:?} still failing after {attempts} attempts: {e}"));
                            }
                            delay = if delay.is_zero() { self.policy.first_delay } else { (delay * 2).min(self.policy.max_delay) };
                        }
                    }
                },
            }
            let empty = lane.pending.is_empty();
            let snapshot = (changed && self.journal.is_some()).then(|| Self::snapshot(lane));
            if empty {
                lanes.remove(&vm);
            }
            drop(lanes);
            if let Some(s) = snapshot {
                self.persist(&vm, s);
            }
            drop(io);
            if empty {
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
}
