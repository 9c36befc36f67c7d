//! Adversarial inputs against the builder: nothing a caller passes may add a QEMU
//! option of its own. Table cases first, then a seeded property test that throws
//! thousands of generated strings at every string-taking method and re-parses the
//! resulting argv the way QEMU does.

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

/// Splits a QEMU option string on unescaped commas and unescapes `,,` (QemuOpts/keyval).
fn qemu_split(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                out.last_mut().unwrap().push(',');
            } else {
                out.push(String::new());
            }
        } else {
            out.last_mut().unwrap().push(c);
        }
    }
    out
}

fn keys(s: &str) -> Vec<String> {
    qemu_split(s).into_iter().map(|kv| kv.split_once('=').map_or(kv.clone(), |(k, _)| k.to_string())).collect()
}

fn value_of(s: &str, key: &str) -> Option<String> {
    qemu_split(s).into_iter().find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_string()))
}

// ---- table cases (issue: at least 30) ----

#[test]
fn a01_cache_mode_splice() {
    assert!(DiskOptions::new("/d.qcow2", "qcow2", "virtio", "none,readonly=on", false).is_err());
}

#[test]
fn a02_format_splice() {
    assert!(DiskOptions::new("/d.qcow2", "raw,file.locking=off", "virtio", "none", false).is_err());
}

#[test]
fn a03_bus_splice() {
    assert!(DiskOptions::new("/d", "raw", "virtio,readonly=on", "none", false).is_err());
}

#[test]
fn a04_path_with_comma_is_escaped() {
    let d = DiskOptions::new("/vm,readonly=on.qcow2", "qcow2", "virtio", "none", false).unwrap();
    let mut x = b();
    x.add_disks(&[d]);
    let arg = &x.build()[1];
    assert_eq!(arg, "file=/vm,,readonly=on.qcow2,format=qcow2,if=virtio,cache=none,index=0");
    assert_eq!(keys(arg), ["file", "format", "if", "cache", "index"]);
    assert_eq!(value_of(arg, "file").unwrap(), "/vm,readonly=on.qcow2");
}

#[test]
fn a05_spice_password_plain_is_escaped() {
    let mut x = b();
    x.add_spice_plain(
        &PlainSpice { port: 5901.0, addr: "127.0.0.1".into(), password: Some(Secret::new("x,disable-ticketing=on")), ..Default::default() },
        16.0,
    )
    .unwrap();
    let arg = &x.build()[1];
    assert_eq!(keys(arg), ["port", "addr", "password"]);
    assert_eq!(value_of(arg, "password").unwrap(), "x,disable-ticketing=on");
}

#[test]
fn a06_spice_password_config_is_escaped() {
    let c = SpiceConfig::new(SpiceConfigOptions { port: Some(5901.0), password: Some("x,disable-ticketing=on".into()), ..Default::default() }).unwrap();
    let arg = &c.generate_args().args[1];
    assert!(!keys(arg).contains(&"disable-ticketing".to_string()));
    assert_eq!(value_of(arg, "password").unwrap(), "x,disable-ticketing=on");
}

#[test]
fn a07_vm_name_with_option() {
    assert!(ProcessOptions::new("vm,debug-threads=on", None, false, None).is_err());
}

#[test]
fn a08_vm_name_with_comma_only_is_escaped() {
    let mut x = b();
    x.set_process_options(&ProcessOptions::new("Sales, floor 2", None, false, None).unwrap());
    assert_eq!(qemu_split(&x.build()[1]), ["Sales, floor 2"]);
}

#[test]
fn a09_unicode_name_and_path_are_fine() {
    let mut x = b();
    x.set_process_options(&ProcessOptions::new("Büro-VM ☃", None, false, None).unwrap());
    x.add_qmp("/run/ïnfïnivirt/vm.sock").unwrap();
    assert_eq!(x.build()[1], "Büro-VM ☃");
}

#[test]
fn a10_empty_strings_rejected() {
    assert!(DiskOptions::new("", "qcow2", "virtio", "none", false).is_err());
    assert!(ProcessOptions::new("", None, false, None).is_err());
    assert!(b().add_qmp("").is_err());
    assert!(b().add_cdrom("").is_err());
    assert!(CpuModel::parse("").is_err());
    assert!(IfName::parse("").is_err());
}

