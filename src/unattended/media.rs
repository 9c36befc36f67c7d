//! Building the answer medium: the rendered files written to a private work
//! directory, packed by xorriso into a small ISO with the volume label the target's
//! installer looks for, moved to the output directory. The work directory is removed
//! on every path (success, error, panic via the guard's `Drop`).

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::answer::AnswerFiles;
use super::error::{MediaStage, UnattendedError};
use crate::exec::HostCommand;

/// Where media go when the caller names no directory.
pub const DEFAULT_OUTPUT_DIR: &str = "/var/lib/infinivirt/unattended";
/// xorriso packs a few kilobytes; a minute is generous even on a loaded host.
const XORRISO_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to build.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    /// Directory of the finished ISO (created 0700 if missing).
    pub output_dir: PathBuf,
    /// Base of the temporary work directory; the output directory when `None`.
    pub work_dir: Option<PathBuf>,
    /// The xorriso program (a path, or a name looked up in PATH).
    pub xorriso: String,
}

impl Default for MediaOptions {
    fn default() -> Self {
        MediaOptions { output_dir: PathBuf::from(DEFAULT_OUTPUT_DIR), work_dir: None, xorriso: "xorriso".to_string() }
    }
}

/// The private work directory; removed when dropped unless already removed.
pub(super) struct WorkDir {
    path: Option<PathBuf>,
}

impl WorkDir {
    pub(super) fn create(base: &Path, vm_id: &str) -> Result<WorkDir, UnattendedError> {
        let io = |path: &Path, source| UnattendedError::MediaIo {
            vm_id: Some(vm_id.to_string()),
            stage: MediaStage::WorkDir,
            path: path.display().to_string(),
            source,
        };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(base).map_err(|e| io(base, e))?;
        let path = base.join(format!(".build-{}", random_hex(8).map_err(|e| io(base, e))?));
        // Not recursive: an existing directory of that name is an error, never reused.
        std::fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| io(&path, e))?;
        Ok(WorkDir { path: Some(path) })
    }

    pub(super) fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new("/nonexistent"))
    }

    pub(super) async fn remove(mut self) {
        if let Some(p) = self.path.take() {
            if let Err(e) = tokio::fs::remove_dir_all(&p).await {
                crate::log::warn("unattended", &format!("could not remove the work directory {}: {e}", p.display()));
            }
        }
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            if let Err(e) = std::fs::remove_dir_all(&p) {
                crate::log::warn("unattended", &format!("could not remove the work directory {}: {e}", p.display()));
            }
        }
    }
}

/// Builds the ISO of `files` and returns its path in `opts.output_dir`.
pub async fn build(files: &AnswerFiles, vm_id: &str, os: &str, opts: &MediaOptions) -> Result<PathBuf, UnattendedError> {
    let base = opts.work_dir.clone().unwrap_or_else(|| opts.output_dir.clone());
    let work = WorkDir::create(&base, vm_id)?;
    let result = build_in(&work, files, vm_id, os, opts).await;
    work.remove().await;
    result
}

async fn build_in(work: &WorkDir, files: &AnswerFiles, vm_id: &str, os: &str, opts: &MediaOptions) -> Result<PathBuf, UnattendedError> {
    let io = |stage, path: &Path, source| UnattendedError::MediaIo { vm_id: Some(vm_id.to_string()), stage, path: path.display().to_string(), source };
    let root = work.path().join("root");
    for f in &files.files {
        let path = root.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|e| io(MediaStage::WriteFiles, parent, e))?;
        }
        write_private(&path, f.content.as_bytes()).map_err(|e| io(MediaStage::WriteFiles, &path, e))?;
    }
    let iso = work.path().join("media.iso");
    let cmd = HostCommand::new(opts.xorriso.clone())
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(iso.display().to_string())
        .args(["-V", files.volume_id, "-J", "-joliet-long", "-r", "-iso-level", "3"])
        .arg(root.display().to_string())
        .timeout(Some(XORRISO_TIMEOUT));
    // (`-as mkisofs` has no `--`; the source path is absolute, so never an option.)
    crate::log::log("infinivirt:unattended-installer", &format!("running {}", cmd.display()));
    cmd.run().await.map_err(|source| UnattendedError::Xorriso { vm_id: Some(vm_id.to_string()), source })?;

    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&opts.output_dir).map_err(|e| io(MediaStage::Output, &opts.output_dir, e))?;
    let out =
        opts.output_dir.join(format!("{}-{}-{}.iso", safe_name(vm_id), safe_name(os), random_hex(4).map_err(|e| io(MediaStage::Output, &opts.output_dir, e))?));
    move_file(&iso, &out).await.map_err(|e| io(MediaStage::Output, &out, e))?;
    Ok(out)
}

