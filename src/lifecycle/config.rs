//! `VMCreateConfig` (spec §17.9), its validation (§5.2), value normalisation (§5.3)
//! and derived names and paths (§5.1).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use super::error::{LifecycleError, LifecycleErrorCode};

/// One disk of a create request.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiskConfig {
    #[serde(default, rename = "sizeGB")]
    pub size_gb: Option<f64>,
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub bus: Option<String>,
    #[serde(default)]
    pub cache: Option<String>,
    #[serde(default)]
    pub discard: Option<bool>,
    /// API-next §3: create the disk as a qcow2 overlay on this golden image.
    #[serde(default)]
    pub backing_file: Option<String>,
}

/// The create request as the backend sends it; optional fields accept `null`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VmCreateConfig {
    #[serde(default)]
    pub vm_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub internal_name: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub cpu_cores: Option<f64>,
    #[serde(default, rename = "ramGB")]
    pub ram_gb: Option<f64>,
    #[serde(default)]
    pub disks: Option<Vec<DiskConfig>>,
    #[serde(default)]
    pub bridge: Option<String>,
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub display_type: Option<String>,
    #[serde(default)]
    pub display_port: Option<f64>,
    #[serde(default)]
    pub display_password: Option<String>,
    #[serde(default)]
    pub display_addr: Option<String>,
    #[serde(default)]
    pub gpu_pci_address: Option<String>,
    #[serde(default)]
    pub gpu_romfile: Option<String>,
    #[serde(default)]
    pub machine_type: Option<String>,
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
    pub disk_bus: Option<String>,
    #[serde(default)]
    pub disk_cache_mode: Option<String>,
    #[serde(default)]
    pub network_model: Option<String>,
    #[serde(default)]
    pub network_queues: Option<f64>,
    #[serde(default)]
    pub memory_balloon: Option<bool>,
    #[serde(default)]
    pub hugepages: Option<bool>,
    #[serde(default)]
    pub uefi_firmware: Option<String>,
    #[serde(default)]
    pub iso_path: Option<String>,
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub unattended_install: Option<serde_json::Value>,
    #[serde(default)]
    pub cpu_pinning: Option<Vec<f64>>,
    #[serde(default)]
    pub enable_numa_ctl_pinning: Option<bool>,
    #[serde(default)]
    pub cpu_pinning_strategy: Option<String>,
    #[serde(default)]
    pub tpm_socket_path: Option<String>,
    #[serde(default)]
    pub guest_agent_socket_path: Option<String>,
    #[serde(default)]
    pub infini_service_socket_path: Option<String>,
    #[serde(default)]
    pub virtio_drivers_iso: Option<String>,
    #[serde(default)]
    pub enable_audio: Option<bool>,
    #[serde(default)]
    pub enable_usb_tablet: Option<bool>,
}

/// `v >= min`, with a missing value or NaN counting as too small.
fn at_least(v: Option<f64>, min: f64) -> bool {
    v.is_some_and(|n| n >= min)
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|v| v.trim().is_empty())
}

