//! Binding of `QemuCommandBuilder`: converts JS values into the core's typed options.

use napi_derive::napi;

use super::display::{NativeSpiceConfig, NativeVncConfig};
use super::error::IntoNapi;
use crate::lifecycle::pinning::{numactl_available, plan_command, NumaTopology};
use crate::qemu::builder::{PlainSpice, PlainVnc, QemuCommandBuilder};
use crate::qemu::options::*;
use crate::secret::Secret;

#[napi(object)]
pub struct JsMachineOptions {
    pub accel: Option<String>,
    pub kernel_irqchip: Option<String>,
}

#[napi(object)]
pub struct JsDiskOptions {
    pub path: Option<String>,
    pub format: Option<String>,
    pub bus: Option<String>,
    pub cache: Option<String>,
    pub discard: Option<bool>,
}

#[napi(object)]
pub struct JsNetworkOptions {
    pub tap_name: Option<String>,
    pub mac: Option<String>,
    pub model: Option<String>,
    pub queues: Option<f64>,
}

#[napi(object)]
pub struct JsSpiceOptions {
    pub port: Option<f64>,
    pub addr: Option<String>,
    pub password: Option<String>,
    pub password_secret_file: Option<String>,
    pub disable_ticketing: Option<bool>,
    pub enable_agent: Option<bool>,
}

#[napi(object)]
pub struct JsVncOptions {
    pub display: Option<f64>,
    pub addr: Option<String>,
    pub password: Option<bool>,
    pub password_secret_file: Option<String>,
}

#[napi(object)]
pub struct JsProcessOptions {
    pub vm_id: Option<String>,
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub daemonize: Option<bool>,
    pub pidfile: Option<String>,
}

#[napi(object)]
pub struct JsPinnedCommand {
    pub command: String,
    pub args: Vec<String>,
    pub wrapper_command: Option<String>,
    pub wrapper_args: Vec<String>,
    pub pinning_applied: bool,
    pub pinned_cores: Vec<u32>,
    pub numa_nodes: Vec<u32>,
}

