//! `QemuImgService` (API.md §9.1): create, info, resize, convert and check images
//! with a real `qemu-img`.
//!
//! Each operation is a validated request whose argv is rendered by a pure function
//! (golden-tested below against §20.6), then run through [`crate::exec`] under the
//! image's lock ([`super::lock`]). Differences from the spec's argv: `--` before the
//! paths (every qemu-img subcommand accepts it), `--force-share` for `info`, and `-p`
//! for a conversion whose caller wants progress.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backing;
use super::error::{Op, StorageError, Subject};
use super::info::{parse_check, parse_image_info, ImageCheckResult, ImageInfo};
use super::lock::{self, Access};
use super::progress::{Progress, ProgressParser};
use super::values::{BackingFile, ClusterSize, DriverName, ImageFormat, ImagePath, Preallocation, SizeGb, SizeProblem};
use crate::exec::{ExecError, HostCommand, Output, OutputObserver};

pub const QEMU_IMG: &str = "qemu-img";
/// Deadline of metadata reads (`info`).
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of `check`, resize, snapshot operations and plain creation: these touch
/// metadata only, but metadata of a large, fragmented image takes a while.
const METADATA_TIMEOUT: Duration = Duration::from_secs(600);
/// How often a preallocating creation samples the file's allocation for progress.
const ALLOCATION_POLL: Duration = Duration::from_millis(250);

/// `createImage` options as the caller gave them.
#[derive(Debug, Clone, Default)]
pub struct CreateImageRequest {
    pub path: String,
    /// Optional only with a backing file (the clone then has the backing image's size).
    pub size_gb: Option<f64>,
    pub format: String,
    pub cluster_size: Option<f64>,
    pub preallocation: Option<String>,
    pub backing_file: Option<String>,
    pub backing_format: Option<String>,
}

/// A validated `createImage`.
#[derive(Debug, Clone)]
pub struct CreateImage {
    path: ImagePath,
    size: Option<SizeGb>,
    format: ImageFormat,
    cluster_size: Option<ClusterSize>,
    preallocation: Option<Preallocation>,
    /// The golden image, and its format: as the caller named it until
    /// [`create_image`] has read it from the file.
    backing: Option<(BackingFile, Option<ImageFormat>)>,
    /// A size below the backing image's is raised to it instead of refused.
    raise_to_backing: bool,
}

pub(crate) fn image_path(op: Op, raw: &str) -> Result<ImagePath, StorageError> {
    ImagePath::new(raw).map_err(|reason| StorageError::invalid_path(op, raw, reason))
}

fn image_format(op: Op, path: &str, raw: &str) -> Result<ImageFormat, StorageError> {
    ImageFormat::parse(raw).ok_or_else(|| StorageError::InvalidFormat { op, path: path.to_string(), format: raw.to_string() })
}

fn size(op: Op, path: &str, gb: f64) -> Result<SizeGb, StorageError> {
    SizeGb::new(gb).map_err(|problem| StorageError::InvalidSize { op, path: path.to_string(), size: gb, problem })
}

impl CreateImage {
    /// Validates every option before anything touches the disk.
    pub fn parse(r: &CreateImageRequest) -> Result<Self, StorageError> {
        let op = Op::Create;
        let path = image_path(op, &r.path)?;
        let shown = path.shown();
        let format = image_format(op, shown, &r.format)?;
        let size = match (r.size_gb, &r.backing_file) {
            (None, Some(_)) => None,
            (gb, _) => Some(size(op, shown, gb.unwrap_or(f64::NAN))?),
        };
        let cluster_size =
            r.cluster_size.map(|v| ClusterSize::new(v).ok_or(StorageError::InvalidClusterSize { op, path: shown.to_string(), value: v })).transpose()?;
        let preallocation = r
            .preallocation
            .as_deref()
            .map(|m| Preallocation::parse(m).ok_or_else(|| StorageError::InvalidPreallocation { op, path: shown.to_string(), mode: m.to_string() }))
            .transpose()?;
        // A stray backingFormat must at least be a format.
        let bformat = r.backing_format.as_deref().map(|f| image_format(op, shown, f)).transpose()?;
        let backing = match &r.backing_file {
            None => None,
            Some(b) => {
                if format != ImageFormat::Qcow2 {
                    return Err(StorageError::BackingUnsupported { op, path: shown.to_string(), format });
                }
                let file =
                    BackingFile::new(b).map_err(|problem| StorageError::InvalidBackingFile { op, path: shown.to_string(), backing: b.clone(), problem })?;
                Some((file, bformat))
            }
        };
        Ok(CreateImage { path, size, format, cluster_size, preallocation, backing, raise_to_backing: false })
    }

