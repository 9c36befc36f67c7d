//! Backups through QMP: the same code drives a running VM's QEMU and a
//! `qemu-storage-daemon` started for a stopped VM. In one `transaction` each disk
//! gets a `blockdev-backup` into a new qcow2 target and a new persistent dirty
//! bitmap named after the backup, so the next INCREMENTAL copies exactly what the
//! guest wrote after this backup's point.
//!
//! Bitmaps are named `infinivirt-<backupId>` rather than one reused name: an
//! INCREMENTAL on parent P reads bitmap `infinivirt-P` (sync=bitmap,
//! bitmap-mode=never, so a failed job leaves it whole), and the bitmap exists only
//! while P is the newest completed point. A failed FULL, a parent that is not the
//! newest point, or a bitmap QEMU lost (crash: `inconsistent`) therefore all show
//! up as "no bitmap for the parent", and the backup becomes FULL with that reason.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Notify;

use super::error::BackupError;
use crate::qmp::client::{Notice, QmpClient, QmpOptions, Sink};

/// Prefix of every bitmap we own; others' bitmaps are never touched.
pub const BITMAP_PREFIX: &str = "infinivirt-";

pub fn bitmap_name(backup_id: &str) -> String {
    format!("{BITMAP_PREFIX}{backup_id}")
}

/// Asks a running job to stop; checked between polls and on every wake-up.
#[derive(Debug, Default)]
pub struct Abort {
    set: AtomicBool,
    wake: Notify,
}

impl Abort {
    pub fn new() -> Arc<Self> {
        Arc::new(Abort::default())
    }

    pub fn abort(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }
}

/// A QMP session whose job events wake the waiter.
pub struct Session {
    pub qmp: Arc<QmpClient>,
    wake: Arc<Notify>,
}

impl Session {
    pub async fn open(socket: &Path, connect_timeout: Duration) -> Result<Self, BackupError> {
        let wake = Arc::new(Notify::new());
        let w = wake.clone();
        let sink: Sink = Arc::new(move |n: Notice| match n {
            Notice::Event { name, .. } if name.starts_with("JOB_") || name.starts_with("BLOCK_JOB_") => w.notify_one(),
            Notice::Disconnected => w.notify_one(),
            _ => {}
        });
        let opts = QmpOptions { connect_timeout, ..QmpOptions::default() };
        let qmp = QmpClient::new(socket, opts, sink);
        qmp.connect().await.map_err(BackupError::qmp("connect"))?;
        Ok(Session { qmp, wake })
    }

    pub async fn close(&self) {
        self.qmp.disconnect().await;
    }

    async fn run(&self, command: &'static str, args: Value) -> Result<Value, BackupError> {
        self.qmp.execute(command, Some(args)).await.map_err(BackupError::qmp(command))
    }
}

/// A bitmap on a node as `query-named-block-nodes` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bitmap {
    pub name: String,
    pub persistent: bool,
    pub usable: bool,
}

/// The top node of one source image inside QEMU.
#[derive(Debug, Clone)]
pub struct SourceNode {
    pub node: String,
    pub format: String,
    pub virtual_size: u64,
    pub bitmaps: Vec<Bitmap>,
}

