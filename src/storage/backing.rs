//! Thin clones of golden images (API-next §3): the checks a backing file passes
//! before a clone is made on it, the guard that keeps an image with clones from
//! being removed or rewritten, and flattening a stopped clone into a standalone
//! image. The live flattening of a running VM's clone is in [`super::live`].

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::clones;
use super::error::{Op, StorageError, Subject};
use super::lock::{self, Access};
use super::progress::Progress;
use super::qemu_img::{image_path, observe_progress, qemu_img, read_info, run, NewFile, READ_TIMEOUT};
use super::values::{BackingFile, BackingProblem, ImageFormat, ImagePath};
use crate::exec::HostCommand;

/// A golden image as `qemu-img info` read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Golden {
    pub format: ImageFormat,
    pub virtual_size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ChainLink {
    filename: String,
    format: String,
    virtual_size: u64,
}

/// The path as a comparable absolute name: its directory resolved (symlinks, `..`)
/// when it exists, the file name kept. Two spellings of one file compare equal.
fn canonical_name(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(d), Some(n)) => std::fs::canonicalize(d).map_or_else(|_| p.to_path_buf(), |d| d.join(n)),
        _ => p.to_path_buf(),
    }
}

/// Checks that `file` can back a new clone at `target` and reads its format and
/// size: it exists, is a readable regular file, is not `target`, its own chain opens
/// and does not contain `target`, and it is a qcow2 or raw image (of the format the
/// caller named, if any). The format is read, never assumed, and then recorded in
/// the clone, so QEMU opening the clone never probes the golden image.
pub async fn check(op: Op, target: &ImagePath, file: &BackingFile, given: Option<ImageFormat>) -> Result<Golden, StorageError> {
    let invalid = |problem| StorageError::InvalidBackingFile { op, path: target.shown().to_string(), backing: file.shown().to_string(), problem };
    let target_name = canonical_name(target.abs());
    if canonical_name(file.path()) == target_name {
        return Err(invalid(BackingProblem::IsTarget));
    }
    let meta = match tokio::fs::metadata(file.path()).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(invalid(BackingProblem::Missing)),
        Err(_) => return Err(invalid(BackingProblem::Unreadable)),
    };
    if !meta.is_file() {
        return Err(invalid(BackingProblem::NotRegularFile));
    }
    if tokio::fs::File::open(file.path()).await.is_err() {
        return Err(invalid(BackingProblem::Unreadable));
    }
    if tokio::fs::metadata(target.abs()).await.is_ok_and(|t| (t.dev(), t.ino()) == (meta.dev(), meta.ino())) {
        return Err(invalid(BackingProblem::IsTarget));
    }
    // The whole chain, shared (a golden image running VMs use is readable), in JSON.
    let argv = vec!["info".into(), "--backing-chain".into(), "--output=json".into(), "--force-share".into(), "--".into(), file.shown().to_string()];
    let out = HostCommand::new(super::qemu_img::QEMU_IMG)
        .args(argv)
        .timeout(Some(READ_TIMEOUT))
        .run()
        .await
        .map_err(|e| invalid(BackingProblem::BrokenChain(super::error::detail_of(&e))))?;
    let chain: Vec<ChainLink> = serde_json::from_str(&out.stdout).map_err(|_| StorageError::Parse { op: Op::Info, path: file.shown().to_string() })?;
    let Some(first) = chain.first() else { return Err(StorageError::Parse { op: Op::Info, path: file.shown().to_string() }) };
    if chain.iter().any(|l| canonical_name(Path::new(&l.filename)) == target_name) {
        return Err(invalid(BackingProblem::Loop));
    }
    let format = match ImageFormat::parse(&first.format) {
        Some(f @ (ImageFormat::Qcow2 | ImageFormat::Raw)) => f,
        _ => {
            return Err(StorageError::BackingFormat {
                op,
                path: target.shown().to_string(),
                backing: file.shown().to_string(),
                found: first.format.clone(),
                given: None,
            })
        }
    };
    if given.is_some_and(|g| g != format) {
        return Err(StorageError::BackingFormat {
            op,
            path: target.shown().to_string(),
            backing: file.shown().to_string(),
            found: first.format.clone(),
            given,
        });
    }
    Ok(Golden { format, virtual_size: first.virtual_size })
}

