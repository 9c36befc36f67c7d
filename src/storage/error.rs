//! Storage errors: the spec's `StorageError(code, message, path?, command?)`, and the
//! one place a failed `qemu-img` run is classified.
//!
//! Every variant knows the operation it came from ([`Op`], which names the spec's
//! `command` field) and the path it concerns. `qemu-img` runs with `LC_ALL=C`, so
//! its stderr is stable; [`Subject::classify`] reads it once and picks a variant.
//! A lock held by a running QEMU is checked first: it is never reported as a
//! missing file.

use std::path::Path;

use serde_json::{Map, Value};

use super::snapshot::NameProblem;
use super::values::{js_number, BackingProblem, ImageFormat, ImagePath, SizeProblem};
use crate::error::{code_enum, fields, ErrorShape, JsClass};
use crate::exec::ExecError;

code_enum! {
    /// Spec §17.5 `StorageErrorCode`.
    pub enum StorageErrorCode {
        IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND",
        IMAGE_ALREADY_EXISTS = "IMAGE_ALREADY_EXISTS",
        SNAPSHOT_NOT_FOUND = "SNAPSHOT_NOT_FOUND",
        SNAPSHOT_ALREADY_EXISTS = "SNAPSHOT_ALREADY_EXISTS",
        INVALID_FORMAT = "INVALID_FORMAT",
        INVALID_SIZE = "INVALID_SIZE",
        IMAGE_IN_USE = "IMAGE_IN_USE",
        PERMISSION_DENIED = "PERMISSION_DENIED",
        COMMAND_FAILED = "COMMAND_FAILED",
        PARSE_ERROR = "PARSE_ERROR",
        INVALID_SNAPSHOT_NAME = "INVALID_SNAPSHOT_NAME",
        INVALID_BACKING_FILE = "INVALID_BACKING_FILE",
    }
}

/// The image formats `qemu-img` is driven with (spec `ImageFormat`).
pub const SUPPORTED_IMAGE_FORMATS: [&str; 5] = ["qcow2", "raw", "vmdk", "vdi", "vhdx"];
pub const DEFAULT_CLUSTER_SIZE: u32 = 65536;
pub const MAX_SNAPSHOT_NAME_LENGTH: usize = 64;

/// The storage operation an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Info,
    Resize,
    Convert,
    Check,
    SnapshotCreate,
    SnapshotList,
    SnapshotApply,
    SnapshotDelete,
    /// Snapshot name validation of the offline manager (spec §9.2).
    SnapshotName,
    LiveSnapshotCreate,
    LiveSnapshotDelete,
    LiveResize,
    /// `deleteImage`.
    Delete,
    /// `flattenImage`: the clone copied out of its chain into a standalone image.
    Flatten,
    /// `flattenImageLive`: QEMU streams the backing data into the running clone.
    LiveFlatten,
    /// `materializeSnapshot`.
    Materialize,
}

