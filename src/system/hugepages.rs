//! Hugepages for guest RAM (`-mem-path /dev/hugepages`): the spec's usability check
//! (§5.3) plus a capacity preflight, so a VM asking for hugepages is refused (or
//! falls back) with a reason instead of QEMU failing or the host thrashing later.
//!
//! Capacity: the pages still available are `free - reserved` (reserved pages are
//! promised to mappings that have not touched them yet) of the page size the
//! `/dev/hugepages` mount uses (`pagesize=` mount option, else the kernel default
//! `Hugepagesize`). They must cover the whole guest RAM, since QEMU preallocates it
//! (`-mem-prealloc`).

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::{ErrorShape, JsClass};

/// Where QEMU maps guest RAM from.
pub const HUGEPAGES_DIR: &str = "/dev/hugepages";

/// The `HugePages_*` counters of `/proc/meminfo` (pages) and the default page size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeminfoHugepages {
    pub total: u64,
    pub free: u64,
    pub reserved: u64,
    pub surplus: u64,
    pub page_size_kib: u64,
}

/// Parses the hugepage lines of `/proc/meminfo`; `None` when the kernel has no
/// hugetlb support (no `Hugepagesize` line).
pub fn parse_meminfo(text: &str) -> Option<MeminfoHugepages> {
    let mut m = MeminfoHugepages::default();
    let mut seen_size = false;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let Some(n) = rest.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()) else { continue };
        match key.trim() {
            "HugePages_Total" => m.total = n,
            "HugePages_Free" => m.free = n,
            "HugePages_Rsvd" => m.reserved = n,
            "HugePages_Surp" => m.surplus = n,
            "Hugepagesize" => {
                m.page_size_kib = n;
                seen_size = true;
            }
            _ => {}
        }
    }
    seen_size.then_some(m)
}

/// `pagesize=2M` / `1G` / `2048k` (a `hugetlbfs` mount option) in KiB.
pub fn parse_page_size(v: &str) -> Option<u64> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" => return (n % 1024 == 0).then_some(n / 1024), // bytes
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 1024,
        "g" | "gb" | "gib" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// The `hugetlbfs` mount at `dir` in `/proc/mounts` text: `Some(page size option)`
/// when mounted (`Some(None)` without a `pagesize=` option), `None` when not mounted.
pub fn find_mount(mounts: &str, dir: &str) -> Option<Option<u64>> {
    mounts.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) == Some(&dir) && f.get(2) == Some(&"hugetlbfs") {
            let size = f.get(3).and_then(|o| o.split(',').find_map(|kv| kv.strip_prefix("pagesize=")).and_then(parse_page_size));
            Some(size)
        } else {
            None
        }
    })
}

/// Pages of `page_kib` needed for `ram_bytes` (rounded up).
pub fn pages_needed(ram_bytes: u64, page_kib: u64) -> u64 {
    let page = page_kib.saturating_mul(1024).max(1);
    ram_bytes.div_ceil(page)
}

/// Guest RAM in bytes from the spec's `ramGB` (fractions allowed, negatives → 0).
pub fn ram_gb_to_bytes(ram_gb: f64) -> u64 {
    if !ram_gb.is_finite() || ram_gb <= 0.0 {
        return 0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // positive, finite, saturating cast
    let b = (ram_gb * 1024.0 * 1024.0 * 1024.0).ceil() as u64;
    b
}

/// Hugepages can back the VM: what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HugepagesReady {
    pub page_size_kib: u64,
    pub available_pages: u64,
    pub needed_pages: u64,
}

/// Why hugepages cannot back the VM.
#[derive(Debug, thiserror::Error)]
pub enum HugepagesError {
    #[error("{} is not accessible for reading and writing: {errno}", path.display())]
    NotAccessible { path: PathBuf, errno: nix::Error },
    #[error("{} is not a mounted hugetlbfs", path.display())]
    NotMounted { path: PathBuf },
    #[error("cannot read hugepage counters from {source_path}: {reason}")]
    Counters { source_path: String, reason: String },
    #[error("no hugepages of {page_size_kib} kB are configured on this host (HugePages_Total is 0)")]
    NoneConfigured { page_size_kib: u64 },
    #[error("not enough free hugepages: the VM needs {needed_pages} pages of {page_size_kib} kB ({} MiB) but {available_pages} are available", ram_bytes / (1024 * 1024))]
    Insufficient { needed_pages: u64, available_pages: u64, page_size_kib: u64, ram_bytes: u64 },
}

