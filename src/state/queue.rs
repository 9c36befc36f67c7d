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
    /// The QEMU with PID `pid` exited: status `status` (as `Automatic`) and the
    /// volatile runtime columns cleared, but only while the row still describes that
    /// process (a status that may have one, and its PID when both are known). A stop,
    /// destroy or start of another manager that came first is left standing.
    Exited { status: VmStatus, reason: Reason, pid: Option<i32> },
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
        matches!(self, PendingWrite::Direct { .. } | PendingWrite::Automatic { .. } | PendingWrite::Exited { .. } | PendingWrite::Status { .. })
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
    /// Holders that want the lane's writes kept back for now ([`WriteQueue::hold`]).
    held: u32,
}

/// Keeps a lane's writes back while it lives ([`WriteQueue::hold`]).
pub struct LaneHold {
    queue: Arc<WriteQueue>,
    vm: String,
}

impl Drop for LaneHold {
    fn drop(&mut self) {
        self.queue.unhold(&self.vm);
    }
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
        if lock(&self.lanes).get(vm).is_some_and(|l| !l.pending.is_empty() || l.held > 0) {
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

    /// Keeps `vm`'s queued writes from landing until the returned guard is dropped:
    /// a write queued now may describe host work that is not finished yet (an exit's
    /// `off` before its release), and a reader of the row must not see it early.
    pub fn hold(self: &Arc<Self>, vm: &str) -> LaneHold {
        lock(&self.lanes).entry(vm.to_string()).or_default().held += 1;
        LaneHold { queue: self.clone(), vm: vm.to_string() }
    }

    /// Empties the queue and returns what it held, per VM, oldest first (a queue
    /// being replaced by another: [`crate::state::sync::StateSync::share_queue`]).
    /// Held lanes keep their holds.
    pub fn take_all(&self) -> Vec<(String, Vec<PendingWrite>)> {
        let _io = self.journal.as_ref().map(|j| lock(&j.io));
        let mut out = Vec::new();
        let mut lanes = lock(&self.lanes);
        for (vm, lane) in lanes.iter_mut() {
            if !lane.pending.is_empty() {
                out.push((vm.clone(), lane.pending.drain(..).map(|e| e.write).collect()));
            }
        }
        lanes.retain(|_, l| l.held > 0);
        drop(lanes);
        for (vm, _) in &out {
            self.persist(vm, Vec::new());
        }
        out
    }

    /// Queues `writes` (in order) in front of whatever `vm` has queued, journaled.
    pub fn requeue_front(self: &Arc<Self>, vm: &str, writes: Vec<PendingWrite>) {
        let entries = writes.into_iter().map(|w| self.entry(w, 1)).collect();
        self.enqueue(vm, entries, true);
    }

    fn unhold(self: &Arc<Self>, vm: &str) {
        let start = {
            let mut lanes = lock(&self.lanes);
            let Some(lane) = lanes.get_mut(vm) else { return };
            lane.held = lane.held.saturating_sub(1);
            let start = lane.held == 0 && !lane.draining && !lane.pending.is_empty();
            lane.draining |= start;
            if lane.held == 0 && lane.pending.is_empty() && !lane.draining {
                lanes.remove(vm);
            }
            start
        };
        if start {
            self.spawn_drain(vm.to_string(), Duration::ZERO);
        }
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
            let start = !lane.draining && lane.held == 0 && !lane.pending.is_empty();
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
            PendingWrite::Exited { status, reason, pid } => {
                let Some(row) = self.store.find_runtime(vm).await? else { return Ok(StatusChange::NotFound) };
                let row_pid = row.configuration.as_ref().and_then(|c| c.qemu_pid);
                let other_process = matches!((pid, row_pid), (Some(p), Some(r)) if i64::from(*p) != r);
                if !row.status.may_have_process() || other_process {
                    crate::log::log(
                        LOG,
                        &format!("VM {vm}: exit of PID {pid:?} not recorded: the row ({}, PID {row_pid:?}) no longer describes it", row.status),
                    );
                    return Ok(StatusChange::Refused { current: row.status });
                }
                let change = self.store.set_status_automatic(vm, status, reason).await?;
                self.store.clear_volatile_machine_configuration(vm).await?;
                Ok(change)
            }
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
            let front = {
                let mut lanes = lock(&self.lanes);
                match lanes.get_mut(&vm) {
                    // Held: the last holder's release starts a new drain.
                    Some(l) if l.held > 0 => {
                        l.draining = false;
                        return;
                    }
                    l => l.and_then(|l| l.pending.front().map(|e| (e.seq, e.write.clone()))),
                }
            };
            let Some((seq, front)) = front else {
                // Only the drain empties a lane; this is a guard.
                let _io = self.journal.as_ref().map(|j| lock(&j.io));
                let mut lanes = lock(&self.lanes);
                if lanes.get(&vm).is_some_and(|l| l.pending.is_empty() && l.held == 0) {
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
                if lane.held == 0 {
                    lanes.remove(&vm);
                } else {
                    lane.draining = false;
                }
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
pub(crate) mod tests;
