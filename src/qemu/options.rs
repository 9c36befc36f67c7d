//! Typed inputs of the command builder: closed enums and validated option structs.
//!
//! Every constructor here is the one place a JS value becomes something that may
//! reach QEMU's argv; after this point nothing is re-checked or re-escaped.

use crate::lifecycle::error::LifecycleError;
use crate::network::mac;

use super::value::{check_text, int_in, invalid, opt_path, opt_token};

/// Declares a closed enum parsed from its QEMU spelling.
macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($v),+ }
        impl $name {
            pub const ALL: &'static [&'static str] = &[$($s),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Result<Self, LifecycleError> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(invalid($field, &format!("must be one of {}, got '{}'", Self::ALL.join(", "), s))),
                }
            }
        }
    };
}

closed_enum!(
    /// `-drive format=` (the spec's `DiskOptions.format` plus the image formats qemu-img makes).
    DiskFormat, "disk format" { Qcow2 = "qcow2", Raw = "raw", Vmdk = "vmdk", Vdi = "vdi", Vhdx = "vhdx" }
);
closed_enum!(
    /// `-drive if=` (spec `DiskBus`).
    DiskBus, "disk bus" { Virtio = "virtio", Sata = "sata", Scsi = "scsi", Ide = "ide" }
);
closed_enum!(
    /// `-drive cache=` (spec `CacheMode`).
    CacheMode, "disk cache mode" {
        None = "none", Writeback = "writeback", Writethrough = "writethrough", Directsync = "directsync", Unsafe = "unsafe",
    }
);
closed_enum!(
    /// NIC device models (spec `NetworkOptions.model`).
    NicModel, "network model" { VirtioNetPci = "virtio-net-pci", E1000 = "e1000" }
);
closed_enum!(
    /// `-boot order=` letters (spec `BootDevice`).
    BootDevice, "boot device" { C = "c", D = "d", N = "n" }
);
closed_enum!(
    /// `-machine accel=`.
    Accel, "machine accel" { Kvm = "kvm", Tcg = "tcg", KvmTcg = "kvm:tcg", TcgKvm = "tcg:kvm" }
);
closed_enum!(
    /// `-machine kernel-irqchip=`.
    KernelIrqchip, "kernel-irqchip" { On = "on", Off = "off", Split = "split" }
);
closed_enum!(
    /// Spec `PinningStrategy`.
    PinningStrategy, "pinning strategy" { Basic = "basic", Hybrid = "hybrid", None = "none" }
);

/// `-machine` type: `q35`, `pc`, a versioned `pc-q35-X.Y` / `pc-i440fx-X.Y`, or `microvm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineType(String);

