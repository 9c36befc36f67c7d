//! `CgroupsManager` (spec §13): confine a running QEMU to explicit CPU cores with a
//! cpuset cgroup, and remove the groups once their process is gone.
//!
//! Layouts, tried in this order and detected once per manager:
//! * **cgroups v2** as the spec has it: `<root>/cgroup.controllers` lists `cpuset`
//!   and `<root>` is writable. Group `<root>/infinivirt.slice/qemu-<pid>.scope`.
//! * **cgroups v1 cpuset hierarchy** (Infinivirt fallback, for hosts whose cpuset
//!   controller is bound to v1, e.g. hybrid mounts): `<root>/cpuset/cpuset.cpus`
//!   exists and `<root>/cpuset` is writable. Group `<root>/cpuset/infinivirt/qemu-<pid>`.
//!   v1 refuses tasks in a cpuset whose `cpuset.cpus` or `cpuset.mems` is empty, so
//!   `infinivirt` inherits both from the hierarchy root when first made, and each
//!   group copies `cpuset.mems` from `infinivirt`.
//!
//! When neither is usable, one warning names why and every placement is skipped.
//! Placement is best effort: a failed step removes the group it created and reports
//! [`Placement::Skipped`]; it never fails the VM.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::cores::{self, CoresError};

/// Module name for logs: `infinivirt:cgroups-manager`.
pub const NS_MODULE: &str = "cgroups-manager";
/// The usual cgroup mount point.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// v2 parent group of the per-VM scopes.
pub const V2_SLICE: &str = "infinivirt.slice";
/// v1 parent group (inside the cpuset hierarchy) of the per-VM groups.
pub const V1_PARENT: &str = "infinivirt";

/// Which cgroup interface placements use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupLayout {
    /// Unified hierarchy with the cpuset controller.
    V2,
    /// Legacy cpuset hierarchy at `<root>/cpuset`.
    V1Cpuset,
}

impl CgroupLayout {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupLayout::V2 => "cgroups v2",
            CgroupLayout::V1Cpuset => "cgroups v1 cpuset",
        }
    }

    /// The directory that holds the per-VM groups.
    pub fn parent_dir(self, root: &Path) -> PathBuf {
        match self {
            CgroupLayout::V2 => root.join(V2_SLICE),
            CgroupLayout::V1Cpuset => root.join("cpuset").join(V1_PARENT),
        }
    }

    /// The group of one QEMU process.
    pub fn group_dir(self, root: &Path, pid: i32) -> PathBuf {
        self.parent_dir(root).join(self.group_name(pid))
    }

    pub fn group_name(self, pid: i32) -> String {
        match self {
            CgroupLayout::V2 => format!("qemu-{pid}.scope"),
            CgroupLayout::V1Cpuset => format!("qemu-{pid}"),
        }
    }

    /// True for names [`group_name`](Self::group_name) produces.
    pub fn is_group_name(self, name: &str) -> bool {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match self {
            CgroupLayout::V2 => name.strip_prefix("qemu-").and_then(|r| r.strip_suffix(".scope")).is_some_and(digits),
            CgroupLayout::V1Cpuset => name.strip_prefix("qemu-").is_some_and(digits),
        }
    }
}

/// What [`CgroupsManager::apply_cpu_pinning`] did.
#[derive(Debug)]
pub enum Placement {
    /// The process now runs in `group`, restricted to `cpus`.
    Placed { layout: CgroupLayout, group: PathBuf, cpus: String },
    /// Nothing was changed (a created group was removed again).
    Skipped(SkipReason),
}

impl Placement {
    pub fn is_placed(&self) -> bool {
        matches!(self, Placement::Placed { .. })
    }
}

