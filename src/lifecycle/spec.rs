//! `VmSpec`: the one description of a VM's QEMU that create and start share. It is
//! built from a create request or from the stored row, and yields both the command
//! (`command.rs`) and the runtime columns recorded once the VM runs, so the two
//! operations cannot drift apart.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::command::{DiskSpec, VmCommandSpec};
use super::config::{normalize, VmCreateConfig, VmPaths};
use crate::qemu::options::PinningStrategy;
use crate::qemu::presets::{detect_os_family, driver_preset};
use crate::state::records::{MachineConfigUpdate, VmConfigRecord};

/// Host facts resolved by the caller before the spec is built (they touch the host).
pub(super) struct Resolved {
    pub tap: String,
    pub uuid: Option<String>,
    pub uefi_firmware: Option<PathBuf>,
    pub uefi_vars: Option<PathBuf>,
    pub hugepages: bool,
    /// Whether a multi-queue NIC gets `vhost=on` (see [`vhost_for`]).
    pub vhost_net: bool,
}

/// `vhost=on` is on the command line only with several queues; for those, whether the
/// host's `/dev/vhost-net` opens (QEMU does not start when it does not).
pub(super) fn vhost_for(queues: u32) -> bool {
    queues <= 1 || crate::qemu::vhost::usable()
}

pub(super) struct VmSpec {
    pub cmd: VmCommandSpec,
    pub bridge: String,
    /// The display password as the request or row had it (recorded unchanged).
    password: Option<String>,
    /// Columns only this source records beside the common runtime ones.
    extra: Map<String, Value>,
}

/// The numactl strategy a VM asked for (spec §5.4 step 18).
pub(super) fn numactl_strategy(enabled: Option<bool>, strategy: Option<&str>) -> Option<PinningStrategy> {
    if enabled != Some(true) {
        return None;
    }
    Some(if normalize::pinning_strategy(strategy) == Some("hybrid") { PinningStrategy::Hybrid } else { PinningStrategy::Basic })
}

fn path_string(p: &Path) -> String {
    p.display().to_string()
}

impl VmSpec {
    /// The NIC's queue count a create will give QEMU, known before the TAP is made
    /// (the TAP must be multi-queue exactly when it is above one).
    pub fn create_queues(c: &VmCreateConfig) -> u32 {
        normalize::network_queues(c.cpu_cores.unwrap_or(1.0), c.network_queues)
    }

    /// The same for a start from the stored row ([`Self::from_row`]'s command).
    pub fn row_queues(vm: &VmConfigRecord) -> u32 {
        let stored = vm.configuration.as_ref().and_then(|c| c.network_queues);
        #[allow(clippy::cast_precision_loss)] // small integers from the database
        let (cores, stored) = (vm.cpu_cores as f64, stored.map(|q| q as f64));
        normalize::network_queues(cores, stored)
    }

