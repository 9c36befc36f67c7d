//! Which images use a given image as their backing file (its clones), so a golden
//! image is never deleted or overwritten under them.
//!
//! How clones are found: by scanning directories, not from a recorded list. A list
//! goes stale the moment someone copies, moves, flattens or deletes a clone outside
//! this library; the qcow2 headers on disk are what QEMU itself will open. For each
//! regular file in the searched directories the qcow2 header is read directly (the
//! magic, then the backing file name at the offset the header gives: two small
//! reads, no process per file, and no image lock, so clones that running VMs hold
//! are seen too). A backing name is resolved the way QEMU resolves it (relative to
//! the clone's directory) and compared with the image by device and inode, so
//! symlinks and other spellings of the same file match.
//!
//! The directories searched: the image's own directory, the default disk directory
//! ([`crate::consts::DEFAULT_DISK_DIR`]), every disk directory a `VMLifecycle` of
//! this process uses, and every directory this process has created a clone in
//! ([`register_dir`]). Subdirectories are not entered. A clone made by another
//! program in some other directory is not seen; keep clones beside their golden
//! image or in the disk directory.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use super::error::{Op, StorageError};

/// Directories this process has made clones in or manages disks in.
static DIRS: LazyLock<Mutex<BTreeSet<PathBuf>>> = LazyLock::new(Default::default);

/// The most directory entries one directory's scan reads; past that the scan fails
/// closed (the image is treated as not checkable) instead of running unbounded.
const MAX_ENTRIES: usize = 100_000;
/// qcow2's own limit on a backing file name (QEMU refuses longer ones).
const MAX_BACKING_NAME: u32 = 1023;
const QCOW_MAGIC: [u8; 4] = *b"QFI\xfb";

/// Adds `dir` to the directories searched for clones (idempotent).
pub fn register_dir(dir: &Path) {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    DIRS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(dir);
}

fn search_dirs(image: &Path) -> Vec<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = DIRS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    dirs.insert(PathBuf::from(crate::consts::DEFAULT_DISK_DIR));
    if let Some(parent) = image.parent() {
        dirs.insert(parent.to_path_buf());
    }
    // Two spellings of one directory are scanned once.
    let mut seen = BTreeSet::new();
    dirs.into_iter().filter(|d| seen.insert(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))).collect()
}

/// The backing file name a qcow2 header records, or `None` for any other file (or
/// a qcow2 image without one).
pub(crate) fn qcow2_backing_name(file: &Path) -> std::io::Result<Option<String>> {
    let mut f = File::open(file)?;
    let mut header = [0u8; 20];
    match f.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if header[..4] != QCOW_MAGIC {
        return Ok(None);
    }
    let offset = u64::from_be_bytes([header[8], header[9], header[10], header[11], header[12], header[13], header[14], header[15]]);
    let len = u32::from_be_bytes([header[16], header[17], header[18], header[19]]);
    if offset == 0 || len == 0 || len > MAX_BACKING_NAME {
        return Ok(None);
    }
    let mut name = vec![0u8; len as usize];
    match f.read_exact_at(&mut name, offset) {
        Ok(()) => Ok(Some(String::from_utf8_lossy(&name).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where QEMU finds a recorded backing name: relative names are relative to the
/// clone's directory. Protocol and `json:` names name no file here.
fn resolve(clone: &Path, name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return Some(p.to_path_buf());
    }
    if name.find([':', '/']).is_some_and(|i| name.as_bytes()[i] == b':') {
        return None;
    }
    clone.parent().map(|d| d.join(p))
}

/// The images in the searched directories whose backing file is `image`, sorted.
/// An image that does not exist has no clones. A directory that exists but cannot
/// be read fails the search: the answer would otherwise be a "none" that means
/// "could not look".
pub async fn clones_of(op: Op, image: &Path, shown: &str) -> Result<Vec<String>, StorageError> {
    let image = image.to_path_buf();
    let shown = shown.to_string();
    let failed = move |detail: String| StorageError::CommandFailed { op, path: shown.clone(), target: None, detail };
    let fail = failed.clone();
    tokio::task::spawn_blocking(move || scan(&image).map_err(failed)).await.map_err(|e| fail(e.to_string()))?
}

fn scan(image: &Path) -> Result<Vec<String>, String> {
    let Ok(target) = std::fs::metadata(image) else { return Ok(Vec::new()) };
    let id = (target.dev(), target.ino());
    let mut found = BTreeSet::new();
    for dir in search_dirs(image) {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot search {} for clones: {e}", dir.display())),
        };
        for (n, entry) in entries.enumerate() {
            if n >= MAX_ENTRIES {
                return Err(format!("cannot search {} for clones: more than {MAX_ENTRIES} entries", dir.display()));
            }
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            // Follows symlinks: a link to a clone is that clone.
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            if !meta.is_file() || (meta.dev(), meta.ino()) == id {
                continue;
            }
            // Unreadable or vanished files are not our clones to protect.
            let Ok(Some(name)) = qcow2_backing_name(&path) else { continue };
            let Some(backing) = resolve(&path, &name) else { continue };
            if std::fs::metadata(&backing).is_ok_and(|b| (b.dev(), b.ino()) == id) {
                found.insert(path.display().to_string());
            }
        }
    }
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("infinivirt-clones-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn qemu_img(args: &[&str]) {
        let st = std::process::Command::new("qemu-img").args(args).status().unwrap();
        assert!(st.success(), "qemu-img {args:?}");
    }

    #[test]
    fn headers_name_their_backing_file() {
        let d = tmp("header");
        let base = d.join("base.raw");
        std::fs::write(&base, vec![0u8; 1 << 20]).unwrap();
        let top = d.join("top.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", "-F", "raw", "-b", base.to_str().unwrap(), top.to_str().unwrap()]);
        assert_eq!(qcow2_backing_name(&top).unwrap().as_deref(), base.to_str());
        assert_eq!(qcow2_backing_name(&base).unwrap(), None, "raw: no header");
        let plain = d.join("plain.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", plain.to_str().unwrap(), "1M"]);
        assert_eq!(qcow2_backing_name(&plain).unwrap(), None);
        std::fs::write(d.join("short"), b"QFI").unwrap();
        assert_eq!(qcow2_backing_name(&d.join("short")).unwrap(), None);
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn clones_are_found_by_inode_in_every_spelling() {
        let d = tmp("scan");
        let other = tmp("scan-other");
        let base = d.join("golden.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", base.to_str().unwrap(), "1M"]);
        let rel = d.join("rel.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "golden.qcow2", rel.to_str().unwrap()]);
        std::os::unix::fs::symlink(&base, other.join("link.qcow2")).unwrap();
        let far = other.join("far.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", other.join("link.qcow2").to_str().unwrap(), far.to_str().unwrap()]);
        let unrelated = d.join("unrelated.qcow2");
        qemu_img(&["create", "-q", "-f", "qcow2", unrelated.to_str().unwrap(), "1M"]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let found = |p: &Path| rt.block_on(clones_of(Op::Delete, p, "x")).unwrap();
        // The other directory is not searched until registered.
        assert_eq!(found(&base), vec![rel.display().to_string()]);
        register_dir(&other);
        assert_eq!(found(&base), vec![rel.display().to_string(), far.display().to_string()]);
        assert_eq!(found(&rel), Vec::<String>::new());
        assert_eq!(found(&d.join("missing")), Vec::<String>::new());
        std::fs::remove_dir_all(d).unwrap();
        std::fs::remove_dir_all(other).unwrap();
    }
}
