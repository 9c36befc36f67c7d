//! QEMU-range MAC addresses (spec §8.3).

use std::hash::BuildHasher;

use md5::{Digest, Md5};

pub const QEMU_MAC_PREFIX: &str = "52:54:00";

/// `52:54:00:xx:xx:xx` with three random bytes.
pub fn generate() -> String {
    // RandomState is seeded from the OS; the MAC's format is the only contract.
    let n = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    let b = n.to_le_bytes();
    format!("{QEMU_MAC_PREFIX}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// Deterministic MAC for a VM id: the id itself when it is ≥ 6 hex digits, else MD5.
pub fn generate_from_vm_id(vm_id: &str) -> String {
    let hex: String = if vm_id.len() >= 6 && vm_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        vm_id[..6].to_lowercase()
    } else {
        Md5::digest(vm_id.as_bytes()).iter().take(3).map(|b| format!("{b:02x}")).collect()
    };
    format!("{QEMU_MAC_PREFIX}:{}:{}:{}", &hex[0..2], &hex[2..4], &hex[4..6])
}

/// `/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/`
pub fn validate(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn is_qemu_mac(mac: &str) -> bool {
    validate(mac) && mac.to_lowercase().starts_with(QEMU_MAC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_38_39_40() {
        assert_eq!(generate_from_vm_id("abc123"), "52:54:00:ab:c1:23");
        assert_eq!(generate_from_vm_id("deadbeef"), "52:54:00:de:ad:be");
        assert_eq!(generate_from_vm_id("ABCDEF1234"), "52:54:00:ab:cd:ef");
        assert_eq!(generate_from_vm_id("550e8400-e29b-41d4-a716-446655440000"), "52:54:00:e8:45:6c");
        assert_eq!(generate_from_vm_id("vm-1"), "52:54:00:8d:4f:7b");
        assert_eq!(generate_from_vm_id("abc12"), "52:54:00:b2:15:7e");
        assert_eq!(generate_from_vm_id("test-vm-123"), "52:54:00:43:de:fd");
        assert!(!validate("52-54-00-a3-b2-c1"));
        assert!(is_qemu_mac("52:54:00:A3:B2:C1"));
        for _ in 0..50 {
            let m = generate();
            assert!(is_qemu_mac(&m) && m == m.to_lowercase(), "{m}");
        }
        // Non-ASCII ids hash their UTF-8 bytes and never panic on slicing.
        assert!(validate(&generate_from_vm_id("ümlaut-vm")));
    }
}
