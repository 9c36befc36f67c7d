//! Undoing what an operation made: the rollback of a failed create or start, and the
//! replay of a journal a killed manager left behind. Both read the same record
//! (`journal::Entry`), so a rollback and a recovery release exactly the same things:
//! what that one operation made, nothing the VM had before.

use std::sync::Arc;
use std::time::Duration;

use super::identity::{self, Expected, Verdict};
use super::journal::remove_quietly;
use super::journal::{self, Entry, Journal, Op};
use super::vm::{ShutdownSlot, VmLifecycle, NS};
use crate::qemu::pid::PidFd;
use crate::qemu::process::QemuProcess;
use crate::qmp::client::QmpClient;
use crate::state::queue::PendingWrite;
use crate::state::status::{Reason, VmStatus};

const KILL_WAIT: Duration = Duration::from_secs(5);

/// What one create or start has made: the durable record plus the live handles.
pub(super) struct Made {
    pub journal: Journal,
    pub process: Option<Arc<QemuProcess>>,
    pub qmp: Option<Arc<QmpClient>>,
    pub shutdown: ShutdownSlot,
    /// The status was changed by this operation (a failure then leaves `error`).
    pub status_written: bool,
    /// A failed start keeps the VM's TAP name and other stored settings.
    pub volatile_only: bool,
    /// The row's status and version as read before a claim that has not happened yet:
    /// a failure then marks the row `error` only if no one changed it meanwhile.
    pub unclaimed: Option<(VmStatus, i64)>,
}

impl Made {
    pub fn new(journal: Journal) -> Self {
        Made { journal, process: None, qmp: None, shutdown: ShutdownSlot::default(), status_written: false, volatile_only: false, unclaimed: None }
    }

    /// Records a change before the caller makes it on the host. A journal that cannot
    /// be written stops the operation: an unrecorded change could not be undone.
    pub fn record(&self, vm_id: &str, f: impl FnOnce(&mut Entry)) -> Result<(), super::error::LifecycleError> {
        self.journal.record(f).map_err(|e| journal_error(vm_id, &e))
    }
}

pub(super) fn journal_error(vm_id: &str, e: &std::io::Error) -> super::error::LifecycleError {
    super::error::LifecycleError::failed(
        super::error::LifecycleErrorCode::RESOURCE_UNAVAILABLE,
        format!("Cannot write the operation journal of VM {vm_id}: {e}"),
        Some(vm_id),
        None,
    )
}

/// SIGKILLs the QEMU behind the entry's pidfile (or its recorded PID) when, and only
/// when, it is provably this VM's; waits for it to exit. Returns what it found.
pub(super) async fn kill_if_ours(e: &Entry) -> Verdict {
    let Some(pidfile) = &e.pidfile else { return Verdict::Gone };
    let from_file = std::fs::read_to_string(pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok());
    // The PID and start time: in the entry (stop, destroy) or in the identity record
    // the launch wrote beside the pidfile (create, start).
    let record = e
        .qemu
        .map(|(pid, start_time)| identity::Recorded { vm_id: e.vm_id.clone(), pid, start_time, uuid: e.uuid.clone() })
        .or_else(|| identity::load(pidfile).filter(|r| r.vm_id == e.vm_id));
    let pid = from_file.or(record.as_ref().map(|r| r.pid));
    let Some(pid) = pid else { return Verdict::Gone };
    let recorded = record.filter(|r| r.pid == pid);
    let expected = Expected { vm_id: e.vm_id.clone(), pidfile: pidfile.clone(), uuid: e.uuid.clone(), name: e.name.clone(), recorded };
    // The pidfd first: the check below then holds for the very process it names.
    let Some(fd) = PidFd::open(pid) else { return Verdict::Gone };
    let verdict = identity::check(pid, &expected);
    if verdict == Verdict::Ours {
        match fd.signal(nix::sys::signal::Signal::SIGKILL) {
            Ok(()) => {
                if tokio::time::timeout(KILL_WAIT, fd.wait_exit()).await.is_err() {
                    crate::log::warn(NS, &format!("VM {}: QEMU PID {pid} did not exit within 5 s of SIGKILL", e.vm_id));
                }
            }
            Err(err) => crate::log::warn(NS, &format!("VM {}: cannot signal QEMU PID {pid}: {err}", e.vm_id)),
        }
    } else if let Verdict::Stranger { why } | Verdict::Unknown { why } = &verdict {
        crate::log::warn(NS, &format!("VM {}: PID {pid} behind {} left alone: {why}", e.vm_id, pidfile.display()));
    }
    verdict
}

impl VmLifecycle {
    /// Releases what the entry says its operation made on the host, newest first.
    /// `process` is the live handle when the operation is still in this process.
    /// Every step is best-effort and idempotent.
    pub(super) async fn undo_host(&self, e: &Entry, process: Option<&Arc<QemuProcess>>) {
        let mut pid = process.and_then(|p| p.pid());
        if let Some(p) = process {
            p.force_kill().await;
        }
        // A QEMU that daemonized but was never adopted (killed mid-start, timed out).
        if kill_if_ours(e).await == Verdict::Ours {
            pid = pid.or(e.qemu.map(|q| q.0));
        }
        if let (false, Some(pid)) = (e.cpu_cores.is_empty(), pid) {
            let cg = self.cgroups.clone();
            let _ = tokio::task::spawn_blocking(move || cg.release_group(pid, Duration::from_secs(2))).await;
        }
        if let Some(tap) = &e.tap {
            self.net.tap_bring_down(tap);
        }
        if let Some(tap) = &e.tap_reused {
            self.net.tap_detach(tap);
        }
        if e.chain {
            self.net.remove_chain(&e.vm_id).await;
        } else if e.chain_attached {
            self.net.detach_dispatch(&e.vm_id).await;
        }
        if let Some(tap) = &e.tap {
            if let Err(err) = self.net.tap_destroy(tap) {
                crate::log::warn(NS, &format!("undo: could not remove TAP {tap}: {err}"));
            }
        }
        for d in e.disks.iter().rev() {
            remove_quietly(d);
        }
        for s in &e.sockets {
            remove_quietly(s);
        }
        if let Some(p) = &e.pidfile {
            remove_quietly(p);
            identity::remove(p);
        }
    }

