//! The QEMU command of a VM (spec §5.4), assembled from its configuration in the
//! spec's order, with three deliberate differences: the accelerator is the one that
//! really works here (never `-enable-kvm`/`-cpu host` without KVM), a VNC console
//! gets display number `port - 5900` (spec §19 #1), and no display password is ever
//! put on the command line — the lifecycle sets it over QMP before the guest runs.

use std::path::{Path, PathBuf};

use crate::display::spice::{SpiceConfig, SpiceConfigOptions};
use crate::display::vnc::{VncConfig, VncConfigOptions};
use crate::lifecycle::config::normalize;
use crate::qemu::accel::AccelChoice;
use crate::qemu::builder::QemuCommandBuilder;
use crate::qemu::error::QemuError;
use crate::qemu::options::{Accel, BootDevice, CpuModel, DiskOptions, MachineType, NetworkOptions, PinningStrategy, ProcessOptions};
use crate::qemu::pci::rom_inside_allowed_dir;
use crate::secret::Secret;

/// One disk as it goes on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSpec {
    pub path: PathBuf,
    pub format: String,
    pub bus: Option<String>,
    pub cache: Option<String>,
    pub discard: Option<bool>,
}

/// Everything the command depends on, already resolved (spec §5.5 step 9, §5.6 step 13).
#[derive(Debug, Clone)]
pub struct VmCommandSpec {
    pub vm_name: String,
    pub internal_name: String,
    pub uuid: Option<String>,
    pub os: String,
    pub cpu_cores: f64,
    pub ram_gb: f64,
    pub cpu_model: Option<String>,
    pub machine_type: Option<String>,
    pub disk_bus: Option<String>,
    pub disk_cache: Option<String>,
    pub network_model: Option<String>,
    pub network_queues: Option<f64>,
    /// `vhost=on` on a multi-queue NIC (the spec's argv); false where the host has no
    /// usable `/dev/vhost-net`, on which QEMU would not start.
    pub vhost_net: bool,
    pub disks: Vec<DiskSpec>,
    pub tap: String,
    pub mac: String,
    pub memory_balloon: bool,
    pub uefi_firmware: Option<PathBuf>,
    pub uefi_vars: Option<PathBuf>,
    pub hugepages: bool,
    pub display_protocol: String,
    pub display_port: u16,
    pub display_addr: String,
    pub display_password: Option<Secret>,
    pub qmp_socket: PathBuf,
    pub pidfile: PathBuf,
    pub iso_path: Option<PathBuf>,
    /// An unattended install runs: the installer (`iso_path`) boots once, every
    /// later boot (the installer's own reboots) comes from the disk.
    pub installing: bool,
    /// The answer medium of an unattended install, as a second CD-ROM.
    pub install_media: Option<PathBuf>,
    pub gpu_pci_address: Option<String>,
    pub gpu_romfile: Option<String>,
    pub tpm_socket: Option<PathBuf>,
    pub guest_agent_socket: Option<PathBuf>,
    pub infini_service_socket: Option<PathBuf>,
    pub virtio_drivers_iso: Option<PathBuf>,
    pub enable_audio: bool,
    pub enable_usb_tablet: Option<bool>,
    pub numactl_pinning: Option<PinningStrategy>,
    pub strict_display: bool,
}

