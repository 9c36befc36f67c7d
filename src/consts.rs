//! The runtime constants and enum objects of the public API (spec §1.2, §17), built
//! from the values the core itself uses so the two can never disagree.

use serde_json::{json, Map, Value};

use crate::display::error::DisplayErrorCode;
use crate::display::{spice, vnc};
use crate::error::code_enum;
use crate::lifecycle::error::LifecycleErrorCode;
use crate::network::error::{NetworkDeviceState, NetworkErrorCode};
use crate::network::firewall::error::{NftablesChainPolicy, NftablesErrorCode, NftablesFamily, NftablesHookType};
use crate::network::{firewall, mac, names};
use crate::qemu::pci::PCI_ADDRESS_PATTERN;
use crate::state::error::{PrismaAdapterErrorCode, SyncErrorCode};
use crate::storage::error::{StorageErrorCode, DEFAULT_CLUSTER_SIZE, MAX_SNAPSHOT_NAME_LENGTH, SUPPORTED_IMAGE_FORMATS};
use crate::unattended::error::UnattendedErrorCode;
use crate::unattended::monitor;

code_enum! {
    /// Spec §17.10 `VMOperation`.
    pub enum VMOperation {
        CREATE = "CREATE", START = "START", STOP = "STOP", RESTART = "RESTART",
        SUSPEND = "SUSPEND", RESUME = "RESUME", RESET = "RESET", DELETE = "DELETE",
    }
}

code_enum! {
    /// Spec §17.10 `VMOperationStatus`.
    pub enum VMOperationStatus {
        PENDING = "PENDING", IN_PROGRESS = "IN_PROGRESS", SUCCESS = "SUCCESS", FAILED = "FAILED", TIMEOUT = "TIMEOUT",
    }
}

/// Spec §17.7 `DBVMStatus`.
pub const DB_STATUSES: [&str; 8] = ["building", "running", "off", "suspended", "paused", "updating_hardware", "powering_off_update", "error"];
/// Spec §17.2 `QMPVMStatus`.
pub const QMP_STATUSES: [&str; 13] = [
    "running",
    "paused",
    "shutdown",
    "inmigrate",
    "postmigrate",
    "prelaunch",
    "finish-migrate",
    "restore-vm",
    "suspended",
    "watchdog",
    "guest-panicked",
    "io-error",
    "colo",
];
/// Spec §17.12 `OSType`.
pub const OS_TYPES: [&str; 4] = ["windows10", "windows11", "ubuntu", "fedora"];
/// Spec §17.12 `InstallationPhase`.
pub const INSTALLATION_PHASES: [&str; 7] = ["generating_iso", "mounting_media", "installing", "completing", "cleanup", "completed", "failed"];

pub const DEFAULT_DISK_DIR: &str = "/var/lib/infinivirt/disks";
pub const DEFAULT_QMP_SOCKET_DIR: &str = "/var/run/infinivirt";
pub const DEFAULT_PIDFILE_DIR: &str = "/var/run/infinivirt/pids";

fn enum_object(entries: Vec<(&'static str, &'static str)>) -> Value {
    Value::Object(entries.into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect())
}

