//! The operation journal (DESIGN rule 9, issue 12 point 2).
//!
//! Before create, start, stop or destroy changes the host, it writes what it is
//! about to make to `<pidfile dir>/journal/<vm>.json` (fsynced, replaced atomically),
//! and it removes the file once the operation is complete and recorded. A file that
//! is still there when the next holder of the VM's lock (`oplock.rs`) looks belongs
//! to an operation whose manager died: `recover.rs` undoes or finishes it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

const NS: &str = "infinivirt:journal";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Start,
    Stop,
    Destroy,
}

/// What one operation has made (or is about to make) on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub op: Op,
    pub vm_id: String,
    pub internal_name: String,
    /// The manager process that wrote it (for logs).
    pub manager_pid: u32,
    /// Disk images (and the UEFI vars file) this operation creates.
    #[serde(default)]
    pub disks: Vec<PathBuf>,
    /// A TAP this operation creates.
    #[serde(default)]
    pub tap: Option<String>,
    /// The VM's existing TAP this operation puts on the bridge.
    #[serde(default)]
    pub tap_reused: Option<String>,
    /// The firewall chain this operation creates.
    #[serde(default)]
    pub chain: bool,
    /// The dispatch of an existing chain this operation attaches.
    #[serde(default)]
    pub chain_attached: bool,
    #[serde(default)]
    pub pidfile: Option<PathBuf>,
    #[serde(default)]
    pub sockets: Vec<PathBuf>,
    /// The QEMU this operation started (PID, start time), or is stopping.
    #[serde(default)]
    pub qemu: Option<(i32, u64)>,
    #[serde(default)]
    pub uuid: Option<String>,
    /// The `-name` QEMU got (identifies QEMUs started without `-uuid`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub cpu_cores: Vec<i64>,
}

impl Entry {
    pub fn new(op: Op, vm_id: &str, internal_name: &str) -> Self {
        Entry {
            op,
            vm_id: vm_id.into(),
            internal_name: internal_name.into(),
            manager_pid: std::process::id(),
            disks: Vec::new(),
            tap: None,
            tap_reused: None,
            chain: false,
            chain_attached: false,
            pidfile: None,
            sockets: Vec::new(),
            qemu: None,
            uuid: None,
            name: None,
            cpu_cores: Vec::new(),
        }
    }
}

/// Writes `body` to `path` so that after a crash of the machine the file holds either
/// the old or the new content: a temporary file, fsync, rename, fsync of the directory.
pub fn write_durably(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = replace_file(path, body, true)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Replaces `path` by a temporary file and a rename, without fsync: a reader never
/// sees half a file, even if this process dies midway, but the machine crashing may
/// lose the write. For facts that die with the machine anyway (a process's PID).
pub fn write_atomically(path: &Path, body: &[u8]) -> std::io::Result<()> {
    replace_file(path, body, false).map(|_| ())
}

fn replace_file<'a>(path: &'a Path, body: &[u8], sync: bool) -> std::io::Result<&'a Path> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&tmp)?;
        f.write_all(body)?;
        if sync {
            f.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    Ok(dir)
}

/// The journal directory under the pidfile directory.
pub fn dir(pidfile_dir: &Path) -> PathBuf {
    pidfile_dir.join("journal")
}

fn path_of(pidfile_dir: &Path, vm_id: &str) -> PathBuf {
    super::oplock::lock_path(pidfile_dir, vm_id).file_stem().map_or_else(
        || dir(pidfile_dir).join("_.json"),
        |s| {
            let mut n = s.to_owned();
            n.push(".json");
            dir(pidfile_dir).join(n)
        },
    )
}

/// The journal of one running operation: every change is written before returning.
#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
    entry: Arc<Mutex<Entry>>,
}

impl Journal {
    /// Starts the journal of an operation (written at once).
    pub fn begin(pidfile_dir: &Path, entry: Entry) -> std::io::Result<Journal> {
        let j = Journal::unwritten(pidfile_dir, entry);
        j.save()?;
        Ok(j)
    }

    /// The journal of an operation that has nothing to record yet: its first
    /// [`Self::record`] writes it. For an operation that changes neither the host nor
    /// the store before that record (saves one fsynced write).
    pub fn unwritten(pidfile_dir: &Path, entry: Entry) -> Journal {
        Journal { path: path_of(pidfile_dir, &entry.vm_id), entry: Arc::new(Mutex::new(entry)) }
    }

    /// Forgets everything recorded (the operation made none of it) and removes the file.
    pub fn clear(&self) {
        let mut e = self.entry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = Entry::new(e.op, &e.vm_id, &e.internal_name);
        *e = fresh;
        remove_quietly(&self.path);
    }

    fn save(&self) -> std::io::Result<()> {
        let body = {
            let e = self.entry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            serde_json::to_vec_pretty(&*e).map_err(std::io::Error::other)?
        };
        write_durably(&self.path, &body)
    }

    /// Applies `f` and writes the entry before the caller touches the host.
    pub fn record(&self, f: impl FnOnce(&mut Entry)) -> std::io::Result<()> {
        f(&mut self.entry.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        self.save()
    }

    pub fn entry(&self) -> Entry {
        self.entry.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The operation is complete (or fully undone): nothing to replay.
    pub fn finish(self) {
        remove_quietly(&self.path);
    }
}

/// Removes a file that may already be gone; any other failure is only logged (a
/// leftover file is reported, never fatal to the operation that is cleaning up).
pub fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => crate::log::warn(NS, &format!("could not remove {}: {e}", path.display())),
    }
}

/// The journal a dead operation left for `vm_id` (the caller holds the VM's lock).
pub fn load(pidfile_dir: &Path, vm_id: &str) -> Option<(PathBuf, Result<Entry, String>)> {
    let p = path_of(pidfile_dir, vm_id);
    let raw = std::fs::read(&p).ok()?;
    Some((p, serde_json::from_slice(&raw).map_err(|e| e.to_string())))
}

/// Every journal left in the directory: `(vm id, path)`.
pub fn list(pidfile_dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir(pidfile_dir)) else { return Vec::new() };
    rd.flatten()
        .map(|d| d.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| {
            let e: Entry = serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?;
            Some((e.vm_id, p))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_file() {
        let d = std::env::temp_dir().join(format!("iv-journal-{}", std::process::id()));
        let j = Journal::begin(&d, Entry::new(Op::Create, "vm-1", "vm-one")).unwrap();
        j.record(|e| {
            e.disks.push("/d/vm-one.qcow2".into());
            e.tap = Some("vnet-vm1".into());
            e.qemu = Some((42, 7));
        })
        .unwrap();
        let (p, loaded) = load(&d, "vm-1").unwrap();
        assert_eq!(loaded.unwrap(), j.entry());
        assert_eq!(list(&d), vec![("vm-1".to_string(), p)]);
        j.finish();
        assert!(load(&d, "vm-1").is_none());
        let _ = std::fs::remove_dir_all(d);
    }
}