/// Removes a medium built here. Missing is fine (idempotent); `Ok(true)` if removed.
pub async fn remove(path: &Path) -> std::io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// rename(2), or copy + remove across filesystems; the target ends up 0600.
pub(super) async fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match tokio::fs::rename(from, to).await {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            tokio::fs::copy(from, to).await?;
            tokio::fs::remove_file(from).await?;
        }
        Err(e) => return Err(e),
    }
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).await
}

/// `[A-Za-z0-9_-]` only, at most 64 characters (for file names).
pub(super) fn safe_name(s: &str) -> String {
    let n: String = s.chars().take(64).map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    if n.is_empty() {
        "vm".into()
    } else {
        n
    }
}

pub(super) fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut b = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unattended::answer::AnswerFile;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("iv-ua-media-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    fn files() -> AnswerFiles {
        AnswerFiles {
            volume_id: "CIDATA",
            files: vec![
                AnswerFile { path: "user-data".into(), content: "#cloud-config\n{}\n".into() },
                AnswerFile { path: "dir/sub/x.txt".into(), content: "x".into() },
            ],
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir).map(|r| r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
    }

    #[tokio::test]
    async fn builds_a_labelled_iso_and_leaves_no_work_dir() {
        if std::process::Command::new("xorriso").arg("-version").output().is_err() {
            eprintln!("xorriso missing; skipped");
            return;
        }
        let out = tmp("ok");
        let opts = MediaOptions { output_dir: out.clone(), ..Default::default() };
        let iso = build(&files(), "vm/../1", "ubuntu", &opts).await.unwrap();
        assert_eq!(iso.parent(), Some(out.as_path()));
        assert!(iso.file_name().unwrap().to_string_lossy().starts_with("vm____1-ubuntu-"));
        assert_eq!(entries(&out), vec![iso.file_name().unwrap().to_string_lossy().into_owned()]);
        let pvd = std::process::Command::new("xorriso").args(["-indev"]).arg(&iso).args(["-pvd_info"]).output().unwrap();
        assert!(String::from_utf8_lossy(&pvd.stdout).contains("Volume Id    : CIDATA"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&iso).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(remove(&iso).await.unwrap());
        assert!(!remove(&iso).await.unwrap());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[tokio::test]
    async fn failures_remove_the_work_dir() {
        let work = tmp("fail-work");
        // xorriso that fails.
        let opts = MediaOptions { output_dir: tmp("fail-out"), work_dir: Some(work.clone()), xorriso: "false".into() };
        let e = build(&files(), "v", "fedora", &opts).await.unwrap_err();
        assert_eq!(crate::error::ErrorShape::code(&e), "ISO_GENERATION_FAILED");
        assert!(entries(&work).is_empty());
        // xorriso that does not exist.
        let opts = MediaOptions { xorriso: "/nonexistent/xorriso".into(), ..opts };
        let e = build(&files(), "v", "fedora", &opts).await.unwrap_err();
        assert!(e.to_string().contains("xorriso is not installed"), "{e}");
        assert!(entries(&work).is_empty());
        std::fs::remove_dir_all(&work).unwrap();
    }
}
