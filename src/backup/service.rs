//! `BackupService` (API-next §2.4): create, list, get and delete. Restore is in
//! `restore.rs`. Every path comes from [`Layout`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::daemon::{Daemon, Source};
use super::error::BackupError;
use super::images;
use super::job::{self, Abort, JobDisk, JobProgress, Session};
use super::layout::{self, Layout};
use super::manifest::{self, BackupCompression, BackupDiskInfo, BackupMetadata, BackupStatus, BackupType};
use crate::storage::lock::{self, Access};

pub const MAX_CONCURRENT_BACKUPS: usize = 2;
const QMP_CONNECT: Duration = Duration::from_secs(5);

/// `BackupConfig` plus ours: `qmpSocketPath` (the running VM's QMP socket) and
/// `vmRunning` (the answer of the caller's `isVmRunning` probe, `null` = unknown).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    #[serde(default)]
    pub vm_id: String,
    #[serde(default)]
    pub disk_paths: Vec<String>,
    pub destination_dir: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub compression: Option<String>,
    pub description: Option<String>,
    pub parent_backup_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub qmp_socket_path: Option<String>,
    pub vm_running: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupProgress {
    pub backup_id: String,
    pub vm_id: String,
    pub current_disk: usize,
    pub total_disks: usize,
    pub disk_progress: f64,
    pub overall_progress: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_time_remaining_ms: Option<u64>,
}

pub type ProgressFn = Arc<dyn Fn(BackupProgress) + Send + Sync>;

pub struct BackupService {
    layout: Layout,
    active: Arc<AtomicUsize>,
}

/// Releases a concurrency slot when dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn parse_kind(s: Option<&str>) -> Result<BackupType, BackupError> {
    match s.unwrap_or("FULL") {
        "FULL" => Ok(BackupType::FULL),
        "INCREMENTAL" => Ok(BackupType::INCREMENTAL),
        "SNAPSHOT" => Err(BackupError::invalid("SNAPSHOT backups are not supported yet; use FULL or INCREMENTAL")),
        other => Err(BackupError::invalid(format!("Invalid backup type: {other}"))),
    }
}

fn parse_compression(s: Option<&str>) -> Result<BackupCompression, BackupError> {
    match s.unwrap_or("NONE") {
        "NONE" => Ok(BackupCompression::NONE),
        "QCOW2" => Ok(BackupCompression::QCOW2),
        "GZIP" => Err(BackupError::invalid("GZIP compression is not supported (a gzip file cannot back an incremental backup); use QCOW2")),
        other => Err(BackupError::invalid(format!("Invalid compression: {other}"))),
    }
}

fn source_path(raw: &str) -> Result<PathBuf, BackupError> {
    if raw.is_empty() || raw.contains('\0') || !Path::new(raw).is_absolute() {
        return Err(BackupError::invalid(format!("Invalid disk path {raw:?}: it must be an absolute path")));
    }
    Ok(layout::lexical(Path::new(raw)))
}

/// What the strategy produced for the manifest.
struct Taken {
    disks: Vec<BackupDiskInfo>,
    running: bool,
    kind: BackupType,
    full_reason: Option<String>,
}

/// The validated request.
struct Plan {
    vm_id: String,
    sources: Vec<PathBuf>,
    raw_sources: Vec<String>,
    kind: BackupType,
    compression: BackupCompression,
    parent: Option<BackupMetadata>,
    qmp: Option<PathBuf>,
    vm_running: Option<bool>,
}