/// Why a placement was skipped.
#[derive(Debug, thiserror::Error)]
pub enum SkipReason {
    #[error("no cores requested")]
    NoCores,
    #[error("invalid PID {0}")]
    InvalidPid(f64),
    /// Neither layout is usable; the text names why for each.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    InvalidCores(#[from] CoresError),
    /// A cgroup file operation failed (the group was removed again).
    #[error("{step} {}: {source}", path.display())]
    Failed {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Places QEMU processes in cpuset cgroups. Cheap to create; the layout is detected
/// on first use and kept.
#[derive(Debug)]
pub struct CgroupsManager {
    root: PathBuf,
    layout: OnceLock<Result<CgroupLayout, String>>,
}

impl Default for CgroupsManager {
    fn default() -> Self {
        Self::new()
    }
}

impl CgroupsManager {
    /// A manager on `/sys/fs/cgroup`.
    pub fn new() -> Self {
        Self::with_root(DEFAULT_ROOT)
    }

    /// A manager on another cgroup mount point (tests).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        CgroupsManager { root: root.into(), layout: OnceLock::new() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The usable layout, or why there is none. Detected once; the first "none"
    /// logs the one warning.
    pub fn layout(&self) -> Result<CgroupLayout, &str> {
        self.layout
            .get_or_init(|| {
                let r = detect(&self.root);
                match &r {
                    Ok(l) => crate::log::log(&ns(), &format!("using {} at {}", l.as_str(), self.root.display())),
                    Err(why) => crate::log::warn(NS_MODULE, &format!("{why}; explicit CPU pinning (cpuPinning) is skipped")),
                }
                r
            })
            .as_ref()
            .map(|l| *l)
            .map_err(String::as_str)
    }

    /// Spec `getHostCpuCount` (see [`cores::host_cpu_count`]).
    pub fn host_cpu_count(&self) -> usize {
        cores::host_cpu_count()
    }

    /// Spec `validateCores` against this host's CPU count.
    pub fn validate_cores(&self, cores: &[i64]) -> Result<(), CoresError> {
        if cores.is_empty() {
            return Ok(());
        }
        cores::validate_host_cores(cores, self.host_cpu_count())
    }

    /// Spec `applyCpuPinning`: confines `pid` to `cores`. Never fails the caller;
    /// anything but [`Placement::Placed`] was logged as a warning (except `NoCores`).
    pub fn apply_cpu_pinning(&self, pid: i32, cores: &[i64]) -> Placement {
        let r = self.try_place(pid, cores);
        match &r {
            Placement::Placed { layout, group, cpus } => {
                crate::log::log(&ns(), &format!("PID {pid} pinned to cores {cpus} ({}, {})", layout.as_str(), group.display()));
            }
            // Unavailability was already warned about once, at detection.
            Placement::Skipped(SkipReason::NoCores | SkipReason::Unavailable(_)) => {}
            Placement::Skipped(why) => crate::log::warn(NS_MODULE, &format!("CPU pinning of PID {pid} skipped: {why}")),
        }
        r
    }

    /// [`apply_cpu_pinning`](Self::apply_cpu_pinning) from JS numbers: a PID or core
    /// that is not an integer skips the placement with a warning.
    pub fn apply_cpu_pinning_js(&self, pid: f64, cores: &[f64]) -> Placement {
        let cores = match cores::from_js_numbers(cores) {
            Ok(c) => c,
            Err(e) => {
                let r = SkipReason::InvalidCores(e);
                crate::log::warn(NS_MODULE, &format!("CPU pinning of PID {pid} skipped: {r}"));
                return Placement::Skipped(r);
            }
        };
        if !(pid.is_finite() && pid.fract() == 0.0 && pid >= 1.0 && pid <= f64::from(i32::MAX)) {
            let r = SkipReason::InvalidPid(pid);
            crate::log::warn(NS_MODULE, &format!("CPU pinning skipped: {r}"));
            return Placement::Skipped(r);
        }
        #[allow(clippy::cast_possible_truncation)] // integral and in range
        self.apply_cpu_pinning(pid as i32, &cores)
    }

    fn try_place(&self, pid: i32, requested: &[i64]) -> Placement {
        if requested.is_empty() {
            return Placement::Skipped(SkipReason::NoCores);
        }
        if pid <= 0 {
            return Placement::Skipped(SkipReason::InvalidPid(f64::from(pid)));
        }
        let layout = match self.layout() {
            Ok(l) => l,
            Err(why) => return Placement::Skipped(SkipReason::Unavailable(why.to_string())),
        };
        if let Err(e) = self.validate_cores(requested) {
            return Placement::Skipped(e.into());
        }
        let Some(list) = cores::normalized(requested) else {
            return Placement::Skipped(SkipReason::InvalidCores(CoresError::Negative { cores: requested.to_vec() }));
        };
        let cpus = cores::cpuset_list(&list);
        let group = layout.group_dir(&self.root, pid);
        let created = match prepare_parent(layout, &self.root).and_then(|()| make_dir(&group)) {
            Ok(created) => created,
            Err(e) => return Placement::Skipped(e),
        };
        match fill_group(layout, &self.root, &group, &cpus, pid) {
            Ok(()) => Placement::Placed { layout, group, cpus },
            Err(e) => {
                if created {
                    if let Err(rm) = std::fs::remove_dir(&group) {
                        crate::log::warn(NS_MODULE, &format!("cannot remove cgroup {}: {rm}", group.display()));
                    }
                }
                Placement::Skipped(e)
            }
        }
    }

    /// Spec `cleanupEmptyScopes`, over both layouts: removes every per-VM group whose
    /// `cgroup.procs` is empty. Returns how many were removed.
    pub fn cleanup_empty_scopes(&self) -> usize {
        [CgroupLayout::V2, CgroupLayout::V1Cpuset].into_iter().map(|l| self.cleanup_layout(l)).sum()
    }

    fn cleanup_layout(&self, layout: CgroupLayout) -> usize {
        let parent = layout.parent_dir(&self.root);
        let Ok(entries) = std::fs::read_dir(&parent) else { return 0 };
        let mut removed = 0;
        for e in entries.flatten() {
            let name = e.file_name();
            if !name.to_str().is_some_and(|n| layout.is_group_name(n)) || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = e.path();
            if remove_if_empty(&dir) {
                removed += 1;
            }
        }
        removed
    }

    /// Removes the group of an exited `pid`, waiting up to `limit` for the kernel to
    /// empty it (an exited process stays listed until its parent reaps it).
    /// True when no group of `pid` is left.
    pub fn release_group(&self, pid: i32, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let dirs: Vec<PathBuf> =
                [CgroupLayout::V2, CgroupLayout::V1Cpuset].into_iter().map(|l| l.group_dir(&self.root, pid)).filter(|d| d.is_dir()).collect();
            if dirs.is_empty() || dirs.iter().all(|d| remove_if_empty(d)) {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                crate::log::warn(NS_MODULE, &format!("the cgroup of PID {pid} still lists it; left for cleanupEmptyScopes"));
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
    }

    /// Removes the group of `pid` if its process has left it (after a VM stopped).
    /// True when a group was removed.
    pub fn remove_group(&self, pid: i32) -> bool {
        [CgroupLayout::V2, CgroupLayout::V1Cpuset].into_iter().any(|l| {
            let dir = l.group_dir(&self.root, pid);
            dir.is_dir() && remove_if_empty(&dir)
        })
    }
}

fn ns() -> String {
    format!("infinivirt:{NS_MODULE}")
}

fn remove_if_empty(dir: &Path) -> bool {
    match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(procs) if procs.trim().is_empty() => match std::fs::remove_dir(dir) {
            Ok(()) => {
                crate::log::log(&ns(), &format!("removed empty cgroup {}", dir.display()));
                true
            }
            Err(e) => {
                crate::log::warn(NS_MODULE, &format!("cannot remove empty cgroup {}: {e}", dir.display()));
                false
            }
        },
        _ => false,
    }
}

/// Finds the usable layout under `root`, or explains for each why not.
pub fn detect(root: &Path) -> Result<CgroupLayout, String> {
    let v2 = match std::fs::read_to_string(root.join("cgroup.controllers")) {
        Err(e) => format!("cgroups v2: cannot read {}: {e}", root.join("cgroup.controllers").display()),
        Ok(c) if !c.split_whitespace().any(|w| w == "cpuset") => {
            format!("cgroups v2: {} does not list the cpuset controller", root.join("cgroup.controllers").display())
        }
        Ok(_) => match writable(root) {
            Ok(()) => return Ok(CgroupLayout::V2),
            Err(e) => format!("cgroups v2: {} is not writable: {e}", root.display()),
        },
    };
    let dir = root.join("cpuset");
    let v1 = if !dir.join("cpuset.cpus").is_file() {
        format!("cgroups v1: no cpuset hierarchy at {} (no cpuset.cpus)", dir.display())
    } else {
        match writable(&dir) {
            Ok(()) => return Ok(CgroupLayout::V1Cpuset),
            Err(e) => format!("cgroups v1: {} is not writable: {e}", dir.display()),
        }
    };
    Err(format!("no usable cpuset cgroup ({v2}; {v1})"))
}

fn writable(p: &Path) -> Result<(), nix::Error> {
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK)
}

fn failed<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> SkipReason + 'a {
    move |source| SkipReason::Failed { step, path: path.to_path_buf(), source }
}