fn same_file(a: &Path, b: &str) -> bool {
    let b = Path::new(b);
    if a == b {
        return true;
    }
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Picks, among `query-named-block-nodes` (flat) entries, the format node that
/// reads `path` (its `file` is the path and its driver is the image's format).
pub fn find_node(nodes: &[Value], path: &Path) -> Option<SourceNode> {
    let mut fallback = None;
    for n in nodes {
        let (Some(name), Some(file), Some(drv)) = (n["node-name"].as_str(), n["file"].as_str(), n["drv"].as_str()) else { continue };
        if !same_file(path, file) {
            continue;
        }
        let format = n["image"]["format"].as_str().unwrap_or(drv).to_string();
        let bitmaps = n["dirty-bitmaps"]
            .as_array()
            .map(|bs| {
                bs.iter()
                    .filter_map(|b| {
                        let name = b["name"].as_str()?.to_string();
                        let bad =
                            b["inconsistent"].as_bool().unwrap_or(false) || b["busy"].as_bool().unwrap_or(false) || !b["recording"].as_bool().unwrap_or(true);
                        Some(Bitmap { name, persistent: b["persistent"].as_bool().unwrap_or(false), usable: !bad })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let found = SourceNode { node: name.to_string(), format: format.clone(), virtual_size: n["image"]["virtual-size"].as_u64().unwrap_or(0), bitmaps };
        if drv == format && drv != "file" {
            return Some(found);
        }
        if fallback.is_none() {
            fallback = Some(found);
        }
    }
    fallback
}

pub async fn find_nodes(s: &Session, paths: &[PathBuf]) -> Result<Vec<SourceNode>, BackupError> {
    let reply = s.run("query-named-block-nodes", json!({ "flat": true })).await?;
    let nodes = reply.as_array().cloned().unwrap_or_default();
    paths.iter().map(|p| find_node(&nodes, p).ok_or_else(|| BackupError::NodeNotFound { path: p.display().to_string() })).collect()
}

/// One disk's part of a backup job.
#[derive(Debug, Clone)]
pub struct JobDisk {
    pub source: SourceNode,
    pub target: PathBuf,
    pub target_node: String,
    pub job_id: String,
    /// INCREMENTAL: the parent's bitmap to read (sync=bitmap); `None`: sync=full.
    pub read_bitmap: Option<String>,
    /// The bitmap this backup leaves for the next one (`None` for raw sources).
    pub new_bitmap: Option<String>,
}

/// Byte counts of all jobs, for progress events.
#[derive(Debug, Clone, Copy)]
pub struct JobProgress {
    pub current_disk: usize,
    pub disk_percent: f64,
    pub overall_percent: f64,
    pub eta_ms: Option<u64>,
}

pub type ProgressSink<'a> = &'a (dyn Fn(JobProgress) + Send + Sync);

/// Runs the backup of every disk: adds the targets, starts all jobs in one
/// transaction, waits for them, and removes the targets from QEMU again. On
/// success older `infinivirt-*` bitmaps are removed; on failure the new ones are.
pub async fn run(s: &Session, disks: &[JobDisk], compress: bool, abort: &Abort, progress: ProgressSink<'_>) -> Result<(), BackupError> {
    let mut added = Vec::new();
    let result = async {
        for d in disks {
            let add = json!({
                "driver": "qcow2",
                "node-name": d.target_node,
                "file": { "driver": "file", "filename": d.target.display().to_string() },
            });
            s.run("blockdev-add", add).await?;
            added.push(d.target_node.clone());
        }
        let mut actions = Vec::new();
        for d in disks {
            if let Some(b) = &d.new_bitmap {
                actions.push(json!({ "type": "block-dirty-bitmap-add", "data": { "node": d.source.node, "name": b, "persistent": true } }));
            }
            let mut data = json!({
                "job-id": d.job_id, "device": d.source.node, "target": d.target_node,
                "sync": "full", "auto-dismiss": false, "compress": compress,
            });
            if let Some(b) = &d.read_bitmap {
                data["sync"] = json!("bitmap");
                data["bitmap"] = json!(b);
                data["bitmap-mode"] = json!("never");
            }
            actions.push(json!({ "type": "blockdev-backup", "data": data }));
        }
        if abort.is_set() {
            return Err(BackupError::Cancelled);
        }
        s.run("transaction", json!({ "actions": actions })).await?;
        wait(s, disks, abort, progress).await
    }
    .await;
    // Targets leave QEMU whatever happened, so the files can be read or removed.
    for node in added {
        if let Err(e) = s.run("blockdev-del", json!({ "node-name": node })).await {
            crate::log::log("infinivirt:backup", &format!("blockdev-del {node} failed: {e}"));
        }
    }
    for d in disks {
        let stale: Vec<String> = match &result {
            Ok(()) => d
                .source
                .bitmaps
                .iter()
                .filter(|b| b.name.starts_with(BITMAP_PREFIX) && Some(&b.name) != d.new_bitmap.as_ref())
                .map(|b| b.name.clone())
                .collect(),
            Err(_) => d.new_bitmap.iter().cloned().collect(),
        };
        for name in stale {
            if let Err(e) = s.run("block-dirty-bitmap-remove", json!({ "node": d.source.node, "name": name })).await {
                // Absent after a failed transaction: nothing to remove.
                crate::log::log("infinivirt:backup", &format!("removing bitmap {name} failed: {e}"));
            }
        }
    }
    result
}

async fn wait(s: &Session, disks: &[JobDisk], abort: &Abort, progress: ProgressSink<'_>) -> Result<(), BackupError> {
    let started = Instant::now();
    let mut cancelled = false;
    loop {
        if abort.is_set() && !cancelled {
            cancelled = true;
            for d in disks {
                if let Err(e) = s.run("job-cancel", json!({ "id": d.job_id })).await {
                    crate::log::log("infinivirt:backup", &format!("job-cancel {} failed: {e}", d.job_id));
                }
            }
        }
        let jobs = s.run("query-jobs", json!({})).await?;
        let jobs = jobs.as_array().cloned().unwrap_or_default();
        let mut done = 0;
        let (mut cur_sum, mut tot_sum) = (0u64, 0u64);
        let mut first_open = None;
        let mut disk_percent = 100.0;
        let mut failure = None;
        for (i, d) in disks.iter().enumerate() {
            let Some(j) = jobs.iter().find(|j| j["id"].as_str() == Some(d.job_id.as_str())) else {
                return Err(BackupError::Job { job: d.job_id.clone(), message: "the job disappeared".into() });
            };
            let cur = j["current-progress"].as_u64().unwrap_or(0);
            let tot = j["total-progress"].as_u64().unwrap_or(0);
            cur_sum += cur;
            tot_sum += tot;
            if j["status"].as_str() == Some("concluded") {
                done += 1;
                if let Some(err) = j["error"].as_str() {
                    failure.get_or_insert_with(|| BackupError::job(&d.job_id, err, &d.target));
                }
            } else if first_open.is_none() {
                first_open = Some(i);
                #[allow(clippy::cast_precision_loss)]
                let p = if tot == 0 { 0.0 } else { cur as f64 * 100.0 / tot as f64 };
                disk_percent = p;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let overall = if tot_sum == 0 { 0.0 } else { cur_sum as f64 * 100.0 / tot_sum as f64 };
        let eta_ms = (cur_sum > 0 && tot_sum >= cur_sum).then(|| {
            let el = started.elapsed().as_millis();
            u64::try_from(el * u128::from(tot_sum - cur_sum) / u128::from(cur_sum)).unwrap_or(u64::MAX)
        });
        if done == disks.len() {
            for d in disks {
                if let Err(e) = s.run("job-dismiss", json!({ "id": d.job_id })).await {
                    crate::log::log("infinivirt:backup", &format!("job-dismiss {} failed: {e}", d.job_id));
                }
            }
            if cancelled {
                return Err(BackupError::Cancelled);
            }
            if let Some(f) = failure {
                return Err(f);
            }
            progress(JobProgress { current_disk: disks.len().saturating_sub(1), disk_percent: 100.0, overall_percent: 100.0, eta_ms: Some(0) });
            return Ok(());
        }
        progress(JobProgress { current_disk: first_open.unwrap_or(0), disk_percent, overall_percent: overall.min(99.9), eta_ms });
        if !s.qmp.is_connected() {
            return Err(BackupError::qmp("query-jobs")(crate::qmp::error::QmpError::CONNECTION_CLOSED));
        }
        // Woken by a job event, an abort, or every half second for progress.
        tokio::select! {
            () = s.wake.notified() => {}
            () = abort.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_format_node_of_a_path() {
        let nodes = json!([
            { "node-name": "f1", "drv": "file", "file": "/tmp/nonexistent-a.qcow2", "image": { "format": "file", "virtual-size": 5 } },
            { "node-name": "q1", "drv": "qcow2", "file": "/tmp/nonexistent-a.qcow2", "image": { "format": "qcow2", "virtual-size": 10 },
              "dirty-bitmaps": [ { "name": "infinivirt-x", "persistent": true, "recording": true, "busy": false } ] },
            { "node-name": "q2", "drv": "qcow2", "file": "/tmp/nonexistent-b.qcow2", "image": { "format": "qcow2", "virtual-size": 20 } },
        ]);
        let n = find_node(nodes.as_array().unwrap(), Path::new("/tmp/nonexistent-a.qcow2")).unwrap();
        assert_eq!(n.node, "q1");
        assert_eq!(n.virtual_size, 10);
        assert_eq!(n.bitmaps, vec![Bitmap { name: "infinivirt-x".into(), persistent: true, usable: true }]);
        assert!(find_node(nodes.as_array().unwrap(), Path::new("/tmp/none.qcow2")).is_none());
    }
}