    /// `create -f <fmt> [-o cluster_size=…,preallocation=…] [-b <file> -F <fmt>] -- <path> [<n>G]`.
    /// As in the spec, `-o` is for qcow2 only; other formats ignore both options. The
    /// backing format is always explicit (`-F`): QEMU then never probes the golden
    /// image's content for a format when it opens the clone. Without a size the
    /// clone has its backing image's size.
    pub fn argv(&self) -> Vec<String> {
        let mut a = vec!["create".to_string(), "-f".into(), self.format.to_string()];
        if self.format == ImageFormat::Qcow2 {
            let mut opts = Vec::new();
            if let Some(c) = self.cluster_size {
                opts.push(format!("cluster_size={}", c.get()));
            }
            if let Some(p) = self.preallocation {
                opts.push(format!("preallocation={}", p.as_str()));
            }
            if !opts.is_empty() {
                a.extend(["-o".to_string(), opts.join(",")]);
            }
        }
        if let Some((file, f)) = &self.backing {
            a.extend(["-b".to_string(), file.shown().to_string()]);
            if let Some(f) = f {
                a.extend(["-F".to_string(), f.to_string()]);
            }
        }
        a.extend(["--".to_string(), self.path.arg()]);
        a.extend(self.size.map(SizeGb::arg));
        a
    }

    /// A clone asked to be smaller than its backing image gets the backing image's
    /// size (createVM: the original ignored a clone's size altogether).
    pub fn raising_size_to_backing(mut self) -> Self {
        self.raise_to_backing = true;
        self
    }

    pub fn path(&self) -> &ImagePath {
        &self.path
    }

    /// The size in GiB, when one was given (messages).
    fn size_gb(&self) -> f64 {
        self.size.map_or(f64::NAN, SizeGb::gb)
    }

    /// True when creation writes the whole image (no deadline; progress is reported).
    fn is_long(&self) -> bool {
        self.format == ImageFormat::Qcow2 && self.preallocation.is_some_and(Preallocation::is_long)
    }
}

/// `resizeImage`: grow only, unless `allow_shrink`.
#[derive(Debug, Clone)]
pub struct ResizeImage {
    path: ImagePath,
    size: SizeGb,
    allow_shrink: bool,
}

impl ResizeImage {
    pub fn parse(path: &str, new_size_gb: f64, allow_shrink: bool) -> Result<Self, StorageError> {
        let op = Op::Resize;
        // The size is checked first, as in the spec (§20.6 #80).
        let size = size(op, path, new_size_gb)?;
        Ok(ResizeImage { path: image_path(op, path)?, size, allow_shrink })
    }

    /// `resize [--shrink] -- <path> <n>G`. Without `--shrink` qemu-img itself refuses
    /// to shrink, which is what makes growing the default.
    pub fn argv(&self) -> Vec<String> {
        let mut a = vec!["resize".to_string()];
        if self.allow_shrink {
            a.push("--shrink".into());
        }
        a.extend(["--".to_string(), self.path.arg(), self.size.arg()]);
        a
    }
}

/// `convertImage` options as the caller gave them.
#[derive(Debug, Clone, Default)]
pub struct ConvertImageRequest {
    pub source_path: String,
    pub dest_path: String,
    pub dest_format: String,
    pub compress: bool,
}

/// A validated `convertImage`.
#[derive(Debug, Clone)]
pub struct ConvertImage {
    source: ImagePath,
    dest: ImagePath,
    dest_format: ImageFormat,
    compress: bool,
}

impl ConvertImage {
    pub fn parse(r: &ConvertImageRequest) -> Result<Self, StorageError> {
        let op = Op::Convert;
        let source = image_path(op, &r.source_path)?;
        let dest = image_path(op, &r.dest_path)?;
        let dest_format = image_format(op, dest.shown(), &r.dest_format)?;
        Ok(ConvertImage { source, dest, dest_format, compress: r.compress })
    }