impl MachineType {
    pub fn parse(s: &str) -> Result<Self, LifecycleError> {
        let versioned = |p: &str| {
            s.strip_prefix(p).is_some_and(|v| {
                let mut it = v.split('.');
                let ok = |x: Option<&str>| x.is_some_and(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
                ok(it.next()) && ok(it.next()) && it.next().is_none()
            })
        };
        if matches!(s, "q35" | "pc" | "microvm") || versioned("pc-q35-") || versioned("pc-i440fx-") {
            Ok(MachineType(s.to_string()))
        } else {
            Err(invalid("machine type", &format!("must be q35, pc, microvm or a versioned pc-q35-X.Y / pc-i440fx-X.Y, got '{s}'")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A `-cpu` model name such as `host`, `max` or `Skylake-Client-v4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuModel(String);

impl CpuModel {
    pub fn parse(s: &str) -> Result<Self, LifecycleError> {
        let ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(CpuModel(s.to_string()))
        } else {
            Err(invalid("cpu model", &format!("must be letters, digits, '-', '_' or '.', got '{s}'")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Linux interface name usable as a TAP: 1–15 of `[A-Za-z0-9_.-]` (the network
/// managers' rule, `crate::network::ifname::IfName`, so both accept the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfName(String);

impl IfName {
    pub fn parse(s: &str) -> Result<Self, LifecycleError> {
        if crate::network::ifname::IfName::problem(s).is_none() {
            Ok(IfName(s.to_string()))
        } else {
            Err(invalid("TAP name", &format!("must be 1-15 characters of letters, digits, '-', '_' or '.', got '{s}'")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One `-drive` of a disk image (spec `DiskOptions`), path already escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    pub(crate) path: String,
    pub(crate) format: DiskFormat,
    pub(crate) bus: DiskBus,
    pub(crate) cache: CacheMode,
    pub(crate) discard: bool,
}

impl DiskOptions {
    pub fn new(path: &str, format: &str, bus: &str, cache: &str, discard: bool) -> Result<Self, LifecycleError> {
        Ok(DiskOptions {
            path: opt_path("disk path", path)?,
            format: DiskFormat::parse(format)?,
            bus: DiskBus::parse(bus)?,
            cache: CacheMode::parse(cache)?,
            discard,
        })
    }
}

/// The TAP NIC (spec `NetworkOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    pub(crate) tap: IfName,
    pub(crate) mac: String,
    pub(crate) model: NicModel,
    pub(crate) queues: u32,
    /// `vhost=on` with several queues (the spec's argv). The lifecycle turns it off
    /// where the host has no usable `/dev/vhost-net` (QEMU would not start).
    pub(crate) vhost: bool,
}

/// Upper bound for virtio-net queue pairs (QEMU's own limit is 1024; the lifecycle uses ≤ 4).
pub const MAX_QUEUES: i64 = 256;

impl NetworkOptions {
    pub fn new(tap: &str, mac_addr: &str, model: &str, queues: Option<f64>) -> Result<Self, LifecycleError> {
        if !mac::validate(mac_addr) {
            return Err(invalid("MAC address", &format!("must look like 52:54:00:aa:bb:cc, got '{mac_addr}'")));
        }
        let queues = match queues {
            None => 1,
            Some(q) => u32::try_from(int_in("network queues", q, 0, MAX_QUEUES)?).unwrap_or(1),
        };
        Ok(NetworkOptions { tap: IfName::parse(tap)?, mac: mac_addr.to_string(), model: NicModel::parse(model)?, queues, vhost: true })
    }

    /// These options with or without `vhost=on` (it only appears with several queues).
    #[must_use]
    pub fn with_vhost(mut self, vhost: bool) -> Self {
        self.vhost = vhost;
        self
    }
}

/// `-name`, `-uuid`, `-daemonize`, `-pidfile` (spec `QemuProcessOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOptions {
    pub(crate) name: String,
    pub(crate) uuid: Option<String>,
    pub(crate) daemonize: bool,
    pub(crate) pidfile: Option<String>,
}

impl ProcessOptions {
    pub fn new(name: &str, uuid: Option<&str>, daemonize: bool, pidfile: Option<&str>) -> Result<Self, LifecycleError> {
        check_text("VM name", name)?;
        if name.contains('=') {
            return Err(invalid("VM name", &format!("must not contain '=' ('{name}')")));
        }
        // `-uuid` is a whole argv element (QEMU checks the UUID syntax itself).
        let uuid = uuid.filter(|u| !u.is_empty()).map(|u| check_text("uuid", u).map(|()| u.to_string()));
        let pidfile = pidfile.filter(|p| !p.is_empty()).map(|p| check_text("pidfile", p).map(|()| p.to_string()));
        Ok(ProcessOptions {
            // `-name` is parsed as QEMU options: a comma would start a new option.
            name: super::value::escape_commas(name),
            uuid: uuid.transpose()?,
            daemonize,
            pidfile: pidfile.transpose()?,
        })
    }
}

/// A `virtserialport` channel name such as `org.qemu.guest_agent.0`.
pub fn channel_name(s: &str) -> Result<String, LifecycleError> {
    opt_token("channel name", s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_enums() {
        assert_eq!(CacheMode::parse("none").unwrap(), CacheMode::None);
        assert!(CacheMode::parse("none,readonly=on").is_err());
        assert!(DiskBus::parse("nvme").is_err());
        assert!(NicModel::parse("rtl8139").is_err());
        assert!(DiskFormat::parse("QCOW2").is_err());
    }

    #[test]
    fn machine_types() {
        for ok in ["q35", "pc", "microvm", "pc-q35-8.2", "pc-i440fx-10.0"] {
            assert!(MachineType::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "q35,accel=tcg", "pc-q35-", "pc-q35-8", "virt", "pc-q35-8.2.1"] {
            assert!(MachineType::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ifnames() {
        assert!(IfName::parse("vnet-550e8400e2").is_ok());
        for bad in ["", "vnet-550e8400e2x", "a,b", "a b", "a/b", "..", "tap\n"] {
            assert!(IfName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn process_options() {
        let p = ProcessOptions::new("My VM", Some("123e4567-e89b-12d3-a456-426614174000"), true, Some("/p.pid")).unwrap();
        assert_eq!(p.name, "My VM");
        assert_eq!(ProcessOptions::new("vm,debug-threads", None, false, None).unwrap().name, "vm,,debug-threads");
        assert!(ProcessOptions::new("vm,debug-threads=on", None, false, None).is_err());
        assert!(ProcessOptions::new("", None, false, None).is_err());
        assert!(ProcessOptions::new("x", Some("u-1\n"), false, None).is_err());
    }
}
