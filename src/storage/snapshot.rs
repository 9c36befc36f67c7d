//! `SnapshotManager` (API.md §9.2): internal qcow2 snapshots of a stopped VM's disk
//! through `qemu-img snapshot`, plus the name rules every snapshot path shares.
//!
//! Snapshots are listed from `qemu-img info --output=json` (exact names, even with
//! spaces), not from the `snapshot -l` table; the table parser is kept for callers
//! that have such text. Every operation on one image holds that image's lock, so a
//! check-then-act (refuse a duplicate name, then create) cannot interleave.

use std::time::Duration;

use super::error::{Op, StorageError, Subject};
use super::info::SnapshotInfo;
use super::lock::{self, Access};
use super::qemu_img::{image_path, qemu_img, read_info, run};
use super::values::ImagePath;

/// Deadline of `qemu-img snapshot` runs (metadata only).
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(600);
pub const MAX_SNAPSHOT_NAME_LENGTH: usize = super::error::MAX_SNAPSHOT_NAME_LENGTH;

/// Why a snapshot name was refused. The messages are the spec's (§9.2, §20.6 #87).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong,
    BadCharacters,
}

impl std::fmt::Display for NameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameProblem::Empty => "Snapshot name cannot be empty",
            NameProblem::TooLong => "Snapshot name cannot exceed 64 characters",
            NameProblem::BadCharacters => "Snapshot name can only contain alphanumeric characters, hyphens, and underscores",
        })
    }
}

/// A snapshot name: 1 to 64 of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotName(String);