impl BackupService {
    pub fn new(root: Option<&str>) -> Result<Self, BackupError> {
        Ok(BackupService { layout: Layout::new(root)?, active: Arc::new(AtomicUsize::new(0)) })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn active_backup_count(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn take_slot(&self) -> Result<Slot, BackupError> {
        let prev = self.active.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.active.clone());
        if prev >= MAX_CONCURRENT_BACKUPS {
            return Err(BackupError::TooMany { active: prev, max: MAX_CONCURRENT_BACKUPS });
        }
        Ok(slot)
    }

    async fn plan(&self, req: &CreateRequest) -> Result<Plan, BackupError> {
        let vm_id = layout::vm_id(&req.vm_id)?.to_string();
        if req.disk_paths.is_empty() {
            return Err(BackupError::invalid("At least one diskPath is required"));
        }
        let sources = req.disk_paths.iter().map(|p| source_path(p)).collect::<Result<Vec<_>, _>>()?;
        for (i, s) in sources.iter().enumerate() {
            if !s.exists() {
                return Err(BackupError::DiskNotFound { path: s.display().to_string() });
            }
            if sources[..i].contains(s) {
                return Err(BackupError::invalid(format!("Disk {} is listed twice", s.display())));
            }
        }
        self.layout.check_destination(&vm_id, req.destination_dir.as_deref())?;
        let kind = parse_kind(req.kind.as_deref())?;
        let compression = parse_compression(req.compression.as_deref())?;
        let parent = match (kind, req.parent_backup_id.as_deref()) {
            (BackupType::INCREMENTAL, None | Some("")) => return Err(BackupError::ParentNotFound { parent: String::new() }),
            (BackupType::INCREMENTAL, Some(p)) => {
                let meta = match self.get(p, Some(&vm_id)).await {
                    Ok(m) => m,
                    Err(BackupError::BackupNotFound { .. }) => return Err(BackupError::ParentNotFound { parent: p.to_string() }),
                    Err(e) => return Err(e),
                };
                let unusable = |reason: String| Err(BackupError::ParentUnusable { parent: p.to_string(), reason });
                if meta.vm_id != vm_id {
                    return unusable(format!("it belongs to VM {}", meta.vm_id));
                }
                if meta.status != BackupStatus::COMPLETED {
                    return unusable(format!("its status is {:?}", meta.status));
                }
                if meta.kind == BackupType::SNAPSHOT {
                    return unusable("it is a SNAPSHOT".into());
                }
                if meta.disks.len() != sources.len() {
                    return Err(BackupError::invalid(format!("Disk count mismatch: parent has {}, request has {}", meta.disks.len(), sources.len())));
                }
                Some(meta)
            }
            _ => None,
        };
        let qmp = match req.qmp_socket_path.as_deref() {
            None | Some("") => None,
            Some(p) if p.contains('\0') => return Err(BackupError::invalid("qmpSocketPath must be a path")),
            Some(p) => Some(PathBuf::from(p)),
        };
        Ok(Plan { vm_id, raw_sources: req.disk_paths.clone(), sources, kind, compression, parent, qmp, vm_running: req.vm_running })
    }

    /// `createBackup`: validation errors are thrown before anything is written;
    /// after that the backup has a manifest (FAILED with the message if it fails),
    /// and the error keeps its specific code.
    pub async fn create(&self, req: &CreateRequest, progress: Option<ProgressFn>, abort: Arc<Abort>) -> Result<BackupMetadata, BackupError> {
        let vm_hint = req.vm_id.clone();
        let slot = self.take_slot().map_err(|e| e.within(None, &vm_hint))?;
        let plan = self.plan(req).await.map_err(|e| e.within(None, &vm_hint))?;
        let id = layout::new_backup_id().map_err(|e| e.within(None, &plan.vm_id))?;
        let dir = self.layout.backup_dir(&plan.vm_id, &id);
        let started = Instant::now();
        let mut meta = BackupMetadata {
            id: id.clone(),
            vm_id: plan.vm_id.clone(),
            kind: plan.kind,
            status: BackupStatus::IN_PROGRESS,
            created_at: crate::log::iso_now(),
            disks: Vec::new(),
            total_size: 0,
            total_original_size: 0,
            compression: plan.compression,
            description: req.description.clone(),
            tags: req.tags.clone(),
            parent_backup_id: plan.parent.as_ref().map(|p| p.id.clone()),
            running_at_backup: None,
            crash_consistent: None,
            completed_at: None,
            duration_ms: None,
            error_message: None,
            requested_type: None,
            full_reason: None,
        };
        std::fs::create_dir_all(&dir).map_err(|e| BackupError::io("create", &dir, e).within(Some(&id), &plan.vm_id))?;
        manifest::write(&dir, &meta).map_err(|e| e.within(Some(&id), &plan.vm_id))?;

        // Sources are locked for the whole job: two backups of one disk never race
        // on its bitmaps, and no offline snapshot runs underneath.
        let keys: Vec<(&Path, Access)> = plan.sources.iter().map(|p| (p.as_path(), Access::Write)).collect();
        let guard = lock::acquire(&keys).await;
        let outcome = self.take(&plan, &id, progress, &abort).await;
        drop(guard);
        drop(slot);

        meta.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        meta.completed_at = Some(crate::log::iso_now());
        match outcome {
            Ok(t) => {
                meta.total_size = t.disks.iter().map(|d| d.backup_size).sum();
                meta.total_original_size = t.disks.iter().map(|d| d.original_size).sum();
                meta.disks = t.disks;
                meta.running_at_backup = Some(t.running);
                // No guest freeze yet: every backup is crash-consistent.
                meta.crash_consistent = Some(t.running);
                if t.kind != plan.kind {
                    meta.requested_type = Some(plan.kind);
                    meta.kind = t.kind;
                    meta.parent_backup_id = None;
                }
                meta.full_reason = t.full_reason;
                meta.status = BackupStatus::COMPLETED;
                manifest::write(&dir, &meta).map_err(|e| e.within(Some(&id), &plan.vm_id))?;
                Ok(meta)
            }
            Err(e) => {
                for i in 0..plan.sources.len() {
                    let f = self.layout.disk_file(&plan.vm_id, &id, i);
                    if let Err(err) = std::fs::remove_file(&f) {
                        if err.kind() != std::io::ErrorKind::NotFound {
                            crate::log::log("infinivirt:backup", &format!("removing {} failed: {err}", f.display()));
                        }
                    }
                }
                meta.status = if matches!(e, BackupError::Cancelled) { BackupStatus::CANCELLED } else { BackupStatus::FAILED };
                meta.error_message = Some(e.to_string());
                if let Err(w) = manifest::write(&dir, &meta) {
                    crate::log::log("infinivirt:backup", &format!("writing the failed manifest of {id} failed: {w}"));
                }
                Err(e.within(Some(&id), &plan.vm_id))
            }
        }
    }

    /// Runs the job through the VM's QEMU when it answers on its QMP socket, else
    /// through a storage daemon started on the (unheld) images.
    async fn take(&self, plan: &Plan, id: &str, progress: Option<ProgressFn>, abort: &Abort) -> Result<Taken, BackupError> {
        let live = match &plan.qmp {
            Some(sock) if sock.exists() => match Session::open(sock, QMP_CONNECT).await {
                Ok(s) => Some(s),
                Err(e) => {
                    crate::log::log("infinivirt:backup", &format!("QMP socket {} does not answer ({e}); treating the VM as stopped", sock.display()));
                    None
                }
            },
            _ => None,
        };
        let sink = |p: JobProgress| {
            if let Some(f) = &progress {
                f(BackupProgress {
                    backup_id: id.to_string(),
                    vm_id: plan.vm_id.clone(),
                    current_disk: p.current_disk,
                    total_disks: plan.sources.len(),
                    disk_progress: (p.disk_percent * 100.0).round() / 100.0,
                    overall_progress: (p.overall_percent * 100.0).round() / 100.0,
                    estimated_time_remaining_ms: p.eta_ms,
                });
            }
        };
        if let Some(session) = live {
            let r = self.through(&session, plan, id, abort, &sink).await;
            session.close().await;
            return r.map(|mut t| {
                t.running = true;
                t
            });
        }
        if plan.vm_running == Some(true) {
            let path = plan.sources.first().map(|p| p.display().to_string()).unwrap_or_default();
            return Err(BackupError::VmRunning { path, has_qmp: plan.qmp.is_some() });
        }
        let mut srcs = Vec::new();
        for p in &plan.sources {
            let probed = images::probe(p).await?;
            srcs.push(Source { path: p.clone(), format: probed.format });
        }
        let daemon = Daemon::start(&srcs).await?;
        let r = self.through(&daemon.session, plan, id, abort, &sink).await;
        daemon.stop().await;
        r.map(|mut t| {
            t.running = false;
            t
        })
    }

    async fn through(&self, s: &Session, plan: &Plan, id: &str, abort: &Abort, sink: &(dyn Fn(JobProgress) + Send + Sync)) -> Result<Taken, BackupError> {
        let nodes = job::find_nodes(s, &plan.sources).await?;
        let new_bitmap = job::bitmap_name(id);
        // INCREMENTAL only when every disk still has the parent's bitmap, intact.
        let mut kind = plan.kind;
        let mut full_reason = None;
        if let Some(parent) = &plan.parent {
            for (i, n) in nodes.iter().enumerate() {
                let want = parent.disks.get(i).and_then(|d| d.bitmap.clone());
                let reason = match &want {
                    None => Some(format!("parent backup {} left no dirty bitmap on disk {i}", parent.id)),
                    Some(w) => match n.bitmaps.iter().find(|b| &b.name == w) {
                        None => Some(format!("dirty bitmap {w} is missing on disk {i} (a newer backup point, a failed backup or a replaced disk)")),
                        Some(b) if !b.usable || !b.persistent => Some(format!("dirty bitmap {w} on disk {i} is inconsistent (QEMU stopped without saving it)")),
                        Some(_) => None,
                    },
                };
                if reason.is_some() {
                    full_reason = reason;
                    kind = BackupType::FULL;
                    break;
                }
            }
        }
        let tag = id.get(..8).unwrap_or(id);
        let mut disks = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let target = self.layout.disk_file(&plan.vm_id, id, i);
            let backing = match (kind, &plan.parent) {
                (BackupType::INCREMENTAL, Some(p)) => Some(self.layout.disk_file(&plan.vm_id, &p.id, i)),
                _ => None,
            };
            if let Some(b) = &backing {
                if !b.exists() {
                    return Err(BackupError::ParentNotFound { parent: b.display().to_string() });
                }
            }
            images::create_target(&target, n.virtual_size, backing.as_deref()).await?;
            let read_bitmap = match kind {
                BackupType::INCREMENTAL => plan.parent.as_ref().and_then(|p| p.disks.get(i)).and_then(|d| d.bitmap.clone()),
                _ => None,
            };
            disks.push(JobDisk {
                source: n.clone(),
                target,
                target_node: format!("ivbk-{tag}-{i}"),
                job_id: format!("ivbk-{tag}-{i}"),
                read_bitmap,
                new_bitmap: (n.format == "qcow2").then(|| new_bitmap.clone()),
            });
        }
        job::run(s, &disks, plan.compression == BackupCompression::QCOW2, abort, sink).await?;
        let mut out = Vec::new();
        for (i, d) in disks.iter().enumerate() {
            let size = std::fs::metadata(&d.target).map_err(|e| BackupError::io("stat", &d.target, e))?.len();
            out.push(BackupDiskInfo {
                source_path: plan.raw_sources[i].clone(),
                backup_path: d.target.display().to_string(),
                original_size: d.source.virtual_size,
                backup_size: size,
                format: "qcow2".into(),
                backing_file: d.read_bitmap.as_ref().and(plan.parent.as_ref()).map(|p| self.layout.disk_file(&plan.vm_id, &p.id, i).display().to_string()),
                bitmap: d.new_bitmap.clone(),
            });
        }
        if full_reason.is_none() && kind == BackupType::FULL && nodes.iter().any(|n| n.format != "qcow2") {
            full_reason = plan.parent.as_ref().map(|_| "a raw disk cannot keep a dirty bitmap".to_string());
        }
        Ok(Taken { disks: out, running: false, kind, full_reason })
    }