    /// Spec §5.5 step 9: the request's values, else the OS preset's, normalised.
    pub fn from_create(c: &VmCreateConfig, vm_id: &str, paths: &VmPaths, install_media: Option<&Path>, cores: &[i64], r: Resolved) -> Self {
        let preset = driver_preset(detect_os_family(c.os.as_deref()));
        let disks = c.disks.clone().unwrap_or_default();
        let cpu_cores = c.cpu_cores.unwrap_or(1.0);
        let os_windows = c.os.as_deref().unwrap_or("").to_lowercase().contains("windows");
        let cmd = VmCommandSpec {
            vm_name: c.name.clone().unwrap_or_default(),
            internal_name: c.internal_name.clone().unwrap_or_default(),
            uuid: r.uuid,
            os: c.os.clone().unwrap_or_default(),
            cpu_cores,
            ram_gb: c.ram_gb.unwrap_or(1.0),
            cpu_model: Some(c.cpu_model.clone().unwrap_or_else(|| "host".into())),
            machine_type: Some(normalize::machine_type(c.machine_type.as_deref()).to_string()),
            disk_bus: Some(normalize::disk_bus(Some(c.disk_bus.as_deref().unwrap_or(preset.disk_bus))).to_string()),
            disk_cache: Some(normalize::disk_cache(Some(c.disk_cache_mode.as_deref().unwrap_or(preset.disk_cache_mode))).to_string()),
            network_model: Some(normalize::network_model(Some(c.network_model.as_deref().unwrap_or(preset.network_model))).to_string()),
            network_queues: Some(f64::from(Self::create_queues(c))),
            vhost_net: r.vhost_net,
            disks: disks
                .iter()
                .zip(&paths.disks)
                .map(|(d, p)| DiskSpec {
                    path: p.clone(),
                    format: d.format.clone().unwrap_or_else(|| "qcow2".into()),
                    bus: d.bus.clone(),
                    cache: d.cache.clone(),
                    discard: d.discard,
                })
                .collect(),
            tap: r.tap,
            mac: c.mac_address.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| crate::network::mac::generate_from_vm_id(vm_id)),
            memory_balloon: c.memory_balloon.unwrap_or(false),
            uefi_firmware: r.uefi_firmware.clone(),
            uefi_vars: r.uefi_vars,
            hugepages: r.hugepages,
            display_protocol: c.display_type.clone().unwrap_or_else(|| "spice".into()),
            display_port: normalize::display_port(c.display_port),
            display_addr: c.display_addr.clone().unwrap_or_else(|| "0.0.0.0".into()),
            display_password: c.display_password.clone().filter(|p| !p.is_empty()).map(crate::secret::Secret::new),
            qmp_socket: paths.qmp_socket.clone(),
            pidfile: paths.pidfile.clone(),
            iso_path: c.iso_path.as_deref().map(PathBuf::from),
            installing: install_media.is_some(),
            install_media: install_media.map(Path::to_path_buf),
            gpu_pci_address: c.gpu_pci_address.clone(),
            gpu_romfile: c.gpu_romfile.clone(),
            tpm_socket: c.tpm_socket_path.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            guest_agent_socket: c.guest_agent_socket_path.as_deref().map(PathBuf::from),
            infini_service_socket: c.infini_service_socket_path.as_deref().map(PathBuf::from),
            virtio_drivers_iso: c.virtio_drivers_iso.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            enable_audio: c.enable_audio.unwrap_or(false),
            enable_usb_tablet: c.enable_usb_tablet,
            numactl_pinning: numactl_strategy(c.enable_numa_ctl_pinning, c.cpu_pinning_strategy.as_deref()),
            strict_display: false,
        };
        // Everything start needs to restore the VM (spec §19 #2–#6: the original dropped some).
        let extra = json!({
            "uefiFirmware": r.uefi_firmware.as_deref().map(path_string),
            "hugepages": r.hugepages,
            "cpuPinning": Some(cores).filter(|v| !v.is_empty()).map(|v| json!({ "cores": v })),
            "tpmSocketPath": c.tpm_socket_path,
            "guestAgentSocketPath": c.guest_agent_socket_path,
            "infiniServiceSocketPath": c.infini_service_socket_path,
            "virtioDriversIso": c.virtio_drivers_iso,
            "enableAudio": c.enable_audio.unwrap_or(false),
            "enableUsbTablet": c.enable_usb_tablet.unwrap_or(os_windows),
            "enableNumaCtlPinning": c.enable_numa_ctl_pinning.unwrap_or(false),
            "cpuPinningStrategy": normalize::pinning_strategy(c.cpu_pinning_strategy.as_deref()),
        });
        VmSpec { cmd, bridge: c.bridge.clone().unwrap_or_default(), password: c.display_password.clone(), extra: into_map(extra) }
    }

    /// Spec §5.6 step 13: the stored values, normalised; `disk_paths` and the
    /// InfiniService socket as the caller resolved them.
    pub fn from_row(vm: &VmConfigRecord, paths: &VmPaths, disk_paths: &[PathBuf], infini_socket: &Path, r: Resolved) -> Self {
        let conf = vm.configuration.clone().unwrap_or_default();
        #[allow(clippy::cast_precision_loss)] // small integers from the database
        let (cpu_cores, ram_gb, queues, port) =
            (vm.cpu_cores as f64, vm.ram_gb as f64, conf.network_queues.map(|q| q as f64), conf.graphic_port.map(|p| p as f64));
        let cmd = VmCommandSpec {
            vm_name: vm.name.clone(),
            internal_name: vm.internal_name.clone(),
            uuid: r.uuid,
            os: vm.os.clone(),
            cpu_cores,
            ram_gb,
            cpu_model: Some(conf.cpu_model.clone().unwrap_or_else(|| "host".into())),
            machine_type: Some(normalize::machine_type(conf.machine_type.as_deref()).to_string()),
            disk_bus: Some(normalize::disk_bus(conf.disk_bus.as_deref()).to_string()),
            disk_cache: Some(normalize::disk_cache(conf.disk_cache_mode.as_deref()).to_string()),
            network_model: Some(normalize::network_model(conf.network_model.as_deref()).to_string()),
            network_queues: queues,
            vhost_net: r.vhost_net,
            disks: disk_paths.iter().map(|p| DiskSpec { path: p.clone(), format: "qcow2".into(), bus: None, cache: None, discard: None }).collect(),
            tap: r.tap,
            mac: crate::network::mac::generate_from_vm_id(&vm.id),
            memory_balloon: conf.memory_balloon.unwrap_or(false),
            uefi_firmware: r.uefi_firmware,
            uefi_vars: r.uefi_vars,
            hugepages: r.hugepages,
            display_protocol: conf.graphic_protocol.clone().unwrap_or_else(|| "spice".into()),
            // The stored port is tried first, so a VM keeps its console port across
            // runs when it is free (spec §19 #4: the original always searched from 5900).
            display_port: normalize::display_port(port),
            display_addr: conf.graphic_host.clone().unwrap_or_else(|| "0.0.0.0".into()),
            display_password: conf.graphic_password.clone().filter(|p| !p.is_empty()).map(crate::secret::Secret::new),
            qmp_socket: paths.qmp_socket.clone(),
            pidfile: paths.pidfile.clone(),
            iso_path: None,
            installing: false,
            install_media: None,
            gpu_pci_address: vm.gpu_pci_address.clone(),
            gpu_romfile: None,
            tpm_socket: conf.tpm_socket_path.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            guest_agent_socket: conf.guest_agent_socket_path.as_deref().map(PathBuf::from),
            infini_service_socket: Some(infini_socket.to_path_buf()),
            virtio_drivers_iso: conf.virtio_drivers_iso.as_deref().map(PathBuf::from).filter(|p| p.exists()),
            enable_audio: conf.enable_audio.unwrap_or(false),
            enable_usb_tablet: conf.enable_usb_tablet,
            numactl_pinning: numactl_strategy(conf.enable_numa_ctl_pinning, conf.cpu_pinning_strategy.as_deref()),
            strict_display: false,
        };
        let mut extra = into_map(json!({ "infiniServiceSocketPath": path_string(infini_socket) }));
        // The stored queue count is kept as it was (none stays none).
        extra.insert("networkQueues".into(), json!(conf.network_queues));
        VmSpec { cmd, bridge: conf.bridge.clone().unwrap_or_else(|| "virbr0".into()), password: conf.graphic_password, extra }
    }

    /// The runtime columns recorded once QEMU (`pid`) runs: the same for create and
    /// start, plus what only the source knows.
    pub fn runtime_update(&self, pid: i32) -> Result<MachineConfigUpdate, String> {
        let s = &self.cmd;
        let mut v = into_map(json!({
            "qmpSocketPath": path_string(&s.qmp_socket),
            "qemuPid": pid,
            "tapDeviceName": s.tap,
            "graphicProtocol": s.display_protocol,
            "graphicPort": s.display_port,
            "graphicPassword": self.password,
            "graphicHost": s.display_addr,
            "bridge": self.bridge,
            "machineType": s.machine_type,
            "cpuModel": s.cpu_model,
            "diskBus": s.disk_bus,
            "diskCacheMode": s.disk_cache,
            "networkModel": s.network_model,
            "networkQueues": s.network_queues.map(queue_count),
            "memoryBalloon": s.memory_balloon,
            "diskPaths": s.disks.iter().map(|d| path_string(&d.path)).collect::<Vec<_>>(),
        }));
        v.extend(self.extra.clone());
        MachineConfigUpdate::from_json(&Value::Object(v))
    }
}

