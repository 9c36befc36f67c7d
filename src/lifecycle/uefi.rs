//! The per-VM UEFI variable store (spec §5.4 step 6): OVMF keeps NVRAM variables in a
//! writable pflash image, copied once from the firmware's `OVMF_VARS` template to
//! `<diskDir>/uefi-vars-<vmId>.fd` and reused on every later start.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const NS_MODULE: &str = "vm-lifecycle";
/// System-wide template directories of Debian/Ubuntu and Fedora.
const SYSTEM_DIRS: [&str; 2] = ["/usr/share/OVMF", "/usr/share/edk2/ovmf"];
const MAX_VM_ID_LEN: usize = 128;

/// Templates to try for `firmware`, first existing wins. `S` is `_4M` when the
/// firmware's file name contains `_4M`: `<fwdir>/OVMF_VARS<S>.fd`,
/// `<fwdir>/OVMF_VARS<S>.ms.fd`, the system dirs' `OVMF_VARS<S>.fd`, then the plain
/// `OVMF_VARS.fd` in `<fwdir>` and the system dirs.
pub fn template_candidates(firmware: &Path) -> Vec<PathBuf> {
    let fw_dir = firmware.parent().unwrap_or_else(|| Path::new("."));
    let suffix = if firmware.file_name().is_some_and(|n| n.to_string_lossy().contains("_4M")) { "_4M" } else { "" };
    let mut out = vec![fw_dir.join(format!("OVMF_VARS{suffix}.fd")), fw_dir.join(format!("OVMF_VARS{suffix}.ms.fd"))];
    out.extend(SYSTEM_DIRS.iter().map(|d| Path::new(d).join(format!("OVMF_VARS{suffix}.fd"))));
    out.push(fw_dir.join("OVMF_VARS.fd"));
    out.extend(SYSTEM_DIRS.iter().map(|d| Path::new(d).join("OVMF_VARS.fd")));
    out
}

/// The first candidate that is a regular file.
pub fn find_template(firmware: &Path) -> Option<PathBuf> {
    template_candidates(firmware).into_iter().find(|p| p.is_file())
}

/// Why a vars file cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum UefiVarsError {
    #[error("VM id {vm_id:?} cannot name a file: use 1 to {MAX_VM_ID_LEN} letters, digits, '-', '_' or '.', not starting with '.'")]
    BadVmId { vm_id: String },
    #[error("no OVMF_VARS template found for firmware {}", firmware.display())]
    NoTemplate { firmware: PathBuf },
    #[error("cannot copy {} to {}: {source}", template.display(), target.display())]
    Copy {
        template: PathBuf,
        target: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `<disk_dir>/uefi-vars-<vm_id>.fd`, refusing a `vm_id` that could leave `disk_dir`
/// or confuse QEMU's option parser (`/`, `,`, control characters, `..`).
pub fn vars_path(disk_dir: &Path, vm_id: &str) -> Result<PathBuf, UefiVarsError> {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if vm_id.is_empty() || vm_id.len() > MAX_VM_ID_LEN || vm_id.starts_with('.') || !vm_id.bytes().all(ok_char) {
        return Err(UefiVarsError::BadVmId { vm_id: vm_id.to_string() });
    }
    Ok(disk_dir.join(format!("uefi-vars-{vm_id}.fd")))
}

/// Ensures the VM's vars file exists (copied from the template when missing, mode
/// 0644) and returns its path. An existing file is kept as is: it holds the guest's
/// boot entries.
pub fn ensure_vars(firmware: &Path, disk_dir: &Path, vm_id: &str) -> Result<PathBuf, UefiVarsError> {
    let target = vars_path(disk_dir, vm_id)?;
    if target.is_file() {
        return Ok(target);
    }
    let template = find_template(firmware).ok_or_else(|| UefiVarsError::NoTemplate { firmware: firmware.to_path_buf() })?;
    copy_new(&template, &target).map_err(|source| UefiVarsError::Copy { template, target: target.clone(), source })?;
    Ok(target)
}

/// Copies into a file that must not exist yet (a concurrent creator wins; its copy
/// is used), removing a partial copy on failure.
fn copy_new(template: &Path, target: &Path) -> std::io::Result<()> {
    let mut src = std::fs::File::open(template)?;
    let mut dst = match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    };
    let r = std::io::copy(&mut src, &mut dst)
        .and_then(|_| dst.flush())
        .and_then(|()| dst.sync_all())
        // The umask may have cleared bits of the creation mode.
        .and_then(|()| std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o644)));
    if r.is_err() {
        drop(dst);
        if let Err(rm) = std::fs::remove_file(target) {
            crate::log::warn(NS_MODULE, &format!("cannot remove partial UEFI vars file {}: {rm}", target.display()));
        }
    }
    r
}

