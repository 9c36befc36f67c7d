//! The one directory layout every operation uses (API-next §2.5):
//! `<root>/<vmId>/<backupId>/backup.json` and `disk-<i>.qcow2`. Writing, listing,
//! retention and restore all derive paths from here, so a backup is always found
//! where it was written.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::error::BackupError;

pub const DEFAULT_BACKUP_DIR: &str = "/var/lib/infinivirt/backups";

/// A VM id usable as one directory name: 1–255 bytes, no `/`, NUL or control
/// characters, not `.` or `..`.
pub fn vm_id(raw: &str) -> Result<&str, BackupError> {
    if raw.trim().is_empty() {
        return Err(BackupError::invalid("vmId is required"));
    }
    if raw.len() > 255 || raw == "." || raw == ".." || raw.chars().any(|c| c == '/' || c.is_control()) {
        return Err(BackupError::invalid(format!("Invalid vmId {raw:?}: it must be usable as a directory name")));
    }
    Ok(raw)
}

/// A backup id as we create them: a lowercase UUID (any version, so ids written by
/// other tools in the same layout stay readable).
pub fn is_backup_id(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

pub fn backup_id(raw: &str) -> Result<&str, BackupError> {
    if is_backup_id(raw) {
        Ok(raw)
    } else {
        Err(BackupError::BackupNotFound { backup_id: raw.to_string() })
    }
}

/// A random UUID v4 from the kernel's CSPRNG.
pub fn new_backup_id() -> Result<String, BackupError> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).map_err(|e| BackupError::io("read", Path::new("/dev/urandom"), e))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// `path` made absolute and free of `.`/`..` without touching the filesystem.
pub fn lexical(path: &Path) -> PathBuf {
    let base = if path.is_absolute() { PathBuf::new() } else { std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")) };
    let mut out = base;
    for c in path.components() {
        match c {
            Component::RootDir => out.push("/"),
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: Option<&str>) -> Result<Self, BackupError> {
        let root = root.filter(|r| !r.is_empty()).unwrap_or(DEFAULT_BACKUP_DIR);
        if root.contains('\0') {
            return Err(BackupError::invalid("backupRootDir must be a path"));
        }
        Ok(Layout { root: lexical(Path::new(root)) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn vm_dir(&self, vm_id: &str) -> PathBuf {
        self.root.join(vm_id)
    }

    pub fn backup_dir(&self, vm_id: &str, backup_id: &str) -> PathBuf {
        self.vm_dir(vm_id).join(backup_id)
    }

    pub fn disk_file(&self, vm_id: &str, backup_id: &str, index: usize) -> PathBuf {
        self.backup_dir(vm_id, backup_id).join(format!("disk-{index}.qcow2"))
    }

    /// `destinationDir` must name `<root>/<vmId>` (omitted: that directory), so that
    /// listing and retention find what is written.
    pub fn check_destination(&self, vm_id: &str, dest: Option<&str>) -> Result<(), BackupError> {
        let expected = self.vm_dir(vm_id);
        let Some(d) = dest else { return Ok(()) };
        if d.trim().is_empty() || d.contains('\0') || lexical(Path::new(d)) != expected {
            return Err(BackupError::InvalidDestination { dir: d.to_string(), expected: expected.display().to_string() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let id = new_backup_id().unwrap();
        assert!(is_backup_id(&id), "{id}");
        assert_eq!(&id[14..15], "4");
        for bad in ["", "../x", "ABCDEF00-0000-4000-8000-000000000000", "x".repeat(36).as_str()] {
            assert!(!is_backup_id(bad), "{bad}");
        }
        for bad in ["", " ", ".", "..", "a/b", "a\nb"] {
            assert!(vm_id(bad).is_err(), "{bad:?}");
        }
        assert!(vm_id("vm-1").is_ok());
    }

    #[test]
    fn destination_must_be_the_vm_dir() {
        let l = Layout::new(Some("/b")).unwrap();
        assert!(l.check_destination("v", None).is_ok());
        assert!(l.check_destination("v", Some("/b/v")).is_ok());
        assert!(l.check_destination("v", Some("/b/x/../v/")).is_ok());
        let e = l.check_destination("v", Some("/elsewhere")).unwrap_err();
        assert_eq!(crate::error::ErrorShape::code(&e), "INVALID_DESTINATION");
        assert!(l.check_destination("v", Some("")).is_err());
    }
}