/// `mkdir`; true when this call created it.
fn make_dir(dir: &Path) -> Result<bool, SkipReason> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(failed("create", dir)(e)),
    }
}

/// Writes an existing cgroup control file (never creates one).
fn write_control(path: &Path, value: &str) -> Result<(), SkipReason> {
    std::fs::OpenOptions::new().write(true).open(path).and_then(|mut f| f.write_all(value.as_bytes())).map_err(failed("write", path))
}

fn read_control(path: &Path) -> Result<String, SkipReason> {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).map_err(failed("read", path))
}

/// Enables the cpuset controller for the children of `dir` unless already on.
fn enable_cpuset(dir: &Path) -> Result<(), SkipReason> {
    let ctl = dir.join("cgroup.subtree_control");
    if read_control(&ctl)?.split_whitespace().any(|w| w == "cpuset") {
        return Ok(());
    }
    write_control(&ctl, "+cpuset")
}

/// Makes the parent group of the per-VM groups ready to hold them.
fn prepare_parent(layout: CgroupLayout, root: &Path) -> Result<(), SkipReason> {
    let parent = layout.parent_dir(root);
    match layout {
        CgroupLayout::V2 => {
            make_dir(&parent)?;
            enable_cpuset(root)?;
            enable_cpuset(&parent)
        }
        CgroupLayout::V1Cpuset => {
            make_dir(&parent)?;
            let top = root.join("cpuset");
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if read_control(&parent.join(file))?.is_empty() {
                    let inherited = read_control(&top.join(file))?;
                    write_control(&parent.join(file), &inherited)?;
                }
            }
            Ok(())
        }
    }
}

