//! The records the stores read and write (spec §17.7, §17.8), and the one list of
//! `MachineConfiguration` columns every store and the JS mapping derive from.
//!
//! Records serialise to the exact JS shapes of the spec (camelCase keys, `null` for
//! absent values, the capitalised `MachineConfiguration` key of running-VM records).
//! Values coming back from a caller's JS adapter are read leniently
//! ([`MachineRecord::from_js`] etc.): mocks often return partial objects.

use serde::Serialize;
use serde_json::{Map, Value};

use super::status::VmStatus;

/// `{ id, status }` (spec §17.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineRecord {
    pub id: String,
    pub status: VmStatus,
}

/// What a running VM holds on the host (spec §17.7 `MachineConfigurationRecord`).
/// `cpuPinning` is an Infinivirt addition (spec §19 #7: cgroup cleanup needs it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineConfigurationRecord {
    pub qemu_pid: Option<i64>,
    pub tap_device_name: Option<String>,
    pub qmp_socket_path: Option<String>,
    pub guest_agent_socket_path: Option<String>,
    pub infini_service_socket_path: Option<String>,
    pub cpu_pinning: Option<Value>,
}

/// `{ id, status, MachineConfiguration }` (spec §17.7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunningVmRecord {
    pub id: String,
    pub status: VmStatus,
    #[serde(rename = "MachineConfiguration")]
    pub configuration: Option<MachineConfigurationRecord>,
}

/// A VM's status and runtime columns whatever its status (what crash handling captures
/// before it flips the status).
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeRecord {
    pub status: VmStatus,
    pub configuration: Option<MachineConfigurationRecord>,
}

/// The type of one `MachineConfiguration` column as the adapter contract sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Int,
    Bool,
    /// `diskPaths`: a JSON array (of strings).
    JsonArray,
    /// `cpuPinning`: a JSON object `{ cores: number[] }`.
    JsonObject,
}

/// Declares the configuration columns once: the typed record, the column table and
/// the conversions all come from this list (declaration order = JS key order).
macro_rules! config_columns {
    ($($field:ident : $name:literal => $kind:ident),+ $(,)?) => {
        /// Every configuration column of spec §17.8 `ExtendedMachineConfigurationRecord`
        /// (the same 28 columns as `MachineConfigUpdate`), each `T | null`.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct ExtendedMachineConfigurationRecord {
            $(pub $field: Option<column_type!($kind)>,)+
        }

        /// `(JS/SQL name, kind)` of every configuration column, in declaration order.
        pub const CONFIG_COLUMNS: &[(&str, ColumnKind)] = &[$(($name, ColumnKind::$kind)),+];

        impl ExtendedMachineConfigurationRecord {
            /// Reads each column through `src` (a database row or a JS object).
            pub fn read(src: &impl ColumnSource) -> Self {
                ExtendedMachineConfigurationRecord { $($field: column_read!(src, $name, $kind),)+ }
            }

            /// The JS object: every field present, `null` when absent.
            pub fn to_json(&self) -> Value {
                let mut m = Map::new();
                $(m.insert($name.to_string(), column_json!(&self.$field, $kind));)+
                Value::Object(m)
            }
        }
    };
}

macro_rules! column_type {
    (Text) => {
        String
    };
    (Int) => {
        i64
    };
    (Bool) => {
        bool
    };
    (JsonArray) => {
        Value
    };
    (JsonObject) => {
        Value
    };
}

macro_rules! column_read {
    ($src:expr, $name:literal, Text) => {
        $src.text($name)
    };
    ($src:expr, $name:literal, Int) => {
        $src.int($name)
    };
    ($src:expr, $name:literal, Bool) => {
        $src.boolean($name)
    };
    ($src:expr, $name:literal, JsonArray) => {
        $src.json($name).filter(Value::is_array)
    };
    ($src:expr, $name:literal, JsonObject) => {
        $src.json($name).filter(is_cpu_pinning)
    };
}