#[test]
fn a11_newline_in_path() {
    assert!(DiskOptions::new("/d\n-device foo", "qcow2", "virtio", "none", false).is_err());
}

#[test]
fn a12_nul_in_path() {
    assert!(b().add_cdrom("/iso\0x").is_err());
    assert!(b().add_raw_arg("a\0b").is_err());
}

#[test]
fn a13_huge_memory() {
    assert!(b().set_memory(1e300).is_err());
    assert!(b().set_memory(16385.0).is_err());
}

#[test]
fn a14_negative_memory() {
    assert!(b().set_memory(-4.0).is_err());
    assert!(b().set_memory(0.0).is_err());
}

#[test]
fn a15_nan_memory_and_cores() {
    assert!(b().set_memory(f64::NAN).is_err());
    assert!(b().set_cpu(&CpuModel::parse("host").unwrap(), Some(f64::NAN), None, None).is_err());
    assert!(b().set_memory(f64::INFINITY).is_err());
}

#[test]
fn a16_fractional_and_negative_cores() {
    let host = CpuModel::parse("host").unwrap();
    assert!(b().set_cpu(&host, Some(1.5), None, None).is_err());
    assert!(b().set_cpu(&host, Some(-1.0), None, None).is_err());
    assert!(b().set_cpu(&host, Some(4.0), Some(0.0), None).is_err());
    let mut x = b();
    assert!(x.set_cpu(&host, Some(2.0), Some(2.5), None).is_err());
    assert!(x.build().is_empty(), "failed call leaves argv unchanged");
}

#[test]
fn a17_cpu_model_with_flags() {
    assert!(CpuModel::parse("host,+vmx").is_err());
    assert!(CpuModel::parse("host -device x").is_err());
}

#[test]
fn a18_machine_with_options() {
    assert!(MachineType::parse("q35,accel=tcg").is_err());
    assert!(MachineType::parse("q35 ").is_err());
}

#[test]
fn a19_tap_name_splice() {
    assert!(NetworkOptions::new("vnet0,script=/tmp/x", "52:54:00:00:00:01", "e1000", None).is_err());
    assert!(NetworkOptions::new("vnet0=x", "52:54:00:00:00:01", "e1000", None).is_err());
}

#[test]
fn a20_mac_splice() {
    assert!(NetworkOptions::new("t0", "52:54:00:00:00:01,romfile=/x", "e1000", None).is_err());
    assert!(NetworkOptions::new("t0", "52-54-00-00-00-01", "e1000", None).is_err());
}

#[test]
fn a21_nic_model_splice() {
    assert!(NetworkOptions::new("t0", "52:54:00:00:00:01", "e1000,romfile=/x", None).is_err());
}

#[test]
fn a22_queues_out_of_range() {
    for q in [-1.0, 1.5, f64::NAN, 1e9] {
        assert!(NetworkOptions::new("t0", "52:54:00:00:00:01", "virtio-net-pci", Some(q)).is_err(), "{q}");
    }
}

#[test]
fn a23_spice_address_splice() {
    let e = b().add_spice_plain(&PlainSpice { port: 5901.0, addr: "0.0.0.0,disable-ticketing=on".into(), ..Default::default() }, 16.0).unwrap_err();
    assert_eq!((e.class(), e.code()), (crate::error::JsClass::DisplayError, "INVALID_ADDRESS"));
    assert!(SpiceConfig::new(SpiceConfigOptions { port: Some(5901.0), addr: Some("::1,gl=on".into()), ..Default::default() }).is_err());
}

#[test]
fn a24_spice_plain_port_out_of_range() {
    for p in [-1.0, 70000.0, 5901.5, f64::NAN] {
        assert!(b().add_spice_plain(&PlainSpice { port: p, addr: "127.0.0.1".into(), ..Default::default() }, 16.0).is_err());
    }
}

#[test]
fn a25_spice_password_control_chars() {
    let e = b()
        .add_spice_plain(&PlainSpice { port: 5901.0, addr: "127.0.0.1".into(), password: Some(Secret::new("a\nb")), ..Default::default() }, 16.0)
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_PASSWORD");
    assert!(SpiceConfig::new(SpiceConfigOptions { port: Some(5901.0), password: Some("a\rb".into()), ..Default::default() }).is_err());
}

