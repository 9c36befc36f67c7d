//! Validated inputs of the storage operations: image paths, formats, sizes,
//! preallocation modes and cluster sizes. Each is built by one constructor that
//! rejects what `qemu-img` would misparse; after that the values are plain data.

use std::path::{Path, PathBuf};

/// Largest image the storage API creates or resizes to: 1 PiB. qemu-img's own limit
/// (8 EiB) is past what a JS number holds exactly, and no Infinibay disk nears this.
pub const MAX_IMAGE_SIZE_GB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

/// An image path as the caller gave it (`shown`, used in messages and error fields)
/// and as it is handed to `qemu-img` (`abs`: absolute, so it can neither start with
/// `-` nor be read as a `proto:` or `json:` pseudo-filename).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePath {
    shown: String,
    abs: PathBuf,
}

impl ImagePath {
    /// Fails with the reason the path cannot name a file.
    pub fn new(raw: &str) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("the path is empty");
        }
        if raw.contains('\0') {
            return Err("the path contains a NUL byte");
        }
        let abs = std::path::absolute(raw).map_err(|_| "the path cannot be made absolute")?;
        Ok(ImagePath { shown: raw.to_string(), abs })
    }

    /// The path exactly as the caller wrote it.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The absolute path given to `qemu-img`.
    pub fn abs(&self) -> &Path {
        &self.abs
    }

    /// The absolute path as an argv element.
    pub fn arg(&self) -> String {
        self.abs.to_string_lossy().into_owned()
    }
}

/// Why a backing file cannot back a clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackingProblem {
    Empty,
    NulByte,
    /// A relative reference would be resolved against the clone's directory by
    /// QEMU, so the same string could name another file once the clone moves.
    Relative,
    Missing,
    NotRegularFile,
    Unreadable,
    /// The backing file is the image being created.
    IsTarget,
    /// The backing file's own chain cannot be opened or loops back (qemu-img's words).
    BrokenChain(String),
    /// The backing file's chain already contains the image being created.
    Loop,
}

impl std::fmt::Display for BackingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackingProblem::Empty => f.write_str("the path is empty"),
            BackingProblem::NulByte => f.write_str("the path contains a NUL byte"),
            BackingProblem::Relative => f.write_str("the path must be absolute"),
            BackingProblem::Missing => f.write_str("it does not exist"),
            BackingProblem::NotRegularFile => f.write_str("it is not a regular file"),
            BackingProblem::Unreadable => f.write_str("it cannot be read"),
            BackingProblem::IsTarget => f.write_str("it is the image being created"),
            BackingProblem::BrokenChain(d) => write!(f, "its backing chain cannot be opened ({d})"),
            BackingProblem::Loop => f.write_str("its backing chain already contains the image being created"),
        }
    }
}

/// A backing file (golden image) reference as a clone's qcow2 header records it:
/// absolute, so it names the same file wherever the clone is and can never be read
/// as a protocol (`nbd:`, `json:`) or an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingFile {
    raw: String,
}

impl BackingFile {
    pub fn new(raw: &str) -> Result<Self, BackingProblem> {
        if raw.is_empty() {
            return Err(BackingProblem::Empty);
        }
        if raw.contains('\0') {
            return Err(BackingProblem::NulByte);
        }
        if !raw.starts_with('/') {
            return Err(BackingProblem::Relative);
        }
        Ok(BackingFile { raw: raw.to_string() })
    }

    pub fn shown(&self) -> &str {
        &self.raw
    }

    pub fn path(&self) -> &Path {
        Path::new(&self.raw)
    }
}

/// The formats images are created and converted to (spec `ImageFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Qcow2,
    Raw,
    Vmdk,
    Vdi,
    Vhdx,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 5] = [ImageFormat::Qcow2, ImageFormat::Raw, ImageFormat::Vmdk, ImageFormat::Vdi, ImageFormat::Vhdx];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
            ImageFormat::Vmdk => "vmdk",
            ImageFormat::Vdi => "vdi",
            ImageFormat::Vhdx => "vhdx",
        }
    }

    /// Case-sensitive, like the spec's `isValidImageFormat`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