    /// Releases what a failed create or start made, then records `error` (spec §5.11).
    pub(super) async fn rollback(&self, vm_id: &str, made: Made) {
        if let Some(q) = &made.qmp {
            q.disconnect().await;
        }
        let entry = made.journal.entry();
        self.undo_host(&entry, made.process.as_ref()).await;
        let shared = self.store.kind() != "sqlite";
        if let (true, Some((from, version))) = (made.status_written && shared, &made.unclaimed) {
            // Failed before its claim, on a store other hosts' managers may share: the
            // row may be another manager's VM by now, so `error` is written only over
            // the row as it was read (and then its settings are cleared).
            let clear = if made.volatile_only { PendingWrite::ClearVolatile } else { PendingWrite::ClearConfig };
            match self.store.transition_vm_status(vm_id, from, &VmStatus::Error, *version).await {
                Ok(_) => self.write(vm_id, clear).await,
                Err(e) => crate::log::warn(NS, &format!("VM {vm_id}: failed before its claim; the row is left as it is: {e}")),
            }
        } else if made.status_written || entry.tap.is_some() || !entry.disks.is_empty() {
            let clear = if made.volatile_only { PendingWrite::ClearVolatile } else { PendingWrite::ClearConfig };
            self.write(vm_id, clear).await;
            self.write(vm_id, PendingWrite::Direct { status: VmStatus::Error, reason: Reason::Operation { name: "rollback".into() } }).await;
        }
        made.journal.finish();
    }

    /// Finishes or undoes the operation a killed manager left in the journal of
    /// `vm_id`. The caller holds the VM's lock, so the writer is gone. Creates and
    /// starts are undone (the VM ends `off` with nothing of theirs left on the host);
    /// stops and destroys are finished. Returns what was done, for the logs.
    pub(super) async fn replay_journal(&self, vm_id: &str) -> Option<String> {
        let (path, entry) = journal::load(&self.opts.pidfile_dir, vm_id)?;
        let entry = match entry {
            Ok(e) => e,
            Err(why) => {
                crate::log::warn(NS, &format!("VM {vm_id}: unreadable journal {} set aside: {why}", path.display()));
                let mut aside = path.as_os_str().to_owned();
                aside.push(".corrupt");
                let _ = std::fs::rename(&path, aside);
                return Some("corrupt journal set aside".into());
            }
        };
        let what = format!("{:?} by manager PID {}", entry.op, entry.manager_pid).to_lowercase();
        crate::log::warn(NS, &format!("VM {vm_id}: replaying the journal of an interrupted {what}"));
        // This manager may still track the QEMU (an operation of this very process
        // that was cancelled): let go of it first, it is being undone.
        let live = super::vm::locked(&self.live).remove(vm_id);
        if let Some(l) = &live {
            if let Some(q) = &l.qmp {
                q.disconnect().await;
            }
        }
        let reason = Reason::Operation { name: format!("recovery of an interrupted {:?}", entry.op).to_lowercase() };
        match entry.op {
            Op::Create | Op::Start => {
                self.undo_host(&entry, live.as_ref().map(|l| &l.process)).await;
                let clear = if entry.op == Op::Create { PendingWrite::ClearConfig } else { PendingWrite::ClearVolatile };
                self.write(vm_id, clear).await;
                self.write(vm_id, PendingWrite::Direct { status: VmStatus::Off, reason }).await;
            }
            Op::Stop | Op::Destroy => {
                if let Some(l) = &live {
                    l.process.force_kill().await;
                }
                kill_if_ours(&entry).await;
                self.release_host(vm_id, &super::watch::HostHold::from_entry(&entry)).await;
                if entry.op == Op::Destroy {
                    if let Some(tap) = &entry.tap {
                        if let Err(e) = self.net.tap_destroy(tap) {
                            crate::log::warn(NS, &format!("recovery: could not remove TAP {tap}: {e}"));
                        }
                    }
                    self.net.remove_chain(vm_id).await;
                    self.write(vm_id, PendingWrite::ClearConfig).await;
                } else {
                    self.write(vm_id, PendingWrite::ClearVolatile).await;
                }
                self.write(vm_id, PendingWrite::Direct { status: VmStatus::Off, reason }).await;
            }
        }
        journal::remove_quietly(&path);
        Some(what)
    }

    /// Replays every journal left in the pidfile directory whose VM is not busy in
    /// another live manager (`initialize()`).
    pub(super) async fn replay_all(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (vm_id, _) in journal::list(&self.opts.pidfile_dir) {
            let Some(_guard) = self.locks.try_acquire(&self.opts.pidfile_dir, &vm_id) else { continue };
            if let Some(what) = self.replay_journal(&vm_id).await {
                out.push((vm_id, what));
            }
        }
        out
    }
}