impl ErrorShape for HugepagesError {
    fn code(&self) -> &'static str {
        match self {
            HugepagesError::NotAccessible { .. } | HugepagesError::NotMounted { .. } | HugepagesError::Counters { .. } => "HUGEPAGES_UNAVAILABLE",
            HugepagesError::NoneConfigured { .. } | HugepagesError::Insufficient { .. } => "HUGEPAGES_INSUFFICIENT",
        }
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            HugepagesError::Insufficient { needed_pages, available_pages, page_size_kib, .. } => {
                let ctx = json!({ "neededPages": needed_pages, "availablePages": available_pages, "pageSizeKiB": page_size_kib });
                crate::error::fields([("context", Some(ctx))])
            }
            _ => Map::new(),
        }
    }
}

/// Capacity check from counters already read (pure; see the module comment).
pub fn check_capacity(ram_bytes: u64, page_size_kib: u64, total: u64, free: u64, reserved: u64) -> Result<HugepagesReady, HugepagesError> {
    if total == 0 {
        return Err(HugepagesError::NoneConfigured { page_size_kib });
    }
    let available_pages = free.saturating_sub(reserved);
    let needed_pages = pages_needed(ram_bytes, page_size_kib);
    if available_pages < needed_pages {
        return Err(HugepagesError::Insufficient { needed_pages, available_pages, page_size_kib, ram_bytes });
    }
    Ok(HugepagesReady { page_size_kib, available_pages, needed_pages })
}

/// Spec §5.3: `/dev/hugepages` is R+W accessible and a mounted `hugetlbfs`. Returns
/// the mount's page size option.
pub fn check_usable() -> Result<Option<u64>, HugepagesError> {
    check_usable_at(Path::new(HUGEPAGES_DIR), "/proc/mounts")
}

fn check_usable_at(dir: &Path, mounts_file: &str) -> Result<Option<u64>, HugepagesError> {
    use nix::unistd::{access, AccessFlags};
    access(dir, AccessFlags::R_OK | AccessFlags::W_OK).map_err(|errno| HugepagesError::NotAccessible { path: dir.to_path_buf(), errno })?;
    let mounts = std::fs::read_to_string(mounts_file).map_err(|e| HugepagesError::Counters { source_path: mounts_file.to_string(), reason: e.to_string() })?;
    find_mount(&mounts, &dir.to_string_lossy()).ok_or_else(|| HugepagesError::NotMounted { path: dir.to_path_buf() })
}

