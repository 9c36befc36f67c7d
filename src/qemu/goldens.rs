//! Argv goldens: every QemuCommandBuilder example of spec §20.1 (items 1–35).

use super::builder::{PlainSpice, PlainVnc, QemuCommandBuilder};
use super::options::*;
use crate::display::spice::{SpiceConfig, SpiceConfigOptions};
use crate::display::vnc::{VncConfig, VncConfigOptions};
use crate::error::ErrorShape;
use crate::secret::Secret;

fn b() -> QemuCommandBuilder {
    let mut b = QemuCommandBuilder::new();
    b.set_strict_display(false);
    b
}

fn argv(b: &mut QemuCommandBuilder) -> Vec<String> {
    b.build()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn disk(path: &str, format: &str, bus: &str, cache: &str, discard: bool) -> DiskOptions {
    DiskOptions::new(path, format, bus, cache, discard).unwrap()
}

fn spice(port: f64, addr: &str) -> PlainSpice {
    PlainSpice { port, addr: addr.into(), enable_agent: true, ..Default::default() }
}

fn spice_cfg(o: SpiceConfigOptions) -> SpiceConfig {
    SpiceConfig::new(o).unwrap()
}

const AGENT: [&str; 6] = [
    "-device",
    "virtio-serial-pci,id=virtio-serial0",
    "-device",
    "virtserialport,chardev=spicechannel0,name=com.redhat.spice.0",
    "-chardev",
    "spicevmc,id=spicechannel0,name=vdagent",
];

#[test]
fn g01_enable_kvm() {
    let mut x = b();
    x.enable_kvm();
    assert_eq!(x.binary(), "qemu-system-x86_64");
    assert_eq!(argv(&mut x), s(&["-enable-kvm"]));
}

#[test]
fn g02_03_machine() {
    let mut x = b();
    x.set_machine(&MachineType::parse("q35").unwrap(), None, None);
    assert_eq!(argv(&mut x), s(&["-machine", "q35"]));
    let mut x = b();
    x.set_machine(&MachineType::parse("q35").unwrap(), Some(Accel::Kvm), Some(KernelIrqchip::On));
    assert_eq!(argv(&mut x), s(&["-machine", "q35,accel=kvm,kernel-irqchip=on"]));
}

#[test]
fn g04_05_cpu() {
    let host = CpuModel::parse("host").unwrap();
    let mut x = b();
    x.set_cpu(&host, Some(4.0), None, None).unwrap();
    assert_eq!(argv(&mut x), s(&["-cpu", "host", "-smp", "cores=4"]));
    let mut x = b();
    x.set_cpu(&host, None, None, None).unwrap();
    assert_eq!(argv(&mut x), s(&["-cpu", "host"]));
    let mut x = b();
    x.set_cpu(&host, Some(4.0), Some(2.0), Some(1.0)).unwrap();
    assert_eq!(argv(&mut x), s(&["-cpu", "host", "-smp", "cores=4,threads=2,sockets=1"]));
    let mut x = b();
    x.set_cpu(&host, None, Some(2.0), None).unwrap();
    assert_eq!(argv(&mut x), s(&["-cpu", "host"]));
}

#[test]
fn g06_memory() {
    let mut x = b();
    x.set_memory(8.0).unwrap();
    assert_eq!(argv(&mut x), s(&["-m", "8G"]));
    let mut x = b();
    x.set_memory(0.5).unwrap();
    assert_eq!(argv(&mut x), s(&["-m", "0.5G"]));
}

#[test]
fn g07_disks() {
    let mut x = b();
    x.add_disks(&[disk("/d/a.qcow2", "qcow2", "virtio", "writeback", true), disk("/d/b.raw", "raw", "sata", "none", false)]);
    assert_eq!(
        argv(&mut x),
        s(&[
            "-drive",
            "file=/d/a.qcow2,format=qcow2,if=virtio,cache=writeback,index=0,discard=unmap",
            "-drive",
            "file=/d/b.raw,format=raw,if=sata,cache=none,index=1",
        ])
    );
}

#[test]
fn add_disk_counts_across_calls() {
    let mut x = b();
    x.add_disk(&disk("/a", "qcow2", "virtio", "none", false));
    x.add_disk(&disk("/b", "raw", "ide", "none", false));
    assert_eq!(argv(&mut x), s(&["-drive", "file=/a,format=qcow2,if=virtio,cache=none,index=0", "-drive", "file=/b,format=raw,if=ide,cache=none,index=1"]));
}

#[test]
fn g08_09_10_network() {
    let mut x = b();
    x.add_network(&NetworkOptions::new("vnet-abc", "52:54:00:aa:bb:cc", "virtio-net-pci", Some(1.0)).unwrap());
    assert_eq!(
        argv(&mut x),
        s(&["-netdev", "tap,id=net0,ifname=vnet-abc,script=no,downscript=no", "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc"])
    );
    let mut x = b();
    x.add_network(&NetworkOptions::new("vnet-abc", "52:54:00:aa:bb:cc", "virtio-net-pci", Some(4.0)).unwrap());
    assert_eq!(
        argv(&mut x),
        s(&[
            "-netdev",
            "tap,id=net0,ifname=vnet-abc,script=no,downscript=no,queues=4,vhost=on",
            "-device",
            "virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc,mq=on,vectors=10",
        ])
    );
    let mut x = b();
    x.add_network(&NetworkOptions::new("vnet-abc", "52:54:00:aa:bb:cc", "virtio-net-pci", Some(2.0)).unwrap());
    assert!(argv(&mut x)[3].ends_with(",mq=on,vectors=6"));
    let mut x = b();
    x.add_network(&NetworkOptions::new("t0", "52:54:00:00:00:01", "e1000", None).unwrap());
    assert_eq!(argv(&mut x), s(&["-netdev", "tap,id=net0,ifname=t0,script=no,downscript=no", "-device", "e1000,netdev=net0,mac=52:54:00:00:00:01"]));
}

#[test]
fn g11_12_13_plain_spice() {
    let mut x = b();
    x.add_spice_plain(&PlainSpice { password: Some(Secret::new("pw")), ..spice(5901.0, "0.0.0.0") }, 16.0).unwrap();
    let mut want = s(&["-spice", "port=5901,addr=0.0.0.0,password=pw", "-vga", "qxl"]);
    want.extend(s(&AGENT));
    assert_eq!(argv(&mut x), want);

    let mut x = b();
    x.add_spice_plain(&PlainSpice { disable_ticketing: true, enable_agent: false, ..spice(5901.0, "0.0.0.0") }, 16.0).unwrap();
    assert_eq!(argv(&mut x), s(&["-spice", "port=5901,addr=0.0.0.0,disable-ticketing=on", "-vga", "qxl"]));

    let mut x = b();
    x.add_spice_plain(&spice(5901.0, "0.0.0.0"), 64.0).unwrap();
    let mut want = s(&["-spice", "port=5901,addr=0.0.0.0", "-device", "qxl-vga,vgamem_mb=64"]);
    want.extend(s(&AGENT));
    assert_eq!(argv(&mut x), want);
}

#[test]
fn g14_15_spice_config() {
    let mut x = b();
    x.add_spice_config(&spice_cfg(SpiceConfigOptions { port: Some(5901.0), ..Default::default() }), 16.0).unwrap();
    let mut want = s(&[
        "-spice",
        "port=5901,addr=0.0.0.0,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on",
        "-vga",
        "qxl",
    ]);
    want.extend(s(&AGENT));
    assert_eq!(argv(&mut x), want);

    let mut x = b();
    let cfg = spice_cfg(SpiceConfigOptions {
        port: Some(5902.0),
        addr: Some("127.0.0.1".into()),
        password: Some("x".into()),
        enable_agent: Some(false),
        ..Default::default()
    });
    x.add_spice_config(&cfg, 64.0).unwrap();
    assert_eq!(
        argv(&mut x),
        s(&[
            "-spice",
            "port=5902,addr=127.0.0.1,password=x,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on",
            "-vga",
            "none",
            "-device",
            "qxl-vga,vgamem_mb=64",
        ])
    );
}

#[test]
fn g16_virtio_serial_once() {
    let mut x = b();
    x.add_spice_config(&spice_cfg(SpiceConfigOptions { port: Some(5901.0), ..Default::default() }), 16.0).unwrap();
    x.add_guest_agent_channel("/run/ga.sock").unwrap();
    let a = argv(&mut x);
    assert_eq!(a.iter().filter(|v| *v == "virtio-serial-pci,id=virtio-serial0").count(), 1);
    let tail =
        s(&["-chardev", "socket,path=/run/ga.sock,server=on,wait=off,id=chagent0", "-device", "virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0"]);
    assert_eq!(a[a.len() - 4..], tail[..]);
}

#[test]
fn g17_vnc() {
    let mut x = b();
    x.add_vnc_plain(&PlainVnc { display: 1.0, addr: "0.0.0.0".into(), password: true, password_secret_file: None }).unwrap();
    assert_eq!(argv(&mut x), s(&["-vnc", "0.0.0.0:1,password=on", "-vga", "std"]));
    let mut x = b();
    x.add_vnc_config(&VncConfig::new(VncConfigOptions { display: Some(3.0), ..Default::default() }).unwrap()).unwrap();
    assert_eq!(argv(&mut x), s(&["-vnc", "0.0.0.0:3", "-vga", "std"]));
}

#[test]
fn g18_19_qmp_cdrom_boot() {
    let mut x = b();
    x.add_qmp("/var/run/infinivirt/vm1.sock").unwrap();
    assert_eq!(argv(&mut x), s(&["-qmp", "unix:/var/run/infinivirt/vm1.sock,server,nowait"]));
    let mut x = b();
    x.add_cdrom("/iso/x.iso").unwrap();
    x.set_boot_order(&[BootDevice::D, BootDevice::C]);
    assert_eq!(argv(&mut x), s(&["-cdrom", "/iso/x.iso", "-boot", "order=dc"]));
}

#[test]
fn g20_to_25_passthrough() {
    let mut x = b();
    x.add_gpu_passthrough("01:00.0", None).unwrap();
    assert_eq!(argv(&mut x), s(&["-device", "vfio-pci,host=01:00.0,multifunction=on"]));

    let mut x = b();
    x.add_gpu_passthrough("0000:01:00.0", Some("/var/lib/infinivirt/roms/gpu.rom")).unwrap();
    assert_eq!(argv(&mut x), s(&["-device", "vfio-pci,host=0000:01:00.0,multifunction=on,romfile=/var/lib/infinivirt/roms/gpu.rom"]));

    let e = b().add_gpu_passthrough("01:00.0", Some("/tmp/x.rom")).unwrap_err();
    assert_eq!(e.to_string(), "ROM file must be in /var/lib/infinivirt/roms/. Attempted path: /tmp/x.rom");
    assert!(b().add_gpu_passthrough("01:00.0", Some("/var/lib/infinivirt/roms/../x.rom")).is_err());

    let e = b().add_gpu_passthrough("zz", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid PCI address 'zz': Invalid PCI address format 'zz'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit"
    );
    assert_eq!(e.code(), "INVALID_CONFIG");

    let mut x = b();
    x.add_gpu_with_audio("01:00.0", "01:00.1", None).unwrap();
    assert_eq!(argv(&mut x), s(&["-device", "vfio-pci,host=01:00.0,multifunction=on", "-device", "vfio-pci,host=01:00.1"]));
    let mut x = b();
    let e = x.add_gpu_with_audio("01:00.0", "01:00.0", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "GPU and audio PCI addresses must differ. Both were set to '01:00.0'. Typically, GPU is at xx:xx.0 and audio at xx:xx.1 (e.g., 01:00.0 and 01:00.1)"
    );
    assert!(argv(&mut x).is_empty(), "a failing call appends nothing");
    assert!(b().add_gpu_with_audio("zz", "01:00.1", None).unwrap_err().to_string().starts_with("Invalid GPU PCI address 'zz': "));
    assert!(b().add_gpu_with_audio("01:00.0", "q", None).unwrap_err().to_string().starts_with("Invalid audio PCI address 'q': "));

    let mut x = b();
    x.add_pci_passthrough("04:00.0", None).unwrap();
    assert_eq!(argv(&mut x), s(&["-device", "vfio-pci,host=04:00.0"]));
}

#[test]
fn g26_27_28() {
    let mut x = b();
    x.add_memory_balloon();
    assert_eq!(argv(&mut x), s(&["-device", "virtio-balloon-pci"]));
    let mut x = b();
    x.enable_hugepages();
    assert_eq!(argv(&mut x), s(&["-mem-prealloc", "-mem-path", "/dev/hugepages"]));
    let mut x = b();
    x.set_firmware("/usr/share/OVMF/OVMF_CODE.fd").unwrap();
    x.set_uefi_vars("/v.fd").unwrap();
    assert_eq!(argv(&mut x), s(&["-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd", "-drive", "if=pflash,format=raw,file=/v.fd"]));
    let mut x = b();
    x.add_tpm("/run/swtpm.sock").unwrap();
    assert_eq!(
        argv(&mut x),
        s(&["-chardev", "socket,id=chrtpm,path=/run/swtpm.sock", "-tpmdev", "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"])
    );
}

#[test]
fn g29_channels() {
    let mut x = b();
    x.add_guest_agent_channel("/run/ga.sock").unwrap();
    x.add_infini_service_channel("/run/inf.sock").unwrap();
    assert_eq!(
        argv(&mut x),
        s(&[
            "-device",
            "virtio-serial-pci,id=virtio-serial0",
            "-chardev",
            "socket,path=/run/ga.sock,server=on,wait=off,id=chagent0",
            "-device",
            "virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0",
            "-chardev",
            "socket,path=/run/inf.sock,server=on,wait=off,id=chinfini0",
            "-device",
            "virtserialport,chardev=chinfini0,name=org.infinibay.agent",
        ])
    );
}

#[test]
fn g30_31_32() {
    let mut x = b();
    x.add_second_cdrom("/iso/virtio.iso").unwrap();
    x.add_second_cdrom("/iso/b.iso").unwrap();
    assert_eq!(
        argv(&mut x),
        s(&[
            "-drive",
            "file=/iso/virtio.iso,if=none,media=cdrom,readonly=on,id=cdrom1",
            "-device",
            "ide-cd,drive=cdrom1",
            "-drive",
            "file=/iso/b.iso,if=none,media=cdrom,readonly=on,id=cdrom2",
            "-device",
            "ide-cd,drive=cdrom2",
        ])
    );
    let mut x = b();
    x.add_audio_device();
    assert_eq!(argv(&mut x), s(&["-device", "intel-hda", "-device", "hda-duplex,audiodev=audio0", "-audiodev", "spice,id=audio0"]));
    let mut x = b();
    x.add_usb_tablet().add_usb_keyboard();
    assert_eq!(argv(&mut x), s(&["-device", "qemu-xhci,id=usb", "-device", "usb-tablet", "-device", "usb-kbd"]));
}

#[test]
fn g33_process_options() {
    let mut x = b();
    x.set_process_options(&ProcessOptions::new("My VM", Some("u-1"), true, Some("/p.pid")).unwrap());
    assert_eq!(argv(&mut x), s(&["-name", "My VM", "-uuid", "u-1", "-daemonize", "-pidfile", "/p.pid"]));
    assert!(x.is_daemonize_enabled());
    assert_eq!(x.pidfile_path(), Some("/p.pid"));
}

#[test]
fn g34_pinning_noops() {
    let mut x = b();
    x.enable_cpu_pinning(PinningStrategy::None, 4.0);
    x.enable_cpu_pinning(PinningStrategy::Basic, 0.0);
    assert!(!x.is_cpu_pinning_enabled());
    assert_eq!(x.cpu_pinning_strategy(), PinningStrategy::None);
    x.enable_cpu_pinning(PinningStrategy::Hybrid, 2.0);
    x.enable_cpu_pinning(PinningStrategy::None, 4.0);
    assert_eq!(x.cpu_pinning_strategy(), PinningStrategy::Hybrid, "a no-op keeps the previous state");
}

#[test]
fn raw_arg_and_binary() {
    let mut x = b();
    x.set_binary("/usr/bin/qemu-system-x86_64").unwrap();
    x.add_raw_arg("-nographic").unwrap();
    assert_eq!(x.binary(), "/usr/bin/qemu-system-x86_64");
    assert_eq!(argv(&mut x), s(&["-nographic"]));
}

/// Spec §20.8 item 97: the whole argv of an Ubuntu VM, assembled in §5.4's order.
#[test]
fn g97_full_ubuntu_argv() {
    let mut x = b();
    x.enable_kvm();
    x.set_machine(&MachineType::parse("q35").unwrap(), None, None);
    x.set_cpu(&CpuModel::parse("host").unwrap(), Some(4.0), None, None).unwrap();
    x.set_memory(8.0).unwrap();
    x.add_disks(&[
        disk("/var/lib/infinivirt/disks/vm-abc123.qcow2", "qcow2", "virtio", "writeback", true),
        disk("/var/lib/infinivirt/disks/vm-abc123-disk1.qcow2", "qcow2", "virtio", "none", true),
    ]);
    x.add_network(&NetworkOptions::new("vnet-550e8400e2", "52:54:00:e8:45:6c", "virtio-net-pci", Some(4.0)).unwrap());
    let cfg = spice_cfg(SpiceConfigOptions {
        port: Some(5901.0),
        addr: Some("0.0.0.0".into()),
        disable_ticketing: Some(true),
        enable_agent: Some(false),
        ..Default::default()
    });
    x.add_spice_config(&cfg, 16.0).unwrap();
    x.add_qmp("/var/run/infinivirt/vm-abc123.sock").unwrap();
    x.add_cdrom("/iso/ubuntu.iso").unwrap();
    x.set_boot_order(&[BootDevice::D, BootDevice::C]);
    x.add_guest_agent_channel("/var/run/infinivirt/ga.sock").unwrap();
    x.add_infini_service_channel("/opt/infinibay/sockets/x.socket").unwrap();
    x.add_audio_device();
    x.set_process_options(&ProcessOptions::new("Test VM", None, true, Some("/var/run/infinivirt/pids/vm-abc123.pid")).unwrap());
    let want: Vec<String> = serde_json::from_str(r#"["-enable-kvm","-machine","q35","-cpu","host","-smp","cores=4","-m","8G","-drive","file=/var/lib/infinivirt/disks/vm-abc123.qcow2,format=qcow2,if=virtio,cache=writeback,index=0,discard=unmap","-drive","file=/var/lib/infinivirt/disks/vm-abc123-disk1.qcow2,format=qcow2,if=virtio,cache=none,index=1,discard=unmap","-netdev","tap,id=net0,ifname=vnet-550e8400e2,script=no,downscript=no,queues=4,vhost=on","-device","virtio-net-pci,netdev=net0,mac=52:54:00:e8:45:6c,mq=on,vectors=10","-spice","port=5901,addr=0.0.0.0,disable-ticketing=on,image-compression=auto_glz,jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,playback-compression=on","-vga","qxl","-qmp","unix:/var/run/infinivirt/vm-abc123.sock,server,nowait","-cdrom","/iso/ubuntu.iso","-boot","order=dc","-device","virtio-serial-pci,id=virtio-serial0","-chardev","socket,path=/var/run/infinivirt/ga.sock,server=on,wait=off,id=chagent0","-device","virtserialport,chardev=chagent0,name=org.qemu.guest_agent.0","-chardev","socket,path=/opt/infinibay/sockets/x.socket,server=on,wait=off,id=chinfini0","-device","virtserialport,chardev=chinfini0,name=org.infinibay.agent","-device","intel-hda","-device","hda-duplex,audiodev=audio0","-audiodev","spice,id=audio0","-name","Test VM","-daemonize","-pidfile","/var/run/infinivirt/pids/vm-abc123.pid"]"#).unwrap();
    assert_eq!(argv(&mut x), want);
    assert_eq!(x.open_consoles().len(), 1, "the password-less 0.0.0.0 console is recorded for the warning");
}