/// Every runtime constant and enum object, keyed by its export name. `_lists` holds
/// the value sets the type guards check against (not exported itself).
pub fn exported() -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("PCI_ADDRESS_PATTERN", json!(PCI_ADDRESS_PATTERN));
    put("NetworkDeviceState", enum_object(NetworkDeviceState::entries()));
    put("NetworkErrorCode", enum_object(NetworkErrorCode::entries()));
    put("QEMU_MAC_PREFIX", json!(mac::QEMU_MAC_PREFIX));
    put("MAX_TAP_NAME_LENGTH", json!(names::MAX_TAP_NAME_LENGTH));
    put("TAP_NAME_PREFIX", json!(names::TAP_NAME_PREFIX));
    put("NftablesFamily", enum_object(NftablesFamily::entries()));
    put("NftablesHookType", enum_object(NftablesHookType::entries()));
    put("NftablesChainPolicy", enum_object(NftablesChainPolicy::entries()));
    put("NftablesErrorCode", enum_object(NftablesErrorCode::entries()));
    put("INFINIVIRT_TABLE_NAME", json!(firewall::INFINIVIRT_TABLE_NAME));
    put("INFINIVIRT_TABLE_FAMILY", json!(NftablesFamily::BRIDGE.as_str()));
    put("DEFAULT_CHAIN_PRIORITY", json!(firewall::DEFAULT_CHAIN_PRIORITY));
    put("NFTABLES_COMMENT_PREFIX", json!(firewall::NFTABLES_COMMENT_PREFIX));
    put("SUPPORTED_PROTOCOLS", json!(firewall::SUPPORTED_PROTOCOLS));
    put("CONNECTION_STATES", json!(firewall::CONNECTION_STATES));
    put("MAX_CHAIN_NAME_LENGTH", json!(names::MAX_CHAIN_NAME_LENGTH));
    put("VM_CHAIN_PREFIX", json!(names::VM_CHAIN_PREFIX));
    put("StorageErrorCode", enum_object(StorageErrorCode::entries()));
    put("SUPPORTED_IMAGE_FORMATS", json!(SUPPORTED_IMAGE_FORMATS));
    put("DEFAULT_CLUSTER_SIZE", json!(DEFAULT_CLUSTER_SIZE));
    put("MAX_SNAPSHOT_NAME_LENGTH", json!(MAX_SNAPSHOT_NAME_LENGTH));
    put("DisplayErrorCode", enum_object(DisplayErrorCode::entries()));
    put("VNC_BASE_PORT", json!(vnc::VNC_BASE_PORT));
    put("VNC_MAX_PASSWORD_LENGTH", json!(vnc::VNC_MAX_PASSWORD_LENGTH));
    put("SPICE_MIN_PORT", json!(spice::SPICE_MIN_PORT));
    put("SPICE_MAX_PORT", json!(spice::SPICE_MAX_PORT));
    put("DEFAULT_SPICE_ADDR", json!(spice::DEFAULT_SPICE_ADDR));
    put("DEFAULT_VNC_ADDR", json!(vnc::DEFAULT_VNC_ADDR));
    put("SyncErrorCode", enum_object(SyncErrorCode::entries()));
    put("DEFAULT_HEALTH_CHECK_INTERVAL", json!(30000));
    put("DEFAULT_SYNC_TIMEOUT", json!(5000));
    put("MAX_SYNC_RETRIES", json!(3));
    put("PrismaAdapterErrorCode", enum_object(PrismaAdapterErrorCode::entries()));
    put("DEFAULT_DISK_PATH_PREFIX", json!(DEFAULT_DISK_DIR));
    put("DEFAULT_QMP_SOCKET_PATH_PREFIX", json!(DEFAULT_QMP_SOCKET_DIR));
    put("DEFAULT_DISK_FORMAT", json!("qcow2"));
    put("DEFAULT_DISK_EXTENSION", json!(".qcow2"));
    put("LifecycleErrorCode", enum_object(LifecycleErrorCode::entries()));
    put("DEFAULT_STOP_TIMEOUT", json!(30000));
    put("DEFAULT_BOOT_TIMEOUT", json!(60000));
    put("DEFAULT_QMP_CONNECT_TIMEOUT", json!(5000));
    put("DEFAULT_QMP_SOCKET_DIR", json!(DEFAULT_QMP_SOCKET_DIR));
    put("DEFAULT_DISK_DIR", json!(DEFAULT_DISK_DIR));
    put("DEFAULT_PIDFILE_DIR", json!(DEFAULT_PIDFILE_DIR));
    put("DEFAULT_NETWORK_MODEL", json!("virtio-net-pci"));
    put("DEFAULT_DISK_BUS", json!("virtio"));
    put("DEFAULT_DISK_CACHE", json!("writeback"));
    put("RESTART_DELAY_MS", json!(2000));
    put("PROCESS_EXIT_POLL_INTERVAL", json!(100));
    put("RUNTIME_DISK_SIZE_PLACEHOLDER_GB", json!(1));
    put("VMOperation", enum_object(VMOperation::entries()));
    put("VMOperationStatus", enum_object(VMOperationStatus::entries()));
    put("DEFAULT_VM_CPU_CORES", json!(2));
    put("DEFAULT_VM_RAM_GB", json!(4));
    put("DEFAULT_VM_DISK_SIZE_GB", json!(20));
    put("MIN_VM_CPU_CORES", json!(1));
    put("MAX_VM_CPU_CORES", json!(64));
    put("MIN_VM_RAM_GB", json!(1));
    put("MAX_VM_RAM_GB", json!(512));
    put("MIN_VM_DISK_SIZE_GB", json!(10));
    put("MAX_VM_DISK_SIZE_GB", json!(2048));
    put(
        "ConfigDefaults",
        json!({
            "display": { "spicePort": 5900, "vncDisplay": 0, "address": "0.0.0.0", "enableAgent": true },
            "network": { "bridge": "virbr0", "model": "virtio-net-pci" },
            "storage": { "format": "qcow2", "bus": "virtio", "cache": "writeback", "sizeGB": 20 },
            "qemu": { "machineType": "q35", "cpuModel": "host", "cpuCores": 2, "ramGB": 4 },
            "limits": {
                "minCpuCores": 1, "maxCpuCores": 64, "minRamGB": 1, "maxRamGB": 512, "minDiskSizeGB": 10,
                "maxDiskSizeGB": 2048, "minSpicePort": 5900, "maxSpicePort": 65535, "maxVncDisplay": 99
            }
        }),
    );
    put("UnattendedErrorCode", enum_object(UnattendedErrorCode::entries()));
    put("DEFAULT_INSTALLATION_TIMEOUT", json!(monitor::DEFAULT_INSTALLATION_TIMEOUT_MS));
    put("CDROM_DEVICE_NAME", json!(monitor::CDROM_DEVICE_NAME));
    put("ISO_BOOT_ORDER", json!(["d", "c"]));
    put("DEFAULT_MAX_RESETS", json!(monitor::DEFAULT_MAX_RESETS));
    put("DEFAULT_CHECK_INTERVAL", json!(monitor::DEFAULT_CHECK_INTERVAL_MS));
    put("DEFAULT_LOCALE", json!("en_US"));
    put("DEFAULT_TIMEZONE", json!("UTC"));
    put(
        "_lists",
        json!({
            "dbStatuses": DB_STATUSES,
            "qmpStatuses": QMP_STATUSES,
            "osTypes": OS_TYPES,
            "installationPhases": INSTALLATION_PHASES,
            "imageFormats": SUPPORTED_IMAGE_FORMATS,
            "allowedRomDir": crate::qemu::pci::ALLOWED_ROM_DIR,
        }),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_objects_use_spec_keys() {
        let c = exported();
        assert_eq!(c["NetworkDeviceState"], json!({ "UP": "up", "DOWN": "down", "UNKNOWN": "unknown" }));
        assert_eq!(c["StorageErrorCode"]["IMAGE_IN_USE"], "IMAGE_IN_USE");
        assert_eq!(c["LifecycleErrorCode"].as_object().unwrap().len(), 18);
        assert_eq!(c["VMOperationStatus"]["IN_PROGRESS"], "IN_PROGRESS");
        assert_eq!(c["INFINIVIRT_TABLE_FAMILY"], "bridge");
        assert_eq!(c["ConfigDefaults"]["limits"]["maxVncDisplay"], 99);
    }

    #[test]
    fn constant_count_matches_spec() {
        // 57 constants + 14 enum objects, minus the RegExp (built in JS from the pattern),
        // plus the pattern and the private `_lists`.
        assert_eq!(exported().as_object().unwrap().len(), 57 + 14 - 1 + 2);
    }
}