    /// `convert -f <src> -O <dst> [-c] [-p] -- <source> <dest>`; `-c` only for qcow2 output.
    pub fn argv(&self, source_format: &DriverName, progress: bool) -> Vec<String> {
        let mut a = vec!["convert".to_string(), "-f".into(), source_format.as_str().to_string(), "-O".into(), self.dest_format.to_string()];
        if self.compress && self.dest_format == ImageFormat::Qcow2 {
            a.push("-c".into());
        }
        if progress {
            a.push("-p".into());
        }
        a.extend(["--".to_string(), self.source.arg(), self.dest.arg()]);
        a
    }
}

/// `info --output=json --force-share -- <path>`. Sharing lets a running VM's disk be
/// read (sizes, snapshots); every write still takes qemu's lock and is refused.
pub fn info_argv(path: &ImagePath) -> Vec<String> {
    vec!["info".into(), "--output=json".into(), "--force-share".into(), "--".into(), path.arg()]
}

/// `check --output=json -- <path>`. No `--force-share`: checking an image a VM is
/// writing reports phantom leaks, so it is refused as in use.
pub fn check_argv(path: &ImagePath) -> Vec<String> {
    vec!["check".into(), "--output=json".into(), "--".into(), path.arg()]
}

pub(crate) fn qemu_img(args: Vec<String>, timeout: Option<Duration>) -> HostCommand {
    HostCommand::new(QEMU_IMG).args(args).timeout(timeout)
}

/// Runs `qemu-img`, classifying a failure against `subject`.
pub(crate) async fn run(cmd: &HostCommand, subject: &Subject<'_>) -> Result<Output, StorageError> {
    crate::log::log("infinivirt:qemu-img", &format!("running {}", cmd.display()));
    cmd.run().await.map_err(|e| subject.classify(&e))
}

/// Reads image information (no lock: callers hold the image's lock when they need one).
pub(crate) async fn read_info(path: &ImagePath, op: Op) -> Result<ImageInfo, StorageError> {
    let out = run(&qemu_img(info_argv(path), Some(READ_TIMEOUT)), &Subject::new(op, path)).await?;
    parse_image_info(&out.stdout).map_err(|_| StorageError::Parse { op, path: path.shown().to_string() })
}

/// A file this operation created and still owns: removed again unless the
/// operation succeeds, so a failed create or convert leaves nothing behind.
pub(crate) struct NewFile {
    path: PathBuf,
    keep: bool,
}

impl NewFile {
    /// Creates `path` exclusively (`O_CREAT|O_EXCL`, 0644): an existing file, even one
    /// a running VM uses, is never overwritten.
    pub(crate) async fn create(op: Op, path: &ImagePath) -> Result<Self, StorageError> {
        let abs = path.abs().to_path_buf();
        let shown = || path.shown().to_string();
        let made = tokio::task::spawn_blocking({
            let abs = abs.clone();
            move || std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(abs).map(drop)
        })
        .await;
        match made {
            Ok(Ok(())) => Ok(NewFile { path: abs, keep: false }),
            Ok(Err(e)) => Err(match e.kind() {
                std::io::ErrorKind::AlreadyExists => StorageError::ImageAlreadyExists { op, path: shown() },
                std::io::ErrorKind::PermissionDenied => StorageError::PermissionDenied { op, path: shown() },
                std::io::ErrorKind::NotFound => StorageError::CommandFailed { op, path: shown(), target: None, detail: "its directory does not exist".into() },
                _ => StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() },
            }),
            Err(e) => Err(StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() }),
        }
    }

    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for NewFile {
    // Also runs when the operation's future is dropped mid-way; a single unlink is
    // cheap enough to do synchronously here.
    fn drop(&mut self) {
        if !self.keep {
            if let Err(e) = std::fs::remove_file(&self.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    crate::log::warn("qemu-img", &format!("could not remove the partial image {}: {e}", self.path.display()));
                }
            }
        }
    }
}