macro_rules! column_json {
    ($v:expr, Text) => {
        $v.clone().map_or(Value::Null, Value::from)
    };
    ($v:expr, Int) => {
        $v.map_or(Value::Null, Value::from)
    };
    ($v:expr, Bool) => {
        $v.map_or(Value::Null, Value::from)
    };
    ($v:expr, JsonArray) => {
        $v.clone().unwrap_or(Value::Null)
    };
    ($v:expr, JsonObject) => {
        $v.clone().unwrap_or(Value::Null)
    };
}

config_columns! {
    qemu_pid: "qemuPid" => Int,
    tap_device_name: "tapDeviceName" => Text,
    qmp_socket_path: "qmpSocketPath" => Text,
    guest_agent_socket_path: "guestAgentSocketPath" => Text,
    infini_service_socket_path: "infiniServiceSocketPath" => Text,
    graphic_protocol: "graphicProtocol" => Text,
    graphic_port: "graphicPort" => Int,
    graphic_password: "graphicPassword" => Text,
    graphic_host: "graphicHost" => Text,
    assigned_gpu_bus: "assignedGpuBus" => Text,
    bridge: "bridge" => Text,
    machine_type: "machineType" => Text,
    cpu_model: "cpuModel" => Text,
    disk_bus: "diskBus" => Text,
    disk_cache_mode: "diskCacheMode" => Text,
    network_model: "networkModel" => Text,
    network_queues: "networkQueues" => Int,
    memory_balloon: "memoryBalloon" => Bool,
    disk_paths: "diskPaths" => JsonArray,
    uefi_firmware: "uefiFirmware" => Text,
    hugepages: "hugepages" => Bool,
    cpu_pinning: "cpuPinning" => JsonObject,
    enable_numa_ctl_pinning: "enableNumaCtlPinning" => Bool,
    cpu_pinning_strategy: "cpuPinningStrategy" => Text,
    tpm_socket_path: "tpmSocketPath" => Text,
    virtio_drivers_iso: "virtioDriversIso" => Text,
    enable_audio: "enableAudio" => Bool,
    enable_usb_tablet: "enableUsbTablet" => Bool,
}

/// `{ cores: number[] }` (spec §11.1: anything else reads as `null`).
pub fn is_cpu_pinning(v: &Value) -> bool {
    v.get("cores").and_then(Value::as_array).is_some_and(|c| c.iter().all(Value::is_number))
}

/// Typed access to named columns of a row or properties of a JS object.
pub trait ColumnSource {
    fn text(&self, name: &str) -> Option<String>;
    fn int(&self, name: &str) -> Option<i64>;
    fn boolean(&self, name: &str) -> Option<bool>;
    fn json(&self, name: &str) -> Option<Value>;
}

/// A JS object (already JSON) as a column source: wrong types read as absent.
impl ColumnSource for Value {
    fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Value::as_str).map(str::to_string)
    }
    fn int(&self, name: &str) -> Option<i64> {
        let v = self.get(name)?;
        // JS numbers arrive as floats when they came through JSON.stringify of a double.
        #[allow(clippy::cast_possible_truncation)] // integral and within ±9e15, checked
        v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
    }
    fn boolean(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }
    fn json(&self, name: &str) -> Option<Value> {
        self.get(name).filter(|v| !v.is_null()).cloned()
    }
}

impl MachineConfigurationRecord {
    pub fn read(src: &impl ColumnSource) -> Self {
        MachineConfigurationRecord {
            qemu_pid: src.int("qemuPid"),
            tap_device_name: src.text("tapDeviceName"),
            qmp_socket_path: src.text("qmpSocketPath"),
            guest_agent_socket_path: src.text("guestAgentSocketPath"),
            infini_service_socket_path: src.text("infiniServiceSocketPath"),
            cpu_pinning: src.json("cpuPinning").filter(is_cpu_pinning),
        }
    }

    /// True when the stored pinning names at least one core (spec §19 #7).
    pub fn has_cpu_pinning(&self) -> bool {
        self.cpu_pinning.as_ref().and_then(|p| p.get("cores")).and_then(Value::as_array).is_some_and(|c| !c.is_empty())
    }
}

