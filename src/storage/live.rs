//! Storage operations on a running VM's disk, through QEMU itself (QMP) instead of
//! `qemu-img`, which a running QEMU's image lock rightly refuses.
//!
//! * internal snapshot: `blockdev-snapshot-internal-sync {device, name}`
//! * delete it: `blockdev-snapshot-delete-internal-sync {device, name}`
//! * grow the disk: `block_resize {device, size}` (bytes), after checking the current
//!   size in `query-block`, because QEMU shrinks as readily as it grows.
//! * flatten a clone: `block-stream {job-id, device, auto-dismiss: false}`, then the
//!   job's state from `query-jobs` until it concludes (progress from its counters),
//!   `job-dismiss`, and `query-block` to confirm the backing file is gone. With
//!   auto-dismiss off a finished job stays listed with its error, so the outcome
//!   cannot be missed the way a one-shot `BLOCK_JOB_COMPLETED` event can.
//!
//! Validation, the size check and the classification of QEMU's refusals are pure
//! functions here, shared by the async functions below (for Rust callers such as the
//! lifecycle) and by the JS facade, which drives its own `QMPClient`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::error::{Op, StorageError};
use super::progress::Progress;
use super::snapshot::{snapshot_name, SnapshotName};
use super::values::SizeGb;
use crate::error::ErrorShape;
use crate::qmp::client::QmpClient;
use crate::qmp::error::QmpError;

/// A QEMU block device id (`-drive id=`, a `-device` id): a letter, then letters,
/// digits, `-`, `.` or `_` (QEMU's `id_wellformed`), at most 127 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice(String);

