//! PCI addresses (spec §17.1) and the passthrough ROM directory rule.

use std::path::{Component, Path, PathBuf};

pub const PCI_ADDRESS_PATTERN: &str = "^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-9a-fA-F]$";
pub const ALLOWED_ROM_DIR: &str = "/var/lib/infinivirt/roms/";

/// `validatePciAddress`: `Err(message)` carries the spec's exact text.
pub fn validate_pci_address(address: &str) -> Result<(), String> {
    if address.is_empty() {
        return Err("PCI address must be a non-empty string".into());
    }
    if matches_pattern(address) {
        Ok(())
    } else {
        Err(format!("Invalid PCI address format '{address}'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit"))
    }
}

fn matches_pattern(a: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let short = |s: &str| {
        // XX:XX.X
        s.len() == 7 && hex(&s[0..2], 2) && &s[2..3] == ":" && hex(&s[3..5], 2) && &s[5..6] == "." && hex(&s[6..7], 1)
    };
    if !a.is_ascii() {
        return false;
    }
    match a.len() {
        7 => short(a),
        12 => hex(&a[0..4], 4) && &a[4..5] == ":" && short(&a[5..]),
        _ => false,
    }
}

/// `normalizePciAddress`: lower-case long form.
pub fn normalize_pci_address(address: &str) -> Result<String, String> {
    validate_pci_address(address)?;
    if address.len() > 7 && address.as_bytes().get(4) == Some(&b':') {
        Ok(address.to_lowercase())
    } else {
        Ok(format!("0000:{address}").to_lowercase())
    }
}

/// `path.resolve(p)`: absolute against the cwd, `.` and `..` folded lexically.
pub fn resolve_path(p: &str) -> PathBuf {
    let base = if Path::new(p).is_absolute() { PathBuf::from("/") } else { std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")) };
    let mut out = PathBuf::new();
    for c in base.join(p).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

/// The resolved ROM path when it lies inside [`ALLOWED_ROM_DIR`].
pub fn rom_inside_allowed_dir(romfile: &str) -> Option<String> {
    let resolved = resolve_path(romfile).to_string_lossy().into_owned();
    resolved.starts_with(ALLOWED_ROM_DIR).then_some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_36_validate() {
        assert!(validate_pci_address("01:00.0").is_ok());
        assert!(validate_pci_address("0000:01:00.0").is_ok());
        assert_eq!(
            validate_pci_address("1:00.0").unwrap_err(),
            "Invalid PCI address format '1:00.0'. Expected format: 'XX:XX.X' (short) or 'XXXX:XX:XX.X' (long), where X is a hexadecimal digit"
        );
        assert_eq!(validate_pci_address("").unwrap_err(), "PCI address must be a non-empty string");
        for bad in ["01:00.0,x=1", "0000:01:00.0 ", "g1:00.0", "01:00:0", "0000-01:00.0", "٠١:00.0"] {
            assert!(validate_pci_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_37_normalize() {
        assert_eq!(normalize_pci_address("01:00.0").unwrap(), "0000:01:00.0");
        assert_eq!(normalize_pci_address("0000:0A:1F.7").unwrap(), "0000:0a:1f.7");
        assert!(normalize_pci_address("zz").is_err());
    }

    #[test]
    fn rom_dir() {
        assert_eq!(rom_inside_allowed_dir("/var/lib/infinivirt/roms/gpu.rom").as_deref(), Some("/var/lib/infinivirt/roms/gpu.rom"));
        assert_eq!(rom_inside_allowed_dir("/var/lib/infinivirt/roms/../x.rom"), None);
        assert_eq!(rom_inside_allowed_dir("/tmp/x.rom"), None);
        assert_eq!(rom_inside_allowed_dir("/var/lib/infinivirt/roms/./a/../b.rom").as_deref(), Some("/var/lib/infinivirt/roms/b.rom"));
    }
}

/// `normalizePciAddress` on an invalid address: a plain `Error` with the validation text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PciAddressError(pub String);

impl crate::error::ErrorShape for PciAddressError {
    fn code(&self) -> &'static str {
        "INVALID_PCI_ADDRESS"
    }

    fn class(&self) -> crate::error::JsClass {
        crate::error::JsClass::Error
    }
}