impl SnapshotName {
    pub fn new(raw: &str) -> Result<Self, NameProblem> {
        if raw.trim().is_empty() {
            return Err(NameProblem::Empty);
        }
        // JS string length (UTF-16 units), as the original counted.
        if raw.encode_utf16().count() > MAX_SNAPSHOT_NAME_LENGTH {
            return Err(NameProblem::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(NameProblem::BadCharacters);
        }
        Ok(SnapshotName(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validates a name for `op`; the error carries the image path (or device).
pub(crate) fn snapshot_name(op: Op, path: &str, raw: &str) -> Result<SnapshotName, StorageError> {
    SnapshotName::new(raw).map_err(|problem| StorageError::InvalidSnapshotName { op, path: path.to_string(), problem })
}

/// `snapshot -c|-a|-d <name> -- <image>`.
pub fn snapshot_argv(flag: &str, name: &str, image: &ImagePath) -> Vec<String> {
    vec!["snapshot".into(), flag.into(), name.into(), "--".into(), image.arg()]
}

/// `snapshot -l -- <image>` (the spec's listing command; see [`parse_snapshot_list`]).
pub fn list_argv(image: &ImagePath) -> Vec<String> {
    vec!["snapshot".into(), "-l".into(), "--".into(), image.arg()]
}

/// The snapshots of an image (none for formats without internal snapshots).
async fn snapshots_of(image: &ImagePath, op: Op) -> Result<Vec<SnapshotInfo>, StorageError> {
    Ok(read_info(image, op).await?.snapshots.unwrap_or_default())
}

async fn run_snapshot(op: Op, flag: &str, arg: &str, name: &SnapshotName, image: &ImagePath) -> Result<(), StorageError> {
    let subject = Subject::new(op, image).target(name.as_str());
    run(&qemu_img(snapshot_argv(flag, arg, image), Some(SNAPSHOT_TIMEOUT)), &subject).await.map(drop)
}

/// `createSnapshot`: refuses a name the image already has (qemu-img would add a
/// second snapshot with the same name).
pub async fn create_snapshot(image: &str, name: &str) -> Result<(), StorageError> {
    let name = snapshot_name(Op::SnapshotName, image, name)?;
    let op = Op::SnapshotCreate;
    let image = image_path(op, image)?;
    let _g = lock::acquire(&[(image.abs(), Access::Write)]).await;
    if snapshots_of(&image, op).await?.iter().any(|s| s.name == name.as_str()) {
        return Err(StorageError::SnapshotAlreadyExists { op, path: image.shown().to_string(), name: name.0 });
    }
    run_snapshot(op, "-c", name.as_str(), &name, &image).await
}

/// `listSnapshots`.
pub async fn list_snapshots(image: &str) -> Result<Vec<SnapshotInfo>, StorageError> {
    let op = Op::SnapshotList;
    let image = image_path(op, image)?;
    let _g = lock::acquire(&[(image.abs(), Access::Read)]).await;
    snapshots_of(&image, op).await
}

/// `revertSnapshot`. qemu-img's `-a` looks a snapshot up by ID before name, so a
/// name like `2` could apply the snapshot whose ID is 2; in that case the target is
/// named by its own ID instead.
pub async fn revert_snapshot(image: &str, name: &str) -> Result<(), StorageError> {
    let name = snapshot_name(Op::SnapshotName, image, name)?;
    let op = Op::SnapshotApply;
    let image = image_path(op, image)?;
    let _g = lock::acquire(&[(image.abs(), Access::Write)]).await;
    // Reverting a golden image would change the data under every clone.
    super::backing::refuse_if_cloned(op, &image).await?;
    let all = snapshots_of(&image, op).await?;
    let Some(target) = all.iter().find(|s| s.name == name.as_str()) else {
        return Err(StorageError::SnapshotNotFound { op, path: image.shown().to_string(), name: name.0 });
    };
    let ambiguous = all.iter().any(|s| s.id == name.as_str() && s.id != target.id);
    let arg = if ambiguous { target.id.as_str() } else { name.as_str() };
    run_snapshot(op, "-a", arg, &name, &image).await
}

/// `materializeSnapshot` (API-next §3): writes the image as it was at snapshot `name`
/// into a new standalone qcow2 at `dest` (`qemu-img convert -l`), which is removed
/// again if the conversion fails. The snapshot is named as `snapshot.name=`, so a
/// name that looks like another snapshot's ID still selects by name. The source is
/// read without sharing: a running VM's disk is refused as in use.
pub async fn materialize_snapshot(
    image: &str,
    name: &str,
    dest: &str,
    progress: Option<std::sync::Arc<super::progress::Progress>>,
) -> Result<(), StorageError> {
    let op = Op::Materialize;
    let name = snapshot_name(op, image, name)?;
    let image = image_path(op, image)?;
    let dest = image_path(op, dest)?;
    let _g = lock::acquire(&[(image.abs(), Access::Read), (dest.abs(), Access::Write)]).await;
    let info = read_info(&image, op).await?;
    if !info.snapshots.unwrap_or_default().iter().any(|s| s.name == name.as_str()) {
        return Err(StorageError::SnapshotNotFound { op, path: image.shown().to_string(), name: name.0 });
    }
    let format = super::values::DriverName::new(&info.format).ok_or_else(|| StorageError::Parse { op, path: image.shown().to_string() })?;
    super::backing::refuse_if_cloned(op, &dest).await?;
    let file = super::qemu_img::NewFile::create(op, &dest).await?;
    let mut argv = vec!["convert".to_string(), "-f".into(), format.as_str().to_string(), "-O".into(), "qcow2".into()];
    argv.extend(["-l".to_string(), format!("snapshot.name={}", name.as_str())]);
    if progress.is_some() {
        argv.push("-p".into());
    }
    argv.extend(["--".to_string(), image.arg(), dest.arg()]);
    let mut cmd = qemu_img(argv, None);
    if let Some(p) = &progress {
        cmd = super::qemu_img::observe_progress(cmd, p.clone());
    }
    let others = [(dest.abs(), dest.shown())];
    run(&cmd, &Subject::new(op, &image).target(name.as_str()).others(&others)).await?;
    file.keep();
    if let Some(p) = progress {
        p.finish();
    }
    Ok(())
}

/// `deleteSnapshot`: a snapshot that does not exist is already deleted (spec §9.2).
/// qemu-img's `-d` matches names only.
pub async fn delete_snapshot(image: &str, name: &str) -> Result<(), StorageError> {
    let name = snapshot_name(Op::SnapshotName, image, name)?;
    let op = Op::SnapshotDelete;
    let image = image_path(op, image)?;
    let _g = lock::acquire(&[(image.abs(), Access::Write)]).await;
    match run_snapshot(op, "-d", name.as_str(), &name, &image).await {
        Err(StorageError::SnapshotNotFound { .. }) => Ok(()),
        r => r,
    }
}

/// `snapshotExists`. Fails closed: when the image cannot be read the answer is an
/// error, never `false`.
pub async fn snapshot_exists(image: &str, name: &str) -> Result<bool, StorageError> {
    let name = snapshot_name(Op::SnapshotName, image, name)?;
    let op = Op::SnapshotList;
    let image = image_path(op, image)?;
    let _g = lock::acquire(&[(image.abs(), Access::Read)]).await;
    Ok(snapshots_of(&image, op).await?.iter().any(|s| s.name == name.as_str()))
}

/// Parses the table `qemu-img snapshot -l` prints (spec §9.2 list parsing).
///
/// Lines before `Snapshot list:` or the `ID TAG` header are ignored. A data line is
/// `<id> <tag> <vm size> <YYYY-MM-DD> <HH:MM:SS> <vm clock> [icount]`, the size
/// possibly with a space before its unit. Unlike the original, columns separated
/// by single spaces are read too (spec §19 #13). Tags with spaces are ambiguous in
/// this format, which is why listing uses the JSON of `qemu-img info`.
pub fn parse_snapshot_list(text: &str) -> Vec<SnapshotInfo> {
    let mut in_table = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Snapshot list:") || is_header(line) {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        // The first date-time after id, tag and at least one size column.
        let Some(d) = (3..cols.len().saturating_sub(2)).find(|&i| is_date(cols[i]) && is_time(cols[i + 1])) else {
            continue;
        };
        out.push(SnapshotInfo {
            id: cols[0].to_string(),
            name: cols[1].to_string(),
            vm_size: parse_size(&cols[2..d].join(" ")),
            date: format!("{} {}", cols[d], cols[d + 1]),
            vm_clock: cols[d + 2].to_string(),
        });
    }
    out
}

fn is_header(line: &str) -> bool {
    let mut w = line.split_whitespace();
    w.next().is_some_and(|a| a.eq_ignore_ascii_case("ID")) && w.next().is_some_and(|b| b.len() >= 3 && b[..3].eq_ignore_ascii_case("TAG"))
}

fn shaped(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len() && s.bytes().zip(pattern.bytes()).all(|(c, p)| if p == b'9' { c.is_ascii_digit() } else { c == p })
}

fn is_date(s: &str) -> bool {
    shaped(s, "9999-99-99")
}

fn is_time(s: &str) -> bool {
    shaped(s, "99:99:99")
}

/// `0 B`, `1.5 MiB`, `256KiB`: binary units are powers of 1024, decimal ones of 1000,
/// an unknown unit counts as bytes, anything else is 0 (spec §9.2).
pub fn parse_size(s: &str) -> f64 {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim_start());
    if num.is_empty() || !unit.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return 0.0;
    }
    let Ok(n) = num.parse::<f64>() else { return 0.0 };
    let mult = match unit.to_ascii_lowercase().as_str() {
        "kib" => 1024f64,
        "mib" => 1024f64.powi(2),
        "gib" => 1024f64.powi(3),
        "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => 1.0,
    };
    n * mult
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    #[test]
    fn spec_20_6_85_argv() {
        let img = ImagePath::new("/d.qcow2").unwrap();
        assert_eq!(snapshot_argv("-c", "snap_1", &img).join(" "), "snapshot -c snap_1 -- /d.qcow2");
        assert_eq!(snapshot_argv("-a", "snap_1", &img).join(" "), "snapshot -a snap_1 -- /d.qcow2");
        assert_eq!(snapshot_argv("-d", "snap_1", &img).join(" "), "snapshot -d snap_1 -- /d.qcow2");
        assert_eq!(list_argv(&img).join(" "), "snapshot -l -- /d.qcow2");
    }

    #[test]
    fn spec_20_6_86_list_line() {
        let text = "Snapshot list:\nID        TAG                 VM SIZE                DATE       VM CLOCK     ICOUNT\n\
                    1         snap1                 0 B 2024-01-15 10:30:00 00:00:00.000          0\n";
        assert_eq!(
            parse_snapshot_list(text),
            vec![SnapshotInfo { id: "1".into(), name: "snap1".into(), vm_size: 0.0, date: "2024-01-15 10:30:00".into(), vm_clock: "00:00:00.000".into() }]
        );
    }

    #[test]
    fn real_qemu_img_10_table() {
        // Captured from qemu-img 10.0.2.
        let text = "Snapshot list:\n\
            ID      TAG               VM_SIZE                DATE        VM_CLOCK     ICOUNT\n\
            1       first                 0 B 2026-11-23 03:30:28  0000:00:00.000          0\n\
            2       1x                1.5 MiB 2026-11-23 03:30:28  0001:02:03.004          0\n";
        let l = parse_snapshot_list(text);
        assert_eq!(l.len(), 2);
        assert_eq!((l[1].id.as_str(), l[1].name.as_str(), l[1].vm_size), ("2", "1x", 1_572_864.0));
        assert_eq!(l[1].vm_clock, "0001:02:03.004");
        // Single-space separated columns (spec §19 #13) and text before the table.
        let l = parse_snapshot_list("noise 1 x 0 B 2024-01-01 00:00:00 1\nSnapshot list:\n3 s 12KB 2024-01-01 00:00:01 00:00:00.000\n");
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].id.as_str(), l[0].vm_size, l[0].date.as_str()), ("3", 12_000.0, "2024-01-01 00:00:01"));
        assert!(parse_snapshot_list("").is_empty());
        assert!(parse_snapshot_list("Snapshot list:\nID TAG\nmalformed line\n").is_empty());
    }

    #[test]
    fn sizes_in_the_table() {
        assert_eq!(parse_size("0 B"), 0.0);
        assert_eq!(parse_size("2 KiB"), 2048.0);
        assert_eq!(parse_size("1 GiB"), 1_073_741_824.0);
        assert_eq!(parse_size("3 MB"), 3e6);
        assert_eq!(parse_size("7 parsecs"), 7.0);
        assert_eq!(parse_size("5"), 5.0);
        assert_eq!(parse_size("big"), 0.0);
        assert_eq!(parse_size("1.5 Ki B"), 0.0);
    }

    #[test]
    fn spec_20_6_87_names() {
        let long = "a".repeat(65);
        for (raw, message) in [
            ("", "Snapshot name cannot be empty"),
            ("   ", "Snapshot name cannot be empty"),
            (long.as_str(), "Snapshot name cannot exceed 64 characters"),
            ("bad name", "Snapshot name can only contain alphanumeric characters, hyphens, and underscores"),
            ("a/b", "Snapshot name can only contain alphanumeric characters, hyphens, and underscores"),
            ("a;b", "Snapshot name can only contain alphanumeric characters, hyphens, and underscores"),
            ("a\0b", "Snapshot name can only contain alphanumeric characters, hyphens, and underscores"),
            ("snäp", "Snapshot name can only contain alphanumeric characters, hyphens, and underscores"),
        ] {
            let e = snapshot_name(Op::SnapshotName, "/d.qcow2", raw).unwrap_err();
            assert_eq!((e.code(), e.to_string().as_str()), ("INVALID_SNAPSHOT_NAME", message), "{raw:?}");
            assert_eq!(e.fields()["command"], "qemu-img snapshot");
        }
        assert!(SnapshotName::new(&"a".repeat(64)).is_ok());
        assert!(SnapshotName::new("snap_1-A").is_ok());
        assert!(SnapshotName::new("-x").is_ok(), "argv puts it after -c, where qemu-img takes it as the value");
    }
}