/// `createImage`. The file is created exclusively first (qemu-img would silently
/// overwrite an existing image) and removed again if qemu-img fails. An existing
/// image that backs clones is reported as such. A backing file is checked and its
/// format read from it ([`backing::check`]) before anything is made.
pub async fn create_image(req: &CreateImage, progress: Option<Arc<Progress>>) -> Result<(), StorageError> {
    let op = Op::Create;
    let mut locks = vec![(req.path.abs(), Access::Write)];
    if let Some((b, _)) = &req.backing {
        locks.push((b.path(), Access::Read));
    }
    let _g = lock::acquire(&locks).await;
    backing::refuse_if_cloned(op, &req.path).await?;
    let mut req = req.clone();
    if let Some((file, given)) = &req.backing {
        let golden = backing::check(op, &req.path, file, *given).await?;
        if let Some(size) = req.size {
            // Compared in bytes; a clone may grow past its golden image, never shrink.
            #[allow(clippy::cast_precision_loss)] // image sizes are far below 2^53
            let golden_gb = golden.virtual_size as f64 / 1_073_741_824.0;
            if size.gb() < golden_gb && req.raise_to_backing {
                crate::log::warn(
                    "qemu-img",
                    &format!("{}: {}GB is smaller than its backing image {}; created at the backing image's size", req.path.shown(), size.gb(), file.shown()),
                );
                req.size = None;
            } else if size.gb() < golden_gb {
                return Err(StorageError::InvalidSize { op, path: req.path.shown().to_string(), size: size.gb(), problem: SizeProblem::SmallerThanBacking });
            }
        }
        req.backing = Some((file.clone(), Some(golden.format)));
    }
    let file = NewFile::create(op, &req.path).await?;
    let backing_abs = req.backing.as_ref().map(|(b, _)| (b.path().to_path_buf(), b.shown().to_string()));
    let others: Vec<(&Path, &str)> = backing_abs.iter().map(|(a, s)| (a.as_path(), s.as_str())).collect();
    let subject = Subject::new(op, &req.path).size(req.size_gb()).others(&others);
    let long = req.is_long();
    let cmd = qemu_img(req.argv(), if long { None } else { Some(METADATA_TIMEOUT) });
    match (&progress, long) {
        (Some(p), true) => {
            p.report(0.0);
            run_sampling_allocation(&cmd, &subject, req.path.abs(), req.size_gb(), p).await?;
        }
        _ => {
            run(&cmd, &subject).await?;
        }
    }
    file.keep();
    if req.backing.is_some() {
        if let Some(dir) = req.path.abs().parent() {
            super::clones::register_dir(dir);
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    Ok(())
}

/// `deleteImage`: removes an image file, unless it backs clones, a running QEMU
/// holds it, or it is not a regular file.
pub async fn delete_image(path: &str) -> Result<(), StorageError> {
    let op = Op::Delete;
    let path = image_path(op, path)?;
    let _g = lock::acquire(&[(path.abs(), Access::Write)]).await;
    let shown = || path.shown().to_string();
    match tokio::fs::metadata(path.abs()).await {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(StorageError::CommandFailed { op, path: shown(), target: None, detail: "it is not a regular file".into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StorageError::ImageNotFound { op, path: shown() }),
        Err(e) => return Err(StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() }),
    }
    backing::refuse_if_cloned(op, &path).await?;
    // Opening it without sharing takes QEMU's lock: a running VM's disk is refused.
    let probe = vec!["info".into(), "--output=json".into(), "--".into(), path.arg()];
    run(&qemu_img(probe, Some(READ_TIMEOUT)), &Subject::new(op, &path)).await?;
    tokio::fs::remove_file(path.abs()).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StorageError::ImageNotFound { op, path: shown() },
        std::io::ErrorKind::PermissionDenied => StorageError::PermissionDenied { op, path: shown() },
        _ => StorageError::CommandFailed { op, path: shown(), target: None, detail: e.to_string() },
    })
}

/// Runs a preallocating creation, reporting how much of the image is allocated.
async fn run_sampling_allocation(cmd: &HostCommand, subject: &Subject<'_>, file: &Path, size_gb: f64, progress: &Progress) -> Result<Output, StorageError> {
    use std::os::unix::fs::MetadataExt;
    let total = size_gb * 1_073_741_824.0;
    let job = run(cmd, subject);
    tokio::pin!(job);
    let mut tick = tokio::time::interval(ALLOCATION_POLL);
    loop {
        tokio::select! {
            r = &mut job => return r,
            _ = tick.tick() => {
                if let Ok(m) = tokio::fs::metadata(file).await {
                    #[allow(clippy::cast_precision_loss)] // a percentage
                    let allocated = m.blocks() as f64 * 512.0;
                    // 100 is reported only once qemu-img has succeeded.
                    progress.report((allocated / total * 100.0).min(99.0));
                }
            }
        }
    }
}