/// Spec §5.4 step 6: the vars file for `-drive if=pflash` or `None` (the VM then
/// boots without persistent UEFI variables; a warning names why).
pub fn setup_uefi_vars(firmware: &Path, disk_dir: &Path, vm_id: &str) -> Option<PathBuf> {
    match ensure_vars(firmware, disk_dir, vm_id) {
        Ok(p) => Some(p),
        Err(e) => {
            crate::log::warn(NS_MODULE, &format!("VM {vm_id}: no UEFI vars drive: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("iv-uefi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn candidate_order() {
        let c = template_candidates(Path::new("/opt/fw/OVMF_CODE_4M.secboot.fd"));
        let s: Vec<String> = c.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            s,
            [
                "/opt/fw/OVMF_VARS_4M.fd",
                "/opt/fw/OVMF_VARS_4M.ms.fd",
                "/usr/share/OVMF/OVMF_VARS_4M.fd",
                "/usr/share/edk2/ovmf/OVMF_VARS_4M.fd",
                "/opt/fw/OVMF_VARS.fd",
                "/usr/share/OVMF/OVMF_VARS.fd",
                "/usr/share/edk2/ovmf/OVMF_VARS.fd",
            ]
        );
        let plain = template_candidates(Path::new("/opt/fw/OVMF_CODE.fd"));
        assert_eq!(plain[0], Path::new("/opt/fw/OVMF_VARS.fd"));
        assert_eq!(plain[1], Path::new("/opt/fw/OVMF_VARS.ms.fd"));
        // Only the file name decides, not a directory called _4M.
        assert_eq!(template_candidates(Path::new("/x_4M/OVMF_CODE.fd"))[0], Path::new("/x_4M/OVMF_VARS.fd"));
    }

    #[test]
    fn vm_ids_stay_inside_the_dir() {
        let d = Path::new("/var/lib/infinivirt/disks");
        assert_eq!(vars_path(d, "3f2a-b_c.1").unwrap(), d.join("uefi-vars-3f2a-b_c.1.fd"));
        for bad in ["", "../x", "a/b", ".hidden", "a,b", "a b", "x\n", "é", &"a".repeat(129)] {
            assert!(matches!(vars_path(d, bad), Err(UefiVarsError::BadVmId { .. })), "{bad:?} accepted");
        }
    }

    #[test]
    fn temp_layout_prefers_the_firmware_dir_and_keeps_existing_vars() {
        let fw = temp("fw");
        let disks = temp("disks");
        std::fs::write(fw.join("OVMF_CODE_4M.fd"), b"code").unwrap();
        std::fs::write(fw.join("OVMF_VARS_4M.ms.fd"), b"ms-vars").unwrap();
        let firmware = fw.join("OVMF_CODE_4M.fd");
        // `OVMF_VARS_4M.fd` is missing beside it: the `.ms` one is next in line.
        assert_eq!(find_template(&firmware).unwrap(), fw.join("OVMF_VARS_4M.ms.fd"));
        let p = setup_uefi_vars(&firmware, &disks, "vm-1").unwrap();
        assert_eq!(p, disks.join("uefi-vars-vm-1.fd"));
        assert_eq!(std::fs::read(&p).unwrap(), b"ms-vars");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        // The guest's variables survive a later setup.
        std::fs::write(&p, b"guest-state").unwrap();
        assert_eq!(setup_uefi_vars(&firmware, &disks, "vm-1").unwrap(), p);
        assert_eq!(std::fs::read(&p).unwrap(), b"guest-state");
        assert_eq!(setup_uefi_vars(&firmware, &disks, "../escape"), None);
        assert_eq!(setup_uefi_vars(&firmware, &disks.join("missing-dir"), "vm-2"), None);
        assert!(!disks.join("missing-dir").exists());
        std::fs::remove_dir_all(&fw).unwrap();
        std::fs::remove_dir_all(&disks).unwrap();
    }

    #[test]
    fn system_template_is_the_last_resort() {
        let fw = temp("nofw");
        let system = ["/usr/share/OVMF/OVMF_VARS.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"].into_iter().map(Path::new).find(|p| p.is_file());
        match (ensure_vars(&fw.join("CUSTOM_CODE.fd"), &fw, "vm"), system) {
            (Ok(p), Some(t)) => assert_eq!(std::fs::read(p).unwrap(), std::fs::read(t).unwrap()),
            (Err(e), None) => assert!(matches!(e, UefiVarsError::NoTemplate { .. })),
            (r, t) => panic!("{r:?} with system template {t:?}"),
        }
        std::fs::remove_dir_all(&fw).unwrap();
    }

    /// Debian's `ovmf` package, when installed.
    #[test]
    fn real_ovmf_files() {
        let sys = Path::new("/usr/share/OVMF");
        if !sys.join("OVMF_CODE_4M.fd").exists() {
            eprintln!("real_ovmf_files skipped: ovmf not installed");
            return;
        }
        assert_eq!(find_template(&sys.join("OVMF_CODE_4M.fd")).unwrap(), sys.join("OVMF_VARS_4M.fd"));
        assert_eq!(find_template(&sys.join("OVMF_CODE_4M.secboot.fd")).unwrap(), sys.join("OVMF_VARS_4M.fd"));
        assert_eq!(find_template(&sys.join("OVMF_CODE.fd")).unwrap(), sys.join("OVMF_VARS.fd"));
        let disks = temp("real");
        let p = setup_uefi_vars(&sys.join("OVMF_CODE_4M.fd"), &disks, "0b6c1f6e-2d1c-4c8e-9a57-1b2c3d4e5f60").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(sys.join("OVMF_VARS_4M.fd")).unwrap());
        std::fs::remove_dir_all(&disks).unwrap();
    }
}
