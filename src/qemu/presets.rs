//! Driver presets by guest OS (spec §15): which disk bus, cache and NIC suit a guest.

/// The preset family of a guest OS (internal; not the unattended `OSType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OsFamily {
    Windows,
    Linux,
    Legacy,
    Default,
}

impl OsFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Windows => "windows",
            OsFamily::Linux => "linux",
            OsFamily::Legacy => "legacy",
            OsFamily::Default => "default",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverPreset {
    pub disk_bus: &'static str,
    pub disk_cache_mode: &'static str,
    pub network_model: &'static str,
    /// Advisory only; the lifecycle computes queues from the CPU count.
    pub network_queues: u32,
    pub display_protocol: &'static str,
}

pub fn driver_preset(family: OsFamily) -> DriverPreset {
    match family {
        OsFamily::Windows => {
            DriverPreset { disk_bus: "virtio", disk_cache_mode: "none", network_model: "virtio-net-pci", network_queues: 4, display_protocol: "spice" }
        }
        OsFamily::Linux => {
            DriverPreset { disk_bus: "virtio", disk_cache_mode: "writeback", network_model: "virtio-net-pci", network_queues: 2, display_protocol: "spice" }
        }
        OsFamily::Legacy => {
            DriverPreset { disk_bus: "ide", disk_cache_mode: "writethrough", network_model: "e1000", network_queues: 1, display_protocol: "vnc" }
        }
        OsFamily::Default => {
            DriverPreset { disk_bus: "virtio", disk_cache_mode: "writeback", network_model: "virtio-net-pci", network_queues: 2, display_protocol: "spice" }
        }
    }
}

/// `detectOSType`: the first matching rule of spec §15 on the trimmed, lower-cased name.
pub fn detect_os_family(os: Option<&str>) -> OsFamily {
    let s = os.unwrap_or("").trim().to_lowercase();
    if s.is_empty() {
        return OsFamily::Default;
    }
    const WIN_SUFFIX: [&str; 4] = ["xp", "vista", "server", "nt"];
    let win_tail = |rest: &str| rest.starts_with(|c: char| c.is_ascii_digit()) || WIN_SUFFIX.iter().any(|w| rest.starts_with(w));
    // 1. windows\s*(\d+|xp|vista|server|nt) anywhere
    let rule1 = s.match_indices("windows").any(|(i, w)| win_tail(s[i + w.len()..].trim_start()));
    // 2. ^win(\d+|xp|vista|server|nt)   3. ^windows$
    if rule1 || s.strip_prefix("win").is_some_and(win_tail) || s == "windows" {
        return OsFamily::Windows;
    }
    // win(95|98|me|3\.) and windows\s*(95|98|me|3\.)
    let legacy_tail = |rest: &str| ["95", "98", "me", "3."].iter().any(|t| rest.starts_with(t));
    let legacy_win = s.match_indices("win").any(|(i, w)| {
        let rest = &s[i + w.len()..];
        legacy_tail(rest) || rest.strip_prefix("dows").is_some_and(|r| legacy_tail(r.trim_start()))
    });
    if s.contains("dos") || legacy_win || ["freebsd", "openbsd", "netbsd", "dragonfly"].iter().any(|k| s.contains(k)) {
        return OsFamily::Legacy;
    }
    const LINUX: [&str; 25] = [
        "ubuntu",
        "debian",
        "fedora",
        "centos",
        "rhel",
        "redhat",
        "rocky",
        "alma",
        "arch",
        "manjaro",
        "opensuse",
        "suse",
        "gentoo",
        "slackware",
        "mint",
        "popos",
        "pop_os",
        "pop!os",
        "elementary",
        "kali",
        "parrot",
        "nixos",
        "void",
        "alpine",
        "linux",
    ];
    if LINUX.iter().any(|k| s.contains(k)) {
        return OsFamily::Linux;
    }
    if ["macos", "darwin", "osx"].iter().any(|k| s.contains(k)) {
        return OsFamily::Legacy;
    }
    OsFamily::Default
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_111() {
        let cases = [
            ("Ubuntu 22.04", "linux"),
            ("windows10", "windows"),
            ("Windows 98", "windows"),
            ("win98", "windows"),
            ("Win95", "windows"),
            ("FreeDOS", "legacy"),
            ("MS-DOS", "legacy"),
            ("FreeBSD 14", "legacy"),
            ("macOS", "legacy"),
            ("solaris", "default"),
            ("", "default"),
            ("Windows", "windows"),
            ("Windows Server 2022", "windows"),
            ("Pop!_OS", "default"),
            ("pop_os", "linux"),
            ("Linux", "linux"),
            ("Windows ME", "legacy"),
        ];
        for (os, want) in cases {
            assert_eq!(detect_os_family(Some(os)).as_str(), want, "{os}");
        }
        assert_eq!(detect_os_family(None), OsFamily::Default);
    }

    #[test]
    fn presets() {
        assert_eq!(driver_preset(OsFamily::Windows).disk_cache_mode, "none");
        assert_eq!(driver_preset(OsFamily::Legacy).network_model, "e1000");
    }
}