#[allow(clippy::cast_possible_truncation)] // a validated small count
fn queue_count(q: f64) -> i64 {
    q.round() as i64
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::records::ExtendedMachineConfigurationRecord;

    fn resolved() -> Resolved {
        Resolved { tap: "vnet-vm1".into(), uuid: None, uefi_firmware: None, uefi_vars: None, hugepages: false, vhost_net: true }
    }

    fn paths() -> VmPaths {
        VmPaths { disks: vec!["/d/vm-one.qcow2".into()], qmp_socket: "/r/vm-one.sock".into(), pidfile: "/p/vm-one.pid".into() }
    }

    /// The TAP is made for the count computed before the command exists; the command
    /// must then ask for exactly that many queues.
    #[test]
    fn the_queue_count_known_before_the_tap_is_the_commands() {
        for (cores, stored, want) in [(1, None, 1), (2, None, 2), (8, None, 4), (2, Some(1), 1), (1, Some(3), 3), (4, Some(0), 1), (4, Some(9), 4)] {
            let conf = ExtendedMachineConfigurationRecord { network_queues: stored, ..Default::default() };
            let vm = VmConfigRecord {
                id: "vm-1".into(),
                status: crate::state::status::VmStatus::Off,
                name: "One".into(),
                internal_name: "vm-one".into(),
                os: "ubuntu".into(),
                cpu_cores: cores,
                ram_gb: 1,
                disk_size_gb: 1,
                gpu_pci_address: None,
                version: 0,
                configuration: Some(conf),
                firewall_rule_set: None,
                department: None,
            };
            assert_eq!(VmSpec::row_queues(&vm), want, "row {cores} cores, stored {stored:?}");
            let spec = VmSpec::from_row(&vm, &paths(), &paths().disks, Path::new("/r/x.socket"), resolved());
            assert_eq!(spec.cmd.network_queue_count(), want);

            #[allow(clippy::cast_precision_loss)]
            let c = VmCreateConfig { cpu_cores: Some(cores as f64), network_queues: stored.map(|q| q as f64), ..Default::default() };
            assert_eq!(VmSpec::create_queues(&c), want, "create {cores} cores, {stored:?}");
            let spec = VmSpec::from_create(&c, "vm-1", &paths(), None, &[], resolved());
            assert_eq!(spec.cmd.network_queue_count(), want);
        }
    }
}
