//! The store's records as JavaScript sees them: `#[napi(object)]` mirrors of the
//! core records in `crate::state::records`, so the generated typings name every
//! field instead of `any`. Conversion only.

use napi_derive::napi;
use serde_json::Value;

use crate::state::records::{
    DepartmentRecord, ExtendedMachineConfigurationRecord, FirewallRuleRecord, FirewallRuleSetRecord, MachineConfigurationRecord, MachineRecord,
    RunningVmRecord, TransitionResult, VmConfigRecord,
};

// The spec's record shapes (§17.7, §17.8): every key present, `null` when absent
// (`use_nullable`), keys in the order the core's serialisation used.

/// `{ id, status }` (spec §17.7).
#[napi(object, object_from_js = false, js_name = "MachineRecord")]
pub struct JsMachineRecord {
    pub id: String,
    pub status: String,
}

/// What a running VM holds on the host (spec §17.7); `cpuPinning` is an Infinivirt addition.
#[napi(object, object_from_js = false, use_nullable = true, js_name = "MachineConfigurationRecord")]
pub struct JsMachineConfigurationRecord {
    pub qemu_pid: Option<i64>,
    pub tap_device_name: Option<String>,
    pub qmp_socket_path: Option<String>,
    pub guest_agent_socket_path: Option<String>,
    pub infini_service_socket_path: Option<String>,
    #[napi(ts_type = "{ cores: number[] }")]
    pub cpu_pinning: Option<Value>,
}

/// `{ id, status, MachineConfiguration }` (spec §17.7).
#[napi(object, object_from_js = false, use_nullable = true, js_name = "RunningVMRecord")]
pub struct JsRunningVmRecord {
    pub id: String,
    pub status: String,
    #[napi(js_name = "MachineConfiguration")]
    pub configuration: Option<JsMachineConfigurationRecord>,
}

/// `FirewallRuleRecord` (spec §17.8).
#[napi(object, object_from_js = false, use_nullable = true, js_name = "FirewallRuleRecord")]
pub struct JsFirewallRuleRecord {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub action: String,
    pub direction: String,
    pub priority: i64,
    pub protocol: String,
    pub src_port_start: Option<i64>,
    pub src_port_end: Option<i64>,
    pub dst_port_start: Option<i64>,
    pub dst_port_end: Option<i64>,
    pub src_ip_addr: Option<String>,
    pub src_ip_mask: Option<String>,
    pub dst_ip_addr: Option<String>,
    pub dst_ip_mask: Option<String>,
    /// As stored: the JSON object of the rule's states.
    #[napi(ts_type = "{ established?: boolean; new?: boolean; related?: boolean; invalid?: boolean }")]
    pub connection_state: Option<Value>,
    pub overrides_dept: bool,
}

/// `FirewallRuleSetRecord` (spec §17.8).
#[napi(object, object_from_js = false, js_name = "FirewallRuleSetRecord")]
pub struct JsFirewallRuleSetRecord {
    pub id: String,
    pub name: String,
    pub internal_name: String,
    pub priority: i64,
    pub is_active: bool,
    pub rules: Vec<JsFirewallRuleRecord>,
}

/// `DepartmentRecord` (spec §17.8).
#[napi(object, object_from_js = false, use_nullable = true, js_name = "DepartmentRecord")]
pub struct JsDepartmentRecord {
    pub id: String,
    pub name: String,
    pub firewall_rule_set: Option<JsFirewallRuleSetRecord>,
}