/// `getImageInfo`.
pub async fn image_info(path: &str) -> Result<ImageInfo, StorageError> {
    let path = image_path(Op::Info, path)?;
    let _g = lock::acquire(&[(path.abs(), Access::Read)]).await;
    read_info(&path, Op::Info).await
}

/// `resizeImage`.
pub async fn resize_image(req: &ResizeImage) -> Result<(), StorageError> {
    let _g = lock::acquire(&[(req.path.abs(), Access::Write)]).await;
    if req.allow_shrink {
        // Cutting a golden image short would change what its clones read.
        backing::refuse_if_cloned(Op::Resize, &req.path).await?;
    }
    let subject = Subject::new(Op::Resize, &req.path).size(req.size.gb());
    run(&qemu_img(req.argv(), Some(METADATA_TIMEOUT)), &subject).await.map(drop)
}

/// `convertImage`: reads the source's format (`getImageInfo`, whose errors pass
/// through), then converts into a new destination file, removed again on failure.
/// No deadline: a conversion takes as long as the data; `-p` progress is reported.
pub async fn convert_image(req: &ConvertImage, progress: Option<Arc<Progress>>) -> Result<(), StorageError> {
    let op = Op::Convert;
    let _g = lock::acquire(&[(req.source.abs(), Access::Read), (req.dest.abs(), Access::Write)]).await;
    let info = read_info(&req.source, Op::Info).await?;
    let source_format = DriverName::new(&info.format).ok_or_else(|| StorageError::Parse { op: Op::Info, path: req.source.shown().to_string() })?;
    backing::refuse_if_cloned(op, &req.dest).await?;
    let file = NewFile::create(op, &req.dest).await?;
    let others = [(req.dest.abs(), req.dest.shown())];
    let subject = Subject::new(op, &req.source).target(req.dest.shown()).others(&others);
    let mut cmd = qemu_img(req.argv(&source_format, progress.is_some()), None);
    if let Some(p) = &progress {
        cmd = observe_progress(cmd, p.clone());
    }
    run(&cmd, &subject).await?;
    file.keep();
    if let Some(p) = progress {
        p.finish();
    }
    Ok(())
}

/// Feeds `qemu-img -p` output on stdout to `progress`.
pub(crate) fn observe_progress(cmd: HostCommand, progress: Arc<Progress>) -> HostCommand {
    let parser = Mutex::new(ProgressParser::default());
    cmd.observe_stdout(OutputObserver::new(move |chunk| {
        let values = parser.lock().unwrap_or_else(std::sync::PoisonError::into_inner).feed(chunk);
        for v in values {
            progress.report(v);
        }
    }))
}