fn s(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

fn disk(d: &JsDiskOptions) -> napi::Result<DiskOptions> {
    DiskOptions::new(s(&d.path), s(&d.format), s(&d.bus), s(&d.cache), d.discard.unwrap_or(false)).napi()
}

#[napi(js_name = "NativeQemuCommandBuilder")]
pub struct NativeQemuCommandBuilder {
    inner: QemuCommandBuilder,
}

#[napi]
impl NativeQemuCommandBuilder {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeQemuCommandBuilder { inner: QemuCommandBuilder::new() }
    }

    #[napi(catch_unwind)]
    pub fn set_binary(&mut self, binary: String) -> napi::Result<()> {
        self.inner.set_binary(&binary).napi().map(drop)
    }

    #[napi]
    pub fn get_binary(&self) -> String {
        self.inner.binary().to_string()
    }

    #[napi]
    pub fn is_daemonize_enabled(&self) -> bool {
        self.inner.is_daemonize_enabled()
    }

    #[napi]
    pub fn get_pidfile_path(&self) -> Option<String> {
        self.inner.pidfile_path().map(str::to_string)
    }

    #[napi]
    pub fn set_strict_display_security(&mut self, strict: bool) {
        self.inner.set_strict_display(strict);
    }

    #[napi]
    pub fn is_strict_display_security(&self) -> bool {
        self.inner.is_strict_display()
    }

    #[napi]
    pub fn enable_kvm(&mut self) {
        self.inner.enable_kvm();
    }

    #[napi(catch_unwind)]
    pub fn set_machine(&mut self, machine_type: String, options: Option<JsMachineOptions>) -> napi::Result<()> {
        let ty = MachineType::parse(&machine_type).napi()?;
        let (accel, irq) = match &options {
            // Sub-options only when truthy (spec): an empty string is skipped.
            Some(o) => (
                o.accel.as_deref().filter(|a| !a.is_empty()).map(Accel::parse).transpose().napi()?,
                o.kernel_irqchip.as_deref().filter(|k| !k.is_empty()).map(KernelIrqchip::parse).transpose().napi()?,
            ),
            None => (None, None),
        };
        self.inner.set_machine(&ty, accel, irq);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn set_cpu(&mut self, model: String, cores: Option<f64>, threads: Option<f64>, sockets: Option<f64>) -> napi::Result<()> {
        let m = CpuModel::parse(&model).napi()?;
        self.inner.set_cpu(&m, cores, threads, sockets).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn set_memory(&mut self, size_gb: f64) -> napi::Result<()> {
        self.inner.set_memory(size_gb).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_disks(&mut self, disks: Vec<JsDiskOptions>) -> napi::Result<()> {
        let parsed = disks.iter().map(disk).collect::<napi::Result<Vec<_>>>()?;
        self.inner.add_disks(&parsed);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn add_disk(&mut self, d: JsDiskOptions) -> napi::Result<()> {
        self.inner.add_disk(&disk(&d)?);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn add_network(&mut self, o: JsNetworkOptions) -> napi::Result<()> {
        let n = NetworkOptions::new(s(&o.tap_name), s(&o.mac), s(&o.model), o.queues).napi()?;
        self.inner.add_network(&n);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn add_spice_config(&mut self, config: &NativeSpiceConfig, qxl_memory_mb: f64) -> napi::Result<()> {
        self.inner.add_spice_config(&config.inner, qxl_memory_mb).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_spice_options(&mut self, o: JsSpiceOptions, qxl_memory_mb: f64) -> napi::Result<()> {
        let plain = PlainSpice {
            port: o.port.unwrap_or(f64::NAN),
            addr: o.addr.unwrap_or_default(),
            password: o.password.map(Secret::new),
            password_secret_file: o.password_secret_file,
            disable_ticketing: o.disable_ticketing.unwrap_or(false),
            enable_agent: o.enable_agent.unwrap_or(true),
        };
        self.inner.add_spice_plain(&plain, qxl_memory_mb).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_vnc_config(&mut self, config: &NativeVncConfig) -> napi::Result<()> {
        self.inner.add_vnc_config(&config.inner).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_vnc_options(&mut self, o: JsVncOptions) -> napi::Result<()> {
        let plain = PlainVnc {
            display: o.display.unwrap_or(f64::NAN),
            addr: o.addr.unwrap_or_default(),
            password: o.password.unwrap_or(false),
            password_secret_file: o.password_secret_file,
        };
        self.inner.add_vnc_plain(&plain).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_qmp(&mut self, socket_path: String) -> napi::Result<()> {
        self.inner.add_qmp(&socket_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_cdrom(&mut self, iso_path: String) -> napi::Result<()> {
        self.inner.add_cdrom(&iso_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_gpu_passthrough(&mut self, pci_bus: String, romfile: Option<String>) -> napi::Result<()> {
        self.inner.add_gpu_passthrough(&pci_bus, romfile.as_deref()).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_gpu_with_audio(&mut self, gpu_bus: String, audio_bus: String, romfile: Option<String>) -> napi::Result<()> {
        self.inner.add_gpu_with_audio(&gpu_bus, &audio_bus, romfile.as_deref()).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_pci_passthrough(&mut self, pci_bus: String, romfile: Option<String>) -> napi::Result<()> {
        self.inner.add_pci_passthrough(&pci_bus, romfile.as_deref()).napi().map(drop)
    }

    #[napi]
    pub fn add_memory_balloon(&mut self) {
        self.inner.add_memory_balloon();
    }

    #[napi]
    pub fn enable_hugepages(&mut self) {
        self.inner.enable_hugepages();
    }

    #[napi(catch_unwind)]
    pub fn set_firmware(&mut self, firmware_path: String) -> napi::Result<()> {
        self.inner.set_firmware(&firmware_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn set_uefi_vars(&mut self, vars_path: String) -> napi::Result<()> {
        self.inner.set_uefi_vars(&vars_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn set_boot_order(&mut self, devices: Vec<String>) -> napi::Result<()> {
        let d = devices.iter().map(|x| BootDevice::parse(x)).collect::<Result<Vec<_>, _>>().napi()?;
        self.inner.set_boot_order(&d);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn add_tpm(&mut self, socket_path: String) -> napi::Result<()> {
        self.inner.add_tpm(&socket_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_virtio_channel(&mut self, channel_name: String, socket_path: String, chardev_id: String) -> napi::Result<()> {
        self.inner.add_virtio_channel(&channel_name, &socket_path, &chardev_id).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_guest_agent_channel(&mut self, socket_path: String) -> napi::Result<()> {
        self.inner.add_guest_agent_channel(&socket_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_infini_service_channel(&mut self, socket_path: String) -> napi::Result<()> {
        self.inner.add_infini_service_channel(&socket_path).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn add_second_cdrom(&mut self, iso_path: String) -> napi::Result<()> {
        self.inner.add_second_cdrom(&iso_path).napi().map(drop)
    }

    #[napi]
    pub fn add_audio_device(&mut self) {
        self.inner.add_audio_device();
    }

    #[napi]
    pub fn add_usb_tablet(&mut self) {
        self.inner.add_usb_tablet();
    }

    #[napi]
    pub fn add_usb_keyboard(&mut self) {
        self.inner.add_usb_keyboard();
    }

    #[napi(catch_unwind)]
    pub fn set_process_options(&mut self, o: JsProcessOptions) -> napi::Result<()> {
        let p = ProcessOptions::new(s(&o.name), o.uuid.as_deref(), o.daemonize.unwrap_or(false), o.pidfile.as_deref()).napi()?;
        self.inner.set_process_options(&p);
        Ok(())
    }

    #[napi(catch_unwind)]
    pub fn add_raw_arg(&mut self, arg: String) -> napi::Result<()> {
        self.inner.add_raw_arg(&arg).napi().map(drop)
    }

    #[napi(catch_unwind)]
    pub fn enable_cpu_pinning(&mut self, strategy: String, vcpu_count: f64) -> napi::Result<()> {
        let st = PinningStrategy::parse(&strategy).napi()?;
        self.inner.enable_cpu_pinning(st, vcpu_count);
        Ok(())
    }

    #[napi]
    pub fn is_cpu_pinning_enabled(&self) -> bool {
        self.inner.is_cpu_pinning_enabled()
    }

    #[napi]
    pub fn get_cpu_pinning_strategy(&self) -> String {
        self.inner.cpu_pinning_strategy().as_str().to_string()
    }

    #[napi(catch_unwind)]
    pub fn build(&mut self) -> Vec<String> {
        self.inner.build()
    }

    /// The command with its `numactl` wrapper when pinning is enabled (spec §2.5).
    #[napi(catch_unwind)]
    pub fn build_command_with_pinning(&mut self) -> JsPinnedCommand {
        let args = self.inner.build();
        let command = self.inner.binary().to_string();
        let plan = match self.inner.pinning() {
            Some((strategy, vcpus)) => plan_command(vcpus, strategy, &NumaTopology::detect(), numactl_available(), None),
            None => Default::default(),
        };
        JsPinnedCommand {
            command,
            args,
            wrapper_command: plan.wrapper_command.map(str::to_string),
            wrapper_args: plan.wrapper_args,
            pinning_applied: plan.pinning_applied,
            pinned_cores: plan.pinned_cores,
            numa_nodes: plan.numa_nodes,
        }
    }
}

impl Default for NativeQemuCommandBuilder {
    fn default() -> Self {
        Self::new()
    }
}