#[test]
fn a26_vnc_address_and_display() {
    assert!(b().add_vnc_plain(&PlainVnc { display: 1.0, addr: "0.0.0.0,password=off".into(), ..Default::default() }).is_err());
    assert!(b().add_vnc_plain(&PlainVnc { display: -1.0, addr: "0.0.0.0".into(), ..Default::default() }).is_err());
    assert!(VncConfig::new(VncConfigOptions { display: Some(1.0), addr: Some("a b".into()), ..Default::default() }).is_err());
}

#[test]
fn a27_channel_name_and_id_splice() {
    assert!(b().add_virtio_channel("org.x,name=y", "/s", "c0").is_err());
    assert!(b().add_virtio_channel("org.x", "/s", "c0,path=/etc/passwd").is_err());
}

#[test]
fn a28_socket_paths_escaped() {
    let mut x = b();
    x.add_qmp("/run/a,server=off").unwrap();
    assert_eq!(qemu_split(&x.build()[1]), ["unix:path=/run/a,server=off", "server", "nowait"]);
    // A path with '=' goes with its key (QEMU would read '/run/a' as a parameter name).
    let mut x = b();
    x.add_qmp("/run/a=b,c/q.sock").unwrap();
    assert_eq!(x.build()[1], "unix:path=/run/a=b,,c/q.sock,server,nowait");
    assert_eq!(qemu_split(&x.build()[1]), ["unix:path=/run/a=b,c/q.sock", "server", "nowait"]);
}

#[test]
fn a29_rom_path_traversal() {
    assert!(b().add_pci_passthrough("01:00.0", Some("/var/lib/infinivirt/roms/../../../etc/shadow")).is_err());
    assert!(b().add_pci_passthrough("01:00.0,x-vga=on", None).is_err());
}

#[test]
fn a30_rom_path_with_comma_escaped() {
    let mut x = b();
    x.add_gpu_passthrough("01:00.0", Some("/var/lib/infinivirt/roms/a,x-vga=on.rom")).unwrap();
    let arg = &x.build()[1];
    assert_eq!(keys(arg), ["vfio-pci", "host", "multifunction", "romfile"]);
}

#[test]
fn a31_playback_compression_splice() {
    assert!(SpiceConfig::new(SpiceConfigOptions { port: Some(5901.0), playback_compression: Some("on,disable-ticketing=on".into()), ..Default::default() })
        .is_err());
}

#[test]
fn a32_qxl_memory_bounds() {
    let c = SpiceConfig::new(SpiceConfigOptions { port: Some(5901.0), addr: Some("127.0.0.1".into()), ..Default::default() }).unwrap();
    for q in [0.0, -16.0, 16.5, f64::NAN, 1e12] {
        assert!(b().add_spice_config(&c, q).is_err(), "{q}");
    }
}

#[test]
fn a33_uuid_and_pidfile_control_chars() {
    assert!(ProcessOptions::new("vm", Some("u\n1"), false, None).is_err());
    assert!(ProcessOptions::new("vm", None, true, Some("/p\n.pid")).is_err());
}

#[test]
fn a34_strict_mode_refuses_open_console() {
    let mut x = QemuCommandBuilder::new();
    x.set_strict_display(true);
    let e = x.add_spice_plain(&PlainSpice { port: 5901.0, addr: "0.0.0.0".into(), disable_ticketing: true, ..Default::default() }, 16.0).unwrap_err();
    assert_eq!((e.class(), e.code()), (crate::error::JsClass::DisplayError, "INVALID_PASSWORD"));
    assert!(x.build().is_empty());
    // Loopback and password-protected consoles stay allowed.
    x.add_spice_plain(&PlainSpice { port: 5901.0, addr: "127.0.0.1".into(), disable_ticketing: true, ..Default::default() }, 16.0).unwrap();
    let c = SpiceConfig::new(SpiceConfigOptions { port: Some(5902.0), password_secret_file: Some("/run/pw".into()), ..Default::default() }).unwrap();
    x.add_spice_config(&c, 16.0).unwrap();
    let v = VncConfig::new(VncConfigOptions { display: Some(1.0), ..Default::default() }).unwrap();
    assert!(x.add_vnc_config(&v).is_err());
}