/// `checkImage`. qemu-img exits 2 (corruptions) or 3 (leaks) with its JSON report
/// on stdout; that report is the result, not an error.
pub async fn check_image(path: &str) -> Result<ImageCheckResult, StorageError> {
    let op = Op::Check;
    let path = image_path(op, path)?;
    let _g = lock::acquire(&[(path.abs(), Access::Read)]).await;
    let parse_error = || StorageError::Parse { op, path: path.shown().to_string() };
    match qemu_img(check_argv(&path), Some(METADATA_TIMEOUT)).run().await {
        Ok(out) => parse_check(&out.stdout).map_err(|_| parse_error()),
        Err(e) => {
            if let ExecError::Exit { stdout, .. } = &e {
                if stdout.trim_start().starts_with('{') {
                    if let Ok(r) = parse_check(stdout) {
                        return Ok(r);
                    }
                }
            }
            Err(Subject::new(op, &path).classify(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    fn create(path: &str, size_gb: f64, format: &str) -> CreateImageRequest {
        CreateImageRequest { path: path.into(), size_gb: Some(size_gb), format: format.into(), ..Default::default() }
    }

    fn argv(r: &CreateImageRequest) -> String {
        CreateImage::parse(r).unwrap().argv().join(" ")
    }

    #[test]
    fn spec_20_6_79_create_argv() {
        let mut r = create("/d.qcow2", 50.0, "qcow2");
        r.preallocation = Some("metadata".into());
        r.cluster_size = Some(65536.0);
        assert_eq!(argv(&r), "create -f qcow2 -o cluster_size=65536,preallocation=metadata -- /d.qcow2 50G");
        let mut r = create("/d.raw", 10.0, "raw");
        r.preallocation = Some("full".into());
        assert_eq!(argv(&r), "create -f raw -- /d.raw 10G");
        assert_eq!(argv(&create("/d2.qcow2", 5.0, "qcow2")), "create -f qcow2 -- /d2.qcow2 5G");
    }

    #[test]
    fn create_with_backing_file_names_its_format() {
        let mut r = create("/i/top.qcow2", 20.0, "qcow2");
        r.backing_file = Some("/g/base.raw".into());
        r.backing_format = Some("raw".into());
        assert_eq!(argv(&r), "create -f qcow2 -b /g/base.raw -F raw -- /i/top.qcow2 20G");
        r.size_gb = None;
        assert_eq!(argv(&r), "create -f qcow2 -b /g/base.raw -F raw -- /i/top.qcow2", "the golden image's size");
        r.backing_file = Some("base.qcow2".into());
        let e = CreateImage::parse(&r).unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().as_str()),
            ("INVALID_BACKING_FILE", "Invalid backing file base.qcow2 for image /i/top.qcow2: the path must be absolute")
        );
        assert_eq!(e.fields()["backingFile"], "base.qcow2");
        r.backing_file = Some("/g/base.qcow2".into());
        r.format = "raw".into();
        let e = CreateImage::parse(&r).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("INVALID_FORMAT", "backingFile requires qcow2 format (got: raw)"));
        r.backing_file = None;
        r.size_gb = None;
        assert_eq!(CreateImage::parse(&r).unwrap_err().code(), "INVALID_SIZE", "a size is needed without a backing file");
    }

    #[test]
    fn create_rejects_bad_input_before_running_anything() {
        let cases: Vec<(CreateImageRequest, &str, &str)> = vec![
            (create("", 1.0, "qcow2"), "IMAGE_NOT_FOUND", "Invalid image path \"\": the path is empty"),
            (create("/a\0b", 1.0, "qcow2"), "IMAGE_NOT_FOUND", "Invalid image path \"/a\\0b\": the path contains a NUL byte"),
            (create("/a", 0.0, "qcow2"), "INVALID_SIZE", "Invalid size: 0GB. Size must be positive."),
            (create("/a", -5.0, "qcow2"), "INVALID_SIZE", "Invalid size: -5GB. Size must be positive."),
            (create("/a", 1e300, "qcow2"), "INVALID_SIZE", "Invalid size: 1e+300GB. Size must be at most 1048576GB."),
            (create("/a", f64::NAN, "qcow2"), "INVALID_SIZE", "Invalid size: NaNGB. Size must be a finite number."),
            (create("/a", 1.0, "qcow3"), "INVALID_FORMAT", "Invalid image format: qcow3. Supported formats: qcow2, raw, vmdk, vdi, vhdx"),
            (
                CreateImageRequest { cluster_size: Some(3000.0), ..create("/a", 1.0, "qcow2") },
                "INVALID_SIZE",
                "Invalid cluster size: 3000. It must be a power of two from 512 to 2097152 bytes.",
            ),
            (
                CreateImageRequest { preallocation: Some("sparse".into()), ..create("/a", 1.0, "qcow2") },
                "INVALID_FORMAT",
                "Invalid preallocation mode: sparse. Use off, metadata, falloc or full",
            ),
        ];
        for (r, code, message) in cases {
            let e = CreateImage::parse(&r).unwrap_err();
            assert_eq!((e.code(), e.to_string().as_str()), (code, message));
            assert_eq!(e.fields()["command"], "qemu-img create");
            assert_eq!(e.fields()["path"], r.path.as_str());
        }
    }

    #[test]
    fn spec_20_6_80_resize_argv_and_refusal() {
        assert_eq!(ResizeImage::parse("/d.qcow2", 100.0, false).unwrap().argv().join(" "), "resize -- /d.qcow2 100G");
        assert_eq!(ResizeImage::parse("/d.qcow2", 10.0, true).unwrap().argv().join(" "), "resize --shrink -- /d.qcow2 10G");
        let e = ResizeImage::parse("/d", 0.0, false).unwrap_err();
        assert_eq!(e.to_string(), "Invalid size: 0GB. Size must be positive.");
        assert_eq!(serde_json::Value::Object(e.fields()), serde_json::json!({"path": "/d", "command": "qemu-img resize"}));
    }

    #[test]
    fn spec_20_6_81_convert_argv() {
        let r = ConvertImageRequest { source_path: "/d.qcow2".into(), dest_path: "/o.qcow2".into(), dest_format: "qcow2".into(), compress: true };
        let c = ConvertImage::parse(&r).unwrap();
        let qcow2 = DriverName::new("qcow2").unwrap();
        assert_eq!(info_argv(&c.source).join(" "), "info --output=json --force-share -- /d.qcow2");
        assert_eq!(c.argv(&qcow2, false).join(" "), "convert -f qcow2 -O qcow2 -c -- /d.qcow2 /o.qcow2");
        assert_eq!(c.argv(&qcow2, true).join(" "), "convert -f qcow2 -O qcow2 -c -p -- /d.qcow2 /o.qcow2");
        let raw = ConvertImage::parse(&ConvertImageRequest { dest_format: "raw".into(), dest_path: "/o.raw".into(), ..r }).unwrap();
        assert_eq!(raw.argv(&qcow2, false).join(" "), "convert -f qcow2 -O raw -- /d.qcow2 /o.raw", "-c only for qcow2 output");
    }

    #[test]
    fn check_argv_has_no_force_share() {
        assert_eq!(check_argv(&ImagePath::new("/d.qcow2").unwrap()).join(" "), "check --output=json -- /d.qcow2");
    }
}

/// The runners against the real `qemu-img` (the Jest suite covers them from JS).
#[cfg(test)]
mod real {
    use super::*;
    use crate::error::ErrorShape;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("infinivirt-qemu-img-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn create_is_exclusive_and_cleans_up_after_itself() {
        let dir = tmp("create");
        let p = dir.join("a.qcow2").display().to_string();
        rt().block_on(async {
            let req = |path: &str, gb: f64| {
                CreateImage::parse(&CreateImageRequest { path: path.into(), size_gb: Some(gb), format: "qcow2".into(), ..Default::default() }).unwrap()
            };
            create_image(&req(&p, 1.0), None).await.unwrap();
            let e = create_image(&req(&p, 2.0), None).await.unwrap_err();
            assert_eq!((e.code(), e.to_string()), ("IMAGE_ALREADY_EXISTS", format!("Image already exists: {p}")));
            assert_eq!(image_info(&p).await.unwrap().virtual_size, 1 << 30, "the existing image is untouched");
            // qemu-img refuses (too large for 512-byte clusters): the new file is removed again.
            let q = dir.join("b.qcow2").display().to_string();
            let bad = CreateImage::parse(&CreateImageRequest {
                path: q.clone(),
                size_gb: Some(1_000_000.0),
                format: "qcow2".into(),
                cluster_size: Some(512.0),
                ..Default::default()
            })
            .unwrap();
            let e = create_image(&bad, None).await.unwrap_err();
            assert_eq!(e.code(), "INVALID_SIZE", "{e}");
            assert!(!Path::new(&q).exists());
            let e = create_image(&req(&dir.join("no/such/dir.qcow2").display().to_string(), 1.0), None).await.unwrap_err();
            assert_eq!(e.code(), "COMMAND_FAILED");
        });
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resize_grows_and_refuses_to_shrink_unless_asked() {
        let dir = tmp("resize");
        let p = dir.join("a.qcow2").display().to_string();
        rt().block_on(async {
            create_image(
                &CreateImage::parse(&CreateImageRequest { path: p.clone(), size_gb: Some(1.0), format: "qcow2".into(), ..Default::default() }).unwrap(),
                None,
            )
            .await
            .unwrap();
            resize_image(&ResizeImage::parse(&p, 2.0, false).unwrap()).await.unwrap();
            let e = resize_image(&ResizeImage::parse(&p, 1.0, false).unwrap()).await.unwrap_err();
            assert_eq!(e.code(), "INVALID_SIZE");
            assert_eq!(image_info(&p).await.unwrap().virtual_size, 2 << 30);
            resize_image(&ResizeImage::parse(&p, 1.0, true).unwrap()).await.unwrap();
            assert_eq!(image_info(&p).await.unwrap().virtual_size, 1 << 30);
            let e = image_info(&dir.join("missing").display().to_string()).await.unwrap_err();
            assert_eq!(e.code(), "IMAGE_NOT_FOUND");
            assert_eq!(check_image(&p).await.unwrap().errors, 0);
        });
        std::fs::remove_dir_all(dir).unwrap();
    }
}