/// The spec's check plus capacity for `ram_bytes` of guest RAM. The lifecycle either
/// refuses the VM with this error or starts it without hugepages and a warning.
pub fn preflight(ram_bytes: u64) -> Result<HugepagesReady, HugepagesError> {
    let mount_page = check_usable()?;
    let meminfo_text =
        std::fs::read_to_string("/proc/meminfo").map_err(|e| HugepagesError::Counters { source_path: "/proc/meminfo".into(), reason: e.to_string() })?;
    let m =
        parse_meminfo(&meminfo_text).ok_or_else(|| HugepagesError::Counters { source_path: "/proc/meminfo".into(), reason: "no Hugepagesize line".into() })?;
    match mount_page.filter(|p| *p != m.page_size_kib) {
        None => check_capacity(ram_bytes, m.page_size_kib, m.total, m.free, m.reserved),
        // A mount with a non-default page size: that pool's own counters.
        Some(kib) => {
            let pool = PathBuf::from(format!("/sys/kernel/mm/hugepages/hugepages-{kib}kB"));
            let read = |f: &str| -> Result<u64, HugepagesError> {
                let p = pool.join(f);
                std::fs::read_to_string(&p)
                    .map_err(|e| e.to_string())
                    .and_then(|s| s.trim().parse::<u64>().map_err(|e| e.to_string()))
                    .map_err(|reason| HugepagesError::Counters { source_path: p.display().to_string(), reason })
            };
            check_capacity(ram_bytes, kib, read("nr_hugepages")?, read("free_hugepages")?, read("resv_hugepages")?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16303412 kB\nMemFree:         1234567 kB\nAnonHugePages:         0 kB\n\
HugePages_Total:    2048\nHugePages_Free:     1500\nHugePages_Rsvd:      100\nHugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:         4194304 kB\n";

    #[test]
    fn meminfo() {
        assert_eq!(parse_meminfo(MEMINFO), Some(MeminfoHugepages { total: 2048, free: 1500, reserved: 100, surplus: 0, page_size_kib: 2048 }));
        assert_eq!(parse_meminfo("MemTotal: 1 kB\n"), None);
        let none = parse_meminfo("HugePages_Total:       0\nHugePages_Free:        0\nHugepagesize:       2048 kB\n").unwrap();
        assert_eq!((none.total, none.page_size_kib), (0, 2048));
    }

    #[test]
    fn capacity() {
        let gib = 1024 * 1024 * 1024;
        // 1400 usable 2 MiB pages = 2800 MiB: 2 GiB fits, 3 GiB does not.
        let ok = check_capacity(2 * gib, 2048, 2048, 1500, 100).unwrap();
        assert_eq!(ok, HugepagesReady { page_size_kib: 2048, available_pages: 1400, needed_pages: 1024 });
        let e = check_capacity(3 * gib, 2048, 2048, 1500, 100).unwrap_err();
        assert_eq!(e.to_string(), "not enough free hugepages: the VM needs 1536 pages of 2048 kB (3072 MiB) but 1400 are available");
        assert_eq!(e.code(), "HUGEPAGES_INSUFFICIENT");
        let e = check_capacity(gib, 2048, 0, 0, 0).unwrap_err();
        assert_eq!(e.to_string(), "no hugepages of 2048 kB are configured on this host (HugePages_Total is 0)");
        // 1 GiB pages: 1.5 GiB needs 2 pages.
        assert_eq!(check_capacity(ram_gb_to_bytes(1.5), 1024 * 1024, 4, 2, 0).unwrap().needed_pages, 2);
        assert!(check_capacity(ram_gb_to_bytes(1.5), 1024 * 1024, 4, 2, 1).is_err());
    }

    #[test]
    fn mounts_and_sizes() {
        let mounts = "proc /proc proc rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=1G 0 0\n";
        assert_eq!(find_mount(mounts, "/dev/hugepages"), Some(Some(1024 * 1024)));
        assert_eq!(find_mount("none /dev/hugepages hugetlbfs rw,relatime 0 0\n", "/dev/hugepages"), Some(None));
        assert_eq!(find_mount("tmpfs /dev/hugepages tmpfs rw 0 0\n", "/dev/hugepages"), None);
        assert_eq!(parse_page_size("2M"), Some(2048));
        assert_eq!(parse_page_size("2048k"), Some(2048));
        assert_eq!(parse_page_size("1G"), Some(1_048_576));
        assert_eq!(parse_page_size("2097152"), Some(2048));
        assert_eq!(parse_page_size("x"), None);
        assert_eq!(pages_needed(1, 2048), 1);
        assert_eq!(ram_gb_to_bytes(-1.0), 0);
        assert_eq!(ram_gb_to_bytes(f64::NAN), 0);
    }

    #[test]
    fn not_mounted_dir() {
        let d = std::env::temp_dir().join(format!("iv-hp-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let mounts = d.join("mounts");
        std::fs::write(&mounts, "proc /proc proc rw 0 0\n").unwrap();
        let e = check_usable_at(&d, mounts.to_str().unwrap()).unwrap_err();
        assert_eq!(e.to_string(), format!("{} is not a mounted hugetlbfs", d.display()));
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// This host: whatever it has, the answer is either ready or a clear reason.
    #[test]
    fn live_host_reason() {
        match preflight(ram_gb_to_bytes(1.0)) {
            Ok(r) => assert!(r.available_pages >= r.needed_pages),
            Err(e) => {
                let msg = e.to_string();
                let text = std::fs::read_to_string("/proc/meminfo").unwrap();
                let hp = parse_meminfo(&text).unwrap();
                if !Path::new(HUGEPAGES_DIR).exists() {
                    assert!(matches!(e, HugepagesError::NotAccessible { .. }), "{msg}");
                    assert!(msg.starts_with("/dev/hugepages is not accessible for reading and writing: ENOENT"), "{msg}");
                } else if hp.total == 0 {
                    assert!(matches!(e, HugepagesError::NoneConfigured { .. } | HugepagesError::NotMounted { .. }), "{msg}");
                }
            }
        }
    }
}