/// Every configuration column (spec §17.8 `ExtendedMachineConfigurationRecord`).
#[napi(object, object_from_js = false, use_nullable = true, js_name = "ExtendedMachineConfigurationRecord")]
pub struct JsExtendedMachineConfigurationRecord {
    pub qemu_pid: Option<i64>,
    pub tap_device_name: Option<String>,
    pub qmp_socket_path: Option<String>,
    pub guest_agent_socket_path: Option<String>,
    pub infini_service_socket_path: Option<String>,
    pub graphic_protocol: Option<String>,
    pub graphic_port: Option<i64>,
    pub graphic_password: Option<String>,
    pub graphic_host: Option<String>,
    pub assigned_gpu_bus: Option<String>,
    pub bridge: Option<String>,
    pub machine_type: Option<String>,
    pub cpu_model: Option<String>,
    pub disk_bus: Option<String>,
    pub disk_cache_mode: Option<String>,
    pub network_model: Option<String>,
    pub network_queues: Option<i64>,
    pub memory_balloon: Option<bool>,
    #[napi(ts_type = "string[]")]
    pub disk_paths: Option<Value>,
    pub uefi_firmware: Option<String>,
    pub hugepages: Option<bool>,
    #[napi(ts_type = "{ cores: number[] }")]
    pub cpu_pinning: Option<Value>,
    pub enable_numa_ctl_pinning: Option<bool>,
    pub cpu_pinning_strategy: Option<String>,
    pub tpm_socket_path: Option<String>,
    pub virtio_drivers_iso: Option<String>,
    pub enable_audio: Option<bool>,
    pub enable_usb_tablet: Option<bool>,
}

/// `VMConfigRecord` (spec §17.8).
#[napi(object, object_from_js = false, use_nullable = true, js_name = "VMConfigRecord")]
pub struct JsVmConfigRecord {
    pub id: String,
    pub status: String,
    pub name: String,
    pub internal_name: String,
    pub os: String,
    pub cpu_cores: i64,
    #[napi(js_name = "ramGB")]
    pub ram_gb: i64,
    #[napi(js_name = "diskSizeGB")]
    pub disk_size_gb: i64,
    pub gpu_pci_address: Option<String>,
    /// Optimistic-lock version.
    pub version: i64,
    pub configuration: Option<JsExtendedMachineConfigurationRecord>,
    pub firewall_rule_set: Option<JsFirewallRuleSetRecord>,
    pub department: Option<JsDepartmentRecord>,
}

/// `transitionVMStatus`'s result (`success` is always true: a lost race rejects).
#[napi(object, object_from_js = false, js_name = "TransitionResult")]
pub struct JsTransitionResult {
    pub success: bool,
    pub new_version: i64,
    pub vm_config: JsVmConfigRecord,
}

/// `getVMInfo` (spec §10.1).
#[napi(object, object_from_js = false, use_nullable = true, js_name = "VMInfoRecord")]
pub struct JsVmInfo {
    pub tap_device_name: Option<String>,
    pub has_cpu_pinning: bool,
}

impl From<MachineRecord> for JsMachineRecord {
    fn from(r: MachineRecord) -> Self {
        JsMachineRecord { id: r.id, status: r.status.as_str().to_string() }
    }
}

impl From<MachineConfigurationRecord> for JsMachineConfigurationRecord {
    fn from(r: MachineConfigurationRecord) -> Self {
        let MachineConfigurationRecord { qemu_pid, tap_device_name, qmp_socket_path, guest_agent_socket_path, infini_service_socket_path, cpu_pinning } = r;
        JsMachineConfigurationRecord { qemu_pid, tap_device_name, qmp_socket_path, guest_agent_socket_path, infini_service_socket_path, cpu_pinning }
    }
}

impl From<RunningVmRecord> for JsRunningVmRecord {
    fn from(r: RunningVmRecord) -> Self {
        JsRunningVmRecord { id: r.id, status: r.status.as_str().to_string(), configuration: r.configuration.map(Into::into) }
    }
}

