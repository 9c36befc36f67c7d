//! The `qemu-img` runs of backups: the lock probe of a source or restore target,
//! target creation, the chain materialisation of a restore, and checks. None of
//! them ever runs on an image a running QEMU holds: the probe comes first.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::error::BackupError;
use crate::exec::{HostCommand, OutputObserver};
use crate::storage::progress::{Progress, ProgressParser};

const QEMU_IMG: &str = "qemu-img";
const SHORT: Duration = Duration::from_secs(60);

/// What the probe learnt of an image nobody holds.
#[derive(Debug, Clone)]
pub struct Probed {
    pub format: String,
    pub virtual_size: u64,
    pub actual_size: u64,
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// `qemu-img info` without `--force-share`: it fails when a running QEMU (or a
/// storage daemon) holds the image, which is the probe. Missing → `DISK_NOT_FOUND`.
pub async fn probe(path: &Path) -> Result<Probed, BackupError> {
    if !path.exists() {
        return Err(BackupError::DiskNotFound { path: path.display().to_string() });
    }
    let cmd = HostCommand::new(QEMU_IMG).args(["info".to_string(), "--output=json".into(), "--".into(), path_arg(path)]).timeout(Some(SHORT));
    let out = match cmd.run().await {
        Ok(o) => o,
        Err(e) if e.stderr().contains("lock") => return Err(BackupError::VmRunning { path: path.display().to_string(), has_qmp: false }),
        Err(e) => return Err(BackupError::command("qemu-img info", path)(e)),
    };
    let v: Value = serde_json::from_str(&out.stdout).map_err(|e| BackupError::Parse { what: "qemu-img info output", detail: e.to_string() })?;
    Ok(Probed {
        format: v["format"].as_str().unwrap_or("raw").to_string(),
        virtual_size: v["virtual-size"].as_u64().unwrap_or(0),
        actual_size: v["actual-size"].as_u64().unwrap_or(0),
    })
}

/// Creates an empty qcow2 target of `size` bytes, on `backing` (a qcow2) if given.
pub async fn create_target(path: &Path, size: u64, backing: Option<&Path>) -> Result<(), BackupError> {
    let mut args: Vec<String> = vec!["create".into(), "-q".into(), "-f".into(), "qcow2".into()];
    if let Some(b) = backing {
        args.extend(["-b".into(), path_arg(b), "-F".into(), "qcow2".into()]);
    }
    args.extend(["--".into(), path_arg(path), size.to_string()]);
    HostCommand::new(QEMU_IMG).args(args).timeout(Some(SHORT)).run().await.map_err(BackupError::command("qemu-img create", path))?;
    Ok(())
}

/// The `json:` pseudo-filename of a qcow2 chain, top first, each level's backing
/// given explicitly: the recorded backing paths in the headers are not needed, so a
/// chain still reads after its directory moved.
pub fn chain_spec(chain: &[&Path]) -> String {
    let mut node = Value::Null;
    for p in chain.iter().rev() {
        node = json!({ "driver": "qcow2", "file": { "driver": "file", "filename": path_arg(p) }, "backing": node });
    }
    format!("json:{node}")
}

/// Reads the chain (top first) into one standalone qcow2 at `dest`.
pub async fn materialise(chain: &[&Path], dest: &Path, progress: Option<Arc<Progress>>) -> Result<(), BackupError> {
    let args = vec!["convert".to_string(), "-p".into(), "-O".into(), "qcow2".into(), "--".into(), chain_spec(chain), path_arg(dest)];
    let mut cmd = HostCommand::new(QEMU_IMG).args(args).timeout(None);
    if let Some(p) = progress.clone() {
        let parser = std::sync::Mutex::new(ProgressParser::default());
        cmd = cmd.observe_stdout(OutputObserver::new(move |chunk| {
            let got = parser.lock().map(|mut pp| pp.feed(chunk)).unwrap_or_default();
            for v in got {
                p.report(v);
            }
        }));
    }
    cmd.run().await.map_err(BackupError::command("qemu-img convert", dest))?;
    if let Some(p) = progress {
        p.finish();
    }
    Ok(())
}

/// `qemu-img check` of one image of a chain: errors or corruptions make it corrupt.
pub async fn check(path: &Path) -> Result<Option<String>, BackupError> {
    let cmd = HostCommand::new(QEMU_IMG).args(["check".to_string(), "--output=json".into(), "--".into(), path_arg(path)]).timeout(None);
    match cmd.run().await {
        Ok(_) => Ok(None),
        Err(e) => {
            // Exit 2 (corruptions) and 3 (leaks only) still print the JSON report.
            let v: Value = serde_json::from_str(e.stdout()).unwrap_or(Value::Null);
            let corrupt = v["corruptions"].as_u64().unwrap_or(0) + v["check-errors"].as_u64().unwrap_or(0);
            if v.is_null() {
                return Ok(Some(format!("qemu-img check failed: {}", e.stderr_tail().trim())));
            }
            Ok((corrupt > 0).then(|| format!("{} has {corrupt} corruptions or check errors", path.display())))
        }
    }
}

/// `path`'s data reach the disk before it is renamed into place.
pub fn fsync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| BackupError::io("fsync", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_spec_nests_backings() {
        let s = chain_spec(&[Path::new("/c"), Path::new("/b"), Path::new("/a")]);
        let v: Value = serde_json::from_str(s.strip_prefix("json:").unwrap()).unwrap();
        assert_eq!(v["file"]["filename"], "/c");
        assert_eq!(v["backing"]["backing"]["file"]["filename"], "/a");
        assert!(v["backing"]["backing"]["backing"].is_null());
    }
}
