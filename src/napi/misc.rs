//! Bindings of the stateless helpers: constants, PCI, MAC, names, logging, host commands.

use napi_derive::napi;

use super::error::{guarded, IntoNapi};
use crate::exec::HostCommand;
use crate::network::{mac, names};
use crate::qemu::pci;

/// Every runtime constant and enum object by export name (index.d.ts types each
/// export); typed here are the ones the facade reads itself.
#[napi(
    ts_return_type = "Record<string, unknown> & { PCI_ADDRESS_PATTERN: string; VNC_MAX_PASSWORD_LENGTH: number; VMOperation: Record<string, string>; _lists: { dbStatuses: string[]; qmpStatuses: string[]; osTypes: string[]; installationPhases: string[]; imageFormats: string[]; allowedRomDir: string } }"
)]
pub fn spec_constants() -> serde_json::Value {
    crate::consts::exported()
}

#[napi(object)]
pub struct JsPciValidation {
    pub valid: bool,
    pub error: Option<String>,
}

#[napi]
pub fn validate_pci_address(address: String) -> JsPciValidation {
    match pci::validate_pci_address(&address) {
        Ok(()) => JsPciValidation { valid: true, error: None },
        Err(e) => JsPciValidation { valid: false, error: Some(e) },
    }
}

#[napi(catch_unwind)]
pub fn normalize_pci_address(address: String) -> napi::Result<String> {
    pci::normalize_pci_address(&address).map_err(pci::PciAddressError).napi()
}

#[napi]
pub fn generate_vm_chain_name(vm_id: String) -> String {
    names::vm_chain_name(&vm_id)
}

#[napi]
pub fn mac_generate() -> String {
    mac::generate()
}

#[napi(catch_unwind)]
pub fn mac_generate_from_vm_id(vm_id: String) -> String {
    mac::generate_from_vm_id(&vm_id)
}

#[napi]
pub fn mac_validate(address: String) -> bool {
    mac::validate(&address)
}

#[napi]
pub fn mac_is_qemu(address: String) -> bool {
    mac::is_qemu_mac(&address)
}

#[napi]
pub fn debug_enabled(namespace: String) -> bool {
    crate::log::enabled(&namespace)
}

#[napi]
pub fn debug_log(namespace: String, message: String) {
    crate::log::log(&namespace, &message);
}

/// `CommandExecutor.execute`: argv only, no shell, resolves stdout on exit 0. Like the
/// original it has no deadline (callers run long conversions through it).
#[napi]
pub async fn exec_host(command: String, args: Vec<String>) -> napi::Result<String> {
    guarded(async move {
        let out = HostCommand::new(command).args(args).timeout(None).run().await.napi()?;
        Ok(out.stdout)
    })
    .await
}

/// True when `path.resolve(romfile)` lies inside the allowed ROM directory.
#[napi]
pub fn rom_inside_allowed_dir(romfile: String) -> bool {
    pci::rom_inside_allowed_dir(&romfile).is_some()
}

#[napi(object)]
pub struct JsAccelerator {
    /// `'kvm'` or `'tcg'`.
    pub accel: String,
    /// `'host'` with KVM, `'max'` with TCG (never `host` without KVM).
    pub cpu_model: String,
    pub reason: String,
}

/// Which accelerator QEMU can really use on this host (an Infinivirt addition).
#[napi]
pub fn detect_accelerator() -> JsAccelerator {
    let c = crate::qemu::accel::detect();
    JsAccelerator { accel: c.accel.as_str().to_string(), cpu_model: crate::qemu::accel::cpu_model_for(c.accel).to_string(), reason: c.reason }
}