/// Sets the group's CPUs (and memory nodes) and moves the process in.
fn fill_group(layout: CgroupLayout, root: &Path, group: &Path, cpus: &str, pid: i32) -> Result<(), SkipReason> {
    write_control(&group.join("cpuset.cpus"), cpus)?;
    match layout {
        CgroupLayout::V2 => {
            // The spec's node 0; v2 falls back to the parent's nodes if refused.
            if let Err(e) = write_control(&group.join("cpuset.mems"), "0") {
                crate::log::log(&ns(), &format!("cpuset.mems not set ({e}); the parent's memory nodes apply"));
            }
        }
        CgroupLayout::V1Cpuset => {
            let mems = read_control(&layout.parent_dir(root).join("cpuset.mems"))?;
            write_control(&group.join("cpuset.mems"), &mems)?;
        }
    }
    // cgroup.procs moves every thread of the process (v1's `tasks` would move one).
    write_control(&group.join("cgroup.procs"), &pid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Placement {
        fn to_string_for_test(&self) -> String {
            match self {
                Placement::Skipped(r) => r.to_string(),
                Placement::Placed { group, .. } => group.display().to_string(),
            }
        }
    }

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("iv-cg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn paths_per_layout() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(CgroupLayout::V2.group_dir(root, 42), Path::new("/sys/fs/cgroup/infinivirt.slice/qemu-42.scope"));
        assert_eq!(CgroupLayout::V1Cpuset.group_dir(root, 42), Path::new("/sys/fs/cgroup/cpuset/infinivirt/qemu-42"));
        assert!(CgroupLayout::V2.is_group_name("qemu-1.scope"));
        assert!(!CgroupLayout::V2.is_group_name("qemu-.scope"));
        assert!(!CgroupLayout::V2.is_group_name("qemu-1"));
        assert!(!CgroupLayout::V2.is_group_name("other.scope"));
        assert!(CgroupLayout::V1Cpuset.is_group_name("qemu-77"));
        assert!(!CgroupLayout::V1Cpuset.is_group_name("qemu-77.scope"));
        assert!(!CgroupLayout::V1Cpuset.is_group_name("cpuset.cpus"));
    }

    #[test]
    fn detection_order_and_reasons() {
        let d = temp("detect");
        let err = detect(&d).unwrap_err();
        assert!(err.contains("cgroups v2: cannot read"), "{err}");
        assert!(err.contains("cgroups v1: no cpuset hierarchy"), "{err}");

        std::fs::write(d.join("cgroup.controllers"), "hugetlb\n").unwrap();
        let err = detect(&d).unwrap_err();
        assert!(err.contains("does not list the cpuset controller"), "{err}");

        std::fs::create_dir(d.join("cpuset")).unwrap();
        std::fs::write(d.join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
        assert_eq!(detect(&d), Ok(CgroupLayout::V1Cpuset));

        std::fs::write(d.join("cgroup.controllers"), "cpuset cpu io memory\n").unwrap();
        assert_eq!(detect(&d), Ok(CgroupLayout::V2));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unavailable_skips_with_reason() {
        let d = temp("none");
        let m = CgroupsManager::with_root(&d);
        match m.apply_cpu_pinning(std::process::id().try_into().unwrap(), &[0]) {
            Placement::Skipped(SkipReason::Unavailable(why)) => assert!(why.starts_with("no usable cpuset cgroup"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(m.apply_cpu_pinning(1, &[]), Placement::Skipped(SkipReason::NoCores)));
        assert!(matches!(m.apply_cpu_pinning(0, &[0]), Placement::Skipped(SkipReason::InvalidPid(_))));
        assert_eq!(m.apply_cpu_pinning_js(f64::NAN, &[0.0]).to_string_for_test(), "invalid PID NaN");
        assert_eq!(m.apply_cpu_pinning_js(12.0, &[0.5]).to_string_for_test(), "Invalid CPU core index: 0.5 (must be an integer)");
        assert_eq!(m.cleanup_empty_scopes(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// On a plain directory the control files do not exist: the write fails and the
    /// group made for it is removed again.
    #[test]
    fn failure_removes_the_created_group() {
        let d = temp("fail");
        std::fs::create_dir(d.join("cpuset")).unwrap();
        std::fs::write(d.join("cpuset/cpuset.cpus"), "0\n").unwrap();
        std::fs::write(d.join("cpuset/cpuset.mems"), "0\n").unwrap();
        std::fs::create_dir(d.join("cpuset/infinivirt")).unwrap();
        std::fs::write(d.join("cpuset/infinivirt/cpuset.cpus"), "0\n").unwrap();
        std::fs::write(d.join("cpuset/infinivirt/cpuset.mems"), "0\n").unwrap();
        let m = CgroupsManager::with_root(&d);
        assert_eq!(m.layout(), Ok(CgroupLayout::V1Cpuset));
        match m.apply_cpu_pinning(4242, &[0]) {
            Placement::Skipped(SkipReason::Failed { step: "write", path, .. }) => assert!(path.ends_with("qemu-4242/cpuset.cpus")),
            other => panic!("{other:?}"),
        }
        assert!(!d.join("cpuset/infinivirt/qemu-4242").exists());
        assert!(matches!(m.apply_cpu_pinning(4242, &[-1]), Placement::Skipped(SkipReason::InvalidCores(_))));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// The real thing on this host, when run as root with a usable cpuset hierarchy.
    #[test]
    fn live_placement() {
        let m = CgroupsManager::new();
        if m.layout().is_err() {
            eprintln!("live_placement skipped: not root or no usable cpuset cgroup");
            return;
        }
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let placed = m.apply_cpu_pinning(pid, &[0]);
        let Placement::Placed { group, cpus, .. } = &placed else { panic!("{placed:?}") };
        assert_eq!(cpus, "0");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Cpus_allowed_list:", "0"]), "{status}");
        assert!(!m.remove_group(pid), "a group with a live process stays");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(m.remove_group(pid));
        assert!(!group.exists());
    }
}