impl BlockDevice {
    pub fn new(raw: &str) -> Option<Self> {
        let mut b = raw.bytes();
        let first_ok = b.next().is_some_and(|c| c.is_ascii_alphabetic());
        let rest_ok = b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'));
        (first_ok && rest_ok && raw.len() <= 127).then(|| BlockDevice(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn device(op: Op, raw: &str) -> Result<BlockDevice, StorageError> {
    BlockDevice::new(raw).ok_or_else(|| StorageError::InvalidDevice { op, device: raw.to_string() })
}

/// Validates a live snapshot request (`op` is the create or delete operation).
pub fn snapshot_target(op: Op, device_raw: &str, name: &str) -> Result<(BlockDevice, SnapshotName), StorageError> {
    let name = snapshot_name(op, device_raw, name)?;
    Ok((device(op, device_raw)?, name))
}

/// The `blockdev-snapshot-internal-sync` / `-delete-` arguments.
pub fn snapshot_args(device: &BlockDevice, name: &SnapshotName) -> Value {
    json!({ "device": device.as_str(), "name": name.as_str() })
}

/// Validates a live resize: the device, and a size QEMU accepts (whole sectors).
pub fn resize_target(device_raw: &str, size_gb: f64) -> Result<(BlockDevice, u64), StorageError> {
    let op = Op::LiveResize;
    let invalid = |problem| StorageError::InvalidSize { op, path: device_raw.to_string(), size: size_gb, problem };
    let bytes = SizeGb::new(size_gb).and_then(SizeGb::sector_bytes).map_err(invalid)?;
    Ok((device(op, device_raw)?, bytes))
}

/// Checks a live resize against the device's current size from `query-block`:
/// the device must exist and have a medium, and the size may only go down with
/// `allow_shrink`.
pub fn check_resize(device: &BlockDevice, bytes: u64, size_gb: f64, allow_shrink: bool, query_block: &Value) -> Result<(), StorageError> {
    let op = Op::LiveResize;
    let not_found = || StorageError::DeviceNotFound { op, device: device.as_str().to_string() };
    let entry = find_block(query_block, device).ok_or_else(not_found)?;
    let current = entry["inserted"]["image"]["virtual-size"].as_u64().ok_or_else(not_found)?;
    if bytes < current && !allow_shrink {
        return Err(StorageError::ShrinkRefused { op, path: device.as_str().to_string(), size: size_gb });
    }
    Ok(())
}

/// The `query-block` entry of `device` (by drive name, qdev id or node name).
fn find_block<'a>(query_block: &'a Value, device: &BlockDevice) -> Option<&'a Value> {
    query_block.as_array()?.iter().find(|b| {
        b["device"].as_str() == Some(device.as_str())
            || b["qdev"].as_str() == Some(device.as_str())
            || b["inserted"]["node-name"].as_str() == Some(device.as_str())
    })
}

/// Whether the device's medium has a backing file, from its `query-block` entry.
pub fn has_backing(entry: &Value) -> bool {
    entry["inserted"]["image"]["backing-image"].is_object() || entry["inserted"]["backing_file"].is_string()
}

/// The `block_resize` arguments.
pub fn resize_args(device: &BlockDevice, bytes: u64) -> Value {
    json!({ "device": device.as_str(), "size": bytes })
}

/// Classifies a failed live command from its error `code` and text (QEMU's `desc`
/// or the QMP client's message). `Ok` means "nothing to do": deleting a snapshot
/// that does not exist, as the offline `deleteSnapshot` does.
pub fn classify_failure(op: Op, device: &str, name: Option<&str>, code: &str, text: &str) -> Result<(), StorageError> {
    let name_s = name.unwrap_or_default().to_string();
    if text.contains("does not exist on device") {
        return match op {
            Op::LiveSnapshotDelete => Ok(()),
            _ => Err(StorageError::SnapshotNotFound { op, path: device.to_string(), name: name_s }),
        };
    }
    if text.contains("already exists on device") {
        return Err(StorageError::SnapshotAlreadyExists { op, path: device.to_string(), name: name_s });
    }
    if text.contains("Cannot find device=") || code == "DeviceNotFound" || text.contains("(DeviceNotFound)") {
        return Err(StorageError::DeviceNotFound { op, device: device.to_string() });
    }
    Err(StorageError::CommandFailed { op, path: device.to_string(), target: name.map(str::to_string), detail: text.to_string() })
}

fn qmp_failure(op: Op, device: &BlockDevice, name: Option<&SnapshotName>, e: &QmpError) -> Result<(), StorageError> {
    let text = match e {
        QmpError::Command { desc, .. } => desc.clone(),
        other => other.to_string(),
    };
    classify_failure(op, device.as_str(), name.map(SnapshotName::as_str), e.code(), &text)
}

/// Takes an internal snapshot of a running VM's disk.
pub async fn create_internal_snapshot(qmp: &QmpClient, device: &str, name: &str) -> Result<(), StorageError> {
    let op = Op::LiveSnapshotCreate;
    let (device, name) = snapshot_target(op, device, name)?;
    match qmp.execute(op.command(), Some(snapshot_args(&device, &name))).await {
        Ok(_) => Ok(()),
        Err(e) => qmp_failure(op, &device, Some(&name), &e),
    }
}

/// Deletes an internal snapshot of a running VM's disk (absent: nothing to do).
pub async fn delete_internal_snapshot(qmp: &QmpClient, device: &str, name: &str) -> Result<(), StorageError> {
    let op = Op::LiveSnapshotDelete;
    let (device, name) = snapshot_target(op, device, name)?;
    match qmp.execute(op.command(), Some(snapshot_args(&device, &name))).await {
        Ok(_) => Ok(()),
        Err(e) => qmp_failure(op, &device, Some(&name), &e),
    }
}

/// Resizes a running VM's disk to `size_gb`; shrinking needs `allow_shrink`.
pub async fn resize(qmp: &QmpClient, device: &str, size_gb: f64, allow_shrink: bool) -> Result<(), StorageError> {
    let op = Op::LiveResize;
    let (device, bytes) = resize_target(device, size_gb)?;
    let blocks = match qmp.execute("query-block", None).await {
        Ok(v) => v,
        Err(e) => return qmp_failure(op, &device, None, &e),
    };
    check_resize(&device, bytes, size_gb, allow_shrink, &blocks)?;
    match qmp.execute(op.command(), Some(resize_args(&device, bytes))).await {
        Ok(_) => Ok(()),
        Err(e) => qmp_failure(op, &device, None, &e),
    }
}

/// How long a live flatten may run by default before its job is cancelled.
pub const DEFAULT_FLATTEN_TIMEOUT: Duration = Duration::from_secs(3600);
/// How often a running block job's state is read.
const JOB_POLL: Duration = Duration::from_millis(200);
/// How long a cancelled job gets to conclude.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Validates a live flatten request.
pub fn flatten_target(device_raw: &str) -> Result<BlockDevice, StorageError> {
    device(Op::LiveFlatten, device_raw)
}

/// The `block-stream` arguments: the job is kept after it ends, so its result can be read.
pub fn stream_args(job: &str, device: &BlockDevice) -> Value {
    json!({ "job-id": job, "device": device.as_str(), "auto-dismiss": false })
}

/// One job's state from a `query-jobs` reply: its status, error and progress percentage.
fn job_state(jobs: &Value, id: &str) -> Option<(String, Option<String>, Option<f64>)> {
    let j = jobs.as_array()?.iter().find(|j| j["id"].as_str() == Some(id))?;
    let status = j["status"].as_str().unwrap_or_default().to_string();
    let error = j["error"].as_str().map(str::to_string);
    #[allow(clippy::cast_precision_loss)] // a percentage
    let percent = match (j["current-progress"].as_u64(), j["total-progress"].as_u64()) {
        (Some(c), Some(t)) if t > 0 => Some((c as f64 / t as f64 * 100.0).min(100.0)),
        _ => None,
    };
    Some((status, error, percent))
}

/// Makes a running VM's clone standalone: QEMU copies the backing chain's data into
/// the disk's top image while the guest keeps running, then drops the backing file.
/// Returns false when the disk has no backing file. Past `timeout` the job is
/// cancelled (the disk stays a working clone) and the call fails.
pub async fn flatten(qmp: &QmpClient, device: &str, timeout: Duration, progress: Option<Arc<Progress>>) -> Result<bool, StorageError> {
    let op = Op::LiveFlatten;
    let device = flatten_target(device)?;
    let failed = |detail: String| StorageError::CommandFailed { op, path: device.as_str().to_string(), target: None, detail };
    let blocks = query(qmp, &device, "query-block").await?;
    let entry = find_block(&blocks, &device).ok_or_else(|| StorageError::DeviceNotFound { op, device: device.as_str().to_string() })?;
    if !has_backing(entry) {
        return Ok(false);
    }
    let job = format!("iv-flatten-{}", device.as_str());
    if let Err(e) = qmp.execute(op.command(), Some(stream_args(&job, &device))).await {
        qmp_failure(op, &device, None, &e)?;
    }
    if let Some(p) = &progress {
        p.report(0.0);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let dismiss = || async { qmp.execute("job-dismiss", Some(json!({ "id": job }))).await.map(drop) };
    loop {
        match job_state(&query(qmp, &device, "query-jobs").await?, &job) {
            // Dismissed by someone else: query-block below tells how it ended.
            None => break,
            Some((status, error, _)) if status == "concluded" => {
                if let Err(e) = dismiss().await {
                    crate::log::warn("qemu-img", &format!("flatten {}: could not dismiss job {job}: {e}", device.as_str()));
                }
                if let Some(err) = error {
                    return Err(failed(err));
                }
                break;
            }
            Some((_, _, percent)) => {
                if let (Some(p), Some(v)) = (&progress, percent) {
                    p.report(v.min(99.0));
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            cancel(qmp, &job).await;
            return Err(failed(format!("block-stream did not finish within {} s; the job was cancelled", timeout.as_secs())));
        }
        tokio::time::sleep(JOB_POLL).await;
    }
    let blocks = query(qmp, &device, "query-block").await?;
    if find_block(&blocks, &device).is_none_or(has_backing) {
        return Err(failed("the disk still has its backing file after the job ended".into()));
    }
    if let Some(p) = progress {
        p.finish();
    }
    Ok(true)
}

/// A query of a live flatten; a failure is the flatten's.
async fn query(qmp: &QmpClient, device: &BlockDevice, cmd: &str) -> Result<Value, StorageError> {
    let op = Op::LiveFlatten;
    qmp.execute(cmd, None).await.map_err(|e| match qmp_failure(op, device, None, &e) {
        Err(classified) => classified,
        Ok(()) => StorageError::CommandFailed { op, path: device.as_str().to_string(), target: None, detail: e.to_string() },
    })
}

/// Cancels a job and, once it has concluded (bounded wait), dismisses it.
async fn cancel(qmp: &QmpClient, job: &str) {
    if let Err(e) = qmp.execute("job-cancel", Some(json!({ "id": job }))).await {
        crate::log::warn("qemu-img", &format!("could not cancel job {job}: {e}"));
    }
    let until = tokio::time::Instant::now() + CANCEL_WAIT;
    while tokio::time::Instant::now() < until {
        match qmp.execute("query-jobs", None).await {
            Ok(jobs) => match job_state(&jobs, job) {
                None => return,
                Some((status, ..)) if status == "concluded" => {
                    let _ = qmp.execute("job-dismiss", Some(json!({ "id": job }))).await;
                    return;
                }
                Some(_) => {}
            },
            Err(_) => return,
        }
        tokio::time::sleep(JOB_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names() {
        for ok in ["disk0", "drive-virtio-disk0", "a.b_c"] {
            assert!(BlockDevice::new(ok).is_some(), "{ok}");
        }
        for bad in ["", "0disk", "-x", "disk 0", "disk,id=x", "#block187", &"d".repeat(128)] {
            assert!(BlockDevice::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn requests_are_validated_and_rendered() {
        let (d, n) = snapshot_target(Op::LiveSnapshotCreate, "disk0", "s1").unwrap();
        assert_eq!(snapshot_args(&d, &n), json!({"device": "disk0", "name": "s1"}));
        let e = snapshot_target(Op::LiveSnapshotCreate, "disk0", "a b").unwrap_err();
        assert_eq!((e.code(), e.path()), ("INVALID_SNAPSHOT_NAME", "disk0"));
        assert_eq!(e.fields()["command"], "blockdev-snapshot-internal-sync");
        let e = snapshot_target(Op::LiveSnapshotDelete, "disk 0", "s").unwrap_err();
        assert!(matches!(e, StorageError::InvalidDevice { .. }));
        let (d, bytes) = resize_target("disk0", 2.0).unwrap();
        assert_eq!(resize_args(&d, bytes), json!({"device": "disk0", "size": 2_147_483_648u64}));
        for bad in [0.0, -1.0, f64::NAN, 1e-9] {
            assert_eq!(resize_target("disk0", bad).unwrap_err().code(), "INVALID_SIZE", "{bad}");
        }
    }

    #[test]
    fn resize_is_checked_against_query_block() {
        // Trimmed from QEMU 10's query-block.
        let blocks = json!([{"device": "disk0", "qdev": "/machine/peripheral-anon/device[0]/virtio-backend",
            "inserted": {"node-name": "#block187", "image": {"virtual-size": 1_073_741_824u64}}},
            {"device": "cd0", "qdev": "ide0-cd0"}]);
        let d = BlockDevice::new("disk0").unwrap();
        assert!(check_resize(&d, 2 << 30, 2.0, false, &blocks).is_ok());
        assert!(check_resize(&d, 1 << 30, 1.0, false, &blocks).is_ok(), "same size is not a shrink");
        let e = check_resize(&d, 1 << 29, 0.5, false, &blocks).unwrap_err();
        assert_eq!(e.code(), "INVALID_SIZE");
        assert!(check_resize(&d, 1 << 29, 0.5, true, &blocks).is_ok());
        let e = check_resize(&BlockDevice::new("cd0").unwrap(), 1 << 30, 1.0, false, &blocks).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("IMAGE_NOT_FOUND", "Block device not found: cd0"));
        assert!(check_resize(&BlockDevice::new("nodev").unwrap(), 1, 1.0, false, &blocks).is_err());
    }

    #[test]
    fn qemu_refusals() {
        // QEMU 10.0.2's error descriptions.
        let c = |op, text| classify_failure(op, "disk0", Some("s1"), "QMP_COMMAND_ERROR", text);
        let e = c(Op::LiveSnapshotCreate, "Snapshot with name 's1' already exists on device 'disk0'").unwrap_err();
        assert_eq!(e.code(), "SNAPSHOT_ALREADY_EXISTS");
        assert!(c(Op::LiveSnapshotDelete, "Snapshot with id 'null' and name 's1' does not exist on device 'disk0'").is_ok());
        let e = c(Op::LiveSnapshotCreate, "Cannot find device='nodev' nor node-name='nodev'").unwrap_err();
        assert_eq!(e.code(), "IMAGE_NOT_FOUND");
        let e = c(Op::LiveResize, "QMP error: Cannot find device='nodev' nor node-name='' (GenericError)").unwrap_err();
        assert_eq!(e.code(), "IMAGE_NOT_FOUND");
        let e = classify_failure(Op::LiveResize, "disk0", None, "QMP_NOT_CONNECTED", "Not connected to QMP socket").unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("COMMAND_FAILED", "Failed to resize device disk0: Not connected to QMP socket"));
    }

    /// A paused TCG QEMU with one qcow2 disk `disk0`, killed on drop.
    struct Vm {
        _child: tokio::process::Child,
        dir: std::path::PathBuf,
    }

    impl Drop for Vm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn start_vm() -> (Vm, std::sync::Arc<QmpClient>) {
        let dir = std::env::temp_dir().join(format!("infinivirt-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let img = dir.join("disk.qcow2");
        let st = std::process::Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(&img).arg("64M").status().unwrap();
        assert!(st.success());
        start_vm_on(dir, &img).await
    }

    async fn start_vm_on(dir: std::path::PathBuf, img: &std::path::Path) -> (Vm, std::sync::Arc<QmpClient>) {
        let sock = dir.join("qmp.sock");
        let child = tokio::process::Command::new("qemu-system-x86_64")
            .args(["-machine", "q35,accel=tcg", "-cpu", "max", "-m", "128", "-display", "none", "-S", "-nodefaults", "-drive"])
            .arg(format!("file={},if=virtio,id=disk0,format=qcow2", img.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let vm = Vm { _child: child, dir };
        let qmp = QmpClient::new(&sock, Default::default(), std::sync::Arc::new(|_| {}));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while qmp.connect().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "QEMU's QMP socket did not come up");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        (vm, qmp)
    }

    #[test]
    fn against_a_running_qemu() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let (vm, qmp) = start_vm().await;
            create_internal_snapshot(&qmp, "disk0", "live1").await.unwrap();
            let e = create_internal_snapshot(&qmp, "disk0", "live1").await.unwrap_err();
            assert_eq!(e.code(), "SNAPSHOT_ALREADY_EXISTS");
            let e = create_internal_snapshot(&qmp, "nodev", "x").await.unwrap_err();
            assert_eq!(e.code(), "IMAGE_NOT_FOUND");
            delete_internal_snapshot(&qmp, "disk0", "live1").await.unwrap();
            delete_internal_snapshot(&qmp, "disk0", "live1").await.unwrap();
            resize(&qmp, "disk0", 0.125, false).await.unwrap();
            let e = resize(&qmp, "disk0", 0.0625, false).await.unwrap_err();
            assert_eq!(e.code(), "INVALID_SIZE");
            let blocks = qmp.execute("query-block", None).await.unwrap();
            assert_eq!(blocks[0]["inserted"]["image"]["virtual-size"], 134_217_728u64);
            drop(vm);
        });
    }

    fn run(args: &[&str]) -> std::process::Output {
        let out = std::process::Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    #[test]
    fn a_running_clone_is_flattened_by_block_stream() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = std::env::temp_dir().join(format!("infinivirt-live-flatten-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let golden = dir.join("golden.qcow2");
            let clone = dir.join("clone.qcow2");
            let (g, c) = (golden.to_str().unwrap(), clone.to_str().unwrap());
            run(&["qemu-img", "create", "-q", "-f", "qcow2", g, "16M"]);
            run(&["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 8M", g]);
            run(&["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", g, c]);
            let (vm, qmp) = start_vm_on(dir.clone(), &clone).await;
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            let p = Progress::new(Arc::new({
                let seen = seen.clone();
                move |v| seen.lock().unwrap().push(v)
            }));
            assert!(flatten(&qmp, "disk0", Duration::from_secs(60), Some(p)).await.unwrap());
            let blocks = qmp.execute("query-block", None).await.unwrap();
            assert!(!has_backing(&blocks[0]), "{blocks}");
            assert_eq!(seen.lock().unwrap().last(), Some(&100.0));
            // Nothing left to do; no job left behind.
            assert!(!flatten(&qmp, "disk0", Duration::from_secs(60), None).await.unwrap());
            assert_eq!(qmp.execute("query-jobs", None).await.unwrap(), json!([]));
            let e = flatten(&qmp, "nodev", Duration::from_secs(5), None).await.unwrap_err();
            assert_eq!(e.code(), "IMAGE_NOT_FOUND");
            let mut vm = vm;
            let _ = qmp.execute("quit", None).await;
            tokio::time::timeout(Duration::from_secs(20), vm._child.wait()).await.unwrap().unwrap();
            // Standalone on disk, and the same data as the golden image.
            let info = run(&["qemu-img", "info", "--output=json", c]);
            assert!(!String::from_utf8_lossy(&info.stdout).contains("backing-filename"));
            run(&["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", c, g]);
            drop(vm);
        });
    }
}