impl MachineRecord {
    /// A JS adapter's `findMachine` result: `null`/`undefined` → `None`.
    pub fn from_js(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        Some(MachineRecord { id: v.text("id").unwrap_or_default(), status: js_status(v) })
    }
}

/// The `status` column of a database row (`""` when absent), unknown values kept.
pub fn row_status(c: &impl ColumnSource) -> VmStatus {
    VmStatus::from(c.text("status").unwrap_or_default())
}

/// A status as a JS adapter returned it; non-strings are rendered like `String(x)`.
fn js_status(v: &Value) -> VmStatus {
    VmStatus::from(match v.get("status") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => "undefined".to_string(),
        Some(other) => other.to_string(),
    })
}

impl RunningVmRecord {
    /// A JS adapter's `findRunningVMs` result (anything but an array reads as empty).
    pub fn list_from_js(v: &Value) -> Vec<Self> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter(|r| r.is_object())
                    .map(|r| RunningVmRecord {
                        id: r.text("id").unwrap_or_default(),
                        status: js_status(r),
                        configuration: r.get("MachineConfiguration").filter(|c| c.is_object()).map(MachineConfigurationRecord::read),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `FirewallRuleRecord` (spec §17.8): every field copied 1:1.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRuleRecord {
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
    pub connection_state: Option<Value>,
    pub overrides_dept: bool,
}

impl FirewallRuleRecord {
    pub fn read(src: &impl ColumnSource) -> Self {
        FirewallRuleRecord {
            id: src.text("id").unwrap_or_default(),
            name: src.text("name").unwrap_or_default(),
            description: src.text("description"),
            action: src.text("action").unwrap_or_default(),
            direction: src.text("direction").unwrap_or_default(),
            priority: src.int("priority").unwrap_or(500),
            protocol: src.text("protocol").unwrap_or_else(|| "all".into()),
            src_port_start: src.int("srcPortStart"),
            src_port_end: src.int("srcPortEnd"),
            dst_port_start: src.int("dstPortStart"),
            dst_port_end: src.int("dstPortEnd"),
            src_ip_addr: src.text("srcIpAddr"),
            src_ip_mask: src.text("srcIpMask"),
            dst_ip_addr: src.text("dstIpAddr"),
            dst_ip_mask: src.text("dstIpMask"),
            connection_state: src.json("connectionState"),
            overrides_dept: src.boolean("overridesDept").unwrap_or(false),
        }
    }
}

/// `FirewallRuleSetRecord` (spec §17.8).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRuleSetRecord {
    pub id: String,
    pub name: String,
    pub internal_name: String,
    pub priority: i64,
    pub is_active: bool,
    pub rules: Vec<FirewallRuleRecord>,
}

/// `DepartmentRecord` (spec §17.8).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentRecord {
    pub id: String,
    pub name: String,
    pub firewall_rule_set: Option<FirewallRuleSetRecord>,
}

/// `VMConfigRecord` (spec §17.8) with the defaults of §11.1 applied.
#[derive(Debug, Clone, PartialEq)]
pub struct VmConfigRecord {
    pub id: String,
    pub status: VmStatus,
    pub name: String,
    pub internal_name: String,
    pub os: String,
    pub cpu_cores: i64,
    pub ram_gb: i64,
    pub disk_size_gb: i64,
    pub gpu_pci_address: Option<String>,
    pub version: i64,
    pub configuration: Option<ExtendedMachineConfigurationRecord>,
    pub firewall_rule_set: Option<FirewallRuleSetRecord>,
    pub department: Option<DepartmentRecord>,
}

impl VmConfigRecord {
    /// The rule-set ids a row of the VM select refers to: the VM's, then its department's.
    pub fn rule_set_ids(c: &impl ColumnSource) -> Vec<String> {
        c.text("firewallRuleSetId").into_iter().chain(c.text("deptRuleSetId")).collect()
    }