/// Refuses to go on when `image` is the backing file of other images: removing or
/// rewriting it would corrupt every one of them. The error names them.
pub async fn refuse_if_cloned(op: Op, image: &ImagePath) -> Result<(), StorageError> {
    let found = clones::clones_of(op, image.abs(), image.shown()).await?;
    if found.is_empty() {
        return Ok(());
    }
    Err(StorageError::HasClones { op, path: image.shown().to_string(), clones: found })
}

/// `listClones`: the images whose backing file is `path` (see [`clones`] for where
/// they are looked for).
pub async fn list_clones(path: &str) -> Result<Vec<String>, StorageError> {
    let op = Op::Info;
    let image = image_path(op, path)?;
    let _g = lock::acquire(&[(image.abs(), Access::Read)]).await;
    clones::clones_of(op, image.abs(), image.shown()).await
}

/// `flattenImage`: makes a stopped clone standalone. Its whole chain is copied into
/// a new qcow2 beside it (`qemu-img convert`, which reads the image without sharing
/// it, so a running VM's disk is refused as in use), which then replaces the clone
/// by rename: a failure at any point leaves the clone as it was. Owner and mode are
/// kept. Internal snapshots would not survive the copy, so an image that has any is
/// refused. Returns false when the image has no backing file (nothing to do).
pub async fn flatten_image(path: &str, progress: Option<Arc<Progress>>) -> Result<bool, StorageError> {
    let op = Op::Flatten;
    let image = image_path(op, path)?;
    let shown = || image.shown().to_string();
    let Some(name) = image.abs().file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(StorageError::invalid_path(op, path, "the path names no file"));
    };
    let temp = image.abs().with_file_name(format!(".{name}.flatten-{}.tmp", std::process::id()));
    let temp = image_path(op, &temp.to_string_lossy())?;
    let _g = lock::acquire(&[(image.abs(), Access::Write), (temp.abs(), Access::Write)]).await;
    let info = read_info(&image, op).await?;
    if info.backing_file.is_none() {
        return Ok(false);
    }
    if info.format != "qcow2" {
        return Err(StorageError::InvalidFormat { op, path: shown(), format: info.format });
    }
    if let Some(s) = info.snapshots.as_ref().filter(|s| !s.is_empty()) {
        return Err(StorageError::FlattenHasSnapshots { op, path: shown(), names: s.iter().map(|s| s.name.clone()).collect() });
    }
    let meta = tokio::fs::metadata(image.abs()).await.map_err(|e| StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() })?;
    let file = NewFile::create(op, &temp).await?;
    let mut argv = vec!["convert".to_string(), "-f".into(), "qcow2".into(), "-O".into(), "qcow2".into()];
    if let Some(c) = info.cluster_size {
        argv.extend(["-o".to_string(), format!("cluster_size={c}")]);
    }
    if progress.is_some() {
        argv.push("-p".into());
    }
    argv.extend(["--".to_string(), image.arg(), temp.arg()]);
    let mut cmd = qemu_img(argv, None);
    if let Some(p) = &progress {
        cmd = observe_progress(cmd, p.clone());
    }
    let others = [(temp.abs(), temp.shown())];
    run(&cmd, &Subject::new(op, &image).target(temp.shown()).others(&others)).await?;
    let failed = |e: std::io::Error| StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() };
    let (t, dir) = (temp.abs().to_path_buf(), image.abs().parent().map(Path::to_path_buf));
    let (uid, gid, perms) = (meta.uid(), meta.gid(), meta.permissions());
    let dest = image.abs().to_path_buf();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::set_permissions(&t, perms)?;
        // Only root may give a file away; for anyone else the owner is already theirs.
        if let Err(e) = std::os::unix::fs::chown(&t, Some(uid), Some(gid)) {
            crate::log::warn("qemu-img", &format!("flatten: could not keep the owner of {}: {e}", dest.display()));
        }
        std::fs::File::open(&t)?.sync_all()?;
        std::fs::rename(&t, &dest)?;
        if let Some(d) = dir {
            std::fs::File::open(d)?.sync_all()?;
        }
        Ok(())
    })
    .await
    .map_err(|e| StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() })?
    .map_err(failed)?;
    file.keep();
    if let Some(p) = progress {
        p.finish();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("infinivirt-backing-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn sh(args: &[&str]) {
        let st = std::process::Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(st.success(), "{args:?}");
    }

    #[test]
    fn backing_files_are_checked_and_their_format_read() {
        let d = tmp("check");
        let s = |p: &Path| p.to_str().unwrap().to_string();
        let raw = d.join("golden.raw");
        std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
        let q = d.join("golden.qcow2");
        sh(&["qemu-img", "create", "-q", "-f", "qcow2", &s(&q), "2M"]);
        let vmdk = d.join("golden.vmdk");
        sh(&["qemu-img", "create", "-q", "-f", "vmdk", &s(&vmdk), "1M"]);
        let target = ImagePath::new(&s(&d.join("clone.qcow2"))).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let chk = |b: &Path, given| rt.block_on(check(Op::Create, &target, &BackingFile::new(&s(b)).unwrap(), given));
        assert_eq!(chk(&raw, None).unwrap(), Golden { format: ImageFormat::Raw, virtual_size: 1 << 20 });
        assert_eq!(chk(&q, Some(ImageFormat::Qcow2)).unwrap(), Golden { format: ImageFormat::Qcow2, virtual_size: 2 << 20 });
        let e = chk(&q, Some(ImageFormat::Raw)).unwrap_err();
        assert_eq!((e.code(), e.to_string()), ("INVALID_FORMAT", format!("Backing file {} is a qcow2 image, not raw", s(&q))));
        assert_eq!(chk(&vmdk, None).unwrap_err().code(), "INVALID_FORMAT");
        let problem = |r: Result<Golden, StorageError>| match r {
            Err(StorageError::InvalidBackingFile { problem, .. }) => problem,
            other => panic!("{other:?}"),
        };
        assert_eq!(problem(chk(&d.join("missing"), None)), BackingProblem::Missing);
        assert_eq!(problem(chk(&d, None)), BackingProblem::NotRegularFile);
        assert_eq!(problem(chk(target.abs(), None)), BackingProblem::IsTarget);
        assert_eq!(problem(chk(&d.join("./clone.qcow2"), None)), BackingProblem::IsTarget);
        // A golden image whose own backing file is gone; and one whose chain names the target.
        let broken = d.join("broken.qcow2");
        sh(&["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-F", "qcow2", "-b", &s(&d.join("gone.qcow2")), &s(&broken), "1M"]);
        assert!(matches!(problem(chk(&broken, None)), BackingProblem::BrokenChain(_)));
        let looped = d.join("looped.qcow2");
        sh(&["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", &s(&q), &s(&looped)]);
        let mid = ImagePath::new(&s(&q)).unwrap();
        let e = rt.block_on(check(Op::Create, &mid, &BackingFile::new(&s(&looped)).unwrap(), None)).unwrap_err();
        assert!(matches!(e, StorageError::InvalidBackingFile { problem: BackingProblem::Loop, .. }), "{e:?}");
        let e = StorageError::InvalidBackingFile { op: Op::Create, path: "/c".into(), backing: "/g".into(), problem: BackingProblem::Missing };
        assert_eq!(e.to_string(), "Invalid backing file /g for image /c: it does not exist");
        assert_eq!(serde_json::Value::Object(e.fields()), serde_json::json!({"path": "/c", "command": "qemu-img create", "backingFile": "/g"}));
        std::fs::remove_dir_all(d).unwrap();
    }
}
