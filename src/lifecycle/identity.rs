//! Which QEMU is this VM's (issue 12 point 5, DESIGN rule 3).
//!
//! A process is the VM's QEMU only when its command line is a QEMU's and carries the
//! VM's pidfile path, and either its start time (`/proc/<pid>/stat` field 22) is the
//! one recorded when this manager started that PID, or — with no record for the PID —
//! it carries the VM's `-uuid` (or, for QEMUs started without one, its `-name`). A
//! process failing these is a stranger: never adopted, written to the store or
//! signalled.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the manager recorded about a QEMU it started, next to its pidfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    pub vm_id: String,
    pub pid: i32,
    pub start_time: u64,
    pub uuid: Option<String>,
}

/// What a process must carry to be the VM's QEMU.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    pub vm_id: String,
    pub pidfile: PathBuf,
    /// The `-uuid` given to QEMU (the VM id for VMs this manager starts).
    pub uuid: Option<String>,
    /// The `-name` value, accepted instead of `-uuid` from QEMUs started without one.
    pub name: Option<String>,
    pub recorded: Option<Recorded>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ours,
    /// Another process; `why` says which check failed.
    Stranger {
        why: String,
    },
    /// No such process (or a zombie).
    Gone,
    /// `/proc` unreadable: nothing may be done about it.
    Unknown {
        why: String,
    },
}

/// `/proc/<pid>/stat` field 22 (start time in clock ticks since boot).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` starts at field 3 (state); field 22 is the 20th of these.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A canonical 8-4-4-4-12 hex UUID (what QEMU's `-uuid` accepts).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.bytes().enumerate().all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}

/// Checks `pid` against everything `e` says the VM's QEMU carries.
pub fn check(pid: i32, e: &Expected) -> Verdict {
    if pid <= 0 || !crate::qemu::pid::pid_alive(pid) {
        return Verdict::Gone;
    }
    let raw = match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(r) => r,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Verdict::Gone,
        Err(err) => return Verdict::Unknown { why: format!("/proc/{pid}/cmdline unreadable: {err}") },
    };
    let args: Vec<String> = raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let stranger = |why: String| Verdict::Stranger { why };
    if !args.iter().any(|a| a.contains("qemu-system")) {
        return stranger(format!("PID {pid} is not a QEMU"));
    }
    let pidfile = e.pidfile.display().to_string();
    if !args.contains(&pidfile) {
        return stranger(format!("PID {pid} does not carry the pidfile {pidfile}"));
    }
    // The start time recorded when this manager started the PID proves it outright
    // (a reused PID starts later); without a record, the VM's -uuid (or -name) must.
    if let Some(r) = e.recorded.as_ref().filter(|r| r.pid == pid) {
        return match start_time(pid) {
            Some(t) if t == r.start_time => Verdict::Ours,
            Some(t) => stranger(format!("PID {pid} started at tick {t}, the recorded QEMU at {}", r.start_time)),
            None => Verdict::Unknown { why: format!("/proc/{pid}/stat unreadable") },
        };
    }
    match arg_after(&args, "-uuid") {
        Some(u) => {
            let accepted = [Some(e.vm_id.as_str()), e.uuid.as_deref()];
            if !accepted.iter().flatten().any(|a| a.eq_ignore_ascii_case(u)) {
                return stranger(format!("PID {pid} carries -uuid {u}, not VM {}'s", e.vm_id));
            }
        }
        None => match (arg_after(&args, "-name"), e.name.as_deref()) {
            (Some(n), Some(want)) if n == want || n.strip_prefix("guest=").is_some_and(|g| g.split(',').next() == Some(want)) => {}
            (n, _) => return stranger(format!("PID {pid} carries no -uuid and -name {n:?}, not VM {}'s", e.vm_id)),
        },
    }
    Verdict::Ours
}

/// `<pidfile>.id`: the identity record of the QEMU behind `pidfile`.
pub fn record_path(pidfile: &Path) -> PathBuf {
    let mut s = pidfile.as_os_str().to_owned();
    s.push(".id");
    PathBuf::from(s)
}

pub fn load(pidfile: &Path) -> Option<Recorded> {
    serde_json::from_slice(&std::fs::read(record_path(pidfile)).ok()?).ok()
}

/// Records the start time of the QEMU just started: a restarted manager relies on it
/// to tell this process from a later one with the same PID. Replaced atomically but not
/// fsynced: only a crash of the machine can lose it, and that ends the QEMU too.
pub fn save(pidfile: &Path, r: &Recorded) -> std::io::Result<()> {
    let body = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    super::journal::write_atomically(&record_path(pidfile), &body)
}

pub fn remove(pidfile: &Path) {
    let _ = std::fs::remove_file(record_path(pidfile));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert!(is_uuid("550e8400-e29b-41d4-a716-446655440000"));
        assert!(!is_uuid("550e8400e29b41d4a716446655440000"));
        assert!(!is_uuid("550e8400-e29b-41d4-a716-44665544000g"));
    }

    #[test]
    fn own_start_time_is_readable_and_stable() {
        let me = i32::try_from(std::process::id()).unwrap();
        let t = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(t));
    }

    #[test]
    fn a_non_qemu_process_is_a_stranger_and_a_dead_pid_is_gone() {
        let me = i32::try_from(std::process::id()).unwrap();
        let e = Expected { vm_id: "vm".into(), pidfile: "/nope.pid".into(), ..Default::default() };
        assert!(matches!(check(me, &e), Verdict::Stranger { .. }));
        assert_eq!(check(-1, &e), Verdict::Gone);
    }
}