/// Spec §5.2: every check runs, in order; the error lists them all.
pub fn validate_create(c: &VmCreateConfig) -> Result<(), LifecycleError> {
    let mut errors: Vec<String> = Vec::new();
    let mut check = |bad: bool, msg: &str| {
        if bad {
            errors.push(msg.to_string());
        }
    };
    check(blank(&c.vm_id), "VM database ID (vmId) is required");
    check(blank(&c.name), "VM name is required");
    check(blank(&c.internal_name), "VM internal name is required");
    check(blank(&c.os), "OS type is required");
    check(!at_least(c.cpu_cores, 1.0), "CPU cores must be at least 1");
    check(!at_least(c.ram_gb, 0.5), "RAM must be at least 0.5 GB");
    match c.disks.as_deref() {
        None | Some([]) => errors.push("At least one disk configuration is required".into()),
        Some(disks) => {
            for (i, d) in disks.iter().enumerate() {
                // A clone's size defaults to its golden image's (which may be
                // smaller than 1 GB); one given must be positive (and, checked when
                // the golden image is read, no smaller than it).
                if d.backing_file.is_some() {
                    if d.size_gb.is_some_and(|s| !at_least(Some(s), f64::MIN_POSITIVE)) {
                        errors.push(format!("Disk {i}: size must be positive"));
                    }
                } else if !at_least(d.size_gb, 1.0) {
                    errors.push(format!("Disk {i}: size must be at least 1 GB"));
                }
            }
        }
    }
    let mut check = |bad: bool, msg: &str| {
        if bad {
            errors.push(msg.to_string());
        }
    };
    check(blank(&c.bridge), "Network bridge is required");
    check(!matches!(c.display_type.as_deref(), Some("spice" | "vnc")), "Display type must be \"spice\" or \"vnc\"");
    check(!at_least(c.display_port, 0.0), "Display port is required and must be non-negative");
    if let Some(s) = c.cpu_pinning_strategy.as_deref() {
        if !matches!(s, "basic" | "hybrid") {
            errors.push(format!("Invalid cpuPinningStrategy: '{s}'. Must be 'basic' or 'hybrid'"));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(LifecycleError::InvalidConfig {
        message: format!("Invalid VM configuration: {}", errors.join(", ")),
        vm_id: c.vm_id.clone(),
        context: Some(json!({ "errors": errors })),
    })
}

/// Spec §5.3 normalisation: accepted values pass, anything else falls back.
pub mod normalize {
    pub fn machine_type(v: Option<&str>) -> &'static str {
        match v {
            Some("pc") => "pc",
            _ => "q35",
        }
    }

    pub fn disk_bus(v: Option<&str>) -> &'static str {
        match v {
            Some("scsi") => "scsi",
            Some("ide") => "ide",
            Some("sata") => "sata",
            _ => "virtio",
        }
    }

    /// `directsync` is deliberately not accepted here (spec §5.3).
    pub fn disk_cache(v: Option<&str>) -> &'static str {
        match v {
            Some("writethrough") => "writethrough",
            Some("none") => "none",
            Some("unsafe") => "unsafe",
            _ => "writeback",
        }
    }

    pub fn network_model(v: Option<&str>) -> &'static str {
        match v {
            Some("e1000") => "e1000",
            _ => "virtio-net-pci",
        }
    }

    /// `None` stays `None`; anything but `hybrid` becomes `basic`.
    pub fn pinning_strategy(v: Option<&str>) -> Option<&'static str> {
        v.map(|s| if s == "hybrid" { "hybrid" } else { "basic" })
    }

    /// An integer in 5900..=65535, else 5900.
    pub fn display_port(v: Option<f64>) -> u16 {
        match v {
            Some(p) if p.fract() == 0.0 && (5900.0..=65535.0).contains(&p) => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // range-checked
                let port = p as u16;
                port
            }
            _ => 5900,
        }
    }

    /// Configured → clamp to 1..=4; absent → min(cores, 4).
    pub fn network_queues(cpu_cores: f64, configured: Option<f64>) -> u32 {
        let clamp = |v: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to 1..=4
            let q = v.clamp(1.0, 4.0).floor() as u32;
            q
        };
        match configured {
            Some(c) if c.is_finite() => clamp(c),
            Some(_) => 1,
            None => clamp(if cpu_cores.is_finite() { cpu_cores } else { 1.0 }),
        }
    }
}

/// On-disk names of one VM (spec §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    pub disks: Vec<PathBuf>,
    pub qmp_socket: PathBuf,
    pub pidfile: PathBuf,
}

/// `<diskDir>/<name>.qcow2`, `<name>-disk1.qcow2`, …; `<qmpDir>/<name>.sock`; `<pidDir>/<name>.pid`.
pub fn vm_paths(internal_name: &str, disk_count: usize, disk_dir: &Path, qmp_dir: &Path, pid_dir: &Path) -> VmPaths {
    let disks = (0..disk_count)
        .map(|i| if i == 0 { disk_dir.join(format!("{internal_name}.qcow2")) } else { disk_dir.join(format!("{internal_name}-disk{i}.qcow2")) })
        .collect();
    VmPaths { disks, qmp_socket: qmp_dir.join(format!("{internal_name}.sock")), pidfile: pid_dir.join(format!("{internal_name}.pid")) }
}