/// The manager against the real `qemu-img` (the Jest suite covers it from JS).
#[cfg(test)]
mod real {
    use super::*;
    use crate::error::ErrorShape;
    use crate::storage::qemu_img::{create_image, CreateImage, CreateImageRequest};

    #[test]
    fn round_trip() {
        let dir = std::env::temp_dir().join(format!("infinivirt-snapshot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.qcow2").display().to_string();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let req = CreateImageRequest { path: p.clone(), size_gb: Some(0.01), format: "qcow2".into(), ..Default::default() };
            create_image(&CreateImage::parse(&req).unwrap(), None).await.unwrap();
            assert!(list_snapshots(&p).await.unwrap().is_empty());
            create_snapshot(&p, "s1").await.unwrap();
            let e = create_snapshot(&p, "s1").await.unwrap_err();
            assert_eq!(e.code(), "SNAPSHOT_ALREADY_EXISTS");
            // A snapshot named like another's ID: revert picks the one with that name.
            create_snapshot(&p, "1").await.unwrap();
            revert_snapshot(&p, "1").await.unwrap();
            let l = list_snapshots(&p).await.unwrap();
            assert_eq!(l.iter().map(|s| (s.id.as_str(), s.name.as_str())).collect::<Vec<_>>(), [("1", "s1"), ("2", "1")]);
            assert!(snapshot_exists(&p, "s1").await.unwrap());
            let e = revert_snapshot(&p, "nope").await.unwrap_err();
            assert_eq!((e.code(), e.to_string()), ("SNAPSHOT_NOT_FOUND", format!("Snapshot 'nope' not found in image {p}")));
            delete_snapshot(&p, "s1").await.unwrap();
            delete_snapshot(&p, "s1").await.unwrap();
            assert!(!snapshot_exists(&p, "s1").await.unwrap());
            let missing = dir.join("missing.qcow2").display().to_string();
            assert_eq!(snapshot_exists(&missing, "s1").await.unwrap_err().code(), "IMAGE_NOT_FOUND");
        });
        std::fs::remove_dir_all(dir).unwrap();
    }
}
