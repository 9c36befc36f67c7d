//! `restoreBackup` (API-next §2.9) and `verifyBackup`: a FULL or any point of an
//! INCREMENTAL chain becomes one standalone qcow2, written beside the target as
//! `<target>.restore.tmp` and renamed over it durably, so a failed restore leaves
//! the original intact.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::BackupError;
use super::images;
use super::layout;
use super::manifest::{self, BackupMetadata, BackupStatus, BackupType};
use super::service::BackupService;
use crate::storage::lock::{self, Access};
use crate::storage::progress::Progress;

/// Deepest INCREMENTAL chain followed.
const MAX_CHAIN: usize = 256;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    #[serde(default)]
    pub backup_id: String,
    #[serde(default)]
    pub vm_id: String,
    #[serde(default)]
    pub disk_paths: Vec<String>,
    #[serde(default)]
    pub overwrite_existing: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResult {
    pub success: bool,
    pub backup_id: String,
    pub vm_id: String,
    pub restored_disk_paths: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResult {
    pub backup_id: String,
    pub valid: bool,
    pub problems: Vec<String>,
    pub checked_images: Vec<String>,
}

impl BackupService {
    /// The manifests from `meta` down to its FULL base, top first.
    fn chain(&self, meta: &BackupMetadata) -> Result<Vec<BackupMetadata>, BackupError> {
        let mut out = vec![meta.clone()];
        while out.last().is_some_and(|m| m.kind == BackupType::INCREMENTAL) {
            if out.len() > MAX_CHAIN {
                return Err(BackupError::CorruptBackup { backup_id: meta.id.clone(), reason: format!("its chain is deeper than {MAX_CHAIN} levels") });
            }
            let Some(last) = out.last() else { break };
            let Some(pid) = last.parent_backup_id.clone() else {
                return Err(BackupError::CorruptBackup { backup_id: last.id.clone(), reason: "an INCREMENTAL without parentBackupId".into() });
            };
            let dir = self.layout().backup_dir(&meta.vm_id, layout::backup_id(&pid).map_err(|_| BackupError::ParentNotFound { parent: pid.clone() })?);
            match manifest::read(&dir)? {
                Some(p) if p.status == BackupStatus::COMPLETED => out.push(p),
                Some(p) => return Err(BackupError::CorruptBackup { backup_id: meta.id.clone(), reason: format!("parent {} has status {:?}", p.id, p.status) }),
                None => return Err(BackupError::ParentNotFound { parent: pid }),
            }
        }
        Ok(out)
    }

    /// The image files of disk `i` along `chain`, top first (from the layout, so a
    /// moved backup root still resolves); each must exist.
    fn chain_files(&self, chain: &[BackupMetadata], i: usize) -> Result<Vec<PathBuf>, BackupError> {
        chain
            .iter()
            .enumerate()
            .map(|(level, m)| {
                let f = self.layout().disk_file(&m.vm_id, &m.id, i);
                if f.is_file() {
                    Ok(f)
                } else if level == 0 {
                    Err(BackupError::CorruptBackup { backup_id: m.id.clone(), reason: format!("image missing: {}", f.display()) })
                } else {
                    Err(BackupError::ParentNotFound { parent: m.id.clone() })
                }
            })
            .collect()
    }

    pub async fn restore(&self, req: &RestoreRequest, progress: Option<Arc<Progress>>) -> Result<RestoreResult, BackupError> {
        let started = std::time::Instant::now();
        let hint = layout::vm_id(&req.vm_id).ok();
        let meta = self.get(&req.backup_id, hint).await?;
        let within = |e: BackupError| e.within(Some(&meta.id), &meta.vm_id);
        if meta.status != BackupStatus::COMPLETED {
            return Err(within(BackupError::CorruptBackup { backup_id: meta.id.clone(), reason: format!("status is {:?}", meta.status) }));
        }
        if meta.disks.len() != req.disk_paths.len() {
            return Err(within(BackupError::invalid(format!(
                "Disk count mismatch: backup has {} disks, {} target paths given",
                meta.disks.len(),
                req.disk_paths.len()
            ))));
        }
        let chain = self.chain(&meta).map_err(within)?;
        let mut plans = Vec::new();
        for (i, raw) in req.disk_paths.iter().enumerate() {
            if raw.is_empty() || raw.contains('\0') || !Path::new(raw).is_absolute() {
                return Err(within(BackupError::invalid(format!("Invalid target path {raw:?}: it must be an absolute path"))));
            }
            let target = layout::lexical(Path::new(raw));
            let files = self.chain_files(&chain, i).map_err(within)?;
            if target.exists() {
                // A running VM's disk is refused even with overwriteExisting.
                match images::probe(&target).await {
                    Err(e @ BackupError::VmRunning { .. }) => return Err(within(e)),
                    _ if !req.overwrite_existing => return Err(within(BackupError::TargetExists { path: raw.clone() })),
                    _ => {}
                }
            }
            plans.push((target, files));
        }
        let mut restored = Vec::new();
        for (target, files) in &plans {
            let _guard = lock::acquire(&[(target.as_path(), Access::Write)]).await;
            self.restore_one(target, files, progress.clone()).await.map_err(within)?;
            restored.push(target.display().to_string());
        }
        Ok(RestoreResult {
            success: true,
            backup_id: meta.id.clone(),
            vm_id: meta.vm_id.clone(),
            restored_disk_paths: restored,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn restore_one(&self, target: &Path, files: &[PathBuf], progress: Option<Arc<Progress>>) -> Result<(), BackupError> {
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BackupError::io("create", dir, e))?;
        }
        let mut tmp = target.as_os_str().to_owned();
        tmp.push(".restore.tmp");
        let tmp = PathBuf::from(tmp);
        if tmp.exists() {
            std::fs::remove_file(&tmp).map_err(|e| BackupError::io("remove", &tmp, e))?;
        }
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        let r = async {
            images::materialise(&refs, &tmp, progress).await?;
            images::fsync_file(&tmp)?;
            manifest::durable_rename(&tmp, target)
        }
        .await;
        if r.is_err() {
            if let Err(e) = std::fs::remove_file(&tmp) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    crate::log::log("infinivirt:backup", &format!("removing {} failed: {e}", tmp.display()));
                }
            }
        }
        r
    }

    /// `verifyBackup`: the manifest against the files, and `qemu-img check` of every
    /// image of the chain. Problems are reported, not thrown.
    pub async fn verify(&self, backup_id: &str, vm_hint: Option<&str>) -> Result<VerifyResult, BackupError> {
        let meta = self.get(backup_id, vm_hint).await?;
        let mut problems = Vec::new();
        let mut checked = Vec::new();
        if meta.status != BackupStatus::COMPLETED {
            problems.push(format!("status is {:?}", meta.status));
        }
        match self.chain(&meta) {
            Err(e) => problems.push(e.to_string()),
            Ok(chain) => {
                for i in 0..meta.disks.len() {
                    let files = match self.chain_files(&chain, i) {
                        Ok(f) => f,
                        Err(e) => {
                            problems.push(e.to_string());
                            continue;
                        }
                    };
                    if let Some(top) = files.first() {
                        let recorded = &meta.disks[i];
                        match std::fs::metadata(top) {
                            Ok(md) if md.len() != recorded.backup_size => {
                                problems.push(format!("{} is {} bytes, the manifest says {}", top.display(), md.len(), recorded.backup_size))
                            }
                            Ok(_) => {}
                            Err(e) => problems.push(format!("{}: {e}", top.display())),
                        }
                    }
                    for f in &files {
                        let _g = lock::acquire(&[(f.as_path(), Access::Read)]).await;
                        if let Some(p) = images::check(f).await? {
                            problems.push(p);
                        }
                        checked.push(f.display().to_string());
                    }
                }
            }
        }
        Ok(VerifyResult { backup_id: meta.id, valid: problems.is_empty(), problems, checked_images: checked })
    }
}