impl std::fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name reported by `qemu-img info` (the source of a conversion), which may
/// be any driver qemu knows (`qed`, `vpc`, …). Only a plain driver name is passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverName(String);

impl DriverName {
    pub fn new(raw: &str) -> Option<Self> {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        (!raw.is_empty() && raw.len() <= 32 && raw.chars().all(ok) && !raw.starts_with('-')).then(|| DriverName(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// qcow2 preallocation modes (spec `CreateImageOptions.preallocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preallocation {
    Off,
    Metadata,
    Falloc,
    Full,
}

impl Preallocation {
    pub fn as_str(self) -> &'static str {
        match self {
            Preallocation::Off => "off",
            Preallocation::Metadata => "metadata",
            Preallocation::Falloc => "falloc",
            Preallocation::Full => "full",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Preallocation::Off, Preallocation::Metadata, Preallocation::Falloc, Preallocation::Full].into_iter().find(|p| p.as_str() == s)
    }

    /// Modes whose creation time grows with the image size (no deadline, progress).
    pub fn is_long(self) -> bool {
        matches!(self, Preallocation::Metadata | Preallocation::Falloc | Preallocation::Full)
    }
}

/// What is wrong with a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeProblem {
    NotFinite,
    NotPositive,
    TooLarge,
    NotSectorMultiple,
    /// A clone is at least as large as its backing image.
    SmallerThanBacking,
}

impl std::fmt::Display for SizeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeProblem::NotFinite => f.write_str("Size must be a finite number."),
            // The spec's text (API.md §9.1, §20.6 #80).
            SizeProblem::NotPositive => f.write_str("Size must be positive."),
            SizeProblem::TooLarge => write!(f, "Size must be at most {}GB.", js_number(MAX_IMAGE_SIZE_GB)),
            SizeProblem::NotSectorMultiple => f.write_str("Size must be a whole multiple of 512 bytes."),
            SizeProblem::SmallerThanBacking => f.write_str("A clone cannot be smaller than its backing image."),
        }
    }
}

/// An image size in GiB (the API's `sizeGB`): finite, positive, at most 1 PiB.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeGb(f64);

impl SizeGb {
    pub fn new(gb: f64) -> Result<Self, SizeProblem> {
        if !gb.is_finite() {
            return Err(SizeProblem::NotFinite);
        }
        if gb <= 0.0 {
            return Err(SizeProblem::NotPositive);
        }
        if gb > MAX_IMAGE_SIZE_GB {
            return Err(SizeProblem::TooLarge);
        }
        Ok(SizeGb(gb))
    }

    pub fn gb(self) -> f64 {
        self.0
    }

    /// The `qemu-img` size argument, `<n>G` (never in exponent notation).
    pub fn arg(self) -> String {
        format!("{}G", self.0)
    }