/// A VM's internal name must be a single safe path component.
pub fn check_internal_name(name: &str) -> Result<(), LifecycleError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(LifecycleError::InvalidArgument {
            field: "internalName".into(),
            reason: format!("must be 1-128 characters of letters, digits, '-', '_' or '.', got '{name}'"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    #[test]
    fn spec_93_paths() {
        let p = vm_paths("vm-abc", 3, Path::new("/dd"), Path::new("/qq"), Path::new("/pp"));
        assert_eq!(p.disks, [PathBuf::from("/dd/vm-abc.qcow2"), PathBuf::from("/dd/vm-abc-disk1.qcow2"), PathBuf::from("/dd/vm-abc-disk2.qcow2")]);
        assert_eq!(p.qmp_socket, PathBuf::from("/qq/vm-abc.sock"));
        assert_eq!(p.pidfile, PathBuf::from("/pp/vm-abc.pid"));
    }

    #[test]
    fn spec_94_queues() {
        use normalize::network_queues as q;
        assert_eq!([q(1.0, None), q(2.0, None), q(8.0, None), q(4.0, Some(0.0)), q(4.0, Some(9.0)), q(16.0, Some(1.0))], [1, 2, 4, 1, 4, 1]);
    }

    #[test]
    fn spec_95_normalisation() {
        use normalize::*;
        assert_eq!(machine_type(Some("i440fx")), "q35");
        assert_eq!(disk_bus(Some("nvme")), "virtio");
        assert_eq!(disk_cache(Some("directsync")), "writeback");
        assert_eq!(network_model(Some("rtl8139")), "virtio-net-pci");
        assert_eq!(pinning_strategy(Some("x")), Some("basic"));
        assert_eq!(pinning_strategy(None), None);
        assert_eq!([display_port(Some(65536.0)), display_port(Some(5899.0)), display_port(Some(5901.5)), display_port(Some(5901.0))], [5900, 5900, 5900, 5901]);
    }

    #[test]
    fn spec_96_validation() {
        let c: VmCreateConfig = serde_json::from_value(json!({
            "vmId": " ", "name": "", "internalName": "", "os": "", "cpuCores": 0, "ramGB": 0.25,
            "disks": [{"sizeGB": 0}, {"sizeGB": 1}], "bridge": "", "displayType": "rdp", "cpuPinningStrategy": "x"
        }))
        .unwrap();
        let e = validate_create(&c).unwrap_err();
        assert_eq!(e.code(), "INVALID_CONFIG");
        assert_eq!(
            e.to_string(),
            "Invalid VM configuration: VM database ID (vmId) is required, VM name is required, VM internal name is required, OS type is required, CPU cores must be at least 1, RAM must be at least 0.5 GB, Disk 0: size must be at least 1 GB, Network bridge is required, Display type must be \"spice\" or \"vnc\", Display port is required and must be non-negative, Invalid cpuPinningStrategy: 'x'. Must be 'basic' or 'hybrid'"
        );
        assert_eq!(e.fields()["context"]["errors"].as_array().unwrap().len(), 11);
        let c: VmCreateConfig = serde_json::from_value(json!({
            "vmId": "v", "name": "n", "internalName": "i", "os": "ubuntu", "cpuCores": 1, "ramGB": 1,
            "disks": [], "bridge": "br0", "displayType": "spice", "displayPort": 5900
        }))
        .unwrap();
        assert_eq!(validate_create(&c).unwrap_err().to_string(), "Invalid VM configuration: At least one disk configuration is required");
    }

    #[test]
    fn a_clone_disk_may_leave_its_size_to_the_golden_image() {
        let with = |disks: serde_json::Value| -> VmCreateConfig {
            serde_json::from_value(json!({
                "vmId": "v", "name": "n", "internalName": "i", "os": "ubuntu", "cpuCores": 1, "ramGB": 1,
                "disks": disks, "bridge": "br0", "displayType": "spice", "displayPort": 5900
            }))
            .unwrap()
        };
        assert!(validate_create(&with(json!([{"backingFile": "/g/desktop.qcow2"}]))).is_ok());
        assert!(validate_create(&with(json!([{"backingFile": "/g/desktop.qcow2", "sizeGB": 0.5}]))).is_ok());
        assert_eq!(
            validate_create(&with(json!([{"backingFile": "/g/d.qcow2", "sizeGB": 0}]))).unwrap_err().to_string(),
            "Invalid VM configuration: Disk 0: size must be positive"
        );
        assert!(validate_create(&with(json!([{}]))).is_err(), "a plain disk still needs a size");
    }

    #[test]
    fn internal_names_are_single_components() {
        assert!(check_internal_name("vm-abc_1.2").is_ok());
        for bad in ["", "..", "a/b", "a b", "x\n"] {
            assert!(check_internal_name(bad).is_err(), "{bad:?}");
        }
    }
}

/// Spec §5.5 step 8: the VM's OS and its unattended installer's target must agree
/// (`INVALID_CONFIG` naming both otherwise).
pub fn check_unattended_os(vm_id: Option<&str>, vm_os: &str, target: &str) -> Result<(), LifecycleError> {
    let (os, t) = (vm_os.to_lowercase(), target.to_lowercase());
    let matches = os == t
        || (os.contains("ubuntu") && t == "ubuntu")
        || (os.contains("windows") && (t == "windows10" || t == "windows11"))
        || (os.contains("fedora") && t == "fedora")
        || ((os.contains("redhat") || os.contains("rhel")) && t == "fedora");
    if matches {
        return Ok(());
    }
    Err(LifecycleError::failed(
        LifecycleErrorCode::INVALID_CONFIG,
        format!("Unattended installation OS mismatch: VM os='{vm_os}' but unattendedInstall.os='{target}'. These must match to ensure the correct installation ISO is generated."),
        vm_id,
        Some(json!({ "vmOs": os, "unattendedOs": t })),
    ))
}

/// The QMP device name of the installer CD-ROM (`-cdrom`): IDE bus 1 on `pc`, the
/// AHCI port 2 on `q35`.
pub fn installer_cd_device(machine_type: Option<&str>) -> &'static str {
    if machine_type == Some("pc") {
        "ide1-cd0"
    } else {
        "ide2-cd0"
    }
}

#[cfg(test)]
mod unattended_os_tests {
    use super::*;

    #[test]
    fn os_and_target_must_agree() {
        assert!(check_unattended_os(None, "Ubuntu-22.04", "ubuntu").is_ok());
        assert!(check_unattended_os(None, "windows11", "windows10").is_ok());
        assert!(check_unattended_os(None, "rhel9", "fedora").is_ok());
        let e = check_unattended_os(Some("vm1"), "ubuntu", "windows11").unwrap_err();
        assert_eq!(crate::error::ErrorShape::code(&e), "INVALID_CONFIG");
        assert_eq!(installer_cd_device(Some("pc")), "ide1-cd0");
        assert_eq!(installer_cd_device(None), "ide2-cd0");
    }
}