    /// Assembles a VM from one row of the stores' VM select (machine, configuration
    /// and department columns) and the rule sets that row refers to.
    pub fn from_row(c: &impl ColumnSource, sets: &[FirewallRuleSetRecord]) -> Self {
        let set = |id: Option<String>| id.and_then(|i| sets.iter().find(|s| s.id == i).cloned());
        VmConfigRecord {
            id: c.text("id").unwrap_or_default(),
            status: row_status(c),
            name: c.text("name").unwrap_or_default(),
            internal_name: c.text("internalName").unwrap_or_default(),
            os: c.text("os").unwrap_or_default(),
            cpu_cores: c.int("cpuCores").unwrap_or(0),
            ram_gb: c.int("ramGB").unwrap_or(0),
            disk_size_gb: c.int("diskSizeGB").unwrap_or(0),
            gpu_pci_address: c.text("gpuPciAddress"),
            version: c.int("version").unwrap_or(1),
            configuration: c.text("cfgId").map(|_| ExtendedMachineConfigurationRecord::read(c)),
            firewall_rule_set: set(c.text("firewallRuleSetId")),
            department: c.text("deptId").map(|dept_id| DepartmentRecord {
                id: dept_id,
                name: c.text("deptName").unwrap_or_default(),
                firewall_rule_set: set(c.text("deptRuleSetId")),
            }),
        }
    }

    /// The JS object, keys in the spec's mapping order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), Value::from(self.id.clone()));
        m.insert("status".into(), Value::from(self.status.as_str()));
        m.insert("name".into(), Value::from(self.name.clone()));
        m.insert("internalName".into(), Value::from(self.internal_name.clone()));
        m.insert("os".into(), Value::from(self.os.clone()));
        m.insert("cpuCores".into(), Value::from(self.cpu_cores));
        m.insert("ramGB".into(), Value::from(self.ram_gb));
        m.insert("diskSizeGB".into(), Value::from(self.disk_size_gb));
        m.insert("gpuPciAddress".into(), self.gpu_pci_address.clone().map_or(Value::Null, Value::from));
        m.insert("version".into(), Value::from(self.version));
        m.insert("configuration".into(), self.configuration.as_ref().map_or(Value::Null, ExtendedMachineConfigurationRecord::to_json));
        m.insert("firewallRuleSet".into(), to_value_or_null(self.firewall_rule_set.as_ref()));
        m.insert("department".into(), to_value_or_null(self.department.as_ref()));
        Value::Object(m)
    }

    /// Department rules first, then the VM's, then a stable sort by priority (spec §11.1).
    pub fn firewall_rules(&self) -> Vec<FirewallRuleRecord> {
        let mut rules: Vec<FirewallRuleRecord> = Vec::new();
        if let Some(rs) = self.department.as_ref().and_then(|d| d.firewall_rule_set.as_ref()) {
            rules.extend(rs.rules.iter().cloned());
        }
        if let Some(rs) = &self.firewall_rule_set {
            rules.extend(rs.rules.iter().cloned());
        }
        rules.sort_by_key(|r| r.priority); // sort_by_key is stable
        rules
    }
}

fn to_value_or_null<T: Serialize>(v: Option<&T>) -> Value {
    v.and_then(|x| serde_json::to_value(x).ok()).unwrap_or(Value::Null)
}

impl FirewallRuleSetRecord {
    fn from_js(v: &Value) -> Option<Self> {
        v.is_object().then(|| FirewallRuleSetRecord {
            id: v.text("id").unwrap_or_default(),
            name: v.text("name").unwrap_or_default(),
            internal_name: v.text("internalName").unwrap_or_default(),
            priority: v.int("priority").unwrap_or(500),
            is_active: v.boolean("isActive").unwrap_or(true),
            rules: v.get("rules").and_then(Value::as_array).map(|a| a.iter().map(FirewallRuleRecord::read).collect()).unwrap_or_default(),
        })
    }
}

