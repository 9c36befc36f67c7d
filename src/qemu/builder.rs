//! `QemuCommandBuilder` (spec §2): appends QEMU arguments in call order.
//!
//! Every mutator appends exactly the argv the spec lists. Inputs arrive already typed
//! (`options.rs`) or are checked here before anything is appended, so a failing call
//! leaves the argv unchanged.

use crate::display::addr::is_loopback;
use crate::display::error::{Console, DisplayError, DisplayErrorCode};
use crate::display::spice::SpiceConfig;
use crate::display::vnc::VncConfig;
use crate::display::{addr::address_problem, secret_object_args};
use crate::lifecycle::error::LifecycleError;
use crate::qemu::value::{escape_commas, int_in, js_number, opt_path, opt_token, raw_path};
use crate::secret::Secret;

use super::error::QemuError;
use super::options::*;
use super::pci::{rom_inside_allowed_dir, validate_pci_address, ALLOWED_ROM_DIR};

pub const DEFAULT_BINARY: &str = "qemu-system-x86_64";
/// Environment switch for strict display security (refuse password-less remote consoles).
pub const STRICT_DISPLAY_ENV: &str = "INFINIVIRT_STRICT_DISPLAY";
const DEFAULT_QXL_MB: i64 = 16;
/// Largest memory size accepted, in GiB (16 TiB).
pub const MAX_MEMORY_GB: f64 = 16384.0;

/// The legacy plain-object SPICE options of `addSpice` (spec `SpiceOptions`).
#[derive(Debug, Clone, Default)]
pub struct PlainSpice {
    pub port: f64,
    pub addr: String,
    pub password: Option<Secret>,
    pub password_secret_file: Option<String>,
    pub disable_ticketing: bool,
    pub enable_agent: bool,
}

/// The legacy plain-object VNC options of `addVnc` (spec `VncOptions`).
#[derive(Debug, Clone, Default)]
pub struct PlainVnc {
    pub display: f64,
    pub addr: String,
    pub password: bool,
    pub password_secret_file: Option<String>,
}

/// A console that answers without a password on an address other hosts can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenConsole {
    pub console: Console,
    pub addr: String,
}

#[derive(Debug, Clone)]
pub struct QemuCommandBuilder {
    binary: String,
    args: Vec<String>,
    daemonize: bool,
    pidfile: Option<String>,
    pinning: Option<(PinningStrategy, u32)>,
    virtio_serial_added: bool,
    usb_added: bool,
    cdrom_counter: u32,
    disk_count: u32,
    vm_name: Option<String>,
    strict_display: bool,
    open_consoles: Vec<OpenConsole>,
    warned: bool,
}