// ---- property test ----

/// xorshift64*: deterministic, so a failure reproduces from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        #[allow(clippy::cast_possible_truncation)]
        v[(self.next() % v.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    ",",
    ",,",
    "=",
    "a",
    "Z",
    "0",
    "/",
    "-",
    ".",
    ":",
    " ",
    "\t",
    "\n",
    "\r",
    "\0",
    "\u{7f}",
    "é",
    "☃",
    "readonly=on",
    "id=x",
    "server",
    "disable-ticketing=on",
    "\\",
    "\"",
    "'",
    ";",
    "$(",
    "`",
    "{",
    "}",
    "%",
    "\u{202e}",
];

fn gen(rng: &mut Rng) -> String {
    let n = 1 + rng.next() % 8;
    (0..n).map(|_| rng.pick(PIECES)).collect()
}

#[test]
fn property_no_input_adds_an_option() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4000 {
        let input = gen(&mut rng);
        let ctx = format!("round {round}, input {input:?}");

        // Paths inside option strings: either refused, or the value round-trips and no key is added.
        if let Ok(d) = DiskOptions::new(&input, "qcow2", "virtio", "none", true) {
            let mut x = b();
            x.add_disks(&[d]);
            let arg = &x.build()[1];
            assert_eq!(keys(arg), ["file", "format", "if", "cache", "index", "discard"], "{ctx}");
            assert_eq!(value_of(arg, "file").as_deref(), Some(input.as_str()), "{ctx}");
        } else {
            assert!(input.is_empty() || input.chars().any(char::is_control), "{ctx}: refused a safe path");
        }
        let mut x = b();
        if x.add_second_cdrom(&input).is_ok() {
            assert_eq!(keys(&x.build()[1]), ["file", "if", "media", "readonly", "id"], "{ctx}");
        }
        let mut x = b();
        if x.add_tpm(&input).is_ok() {
            assert_eq!(keys(&x.build()[1]), ["socket", "id", "path"], "{ctx}");
        }

        // Passwords: refused (control characters) or carried whole.
        let mut x = b();
        let plain = PlainSpice { port: 5901.0, addr: "127.0.0.1".into(), password: Some(Secret::new(input.clone())), ..Default::default() };
        if x.add_spice_plain(&plain, 16.0).is_ok() {
            let arg = &x.build()[1];
            assert_eq!(keys(arg), ["port", "addr", "password"], "{ctx}");
            assert_eq!(value_of(arg, "password").as_deref(), Some(input.as_str()), "{ctx}");
        }
        if let Ok(c) = SpiceConfig::new(SpiceConfigOptions { port: Some(5901.0), password: Some(input.clone()), ..Default::default() }) {
            let arg = &c.generate_args().args[1];
            assert_eq!(keys(arg).len(), 8, "{ctx}");
            assert_eq!(value_of(arg, "password").as_deref(), Some(input.as_str()), "{ctx}");
        }

        // Names: one implied value, never a key=value pair.
        if let Ok(p) = ProcessOptions::new(&input, None, false, None) {
            let mut x = b();
            x.set_process_options(&p);
            let parts = qemu_split(&x.build()[1]);
            assert_eq!(parts, std::slice::from_ref(&input), "{ctx}");
        }

        // Identifiers: never accepted with a separator in them.
        let has_sep = input.contains(',') || input.contains('=');
        for ok in [
            CpuModel::parse(&input).is_ok(),
            IfName::parse(&input).is_ok(),
            MachineType::parse(&input).is_ok(),
            CacheMode::parse(&input).is_ok(),
            b().add_virtio_channel(&input, "/s", "c0").is_ok(),
            b().add_virtio_channel("org.x", "/s", &input).is_ok(),
        ] {
            assert!(!(ok && has_sep), "{ctx}: identifier with separator accepted");
        }
        // Addresses: never accepted with a separator.
        let spice_ok = b().add_spice_plain(&PlainSpice { port: 5901.0, addr: input.clone(), disable_ticketing: true, ..Default::default() }, 16.0).is_ok();
        assert!(!(spice_ok && has_sep), "{ctx}: address with separator accepted");
    }
}