impl VmConfigRecord {
    /// A JS adapter's `findMachineWithConfig` result (spec defaults for missing fields).
    pub fn from_js(v: &Value) -> Option<Self> {
        if !v.is_object() {
            return None;
        }
        Some(VmConfigRecord {
            id: v.text("id").unwrap_or_default(),
            status: js_status(v),
            name: v.text("name").unwrap_or_default(),
            internal_name: v.text("internalName").unwrap_or_default(),
            os: v.text("os").unwrap_or_default(),
            cpu_cores: v.int("cpuCores").unwrap_or(0),
            ram_gb: v.int("ramGB").unwrap_or(0),
            disk_size_gb: v.int("diskSizeGB").unwrap_or(0),
            gpu_pci_address: v.text("gpuPciAddress"),
            version: v.int("version").unwrap_or(1),
            configuration: v.get("configuration").filter(|c| c.is_object()).map(ExtendedMachineConfigurationRecord::read),
            firewall_rule_set: v.get("firewallRuleSet").and_then(FirewallRuleSetRecord::from_js),
            department: v.get("department").filter(|d| d.is_object()).map(|d| DepartmentRecord {
                id: d.text("id").unwrap_or_default(),
                name: d.text("name").unwrap_or_default(),
                firewall_rule_set: d.get("firewallRuleSet").and_then(FirewallRuleSetRecord::from_js),
            }),
        })
    }
}

/// `transitionVMStatus` result.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionResult {
    pub new_version: i64,
    pub vm_config: VmConfigRecord,
}

impl TransitionResult {
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "success": true, "newVersion": self.new_version, "vmConfig": self.vm_config.to_json() })
    }
}

/// A validated `Partial<MachineConfigUpdate>`: known columns only, each value of the
/// column's type or `null` (which clears it). Keys keep the caller's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MachineConfigUpdate {
    values: Vec<(&'static str, ColumnKind, Value)>,
}

impl MachineConfigUpdate {
    /// Parses a JS object; `Err` names the offending key.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let Some(obj) = v.as_object() else {
            return if v.is_null() { Ok(Self::default()) } else { Err("configuration must be an object".into()) };
        };
        let mut values = Vec::new();
        for (k, val) in obj {
            let Some((name, kind)) = CONFIG_COLUMNS.iter().find(|(n, _)| n == k) else {
                return Err(format!("Unknown configuration field '{k}'"));
            };
            let ok = val.is_null()
                || match kind {
                    ColumnKind::Text => val.is_string(),
                    ColumnKind::Int => {
                        val.as_i64().is_some_and(|n| i32::try_from(n).is_ok())
                            || val.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() <= f64::from(i32::MAX))
                    }
                    ColumnKind::Bool => val.is_boolean(),
                    ColumnKind::JsonArray => val.is_array(),
                    ColumnKind::JsonObject => val.is_object(),
                };
            if !ok {
                return Err(format!("Invalid value for configuration field '{k}': {val}"));
            }
            values.push((*name, *kind, val.clone()));
        }
        Ok(MachineConfigUpdate { values })
    }

    /// `(column, kind, value)` triples; `Value::Null` clears the column.
    pub fn values(&self) -> &[(&'static str, ColumnKind, Value)] {
        &self.values
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The update as the JS object it was parsed from (keys in order); `from_json`
    /// of it gives back an equal update.
    pub fn to_json(&self) -> Value {
        Value::Object(self.values.iter().map(|(n, _, v)| (n.to_string(), v.clone())).collect())
    }
}

/// Serialized as its JS object (journaled queued writes, `queue::PendingWrite::Config`).
impl serde::Serialize for MachineConfigUpdate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Validated like `from_json`: unknown keys or ill-typed values are an error.
impl<'de> serde::Deserialize<'de> for MachineConfigUpdate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <Value as serde::Deserialize>::deserialize(d)?;
        MachineConfigUpdate::from_json(&v).map_err(serde::de::Error::custom)
    }
}