    /// The size in bytes when it is a whole number of 512-byte sectors (what
    /// `block_resize` requires).
    pub fn sector_bytes(self) -> Result<u64, SizeProblem> {
        let bytes = self.0 * GIB;
        if bytes.fract() != 0.0 || bytes % 512.0 != 0.0 {
            return Err(SizeProblem::NotSectorMultiple);
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // integral, 0 < bytes <= 2^50
        Ok(bytes as u64)
    }
}

/// A qcow2 cluster size: a power of two from 512 bytes to 2 MiB (qcow2's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterSize(u32);

impl ClusterSize {
    pub fn new(v: f64) -> Option<Self> {
        if !(512.0..=2_097_152.0).contains(&v) || v.fract() != 0.0 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // integral, in range
        let n = v as u32;
        n.is_power_of_two().then_some(ClusterSize(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A number as JavaScript's `String(n)` prints it (messages mirror the JS original).
pub fn js_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if v == 0.0 {
        return "0".into(); // also -0, as JS prints it
    }
    let a = v.abs();
    if (1e-6..1e21).contains(&a) {
        return format!("{v}");
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_are_absolute_and_keep_what_was_shown() {
        let p = ImagePath::new("/d.qcow2").unwrap();
        assert_eq!(p.shown(), "/d.qcow2");
        assert_eq!(p.arg(), "/d.qcow2");
        let rel = ImagePath::new("-rf.qcow2").unwrap();
        assert_eq!(rel.shown(), "-rf.qcow2");
        assert!(rel.arg().starts_with('/'), "{}", rel.arg());
        let proto = ImagePath::new("json:{\"x\":1}").unwrap();
        assert!(proto.arg().starts_with('/'));
        assert_eq!(ImagePath::new(""), Err("the path is empty"));
        assert_eq!(ImagePath::new("/a\0b"), Err("the path contains a NUL byte"));
    }

    #[test]
    fn backing_files_are_absolute() {
        assert!(BackingFile::new("/abs/with:colon").is_ok());
        assert_eq!(BackingFile::new("/b/base.qcow2").unwrap().path(), Path::new("/b/base.qcow2"));
        for (bad, why) in [
            ("", BackingProblem::Empty),
            ("base.qcow2", BackingProblem::Relative),
            ("./base.qcow2", BackingProblem::Relative),
            ("nbd://host/x", BackingProblem::Relative),
            ("json:{}", BackingProblem::Relative),
            ("/a\0b", BackingProblem::NulByte),
        ] {
            assert_eq!(BackingFile::new(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn formats_are_a_closed_case_sensitive_set() {
        assert_eq!(ImageFormat::parse("qcow2"), Some(ImageFormat::Qcow2));
        assert_eq!(ImageFormat::parse("vhdx"), Some(ImageFormat::Vhdx));
        for bad in ["QCOW2", "qcow", "", "raw ", "vpc"] {
            assert_eq!(ImageFormat::parse(bad), None, "{bad:?}");
        }
        assert!(DriverName::new("qcow2").is_some());
        assert!(DriverName::new("-f").is_none());
        assert!(DriverName::new("raw,x=1").is_none());
    }

    #[test]
    fn sizes() {
        assert_eq!(SizeGb::new(0.0), Err(SizeProblem::NotPositive));
        assert_eq!(SizeGb::new(-1.0), Err(SizeProblem::NotPositive));
        assert_eq!(SizeGb::new(f64::NAN), Err(SizeProblem::NotFinite));
        assert_eq!(SizeGb::new(f64::INFINITY), Err(SizeProblem::NotFinite));
        assert_eq!(SizeGb::new(1e12), Err(SizeProblem::TooLarge));
        assert_eq!(SizeGb::new(50.0).unwrap().arg(), "50G");
        assert_eq!(SizeGb::new(1.5).unwrap().arg(), "1.5G");
        assert_eq!(SizeGb::new(1e-7).unwrap().arg(), "0.0000001G");
        assert_eq!(SizeGb::new(2.0).unwrap().sector_bytes(), Ok(2_147_483_648));
        assert_eq!(SizeGb::new(1e-7).unwrap().sector_bytes(), Err(SizeProblem::NotSectorMultiple));
    }

    #[test]
    fn cluster_sizes() {
        assert_eq!(ClusterSize::new(65536.0).map(ClusterSize::get), Some(65536));
        assert_eq!(ClusterSize::new(512.0).map(ClusterSize::get), Some(512));
        assert_eq!(ClusterSize::new(2_097_152.0).map(ClusterSize::get), Some(2_097_152));
        for bad in [3000.0, 256.0, 4_194_304.0, 65536.5, -65536.0, f64::NAN] {
            assert_eq!(ClusterSize::new(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js_number(0.0), "0");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(js_number(-5.0), "-5");
        assert_eq!(js_number(1.5), "1.5");
        assert_eq!(js_number(f64::NAN), "NaN");
        assert_eq!(js_number(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(1e-7), "1e-7");
        assert_eq!(js_number(123_456_789.0), "123456789");
    }
}