impl From<FirewallRuleRecord> for JsFirewallRuleRecord {
    fn from(r: FirewallRuleRecord) -> Self {
        // Destructured so a new record field fails to compile here until it is mapped.
        let FirewallRuleRecord {
            id,
            name,
            description,
            action,
            direction,
            priority,
            protocol,
            src_port_start,
            src_port_end,
            dst_port_start,
            dst_port_end,
            src_ip_addr,
            src_ip_mask,
            dst_ip_addr,
            dst_ip_mask,
            connection_state,
            overrides_dept,
        } = r;
        JsFirewallRuleRecord {
            id,
            name,
            description,
            action,
            direction,
            priority,
            protocol,
            src_port_start,
            src_port_end,
            dst_port_start,
            dst_port_end,
            src_ip_addr,
            src_ip_mask,
            dst_ip_addr,
            dst_ip_mask,
            connection_state,
            overrides_dept,
        }
    }
}

impl From<FirewallRuleSetRecord> for JsFirewallRuleSetRecord {
    fn from(r: FirewallRuleSetRecord) -> Self {
        JsFirewallRuleSetRecord {
            id: r.id,
            name: r.name,
            internal_name: r.internal_name,
            priority: r.priority,
            is_active: r.is_active,
            rules: r.rules.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<DepartmentRecord> for JsDepartmentRecord {
    fn from(r: DepartmentRecord) -> Self {
        JsDepartmentRecord { id: r.id, name: r.name, firewall_rule_set: r.firewall_rule_set.map(Into::into) }
    }
}

impl From<ExtendedMachineConfigurationRecord> for JsExtendedMachineConfigurationRecord {
    fn from(r: ExtendedMachineConfigurationRecord) -> Self {
        // Destructured so a new column fails to compile here until it is mapped.
        let ExtendedMachineConfigurationRecord {
            qemu_pid,
            tap_device_name,
            qmp_socket_path,
            guest_agent_socket_path,
            infini_service_socket_path,
            graphic_protocol,
            graphic_port,
            graphic_password,
            graphic_host,
            assigned_gpu_bus,
            bridge,
            machine_type,
            cpu_model,
            disk_bus,
            disk_cache_mode,
            network_model,
            network_queues,
            memory_balloon,
            disk_paths,
            uefi_firmware,
            hugepages,
            cpu_pinning,
            enable_numa_ctl_pinning,
            cpu_pinning_strategy,
            tpm_socket_path,
            virtio_drivers_iso,
            enable_audio,
            enable_usb_tablet,
        } = r;
        JsExtendedMachineConfigurationRecord {
            qemu_pid,
            tap_device_name,
            qmp_socket_path,
            guest_agent_socket_path,
            infini_service_socket_path,
            graphic_protocol,
            graphic_port,
            graphic_password,
            graphic_host,
            assigned_gpu_bus,
            bridge,
            machine_type,
            cpu_model,
            disk_bus,
            disk_cache_mode,
            network_model,
            network_queues,
            memory_balloon,
            disk_paths,
            uefi_firmware,
            hugepages,
            cpu_pinning,
            enable_numa_ctl_pinning,
            cpu_pinning_strategy,
            tpm_socket_path,
            virtio_drivers_iso,
            enable_audio,
            enable_usb_tablet,
        }
    }
}

impl From<VmConfigRecord> for JsVmConfigRecord {
    fn from(r: VmConfigRecord) -> Self {
        JsVmConfigRecord {
            id: r.id,
            status: r.status.as_str().to_string(),
            name: r.name,
            internal_name: r.internal_name,
            os: r.os,
            cpu_cores: r.cpu_cores,
            ram_gb: r.ram_gb,
            disk_size_gb: r.disk_size_gb,
            gpu_pci_address: r.gpu_pci_address,
            version: r.version,
            configuration: r.configuration.map(Into::into),
            firewall_rule_set: r.firewall_rule_set.map(Into::into),
            department: r.department.map(Into::into),
        }
    }
}

impl From<TransitionResult> for JsTransitionResult {
    fn from(r: TransitionResult) -> Self {
        JsTransitionResult { success: true, new_version: r.new_version, vm_config: r.vm_config.into() }
    }
}