impl Op {
    /// The spec's `command` field: the `qemu-img` invocation, or the QMP command of
    /// a live operation.
    pub fn command(self) -> &'static str {
        match self {
            Op::Create => "qemu-img create",
            Op::Info => "qemu-img info",
            Op::Resize => "qemu-img resize",
            Op::Convert => "qemu-img convert",
            Op::Check => "qemu-img check",
            Op::SnapshotCreate => "qemu-img snapshot -c",
            Op::SnapshotList => "qemu-img snapshot -l",
            Op::SnapshotApply => "qemu-img snapshot -a",
            Op::SnapshotDelete => "qemu-img snapshot -d",
            Op::SnapshotName => "qemu-img snapshot",
            Op::LiveSnapshotCreate => "blockdev-snapshot-internal-sync",
            Op::LiveSnapshotDelete => "blockdev-snapshot-delete-internal-sync",
            Op::LiveResize => "block_resize",
            Op::Delete => "unlink",
            Op::Flatten => "qemu-img convert",
            Op::LiveFlatten => "block-stream",
            // The spec's label (API-next §3).
            Op::Materialize => "qemu-img convert -l",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A path that cannot name a file (empty, NUL byte). No image can be there.
    #[error("Invalid image path {path:?}: {reason}")]
    InvalidPath { op: Op, path: String, reason: &'static str },
    #[error("Image not found: {path}")]
    ImageNotFound { op: Op, path: String },
    #[error("Image already exists: {path}")]
    ImageAlreadyExists { op: Op, path: String },
    /// A running QEMU (or another qemu-img) holds the image's lock.
    #[error("{}", in_use_message(*op, path))]
    ImageInUse { op: Op, path: String },
    #[error("Snapshot '{name}' not found in image {path}")]
    SnapshotNotFound { op: Op, path: String, name: String },
    #[error("Snapshot '{name}' already exists in image {path}")]
    SnapshotAlreadyExists { op: Op, path: String, name: String },
    #[error("Invalid image format: {format}. Supported formats: {}", SUPPORTED_IMAGE_FORMATS.join(", "))]
    InvalidFormat { op: Op, path: String, format: String },
    #[error("Invalid preallocation mode: {mode}. Use off, metadata, falloc or full")]
    InvalidPreallocation { op: Op, path: String, mode: String },
    /// API-next §3's exact message.
    #[error("backingFile requires qcow2 format (got: {format})")]
    BackingUnsupported { op: Op, path: String, format: ImageFormat },
    #[error("Invalid backing file {backing} for image {path}: {problem}")]
    InvalidBackingFile { op: Op, path: String, backing: String, problem: BackingProblem },
    /// The backing file's detected format is not one a golden image may have, or not
    /// the one the caller named.
    #[error("{}", backing_format_message(backing, found, *given))]
    BackingFormat { op: Op, path: String, backing: String, found: String, given: Option<ImageFormat> },
    /// The image backs other images (clones): changing or removing it would corrupt them.
    #[error("Image {path} is the backing file of {} clone(s): {}. Remove or flatten them first.", clones.len(), clones.join(", "))]
    HasClones { op: Op, path: String, clones: Vec<String> },
    /// Flattening copies the active layer only; internal snapshots would be lost.
    #[error("Image {path} has internal snapshots ({}); flattening would drop them. Delete them first.", names.join(", "))]
    FlattenHasSnapshots { op: Op, path: String, names: Vec<String> },
    #[error("Invalid size: {}GB. {problem}", js_number(*size))]
    InvalidSize { op: Op, path: String, size: f64, problem: SizeProblem },
    #[error("Invalid cluster size: {}. It must be a power of two from 512 to 2097152 bytes.", js_number(*value))]
    InvalidClusterSize { op: Op, path: String, value: f64 },
    #[error("Refusing to shrink image {path} to {}GB: data past the new end would be lost. Pass allowShrink to shrink it.", js_number(*size))]
    ShrinkRefused { op: Op, path: String, size: f64 },
    /// Spec §9.2: code `COMMAND_FAILED` with these exact messages.
    #[error("{problem}")]
    InvalidSnapshotName { op: Op, path: String, problem: NameProblem },
    #[error("Invalid block device name {device:?}: use a QEMU id (a letter, then letters, digits, '-', '.', '_'; at most 127)")]
    InvalidDevice { op: Op, device: String },
    /// The running VM has no such block device (or no medium in it).
    #[error("Block device not found: {device}")]
    DeviceNotFound { op: Op, device: String },
    #[error("{}", permission_message(*op, path))]
    PermissionDenied { op: Op, path: String },
    /// Anything else `qemu-img` (or QEMU) refused; `detail` is its own message.
    /// `target` is the snapshot name or the conversion's destination.
    #[error("{}", failed_message(*op, path, target.as_deref(), detail))]
    CommandFailed { op: Op, path: String, target: Option<String>, detail: String },
    #[error("{}", parse_message(*op, path))]
    Parse { op: Op, path: String },
}

fn in_use_message(op: Op, path: &str) -> String {
    // The resize / snapshot texts are the spec's (§9.1, §9.2).
    match op {
        Op::Resize => format!("Cannot resize image {path}: image is in use. Stop the VM first."),
        Op::SnapshotCreate => format!("Cannot create snapshot: image {path} is in use. Stop the VM first."),
        Op::SnapshotApply => format!("Cannot revert snapshot: image {path} is in use. Stop the VM first."),
        Op::SnapshotDelete => format!("Cannot delete snapshot: image {path} is in use. Stop the VM first."),
        Op::Convert => format!("Cannot convert image {path}: image is in use. Stop the VM first."),
        Op::Check => format!("Cannot check image {path}: image is in use. Stop the VM first."),
        Op::Create => format!("Cannot create image over {path}: image is in use. Stop the VM first."),
        Op::Delete => format!("Cannot delete image {path}: image is in use. Stop the VM first."),
        Op::Flatten => format!("Cannot flatten image {path}: image is in use. Stop the VM first, or flatten it live."),
        Op::Materialize => format!("Cannot read snapshot of image {path}: image is in use. Stop the VM first."),
        _ => format!("Image {path} is in use by another process (a running VM holds its lock)."),
    }
}

fn backing_format_message(backing: &str, found: &str, given: Option<ImageFormat>) -> String {
    match given {
        Some(g) => format!("Backing file {backing} is a {found} image, not {g}"),
        None => format!("Backing file {backing} is a {found} image; a golden image must be qcow2 or raw"),
    }
}

fn permission_message(op: Op, path: &str) -> String {
    match op {
        Op::Create => format!("Permission denied creating image: {path}"),
        _ => format!("Permission denied accessing image: {path}"),
    }
}

fn failed_message(op: Op, path: &str, target: Option<&str>, detail: &str) -> String {
    let t = target.unwrap_or("");
    match op {
        Op::Create => format!("Failed to create image {path}: {detail}"),
        Op::Info => format!("Failed to get info for image {path}: {detail}"),
        Op::Resize => format!("Failed to resize image {path}: {detail}"),
        Op::Convert => format!("Failed to convert image {path} to {t}: {detail}"),
        Op::Check => format!("Failed to check image {path}: {detail}"),
        Op::SnapshotCreate => format!("Failed to create snapshot '{t}' in image {path}: {detail}"),
        Op::SnapshotList | Op::SnapshotName => format!("Failed to list snapshots for image {path}: {detail}"),
        Op::SnapshotApply => format!("Failed to revert snapshot '{t}' in image {path}: {detail}"),
        Op::SnapshotDelete => format!("Failed to delete snapshot '{t}' in image {path}: {detail}"),
        Op::LiveSnapshotCreate => format!("Failed to create live snapshot '{t}' on device {path}: {detail}"),
        Op::LiveSnapshotDelete => format!("Failed to delete live snapshot '{t}' on device {path}: {detail}"),
        Op::LiveResize => format!("Failed to resize device {path}: {detail}"),
        Op::Delete => format!("Failed to delete image {path}: {detail}"),
        Op::Flatten => format!("Failed to flatten image {path}: {detail}"),
        Op::LiveFlatten => format!("Failed to flatten device {path}: {detail}"),
        Op::Materialize => format!("Failed to materialize snapshot '{t}' of image {path}: {detail}"),
    }
}

fn parse_message(op: Op, path: &str) -> String {
    match op {
        Op::Check => format!("Failed to parse check result for {path}: invalid output"),
        Op::SnapshotList => format!("Failed to parse snapshot list for {path}: invalid output"),
        // The spec's text (§9.1).
        _ => format!("Failed to parse image info for {path}: invalid output"),
    }
}

impl StorageError {
    pub fn op(&self) -> Op {
        match self {
            StorageError::InvalidPath { op, .. }
            | StorageError::ImageNotFound { op, .. }
            | StorageError::ImageAlreadyExists { op, .. }
            | StorageError::ImageInUse { op, .. }
            | StorageError::SnapshotNotFound { op, .. }
            | StorageError::SnapshotAlreadyExists { op, .. }
            | StorageError::InvalidFormat { op, .. }
            | StorageError::InvalidPreallocation { op, .. }
            | StorageError::BackingUnsupported { op, .. }
            | StorageError::InvalidBackingFile { op, .. }
            | StorageError::BackingFormat { op, .. }
            | StorageError::HasClones { op, .. }
            | StorageError::FlattenHasSnapshots { op, .. }
            | StorageError::InvalidSize { op, .. }
            | StorageError::InvalidClusterSize { op, .. }
            | StorageError::ShrinkRefused { op, .. }
            | StorageError::InvalidSnapshotName { op, .. }
            | StorageError::InvalidDevice { op, .. }
            | StorageError::DeviceNotFound { op, .. }
            | StorageError::PermissionDenied { op, .. }
            | StorageError::CommandFailed { op, .. }
            | StorageError::Parse { op, .. } => *op,
        }
    }

    /// The image (or, for live operations, the block device) the error concerns.
    pub fn path(&self) -> &str {
        match self {
            StorageError::InvalidPath { path, .. }
            | StorageError::ImageNotFound { path, .. }
            | StorageError::ImageAlreadyExists { path, .. }
            | StorageError::ImageInUse { path, .. }
            | StorageError::SnapshotNotFound { path, .. }
            | StorageError::SnapshotAlreadyExists { path, .. }
            | StorageError::InvalidFormat { path, .. }
            | StorageError::InvalidPreallocation { path, .. }
            | StorageError::BackingUnsupported { path, .. }
            | StorageError::InvalidBackingFile { path, .. }
            | StorageError::BackingFormat { path, .. }
            | StorageError::HasClones { path, .. }
            | StorageError::FlattenHasSnapshots { path, .. }
            | StorageError::InvalidSize { path, .. }
            | StorageError::InvalidClusterSize { path, .. }
            | StorageError::ShrinkRefused { path, .. }
            | StorageError::InvalidSnapshotName { path, .. }
            | StorageError::PermissionDenied { path, .. }
            | StorageError::CommandFailed { path, .. }
            | StorageError::Parse { path, .. } => path,
            StorageError::InvalidDevice { device, .. } | StorageError::DeviceNotFound { device, .. } => device,
        }
    }

    pub fn code_enum(&self) -> StorageErrorCode {
        use StorageErrorCode as C;
        match self {
            StorageError::InvalidPath { .. } | StorageError::ImageNotFound { .. } | StorageError::DeviceNotFound { .. } => C::IMAGE_NOT_FOUND,
            StorageError::ImageAlreadyExists { .. } => C::IMAGE_ALREADY_EXISTS,
            StorageError::ImageInUse { .. } => C::IMAGE_IN_USE,
            StorageError::SnapshotNotFound { .. } => C::SNAPSHOT_NOT_FOUND,
            StorageError::SnapshotAlreadyExists { .. } => C::SNAPSHOT_ALREADY_EXISTS,
            StorageError::InvalidFormat { .. }
            | StorageError::InvalidPreallocation { .. }
            | StorageError::BackingUnsupported { .. }
            | StorageError::BackingFormat { .. } => C::INVALID_FORMAT,
            StorageError::InvalidBackingFile { .. } => C::INVALID_BACKING_FILE,
            // Another image depends on this one, as a running VM's lock would say.
            StorageError::HasClones { .. } => C::IMAGE_IN_USE,
            // Existing snapshots are what stands in the way.
            StorageError::FlattenHasSnapshots { .. } => C::SNAPSHOT_ALREADY_EXISTS,
            StorageError::InvalidSize { .. } | StorageError::InvalidClusterSize { .. } | StorageError::ShrinkRefused { .. } => C::INVALID_SIZE,
            // The original used COMMAND_FAILED; a name refused before any command runs
            // now has its own code (COMPATIBILITY.md), the message is unchanged.
            StorageError::InvalidSnapshotName { .. } => C::INVALID_SNAPSHOT_NAME,
            StorageError::InvalidDevice { .. } | StorageError::CommandFailed { .. } => C::COMMAND_FAILED,
            StorageError::PermissionDenied { .. } => C::PERMISSION_DENIED,
            StorageError::Parse { .. } => C::PARSE_ERROR,
        }
    }

    pub(crate) fn invalid_path(op: Op, raw: &str, reason: &'static str) -> Self {
        StorageError::InvalidPath { op, path: raw.to_string(), reason }
    }
}

impl ErrorShape for StorageError {
    fn code(&self) -> &'static str {
        self.code_enum().as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::StorageError
    }

    fn fields(&self) -> Map<String, Value> {
        let backing = match self {
            StorageError::InvalidBackingFile { backing, .. } | StorageError::BackingFormat { backing, .. } => Some(Value::from(backing.as_str())),
            _ => None,
        };
        let clones = match self {
            StorageError::HasClones { clones, .. } => Some(Value::from(clones.clone())),
            _ => None,
        };
        fields([("path", Some(Value::from(self.path()))), ("command", Some(Value::from(self.op().command()))), ("backingFile", backing), ("clones", clones)])
    }
}

/// What a failed `qemu-img` run was about: enough to classify it and word the error.
pub struct Subject<'a> {
    pub op: Op,
    pub image: &'a ImagePath,
    /// The snapshot name or the conversion's destination, for messages.
    pub target: Option<&'a str>,
    /// The requested size, for a size qemu-img refused.
    pub size_gb: Option<f64>,
    /// Other files the run opens (`(absolute, as shown)`: a backing file, a
    /// conversion's destination), so a lock or missing-file report names the right one.
    pub others: &'a [(&'a Path, &'a str)],
}