/// An integer column value from a JS number.
pub fn json_int(v: &Value) -> Option<i64> {
    #[allow(clippy::cast_possible_truncation)] // from_json checked integrality and range
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_columns_match_the_update_type() {
        assert_eq!(CONFIG_COLUMNS.len(), 28);
        let names: Vec<&str> = CONFIG_COLUMNS.iter().map(|(n, _)| *n).collect();
        for n in [
            "enableNumaCtlPinning",
            "cpuPinningStrategy",
            "tpmSocketPath",
            "guestAgentSocketPath",
            "infiniServiceSocketPath",
            "virtioDriversIso",
            "enableAudio",
            "enableUsbTablet",
        ] {
            assert!(names.contains(&n), "{n} (spec §19 #2) missing");
        }
        let rec = ExtendedMachineConfigurationRecord::read(&json!({"qemuPid": 5, "diskPaths": "x", "cpuPinning": {"cores": [1, "a"]}, "enableAudio": true}));
        let out = rec.to_json();
        assert_eq!(out["qemuPid"], 5);
        assert_eq!(out["diskPaths"], Value::Null);
        assert_eq!(out["cpuPinning"], Value::Null);
        assert_eq!(out["enableAudio"], true);
        assert_eq!(out["bridge"], Value::Null);
        assert_eq!(out.as_object().unwrap().len(), 28);
    }

    #[test]
    fn lenient_js_records() {
        assert_eq!(MachineRecord::from_js(&Value::Null), None);
        assert_eq!(MachineRecord::from_js(&json!({"status": "running"})).unwrap().status, "running");
        let l = RunningVmRecord::list_from_js(&json!([{"id": "a", "status": "running", "MachineConfiguration": {"qemuPid": 12.0}}, {"id": "b"}, 3]));
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].configuration.as_ref().unwrap().qemu_pid, Some(12));
        assert_eq!(l[1].configuration, None);
        let s = serde_json::to_value(&l[0]).unwrap();
        assert_eq!(s["MachineConfiguration"]["tapDeviceName"], Value::Null);
        // statuses from JS: unknown strings kept, others rendered like String(x)
        let st = |v: Value| MachineRecord::from_js(&v).unwrap().status;
        assert_eq!(st(json!({"status": "migrating"})), VmStatus::Other("migrating".into()));
        assert_eq!(st(json!({})), VmStatus::Other("undefined".into()));
        assert_eq!(st(json!({"status": 3})), VmStatus::Other("3".into()));
        assert_eq!(serde_json::to_value(MachineRecord { id: "a".into(), status: "migrating".into() }).unwrap(), json!({"id": "a", "status": "migrating"}));
        let vm = VmConfigRecord::from_js(&json!({"id": "a", "status": "updating_hardware"})).unwrap();
        assert_eq!(vm.status, VmStatus::UpdatingHardware);
        assert_eq!(vm.to_json()["status"], "updating_hardware");
    }

    #[test]
    fn update_is_parsed_against_the_column_table() {
        let u = MachineConfigUpdate::from_json(&json!({"qemuPid": 10, "tapDeviceName": null, "diskPaths": ["/a"]})).unwrap();
        assert_eq!(u.values().len(), 3);
        assert!(MachineConfigUpdate::from_json(&json!({"qemuPid": "10"})).is_err());
        assert!(MachineConfigUpdate::from_json(&json!({"qemuPid": 1.5})).is_err());
        assert!(MachineConfigUpdate::from_json(&json!({"status": "x"})).is_err());
        assert!(MachineConfigUpdate::from_json(&json!({"\"; DROP TABLE x": 1})).is_err());
    }

    #[test]
    fn rules_sorted_department_first_stable() {
        let rule = |id: &str, p: i64| FirewallRuleRecord::read(&json!({"id": id, "priority": p}));
        let set = |rules| FirewallRuleSetRecord { id: "s".into(), name: "s".into(), internal_name: "s".into(), priority: 500, is_active: true, rules };
        let vm = VmConfigRecord {
            id: "m".into(),
            status: "off".into(),
            name: String::new(),
            internal_name: String::new(),
            os: String::new(),
            cpu_cores: 0,
            ram_gb: 0,
            disk_size_gb: 0,
            gpu_pci_address: None,
            version: 1,
            configuration: None,
            firewall_rule_set: Some(set(vec![rule("v1", 100), rule("v2", 50)])),
            department: Some(DepartmentRecord { id: "d".into(), name: "d".into(), firewall_rule_set: Some(set(vec![rule("d1", 100), rule("d2", 50)])) }),
        };
        let ids: Vec<String> = vm.firewall_rules().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["d2", "v2", "d1", "v1"]);
    }
}