    /// `listBackups`: every readable manifest of the VM, newest first.
    pub async fn list(&self, vm_id: &str) -> Result<Vec<BackupMetadata>, BackupError> {
        let vm = layout::vm_id(vm_id)?;
        let dir = self.layout.vm_dir(vm);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(BackupError::io("read", &dir, e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !layout::is_backup_id(name) {
                continue;
            }
            match manifest::read(&e.path()) {
                Ok(Some(m)) if m.id == name => out.push(m),
                Ok(_) => {}
                Err(err) => crate::log::log("infinivirt:backup", &format!("skipping {}: {err}", e.path().display())),
            }
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(out)
    }

    /// `getBackupMetadata`: the hinted VM's directory first, then every VM's.
    pub async fn get(&self, backup_id: &str, vm_hint: Option<&str>) -> Result<BackupMetadata, BackupError> {
        let id = layout::backup_id(backup_id)?;
        if let Some(vm) = vm_hint.filter(|v| layout::vm_id(v).is_ok()) {
            if let Some(m) = manifest::read(&self.layout.backup_dir(vm, id))? {
                return Ok(m);
            }
        }
        if let Ok(vms) = std::fs::read_dir(self.layout.root()) {
            for v in vms.flatten() {
                if let Ok(Some(m)) = manifest::read(&v.path().join(id)) {
                    return Ok(m);
                }
            }
        }
        Err(BackupError::BackupNotFound { backup_id: backup_id.to_string() })
    }

    /// `deleteBackup`: refused while an incremental names it as parent.
    pub async fn delete(&self, backup_id: &str, vm_id: &str) -> Result<(), BackupError> {
        let vm = layout::vm_id(vm_id)?;
        let id = layout::backup_id(backup_id)?;
        let dir = self.layout.backup_dir(vm, id);
        if !dir.is_dir() {
            return Err(BackupError::BackupNotFound { backup_id: backup_id.to_string() });
        }
        let dependents: Vec<String> = self.list(vm).await?.into_iter().filter(|m| m.parent_backup_id.as_deref() == Some(id)).map(|m| m.id).collect();
        if !dependents.is_empty() {
            return Err(BackupError::Dependency { backup_id: id.to_string(), dependents });
        }
        std::fs::remove_dir_all(&dir).map_err(|e| BackupError::io("remove", &dir, e))
    }
}
