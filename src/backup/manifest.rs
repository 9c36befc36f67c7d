//! The manifest (`backup.json`, API-next §2.5): types in the spec's key order, and
//! the durable write (temp file, fsync, rename, fsync of the directory).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::BackupError;

pub const BACKUP_MANIFEST_FILENAME: &str = "backup.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupType {
    FULL,
    INCREMENTAL,
    SNAPSHOT,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum BackupStatus {
    PENDING,
    IN_PROGRESS,
    COMPLETED,
    FAILED,
    CANCELLED,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupCompression {
    NONE,
    QCOW2,
    GZIP,
}

/// One disk of a backup. `bitmap` (ours): the persistent dirty bitmap this backup
/// left on the source, which the next INCREMENTAL reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupDiskInfo {
    pub source_path: String,
    pub backup_path: String,
    pub original_size: u64,
    pub backup_size: u64,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backing_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitmap: Option<String>,
}

/// `BackupMetadata`, fields in the spec's manifest order; ours (`requestedType`,
/// `fullReason`) come last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupMetadata {
    pub id: String,
    pub vm_id: String,
    #[serde(rename = "type")]
    pub kind: BackupType,
    pub status: BackupStatus,
    pub created_at: String,
    pub disks: Vec<BackupDiskInfo>,
    pub total_size: u64,
    pub total_original_size: u64,
    pub compression: BackupCompression,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_backup_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_at_backup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_consistent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// INCREMENTAL was asked for but a FULL was taken (see `fullReason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_type: Option<BackupType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_reason: Option<String>,
}

/// Writes `meta` as `<dir>/backup.json`, durably: a crash leaves the old manifest
/// or the new one, never a torn file.
pub fn write(dir: &Path, meta: &BackupMetadata) -> Result<(), BackupError> {
    let mut text = serde_json::to_string_pretty(meta).map_err(|e| BackupError::Parse { what: "manifest", detail: e.to_string() })?;
    text.push('\n');
    let fin = dir.join(BACKUP_MANIFEST_FILENAME);
    let tmp = dir.join(format!("{BACKUP_MANIFEST_FILENAME}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| BackupError::io("create", &tmp, e))?;
    f.write_all(text.as_bytes()).map_err(|e| BackupError::io("write", &tmp, e))?;
    f.sync_all().map_err(|e| BackupError::io("fsync", &tmp, e))?;
    drop(f);
    durable_rename(&tmp, &fin)
}

/// `rename(from, to)` then fsync of `to`'s directory, so the rename survives a crash.
pub fn durable_rename(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::rename(from, to).map_err(|e| BackupError::io("rename", from, e))?;
    let parent = to.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    // A filesystem that cannot fsync a directory still renamed atomically; note it only.
    if let Err(e) = std::fs::File::open(&parent).and_then(|d| d.sync_all()) {
        crate::log::log("infinivirt:backup", &format!("fsync of {} failed: {e}", parent.display()));
    }
    Ok(())
}

/// Reads one manifest; `None` when it is missing.
pub fn read(dir: &Path) -> Result<Option<BackupMetadata>, BackupError> {
    let p = dir.join(BACKUP_MANIFEST_FILENAME);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BackupError::io("read", &p, e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| BackupError::Parse { what: "manifest", detail: format!("{}: {e}", p.display()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BackupMetadata {
        BackupMetadata {
            id: "b".into(),
            vm_id: "v".into(),
            kind: BackupType::INCREMENTAL,
            status: BackupStatus::COMPLETED,
            created_at: "2024-01-01T00:00:00.000Z".into(),
            disks: vec![BackupDiskInfo {
                source_path: "/s".into(),
                backup_path: "/b/disk-0.qcow2".into(),
                original_size: 1,
                backup_size: 2,
                format: "qcow2".into(),
                backing_file: Some("/a/disk-0.qcow2".into()),
                bitmap: None,
            }],
            total_size: 2,
            total_original_size: 1,
            compression: BackupCompression::NONE,
            description: None,
            tags: Some(vec!["t".into()]),
            parent_backup_id: Some("a".into()),
            running_at_backup: Some(true),
            crash_consistent: Some(true),
            completed_at: Some("2024-01-01T00:00:01.000Z".into()),
            duration_ms: Some(1000),
            error_message: None,
            requested_type: None,
            full_reason: None,
        }
    }

    #[test]
    fn keys_follow_the_spec_order() {
        let v = serde_json::to_value(sample()).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "id",
                "vmId",
                "type",
                "status",
                "createdAt",
                "disks",
                "totalSize",
                "totalOriginalSize",
                "compression",
                "tags",
                "parentBackupId",
                "runningAtBackup",
                "crashConsistent",
                "completedAt",
                "durationMs"
            ]
        );
        let disk: Vec<_> = v["disks"][0].as_object().unwrap().keys().cloned().collect();
        assert_eq!(disk, ["sourcePath", "backupPath", "originalSize", "backupSize", "format", "backingFile"]);
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = std::env::temp_dir().join(format!("iv-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, &sample()).unwrap();
        assert_eq!(read(&dir).unwrap(), Some(sample()));
        assert!(!dir.join("backup.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