impl<'a> Subject<'a> {
    pub fn new(op: Op, image: &'a ImagePath) -> Self {
        Subject { op, image, target: None, size_gb: None, others: &[] }
    }

    pub fn target(mut self, t: &'a str) -> Self {
        self.target = Some(t);
        self
    }

    pub fn size(mut self, gb: f64) -> Self {
        self.size_gb = Some(gb);
        self
    }

    pub fn others(mut self, o: &'a [(&'a Path, &'a str)]) -> Self {
        self.others = o;
        self
    }

    fn failed(&self, detail: String) -> StorageError {
        StorageError::CommandFailed { op: self.op, path: self.image.shown().to_string(), target: self.target.map(str::to_string), detail }
    }

    /// The caller's spelling of a path qemu-img printed.
    fn shown_for(&self, printed: Option<&str>) -> String {
        if let Some(p) = printed {
            let p = Path::new(p);
            if let Some((_, shown)) = self.others.iter().find(|(abs, _)| *abs == p) {
                return (*shown).to_string();
            }
        }
        self.image.shown().to_string()
    }

    /// Classifies a failed run. The one place qemu-img's (C-locale) stderr is read.
    pub fn classify(&self, err: &ExecError) -> StorageError {
        let stderr = match err {
            ExecError::Exit { stderr, .. } => stderr.as_str(),
            ExecError::Spawn { source, .. } if err.is_not_found() => {
                return self.failed(format!("qemu-img is not installed ({})", crate::exec::errno_name(source)));
            }
            ExecError::Timeout { after, .. } => {
                return self.failed(format!("qemu-img did not finish within {} s", after.as_secs()));
            }
            ExecError::Spawn { .. } | ExecError::InvalidArgument { .. } => return self.failed(err.to_string()),
        };
        let path = self.image.shown().to_string();
        let op = self.op;

        // 1. A lock held by another process. First, so it can never read as "not found".
        if stderr.contains("Failed to get \"write\" lock")
            || stderr.contains("Failed to get shared \"write\" lock")
            || stderr.contains("Is another process using the image")
            || stderr.contains("Failed to lock byte")
        {
            let locked = between(stderr, "Is another process using the image [", "]?");
            return StorageError::ImageInUse { op, path: self.shown_for(locked) };
        }
        // 2. Operation-specific refusals.
        match op {
            Op::SnapshotApply if stderr.contains("Could not apply snapshot") && stderr.contains("No such file or directory") => {
                return self.snapshot_not_found();
            }
            Op::SnapshotDelete if stderr.contains("Could not delete snapshot") && stderr.contains("snapshot not found") => {
                return self.snapshot_not_found();
            }
            Op::Resize if stderr.contains("Use the --shrink option") => {
                return StorageError::ShrinkRefused { op, path, size: self.size_gb.unwrap_or(f64::NAN) };
            }
            Op::Create if stderr.contains("Unknown file format") => {
                let format = between(stderr, "Unknown file format '", "'").unwrap_or_default().to_string();
                return StorageError::InvalidFormat { op, path, format };
            }
            Op::Create if stderr.contains("is too large for file format") => {
                let size = self.size_gb.unwrap_or(f64::NAN);
                return StorageError::InvalidSize { op, path, size, problem: SizeProblem::TooLarge };
            }
            _ => {}
        }
        // 3. A file qemu-img could not open.
        for line in stderr.lines() {
            let opened = between(line, "Could not open '", "'");
            if line.ends_with("No such file or directory") && opened.is_some() {
                return StorageError::ImageNotFound { op, path: self.shown_for(opened) };
            }
            if line.contains("Permission denied") {
                return StorageError::PermissionDenied { op, path: self.shown_for(opened) };
            }
        }
        self.failed(detail_of(err))
    }