/// The built command and the password the lifecycle must set over QMP.
pub struct VmCommand {
    pub builder: QemuCommandBuilder,
    pub display_password: Option<Secret>,
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

impl VmCommandSpec {
    /// The queue pairs of the NIC (spec §5.4 step 4): QEMU opens the TAP with this many.
    pub fn network_queue_count(&self) -> u32 {
        normalize::network_queues(self.cpu_cores, self.network_queues)
    }
}

/// Spec §5.4, steps 1–19.
pub fn build_vm_command(s: &VmCommandSpec, accel: &AccelChoice) -> Result<VmCommand, QemuError> {
    let mut b = QemuCommandBuilder::new();
    b.set_strict_display(s.strict_display || b.is_strict_display());
    let kvm = matches!(accel.accel, Accel::Kvm);
    // 1. accelerator, machine, CPU, memory
    let machine = MachineType::parse(normalize::machine_type(s.machine_type.as_deref()))?;
    if kvm {
        b.enable_kvm();
        b.set_machine(&machine, None, None);
    } else {
        b.set_machine(&machine, Some(Accel::Tcg), None);
    }
    let wanted = s.cpu_model.as_deref().unwrap_or("host");
    let model = if !kvm && wanted == "host" { "max" } else { wanted };
    b.set_cpu(&CpuModel::parse(model)?, Some(s.cpu_cores), None, None)?;
    b.set_memory(s.ram_gb)?;
    // 3. disks
    let default_bus = normalize::disk_bus(s.disk_bus.as_deref());
    let default_cache = normalize::disk_cache(s.disk_cache.as_deref());
    let disks = s
        .disks
        .iter()
        .map(|d| {
            DiskOptions::new(
                &path_str(&d.path),
                &d.format,
                d.bus.as_deref().unwrap_or(default_bus),
                d.cache.as_deref().unwrap_or(default_cache),
                d.discard.unwrap_or(true),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    b.add_disks(&disks);
    // 4. network
    let queues = s.network_queue_count();
    let nic = NetworkOptions::new(&s.tap, &s.mac, normalize::network_model(s.network_model.as_deref()), Some(f64::from(queues)))?;
    b.add_network(&nic.with_vhost(s.vhost_net));
    // 5.–7. balloon, firmware, hugepages
    if s.memory_balloon {
        b.add_memory_balloon();
    }
    if let Some(fw) = &s.uefi_firmware {
        b.set_firmware(&path_str(fw))?;
        if let Some(vars) = &s.uefi_vars {
            b.set_uefi_vars(&path_str(vars))?;
        }
    }
    if s.hugepages {
        b.enable_hugepages();
    }
    // 8. display: never a password on the command line
    let password = s.display_password.clone().filter(|p| !p.expose().is_empty());
    match s.display_protocol.as_str() {
        "vnc" => {
            let cfg = VncConfig::new(VncConfigOptions {
                display: Some(f64::from(s.display_port.saturating_sub(5900))),
                addr: Some(s.display_addr.clone()),
                password: Some(password.is_some()),
                password_secret_file: None,
            })?;
            b.add_vnc_config(&cfg)?;
        }
        _ => {
            let cfg = SpiceConfig::new(SpiceConfigOptions {
                port: Some(f64::from(s.display_port)),
                addr: Some(s.display_addr.clone()),
                // With a password: ticketing stays on and QMP set_password fills it in
                // before the guest runs. Without: the original's disable-ticketing.
                disable_ticketing: Some(password.is_none()),
                enable_agent: Some(s.guest_agent_socket.is_none()),
                ..Default::default()
            })?;
            b.add_spice_config(&cfg, 16.0)?;
        }
    }
    // 9.–10. QMP, install media, boot order
    b.add_qmp(&path_str(&s.qmp_socket))?;
    match &s.iso_path {
        Some(iso) if s.installing => {
            b.add_cdrom(&path_str(iso))?;
            b.set_boot_once(&[BootDevice::C], BootDevice::D);
        }
        Some(iso) => {
            b.add_cdrom(&path_str(iso))?;
            b.set_boot_order(&[BootDevice::D, BootDevice::C]);
        }
        None => {
            b.set_boot_order(&[BootDevice::C]);
        }
    }
    if let Some(media) = &s.install_media {
        b.add_second_cdrom(&path_str(media))?;
    }
    // 11. GPU passthrough (ROM directory checked by the builder)
    if let Some(gpu) = &s.gpu_pci_address {
        if let Some(rom) = &s.gpu_romfile {
            if rom_inside_allowed_dir(rom).is_none() {
                let resolved = crate::qemu::pci::resolve_path(rom).display().to_string();
                return Err(crate::lifecycle::error::LifecycleError::InvalidConfig {
                    message: format!(
                        "GPU ROM file must be located in /var/lib/infinivirt/roms/. Configured path '{rom}' resolves to '{resolved}' which is outside the allowed directory."
                    ),
                    vm_id: None,
                    context: None,
                }
                .into());
            }
        }
        b.add_gpu_passthrough(gpu, s.gpu_romfile.as_deref())?;
    }
    // 12.–17. TPM, agent channels, drivers ISO, audio, USB tablet
    if let Some(tpm) = &s.tpm_socket {
        b.add_tpm(&path_str(tpm))?;
    }
    if let Some(ga) = &s.guest_agent_socket {
        b.add_guest_agent_channel(&path_str(ga))?;
    }
    if let Some(inf) = &s.infini_service_socket {
        b.add_infini_service_channel(&path_str(inf))?;
    }
    if let Some(iso) = &s.virtio_drivers_iso {
        b.add_second_cdrom(&path_str(iso))?;
    }
    if s.enable_audio {
        b.add_audio_device();
    }
    if s.enable_usb_tablet.unwrap_or_else(|| s.os.to_lowercase().contains("windows")) {
        b.add_usb_tablet();
    }
    // 18. numactl pinning
    if let Some(strategy) = s.numactl_pinning {
        b.enable_cpu_pinning(strategy, s.cpu_cores);
    }
    // 19. process options
    b.set_process_options(&ProcessOptions::new(&s.vm_name, s.uuid.as_deref(), true, Some(&path_str(&s.pidfile)))?);
    Ok(VmCommand { builder: b, display_password: password })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcg() -> AccelChoice {
        AccelChoice { accel: Accel::Tcg, reason: "test".into() }
    }

    fn kvm() -> AccelChoice {
        AccelChoice { accel: Accel::Kvm, reason: "test".into() }
    }

    fn ubuntu() -> VmCommandSpec {
        VmCommandSpec {
            vm_name: "Test VM".into(),
            internal_name: "vm-abc123".into(),
            uuid: None,
            os: "ubuntu".into(),
            cpu_cores: 4.0,
            ram_gb: 8.0,
            cpu_model: None,
            machine_type: Some("q35".into()),
            disk_bus: Some("virtio".into()),
            disk_cache: Some("writeback".into()),
            network_model: Some("virtio-net-pci".into()),
            network_queues: None,
            vhost_net: true,
            disks: vec![
                DiskSpec { path: "/var/lib/infinivirt/disks/vm-abc123.qcow2".into(), format: "qcow2".into(), bus: None, cache: None, discard: None },
                DiskSpec {
                    path: "/var/lib/infinivirt/disks/vm-abc123-disk1.qcow2".into(),
                    format: "qcow2".into(),
                    bus: None,
                    cache: Some("none".into()),
                    discard: None,
                },
            ],
            tap: "vnet-550e8400e2".into(),
            mac: "52:54:00:e8:45:6c".into(),
            memory_balloon: false,
            uefi_firmware: None,
            uefi_vars: None,
            hugepages: false,
            display_protocol: "spice".into(),
            display_port: 5901,
            display_addr: "0.0.0.0".into(),
            display_password: None,
            qmp_socket: "/var/run/infinivirt/vm-abc123.sock".into(),
            pidfile: "/var/run/infinivirt/pids/vm-abc123.pid".into(),
            iso_path: Some("/iso/ubuntu.iso".into()),
            installing: false,
            install_media: None,
            gpu_pci_address: None,
            gpu_romfile: None,
            tpm_socket: None,
            guest_agent_socket: Some("/var/run/infinivirt/ga.sock".into()),
            infini_service_socket: Some("/opt/infinibay/sockets/x.socket".into()),
            virtio_drivers_iso: None,
            enable_audio: true,
            enable_usb_tablet: None,
            numactl_pinning: None,
            strict_display: false,
        }
    }

    /// Spec §20.8 #97 with KVM: byte-identical to the original.
    #[test]
    fn spec_97_with_kvm() {
        let mut c = build_vm_command(&ubuntu(), &kvm()).unwrap();
        let want: Vec<String> = serde_json::from_str(r#"["-enable-kvm","-machine","q35","-cpu","host","-smp","cores=4","-m","8G","-drive","file=/var/lib/infinivirt/disks/vm-abc123.qcow2,format=qcow2,if=virtio,cache=writeback,index=0,discard=unmap","-drive","file=/var/lib/infinivirt/disks/vm-abc123-disk1.qcow2,format=qcow2,if=virtio,cache=none,index=1,discard=unmap","-netdev","tap,id=net0,ifname=vnet-550e8400e2,script=no,downscript=no,queues=4,vhost=on","-device","virtio-net-pci,netdev=net0,mac=52:54:00:e8:45:6c,mq=on,vectors=10","-spice","port=5901,addr=0.0.0.0,disable-ticketing=on,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on","-vga","qxl","-qmp","unix:/var/run/infinivirt/vm-abc123.sock,server,nowait","-cdrom","/iso/ubuntu.iso","-boot","order=dc","-device","virtio-serial-pci,id=virtio-serial0","-chardev","socket,path=/var/run/infinivirt/ga.sock,server=on,wait=off,id=chagent0","-device","virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0","-chardev","socket,path=/opt/infinibay/sockets/x.socket,server=on,wait=off,id=chinfini0","-device","virtserialport,chardev=chinfini0,name=org.infinibay.agent","-device","intel-hda","-device","hda-duplex,audiodev=audio0","-audiodev","spice,id=audio0","-name","Test VM","-daemonize","-pidfile","/var/run/infinivirt/pids/vm-abc123.pid"]"#).unwrap();
        assert_eq!(c.builder.build(), want);
    }

    #[test]
    fn without_vhost_net_the_nic_keeps_its_queues_only() {
        let mut s = ubuntu();
        s.vhost_net = false;
        let a = build_vm_command(&s, &tcg()).unwrap().builder.build();
        assert!(a.contains(&"tap,id=net0,ifname=vnet-550e8400e2,script=no,downscript=no,queues=4".to_string()), "{a:?}");
        assert!(a.contains(&"virtio-net-pci,netdev=net0,mac=52:54:00:e8:45:6c,mq=on,vectors=10".to_string()));
        s.cpu_cores = 1.0;
        assert_eq!(s.network_queue_count(), 1);
        let a = build_vm_command(&s, &tcg()).unwrap().builder.build();
        assert!(a.contains(&"tap,id=net0,ifname=vnet-550e8400e2,script=no,downscript=no".to_string()), "{a:?}");
    }

    #[test]
    fn tcg_never_gets_kvm_or_cpu_host() {
        let a = build_vm_command(&ubuntu(), &tcg()).unwrap().builder.build();
        assert_eq!(a[..6], ["-machine", "q35,accel=tcg", "-cpu", "max", "-smp", "cores=4"]);
        assert!(!a.contains(&"-enable-kvm".to_string()));
    }

    #[test]
    fn spec_98_windows_and_password_never_on_argv() {
        let mut s = ubuntu();
        s.os = "Windows 11".into();
        s.display_password = Some(Secret::new("pw"));
        s.memory_balloon = true;
        s.network_queues = Some(2.0);
        s.guest_agent_socket = None;
        s.infini_service_socket = None;
        s.iso_path = None;
        s.enable_audio = false;
        let c = build_vm_command(&s, &kvm()).unwrap();
        let mut b = c.builder;
        let a = b.build();
        let joined = a.join(" ");
        assert!(!joined.contains("pw"), "the password is set over QMP, not on the command line");
        assert!(!joined.contains("disable-ticketing"), "ticketing stays on until QMP sets the password");
        assert_eq!(c.display_password.as_ref().map(Secret::expose), Some("pw"));
        let nic = a.iter().position(|x| x.starts_with("virtio-net-pci,")).unwrap();
        assert_eq!(a[nic + 1..nic + 3], ["-device", "virtio-balloon-pci"]);
        assert!(joined.contains("virtserialport,chardev=spicechannel0,name=com.redhat.spice.0"));
        assert!(joined.contains("-boot order=c -device qemu-xhci,id=usb -device usb-tablet -name"));
    }

    #[test]
    fn an_install_boots_the_installer_once_then_the_disk() {
        let mut s = ubuntu();
        s.installing = true;
        s.install_media = Some("/var/lib/infinivirt/unattended/vm-abc123/answers.iso".into());
        let args = build_vm_command(&s, &kvm()).unwrap().builder.build();
        let joined = args.join(" ");
        assert!(joined.contains("-cdrom /iso/ubuntu.iso -boot order=c,once=d"), "{joined}");
        assert!(!joined.contains("order=dc"));
        assert!(joined.contains(
            "-drive file=/var/lib/infinivirt/unattended/vm-abc123/answers.iso,if=none,media=cdrom,readonly=on,id=cdrom1 -device ide-cd,drive=cdrom1"
        ));
    }

    #[test]
    fn spec_99_vnc_uses_the_display_number() {
        let mut s = ubuntu();
        s.display_protocol = "vnc".into();
        s.display_port = 5907;
        s.display_addr = "127.0.0.1".into();
        let a = build_vm_command(&s, &tcg()).unwrap().builder.build();
        let i = a.iter().position(|x| x == "-vnc").unwrap();
        assert_eq!(a[i + 1], "127.0.0.1:7");
    }

    #[test]
    fn spec_100_gpu_rom_outside_dir() {
        let mut s = ubuntu();
        s.gpu_pci_address = Some("01:00.0".into());
        s.gpu_romfile = Some("/etc/x.rom".into());
        let e = build_vm_command(&s, &tcg()).err().unwrap();
        assert_eq!(
            e.to_string(),
            "GPU ROM file must be located in /var/lib/infinivirt/roms/. Configured path '/etc/x.rom' resolves to '/etc/x.rom' which is outside the allowed directory."
        );
    }
}