impl Default for QemuCommandBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// True when `INFINIVIRT_STRICT_DISPLAY` is `1`, `true`, `yes` or `on`.
pub fn strict_display_from_env() -> bool {
    std::env::var(STRICT_DISPLAY_ENV).is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

impl QemuCommandBuilder {
    pub fn new() -> Self {
        QemuCommandBuilder {
            binary: DEFAULT_BINARY.to_string(),
            args: Vec::new(),
            daemonize: false,
            pidfile: None,
            pinning: None,
            virtio_serial_added: false,
            usb_added: false,
            cdrom_counter: 0,
            disk_count: 0,
            vm_name: None,
            strict_display: strict_display_from_env(),
            open_consoles: Vec::new(),
            warned: false,
        }
    }

    fn push<const N: usize>(&mut self, items: [String; N]) -> &mut Self {
        self.args.extend(items);
        self
    }

    pub fn set_binary(&mut self, binary: &str) -> Result<&mut Self, QemuError> {
        self.binary = raw_path("binary", binary)?;
        Ok(self)
    }

    pub fn binary(&self) -> &str {
        &self.binary
    }

    pub fn is_daemonize_enabled(&self) -> bool {
        self.daemonize
    }

    pub fn pidfile_path(&self) -> Option<&str> {
        self.pidfile.as_deref()
    }

    /// Refuse (rather than warn about) password-less consoles on non-loopback addresses.
    pub fn set_strict_display(&mut self, strict: bool) -> &mut Self {
        self.strict_display = strict;
        self
    }

    pub fn is_strict_display(&self) -> bool {
        self.strict_display
    }

    pub fn enable_kvm(&mut self) -> &mut Self {
        self.push(["-enable-kvm".into()])
    }

    pub fn set_machine(&mut self, ty: &MachineType, accel: Option<Accel>, irqchip: Option<KernelIrqchip>) -> &mut Self {
        let mut v = ty.as_str().to_string();
        if let Some(a) = accel {
            v.push_str(&format!(",accel={}", a.as_str()));
        }
        if let Some(k) = irqchip {
            v.push_str(&format!(",kernel-irqchip={}", k.as_str()));
        }
        self.push(["-machine".into(), v])
    }

    /// `-cpu <model>` and, only with `cores`, `-smp cores=…[,threads=…][,sockets=…]`.
    pub fn set_cpu(&mut self, model: &CpuModel, cores: Option<f64>, threads: Option<f64>, sockets: Option<f64>) -> Result<&mut Self, QemuError> {
        let smp = match cores {
            None => None,
            Some(c) => {
                let mut s = format!("cores={}", int_in("cpu cores", c, 1, 1024)?);
                if let Some(t) = threads {
                    s.push_str(&format!(",threads={}", int_in("cpu threads", t, 1, 64)?));
                }
                if let Some(k) = sockets {
                    s.push_str(&format!(",sockets={}", int_in("cpu sockets", k, 1, 64)?));
                }
                Some(s)
            }
        };
        self.push(["-cpu".into(), model.as_str().to_string()]);
        if let Some(s) = smp {
            self.push(["-smp".into(), s]);
        }
        Ok(self)
    }

    /// `-m <n>G`, the number written as JavaScript writes it (`0.5` → `0.5G`).
    pub fn set_memory(&mut self, size_gb: f64) -> Result<&mut Self, QemuError> {
        if !(size_gb.is_finite() && size_gb > 0.0 && size_gb <= MAX_MEMORY_GB) {
            return Err(LifecycleError::InvalidArgument {
                field: "memory size".into(),
                reason: format!("must be a number of GiB above 0 and at most {MAX_MEMORY_GB}, got {}", js_number(size_gb)),
            }
            .into());
        }
        Ok(self.push(["-m".into(), format!("{}G", js_number(size_gb))]))
    }

    fn drive(d: &DiskOptions, index: u32) -> String {
        let mut v = format!("file={},format={},if={},cache={},index={index}", d.path, d.format.as_str(), d.bus.as_str(), d.cache.as_str());
        if d.discard {
            v.push_str(",discard=unmap");
        }
        v
    }

    /// One `-drive` per disk, `index` counting from 0 within this call (as the original).
    pub fn add_disks(&mut self, disks: &[DiskOptions]) -> &mut Self {
        for (i, d) in (0u32..).zip(disks) {
            let v = Self::drive(d, i);
            self.push(["-drive".into(), v]);
        }
        self.disk_count += u32::try_from(disks.len()).unwrap_or(u32::MAX);
        self
    }

    /// One `-drive`, `index` counting every disk added so far.
    pub fn add_disk(&mut self, disk: &DiskOptions) -> &mut Self {
        let v = Self::drive(disk, self.disk_count);
        self.disk_count += 1;
        self.push(["-drive".into(), v])
    }

    pub fn add_network(&mut self, n: &NetworkOptions) -> &mut Self {
        let mut netdev = format!("tap,id=net0,ifname={},script=no,downscript=no", n.tap.as_str());
        let mut device = format!("{},netdev=net0,mac={}", n.model.as_str(), n.mac);
        if n.queues > 1 {
            netdev.push_str(&format!(",queues={}", n.queues));
            if n.vhost {
                netdev.push_str(",vhost=on");
            }
            device.push_str(&format!(",mq=on,vectors={}", 2 * n.queues + 2));
        }
        self.push(["-netdev".into(), netdev, "-device".into(), device])
    }

    fn ensure_virtio_serial(&mut self) {
        if !self.virtio_serial_added {
            self.virtio_serial_added = true;
            self.push(["-device".into(), "virtio-serial-pci,id=virtio-serial0".into()]);
        }
    }

    fn ensure_usb(&mut self) {
        if !self.usb_added {
            self.usb_added = true;
            self.push(["-device".into(), "qemu-xhci,id=usb".into()]);
        }
    }

    fn spice_agent(&mut self) {
        self.ensure_virtio_serial();
        self.push([
            "-device".into(),
            "virtserialport,chardev=spicechannel0,name=com.redhat.spice.0".into(),
            "-chardev".into(),
            "spicevmc,id=spicechannel0,name=vdagent".into(),
        ]);
    }

    fn qxl_mb(qxl_memory_mb: f64) -> Result<i64, QemuError> {
        Ok(int_in("qxl memory (MB)", qxl_memory_mb, 1, 2048)?)
    }

    /// Records a password-less console on a reachable address, or refuses it in strict mode.
    fn check_console(&mut self, console: Console, addr: &str, passwordless: bool) -> Result<(), QemuError> {
        if !passwordless || is_loopback(addr) {
            return Ok(());
        }
        if self.strict_display {
            return Err(DisplayError::InsecureConsole { console, vm: self.vm_label(), addr: addr.to_string() }.into());
        }
        self.open_consoles.push(OpenConsole { console, addr: addr.to_string() });
        Ok(())
    }

    fn vm_label(&self) -> String {
        self.vm_name.clone().unwrap_or_else(|| "(unnamed)".to_string())
    }

    /// `addSpice(new SpiceConfig(…), qxlMemoryMB)` (spec §2.3 A).
    pub fn add_spice_config(&mut self, cfg: &SpiceConfig, qxl_memory_mb: f64) -> Result<&mut Self, QemuError> {
        let qxl = Self::qxl_mb(qxl_memory_mb)?;
        self.check_console(Console::Spice, cfg.addr(), cfg.is_passwordless())?;
        self.args.extend(cfg.generate_args().args);
        if qxl != DEFAULT_QXL_MB {
            if let Some(i) = self.args.iter().rposition(|a| a == "-vga") {
                self.args.drain(i..(i + 2).min(self.args.len()));
            }
            self.push(["-vga".into(), "none".into(), "-device".into(), format!("qxl-vga,vgamem_mb={qxl}")]);
        }
        if cfg.is_agent_enabled() {
            self.spice_agent();
        }
        Ok(self)
    }

    /// `addSpice({ port, addr, … }, qxlMemoryMB)` (spec §2.3 B).
    pub fn add_spice_plain(&mut self, o: &PlainSpice, qxl_memory_mb: f64) -> Result<&mut Self, QemuError> {
        let qxl = Self::qxl_mb(qxl_memory_mb)?;
        let port = int_in("SPICE port", o.port, 0, 65535).map_err(|e| DisplayError::UnsafeValue {
            console: Console::Spice,
            code: DisplayErrorCode::INVALID_PORT,
            field: "port",
            reason: e.to_string(),
        })?;
        if let Some(p) = address_problem(&o.addr) {
            return Err(unsafe_display(Console::Spice, DisplayErrorCode::INVALID_ADDRESS, "address", p));
        }
        let password = o.password.as_ref().filter(|p| !p.expose().is_empty());
        if password.is_some_and(|p| p.expose().chars().any(char::is_control)) {
            return Err(unsafe_display(Console::Spice, DisplayErrorCode::INVALID_PASSWORD, "password", "must not contain control characters".into()));
        }
        let secret = match &o.password_secret_file {
            Some(f) if password.is_none() => Some(secret_path(Console::Spice, f)?),
            _ => None,
        };
        self.check_console(Console::Spice, &o.addr, password.is_none() && secret.is_none())?;
        let mut v = format!("port={port},addr={}", o.addr);
        if let Some(p) = password {
            v.push_str(&format!(",password={}", escape_commas(p.expose())));
        } else if secret.is_some() {
            v.push_str(&format!(",password-secret={}", crate::display::spice::SPICE_SECRET_ID));
        } else if o.disable_ticketing {
            v.push_str(",disable-ticketing=on");
        }
        if let Some(f) = &secret {
            self.args.extend(secret_object_args(crate::display::spice::SPICE_SECRET_ID, f));
        }
        self.push(["-spice".into(), v]);
        if qxl != DEFAULT_QXL_MB {
            self.push(["-device".into(), format!("qxl-vga,vgamem_mb={qxl}")]);
        } else {
            self.push(["-vga".into(), "qxl".into()]);
        }
        if o.enable_agent {
            self.spice_agent();
        }
        Ok(self)
    }

    /// `addVnc(new VncConfig(…))`.
    pub fn add_vnc_config(&mut self, cfg: &VncConfig) -> Result<&mut Self, QemuError> {
        self.check_console(Console::Vnc, cfg.addr(), !cfg.has_password())?;
        self.args.extend(cfg.generate_args().args);
        Ok(self)
    }

    /// `addVnc({ display, addr, password })`.
    pub fn add_vnc_plain(&mut self, o: &PlainVnc) -> Result<&mut Self, QemuError> {
        let display = int_in("VNC display", o.display, 0, 99).map_err(|e| DisplayError::UnsafeValue {
            console: Console::Vnc,
            code: DisplayErrorCode::INVALID_DISPLAY_NUMBER,
            field: "display",
            reason: e.to_string(),
        })?;
        if let Some(p) = address_problem(&o.addr) {
            return Err(unsafe_display(Console::Vnc, DisplayErrorCode::INVALID_ADDRESS, "address", p));
        }
        let secret = o.password_secret_file.as_deref().map(|f| secret_path(Console::Vnc, f)).transpose()?;
        self.check_console(Console::Vnc, &o.addr, !o.password && secret.is_none())?;
        let mut v = format!("{}:{display}", crate::display::vnc::vnc_host(&o.addr));
        if let Some(f) = &secret {
            self.args.extend(secret_object_args(crate::display::vnc::VNC_SECRET_ID, f));
            v.push_str(&format!(",password-secret={}", crate::display::vnc::VNC_SECRET_ID));
        } else if o.password {
            v.push_str(",password=on");
        }
        Ok(self.push(["-vnc".into(), v, "-vga".into(), "std".into()]))
    }

    /// `-qmp unix:<path>,server,nowait` (spec). QEMU reads the text after `unix:` as an
    /// option list whose first item is taken as the path only when it holds no `=`
    /// (`unix:/run/a=b/q.sock` fails with "Invalid parameter '/run/a'"), so a path with
    /// `=` is given with its key, `unix:path=<path>,server,nowait`, which QEMU reads
    /// whole. Commas are doubled in both forms.
    pub fn add_qmp(&mut self, socket_path: &str) -> Result<&mut Self, QemuError> {
        let p = opt_path("QMP socket path", socket_path)?;
        let key = if p.contains('=') { "path=" } else { "" };
        Ok(self.push(["-qmp".into(), format!("unix:{key}{p},server,nowait")]))
    }

    pub fn add_cdrom(&mut self, iso_path: &str) -> Result<&mut Self, QemuError> {
        let p = raw_path("ISO path", iso_path)?;
        Ok(self.push(["-cdrom".into(), p]))
    }

    fn pci_check(label: &str, address: &str) -> Result<(), QemuError> {
        validate_pci_address(address)
            .map_err(|e| LifecycleError::InvalidConfig { message: format!("Invalid {label}PCI address '{address}': {e}"), vm_id: None, context: None }.into())
    }

    fn rom(romfile: Option<&str>) -> Result<Option<String>, QemuError> {
        match romfile.filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(r) => match rom_inside_allowed_dir(r) {
                Some(resolved) => Ok(Some(opt_path("ROM file", &resolved)?)),
                None => Err(LifecycleError::InvalidConfig {
                    message: format!("ROM file must be in {ALLOWED_ROM_DIR}. Attempted path: {r}"),
                    vm_id: None,
                    context: None,
                }
                .into()),
            },
        }
    }

    fn gpu_device(bus: &str, rom: Option<String>) -> String {
        let mut v = format!("vfio-pci,host={bus},multifunction=on");
        if let Some(r) = rom {
            v.push_str(&format!(",romfile={r}"));
        }
        v
    }

    pub fn add_gpu_passthrough(&mut self, pci_bus: &str, romfile: Option<&str>) -> Result<&mut Self, QemuError> {
        Self::pci_check("", pci_bus)?;
        let rom = Self::rom(romfile)?;
        Ok(self.push(["-device".into(), Self::gpu_device(pci_bus, rom)]))
    }

    pub fn add_gpu_with_audio(&mut self, gpu_bus: &str, audio_bus: &str, romfile: Option<&str>) -> Result<&mut Self, QemuError> {
        Self::pci_check("GPU ", gpu_bus)?;
        Self::pci_check("audio ", audio_bus)?;
        if gpu_bus == audio_bus {
            return Err(LifecycleError::InvalidConfig {
                message: format!(
                    "GPU and audio PCI addresses must differ. Both were set to '{gpu_bus}'. Typically, GPU is at xx:xx.0 and audio at xx:xx.1 (e.g., 01:00.0 and 01:00.1)"
                ),
                vm_id: None,
                context: None,
            }
            .into());
        }
        let rom = Self::rom(romfile)?;
        let gpu = Self::gpu_device(gpu_bus, rom);
        Ok(self.push(["-device".into(), gpu, "-device".into(), format!("vfio-pci,host={audio_bus}")]))
    }

    pub fn add_pci_passthrough(&mut self, pci_bus: &str, romfile: Option<&str>) -> Result<&mut Self, QemuError> {
        Self::pci_check("", pci_bus)?;
        let mut v = format!("vfio-pci,host={pci_bus}");
        if let Some(r) = Self::rom(romfile)? {
            v.push_str(&format!(",romfile={r}"));
        }
        Ok(self.push(["-device".into(), v]))
    }

    pub fn add_memory_balloon(&mut self) -> &mut Self {
        self.push(["-device".into(), "virtio-balloon-pci".into()])
    }

    pub fn enable_hugepages(&mut self) -> &mut Self {
        self.push(["-mem-prealloc".into(), "-mem-path".into(), "/dev/hugepages".into()])
    }

    pub fn set_firmware(&mut self, firmware_path: &str) -> Result<&mut Self, QemuError> {
        let p = opt_path("firmware path", firmware_path)?;
        Ok(self.push(["-drive".into(), format!("if=pflash,format=raw,readonly=on,file={p}")]))
    }

    pub fn set_uefi_vars(&mut self, vars_path: &str) -> Result<&mut Self, QemuError> {
        let p = opt_path("UEFI vars path", vars_path)?;
        Ok(self.push(["-drive".into(), format!("if=pflash,format=raw,file={p}")]))
    }

    pub fn set_boot_order(&mut self, devices: &[BootDevice]) -> &mut Self {
        let order: String = devices.iter().map(|d| d.as_str()).collect();
        self.push(["-boot".into(), format!("order={order}")])
    }

    /// `-boot order=<devices>,once=<once>`: `once` for the first boot only (an
    /// installer), `devices` for every reset after it.
    pub fn set_boot_once(&mut self, devices: &[BootDevice], once: BootDevice) -> &mut Self {
        let order: String = devices.iter().map(|d| d.as_str()).collect();
        self.push(["-boot".into(), format!("order={order},once={}", once.as_str())])
    }

    pub fn add_tpm(&mut self, socket_path: &str) -> Result<&mut Self, QemuError> {
        let p = opt_path("TPM socket path", socket_path)?;
        Ok(self.push([
            "-chardev".into(),
            format!("socket,id=chrtpm,path={p}"),
            "-tpmdev".into(),
            "emulator,id=tpm0,chardev=chrtpm".into(),
            "-device".into(),
            "tpm-tis,tpmdev=tpm0".into(),
        ]))
    }

    pub fn add_virtio_channel(&mut self, channel_name: &str, socket_path: &str, chardev_id: &str) -> Result<&mut Self, QemuError> {
        let name = super::options::channel_name(channel_name)?;
        let p = opt_path("channel socket path", socket_path)?;
        let id = opt_token("chardev id", chardev_id)?;
        self.ensure_virtio_serial();
        Ok(self.push([
            "-chardev".into(),
            format!("socket,path={p},server=on,wait=off,id={id}"),
            "-device".into(),
            format!("virtserialport,chardev={id},name={name}"),
        ]))
    }

    pub fn add_guest_agent_channel(&mut self, socket_path: &str) -> Result<&mut Self, QemuError> {
        self.add_virtio_channel("org.qemu.guest_agent.0", socket_path, "chagent0")
    }

    pub fn add_infini_service_channel(&mut self, socket_path: &str) -> Result<&mut Self, QemuError> {
        self.add_virtio_channel("org.infinibay.agent", socket_path, "chinfini0")
    }

    pub fn add_second_cdrom(&mut self, iso_path: &str) -> Result<&mut Self, QemuError> {
        let p = opt_path("ISO path", iso_path)?;
        self.cdrom_counter += 1;
        let n = self.cdrom_counter;
        Ok(self.push(["-drive".into(), format!("file={p},if=none,media=cdrom,readonly=on,id=cdrom{n}"), "-device".into(), format!("ide-cd,drive=cdrom{n}")]))
    }

    pub fn add_audio_device(&mut self) -> &mut Self {
        self.push(["-device".into(), "intel-hda".into(), "-device".into(), "hda-duplex,audiodev=audio0".into(), "-audiodev".into(), "spice,id=audio0".into()])
    }

    pub fn add_usb_tablet(&mut self) -> &mut Self {
        self.ensure_usb();
        self.push(["-device".into(), "usb-tablet".into()])
    }

    pub fn add_usb_keyboard(&mut self) -> &mut Self {
        self.ensure_usb();
        self.push(["-device".into(), "usb-kbd".into()])
    }

    pub fn set_process_options(&mut self, p: &ProcessOptions) -> &mut Self {
        self.vm_name = Some(p.name.replace(",,", ","));
        self.push(["-name".into(), p.name.clone()]);
        if let Some(u) = &p.uuid {
            self.push(["-uuid".into(), u.clone()]);
        }
        if p.daemonize {
            self.daemonize = true;
            self.push(["-daemonize".into()]);
        }
        if let Some(f) = &p.pidfile {
            self.pidfile = Some(f.clone());
            self.push(["-pidfile".into(), f.clone()]);
        }
        self
    }

    /// One verbatim argv element (no shell is involved, so it cannot split).
    pub fn add_raw_arg(&mut self, arg: &str) -> Result<&mut Self, QemuError> {
        let a = raw_path("raw argument", arg)?;
        Ok(self.push([a]))
    }

    /// Enables pinning only for a real strategy and a positive vCPU count; otherwise
    /// leaves the previous state untouched (spec).
    pub fn enable_cpu_pinning(&mut self, strategy: PinningStrategy, vcpu_count: f64) -> &mut Self {
        if strategy != PinningStrategy::None && vcpu_count > 0.0 && vcpu_count.is_finite() {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // positive, clamped
            let n = vcpu_count.min(4096.0) as u32;
            self.pinning = Some((strategy, n.max(1)));
        }
        self
    }

    pub fn pinning(&self) -> Option<(PinningStrategy, u32)> {
        self.pinning
    }

    pub fn is_cpu_pinning_enabled(&self) -> bool {
        self.pinning.is_some()
    }

    pub fn cpu_pinning_strategy(&self) -> PinningStrategy {
        self.pinning.map_or(PinningStrategy::None, |(s, _)| s)
    }

    /// Consoles that answer without a password on a non-loopback address.
    pub fn open_consoles(&self) -> &[OpenConsole] {
        &self.open_consoles
    }

    /// The argv (a copy). Warns once about password-less remote consoles, naming the VM.
    pub fn build(&mut self) -> Vec<String> {
        if !self.warned && !self.open_consoles.is_empty() {
            self.warned = true;
            for c in &self.open_consoles {
                crate::log::warn(
                    "qemu-command-builder",
                    &format!(
                        "VM '{}': {} console listens on {} without a password; anyone who can reach that address gets the console (set {STRICT_DISPLAY_ENV}=1 to refuse this)",
                        self.vm_label(),
                        c.console,
                        c.addr
                    ),
                );
            }
        }
        self.args.clone()
    }

    pub fn args(&self) -> &[String] {
        &self.args
    }
}

/// A password file path for `-object secret` (escaped later, where it is rendered).
fn secret_path(console: Console, f: &str) -> Result<String, QemuError> {
    if f.is_empty() || f.chars().any(char::is_control) {
        return Err(unsafe_display(
            console,
            DisplayErrorCode::INVALID_PASSWORD,
            "passwordSecretFile",
            "must be a non-empty path without control characters".into(),
        ));
    }
    Ok(f.to_string())
}

fn unsafe_display(console: Console, code: DisplayErrorCode, field: &'static str, reason: String) -> QemuError {
    DisplayError::UnsafeValue { console, code, field, reason }.into()
}