    fn snapshot_not_found(&self) -> StorageError {
        StorageError::SnapshotNotFound { op: self.op, path: self.image.shown().to_string(), name: self.target.unwrap_or_default().to_string() }
    }
}

/// qemu-img's own words: the stderr tail on one line, or the run's description.
pub(crate) fn detail_of(err: &ExecError) -> String {
    let tail = err.stderr_tail().trim();
    if tail.is_empty() {
        return err.to_string();
    }
    tail.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The text between `start` and the next `end`.
fn between<'s>(s: &'s str, start: &str, end: &str) -> Option<&'s str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(stderr: &str) -> ExecError {
        ExecError::Exit { command: "qemu-img x".into(), code: Some(1), signal: None, stdout: String::new(), stderr: stderr.into() }
    }

    fn img(p: &str) -> ImagePath {
        ImagePath::new(p).unwrap()
    }

    // stderr texts below were captured from qemu-img 10.0.2 with LC_ALL=C.

    #[test]
    fn missing_file_is_image_not_found_with_the_spec_message() {
        let p = img("/x");
        let e = Subject::new(Op::Info, &p).classify(&exit("qemu-img: Could not open '/x': Could not open '/x': No such file or directory\n"));
        assert_eq!(e.code(), "IMAGE_NOT_FOUND");
        assert_eq!(e.to_string(), "Image not found: /x");
        assert_eq!(Value::Object(e.fields()), serde_json::json!({"path": "/x", "command": "qemu-img info"}));
    }

    #[test]
    fn a_lock_is_in_use_never_not_found() {
        let p = img("/tmp/qi/live.qcow2");
        for (op, text) in [
            (Op::Info, "qemu-img: Could not open '/tmp/qi/live.qcow2': Failed to get shared \"write\" lock\nIs another process using the image [/tmp/qi/live.qcow2]?\n"),
            (Op::Resize, "qemu-img: Could not open '/tmp/qi/live.qcow2': Failed to get \"write\" lock\nIs another process using the image [/tmp/qi/live.qcow2]?\n"),
            (Op::Convert, "qemu-img: /tmp/qi/live.qcow2: error while converting qcow2: Failed to get \"write\" lock\nIs another process using the image [/tmp/qi/live.qcow2]?\n"),
            (Op::SnapshotDelete, "qemu-img: Could not open '/tmp/qi/live.qcow2': Failed to get \"write\" lock\nIs another process using the image [/tmp/qi/live.qcow2]?\n"),
        ] {
            let e = Subject::new(op, &p).target("s1").classify(&exit(text));
            assert_eq!(e.code(), "IMAGE_IN_USE", "{op:?}");
            assert_eq!(e.path(), "/tmp/qi/live.qcow2");
        }
        let e = Subject::new(Op::Resize, &p).classify(&exit(
            "qemu-img: Could not open '/tmp/qi/live.qcow2': Failed to get \"write\" lock\nIs another process using the image [/tmp/qi/live.qcow2]?\n",
        ));
        assert_eq!(e.to_string(), "Cannot resize image /tmp/qi/live.qcow2: image is in use. Stop the VM first.");
        let e = Subject::new(Op::SnapshotCreate, &p).classify(&exit("Failed to get \"write\" lock"));
        assert_eq!(e.to_string(), "Cannot create snapshot: image /tmp/qi/live.qcow2 is in use. Stop the VM first.");
        let e = Subject::new(Op::SnapshotApply, &p).classify(&exit("Failed to get \"write\" lock"));
        assert_eq!(e.to_string(), "Cannot revert snapshot: image /tmp/qi/live.qcow2 is in use. Stop the VM first.");
    }

    #[test]
    fn the_locked_file_is_named_in_the_callers_spelling() {
        let src = img("/a/src.qcow2");
        let dest = Path::new("/a/out.qcow2");
        let others = [(dest, "out.qcow2")];
        let e = Subject::new(Op::Convert, &src)
            .others(&others)
            .classify(&exit("qemu-img: /a/out.qcow2: Failed to get \"write\" lock\nIs another process using the image [/a/out.qcow2]?\n"));
        assert_eq!(e.path(), "out.qcow2");
    }

    #[test]
    fn snapshot_failures() {
        let p = img("/d.qcow2");
        let e = Subject::new(Op::SnapshotApply, &p)
            .target("nope")
            .classify(&exit("qemu-img: Could not apply snapshot 'nope': Failed to load snapshot: No such file or directory\n"));
        assert_eq!(e.code(), "SNAPSHOT_NOT_FOUND");
        assert_eq!(e.to_string(), "Snapshot 'nope' not found in image /d.qcow2");
        let e = Subject::new(Op::SnapshotDelete, &p).target("nope").classify(&exit("qemu-img: Could not delete snapshot 'nope': snapshot not found\n"));
        assert_eq!(e.code(), "SNAPSHOT_NOT_FOUND");
        // The same ENOENT text for an image that is missing is about the image.
        let e = Subject::new(Op::SnapshotApply, &p)
            .target("s")
            .classify(&exit("qemu-img: Could not open '/d.qcow2': Could not open '/d.qcow2': No such file or directory\n"));
        assert_eq!(e.code(), "IMAGE_NOT_FOUND");
    }

    #[test]
    fn create_and_resize_refusals() {
        let p = img("/tmp/qi/a.qcow2");
        let e = Subject::new(Op::Resize, &p)
            .size(0.5)
            .classify(&exit("qemu-img: Use the --shrink option to perform a shrink operation.\nqemu-img: warning: Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an operation, make sure there is no important data there.\n"));
        assert_eq!(e.code(), "INVALID_SIZE");
        assert!(e.to_string().starts_with("Refusing to shrink image /tmp/qi/a.qcow2 to 0.5GB"), "{e}");
        let e = Subject::new(Op::Create, &p).classify(&exit("qemu-img: /tmp/qi/b.bogus: Unknown file format 'bogus'\n"));
        assert_eq!((e.code(), e.to_string().as_str()), ("INVALID_FORMAT", "Invalid image format: bogus. Supported formats: qcow2, raw, vmdk, vdi, vhdx"));
        let e = Subject::new(Op::Create, &p)
            .size(1e8)
            .classify(&exit("qemu-img: /tmp/qi/big.qcow2: The image size is too large for file format 'qcow2' (try using a larger cluster size)\n"));
        assert_eq!(e.code(), "INVALID_SIZE");
        let base = Path::new("/tmp/qi/nobase.qcow2");
        let others = [(base, "nobase.qcow2")];
        let e = Subject::new(Op::Create, &p)
            .others(&others)
            .classify(&exit("qemu-img: /tmp/qi/ov.qcow2: Could not open '/tmp/qi/nobase.qcow2': No such file or directory\nCould not open backing image.\n"));
        assert_eq!((e.code(), e.path()), ("IMAGE_NOT_FOUND", "nobase.qcow2"));
    }

    #[test]
    fn other_failures_keep_qemu_imgs_words() {
        let p = img("/tmp");
        let e = Subject::new(Op::Info, &p).classify(&exit("qemu-img: Could not open '/tmp': 'file' driver requires '/tmp' to be a regular file\n"));
        assert_eq!(e.code(), "COMMAND_FAILED");
        assert_eq!(e.to_string(), "Failed to get info for image /tmp: qemu-img: Could not open '/tmp': 'file' driver requires '/tmp' to be a regular file");
        let e = Subject::new(Op::Info, &p).classify(&exit("qemu-img: Could not open '/tmp/x': Permission denied\n"));
        assert_eq!(e.code(), "PERMISSION_DENIED");
        let spawn = ExecError::Spawn { command: "qemu-img info".into(), source: std::io::Error::from_raw_os_error(2) };
        let e = Subject::new(Op::Info, &p).classify(&spawn);
        assert_eq!(e.code(), "COMMAND_FAILED", "a missing qemu-img is not a missing image");
        assert_eq!(e.to_string(), "Failed to get info for image /tmp: qemu-img is not installed (ENOENT)");
    }

    #[test]
    fn every_variant_has_path_and_command() {
        let e = StorageError::InvalidSize { op: Op::Resize, path: "/d".into(), size: 0.0, problem: SizeProblem::NotPositive };
        assert_eq!(e.to_string(), "Invalid size: 0GB. Size must be positive.");
        assert_eq!(e.code(), "INVALID_SIZE");
        assert_eq!(Value::Object(e.fields()), serde_json::json!({"path": "/d", "command": "qemu-img resize"}));
        let e = StorageError::invalid_path(Op::Create, "a\0b", "the path contains a NUL byte");
        assert_eq!(e.to_string(), "Invalid image path \"a\\0b\": the path contains a NUL byte");
    }
}
