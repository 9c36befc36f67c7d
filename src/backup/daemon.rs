//! A `qemu-storage-daemon` serving a stopped VM's disks over QMP, so its backups
//! run the same block jobs (and keep the same persistent bitmaps) as a running
//! VM's. The daemon is ours: started here, stopped here by its own handle.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::process::{Child, Command};

use super::error::BackupError;
use super::job::Session;

pub const QEMU_STORAGE_DAEMON: &str = "qemu-storage-daemon";
const START_DEADLINE: Duration = Duration::from_secs(15);
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// A source image and its format, as `qemu-img info` read it.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub format: String,
}

pub struct Daemon {
    child: Child,
    dir: PathBuf,
    pub session: Session,
}

/// The daemon's argv: one `--blockdev` (JSON, so paths need no escaping) per source
/// and a QMP monitor on `socket`.
pub fn argv(sources: &[Source], socket: &Path) -> Result<Vec<String>, BackupError> {
    let sock = socket.display().to_string();
    // The chardev option is key=value: a comma would splice an option. Our socket
    // lives in a directory we named, so this only guards a strange TMPDIR.
    if sock.contains(',') || sock.chars().any(char::is_control) {
        return Err(BackupError::invalid(format!("Temporary directory path cannot be used for a socket: {sock}")));
    }
    let mut a = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        if !matches!(s.format.as_str(), "qcow2" | "raw") {
            return Err(BackupError::invalid(format!("Unsupported source format {} of {}", s.format, s.path.display())));
        }
        let bd = json!({
            "driver": s.format, "node-name": format!("src{i}"),
            "file": { "driver": "file", "filename": s.path.display().to_string() },
        });
        a.push("--blockdev".to_string());
        a.push(bd.to_string());
    }
    a.push("--chardev".into());
    a.push(format!("socket,id=qmp0,path={sock},server=on,wait=off"));
    a.push("--monitor".into());
    a.push("chardev=qmp0".into());
    Ok(a)
}

impl Daemon {
    pub async fn start(sources: &[Source]) -> Result<Daemon, BackupError> {
        let dir = std::env::temp_dir().join(format!("ivbk-{}", super::layout::new_backup_id()?.get(..8).unwrap_or("0")));
        let socket = dir.join("qmp.sock");
        let args = argv(sources, &socket)?;
        // Private to us: the socket inside gives control of the images.
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(|e| BackupError::io("create", &dir, e))?;
        crate::log::log("infinivirt:backup", &format!("starting {QEMU_STORAGE_DAEMON} {}", args.join(" ")));
        let spawned = Command::new(QEMU_STORAGE_DAEMON)
            .args(&args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(BackupError::io("spawn", Path::new(QEMU_STORAGE_DAEMON), e));
            }
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
                }
                let _ = std::fs::remove_dir_all(&dir);
                return Err(classify_exit(sources, &status.to_string(), err.trim()));
            }
            if socket.exists() {
                match Session::open(&socket, Duration::from_secs(5)).await {
                    Ok(session) => return Ok(Daemon { child, dir, session }),
                    Err(e) if Instant::now() >= deadline => {
                        let _ = child.kill().await;
                        let _ = std::fs::remove_dir_all(&dir);
                        return Err(e);
                    }
                    Err(_) => {}
                }
            } else if Instant::now() >= deadline {
                let _ = child.kill().await;
                let _ = std::fs::remove_dir_all(&dir);
                return Err(BackupError::invalid(format!("{QEMU_STORAGE_DAEMON} did not open its QMP socket within {}s", START_DEADLINE.as_secs())));
            }
            // The daemon creates its socket within milliseconds; poll the file only.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Quits the daemon (it writes the persistent bitmaps out as it closes the
    /// images), killing it if it does not exit in time; always removes its directory.
    pub async fn stop(mut self) {
        if let Err(e) = self.session.qmp.execute("quit", None).await {
            crate::log::log("infinivirt:backup", &format!("quit of {QEMU_STORAGE_DAEMON} failed: {e}"));
        }
        self.session.close().await;
        match tokio::time::timeout(STOP_DEADLINE, self.child.wait()).await {
            Ok(Ok(_)) => {}
            _ => {
                crate::log::log("infinivirt:backup", &format!("{QEMU_STORAGE_DAEMON} did not exit; killing it"));
                let _ = self.child.kill().await;
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            crate::log::log("infinivirt:backup", &format!("removing {} failed: {e}", self.dir.display()));
        }
    }
}

fn classify_exit(sources: &[Source], status: &str, stderr: &str) -> BackupError {
    if stderr.contains("lock") {
        let path =
            sources.iter().find(|s| stderr.contains(&*s.path.to_string_lossy())).or(sources.first()).map(|s| s.path.display().to_string()).unwrap_or_default();
        return BackupError::VmRunning { path, has_qmp: false };
    }
    BackupError::Job { job: QEMU_STORAGE_DAEMON.into(), message: format!("exited ({status}): {stderr}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_uses_json_blockdevs() {
        let a = argv(&[Source { path: "/d/a,b.qcow2".into(), format: "qcow2".into() }], Path::new("/t/q.sock")).unwrap();
        assert_eq!(a[0], "--blockdev");
        let v: serde_json::Value = serde_json::from_str(&a[1]).unwrap();
        assert_eq!(v["file"]["filename"], "/d/a,b.qcow2");
        assert_eq!(a[3], "socket,id=qmp0,path=/t/q.sock,server=on,wait=off");
        assert!(argv(&[], Path::new("/t,x/q.sock")).is_err());
        assert!(argv(&[Source { path: "/d".into(), format: "vmdk".into() }], Path::new("/t/q")).is_err());
    }
}
