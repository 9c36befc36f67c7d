//! One operation per VM across every manager process on the host (DESIGN rule 9).
//!
//! A per-VM tokio mutex orders the operations of this process; an exclusive `flock`
//! on `<pidfile dir>/locks/<vm id>.lock` orders them between processes. The kernel
//! drops the `flock` when its holder dies, so a killed manager never leaves the VM
//! locked; what that manager left half-done is in its journal (`journal.rs`), which
//! the next holder of the lock replays before it does anything else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde_json::json;

use super::error::{LifecycleError, LifecycleErrorCode as C};

/// How long an operation waits for another process's operation on the same VM.
pub const LOCK_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(15);

/// Held for the whole of one operation on one VM; both locks are released on drop.
pub struct VmGuard {
    _file: Flock<std::fs::File>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

#[derive(Default)]
pub struct OpLocks {
    local: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The lock file of `vm_id`: ids are database UUIDs, but anything else is hex-encoded
/// so no id can name a path outside the lock directory.
pub fn lock_path(dir: &Path, vm_id: &str) -> PathBuf {
    let safe = !vm_id.is_empty() && vm_id.len() <= 64 && vm_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let name = if safe { vm_id.to_string() } else { vm_id.bytes().map(|b| format!("{b:02x}")).collect::<String>().chars().take(120).collect() };
    dir.join("locks").join(format!("{name}.lock"))
}

fn open(path: &Path) -> Result<std::fs::File, std::io::Error> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)
}

/// Why [`flock_until`] returned without the lock.
pub enum FlockError {
    /// Another holder kept it past the deadline.
    Busy,
    /// The file could not be opened or locked.
    Io(std::io::Error),
}

/// An exclusive `flock` on `path` (created if missing), polled every `poll` until
/// `deadline`: a blocking `flock` would hold a runtime thread and could not time out.
pub async fn flock_until(path: &Path, deadline: Instant, poll: Duration) -> Result<Flock<std::fs::File>, FlockError> {
    loop {
        let file = open(path).map_err(FlockError::Io)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => return Ok(f),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => tokio::time::sleep(poll).await,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Err(FlockError::Busy),
            Err((_, e)) => return Err(FlockError::Io(e.into())),
        }
    }
}

impl OpLocks {
    fn local(&self, vm_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(vm_id.to_string()).or_default().clone()
    }

    /// The in-process lock only (exit handling of a VM this process runs).
    pub async fn local_only(&self, vm_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        self.local(vm_id).lock_owned().await
    }

    /// Waits up to `wait` for both locks. `CONCURRENT_MODIFICATION` when another
    /// operation (of this process or another) keeps the VM busy longer;
    /// `RESOURCE_UNAVAILABLE` when the lock file cannot be opened.
    pub async fn acquire(&self, dir: &Path, vm_id: &str, wait: Duration) -> Result<VmGuard, LifecycleError> {
        let deadline = Instant::now() + wait;
        let path = lock_path(dir, vm_id);
        let busy = |whose: &str| {
            LifecycleError::failed(
                C::CONCURRENT_MODIFICATION,
                format!("VM {vm_id} is busy with an operation of {whose} (waited {} ms)", wait.as_millis()),
                Some(vm_id),
                Some(json!({ "lockFile": path.display().to_string() })),
            )
        };
        let local = tokio::time::timeout_at(deadline.into(), self.local(vm_id).lock_owned()).await.map_err(|_| busy("this manager"))?;
        match flock_until(&path, deadline, POLL).await {
            Ok(f) => Ok(VmGuard { _file: f, _local: local }),
            Err(FlockError::Busy) => Err(busy("another manager process")),
            Err(FlockError::Io(e)) => {
                Err(LifecycleError::failed(C::RESOURCE_UNAVAILABLE, format!("Lock {} not obtained: {e}", path.display()), Some(vm_id), None))
            }
        }
    }

    /// Both locks if free right now (`None` when another operation holds either).
    pub fn try_acquire(&self, dir: &Path, vm_id: &str) -> Option<VmGuard> {
        let local = self.local(vm_id).try_lock_owned().ok()?;
        let file = open(&lock_path(dir, vm_id)).ok()?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock).ok().map(|f| VmGuard { _file: f, _local: local })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_paths_stay_inside_the_directory() {
        let d = Path::new("/run/x");
        assert_eq!(lock_path(d, "550e8400-e29b-41d4-a716-446655440000"), Path::new("/run/x/locks/550e8400-e29b-41d4-a716-446655440000.lock"));
        let evil = lock_path(d, "../../etc/passwd");
        assert_eq!(evil.parent(), Some(Path::new("/run/x/locks")));
        assert!(!evil.to_string_lossy().contains(".."));
    }

    #[tokio::test]
    async fn a_second_holder_waits_then_gets_a_typed_error() {
        let dir = std::env::temp_dir().join(format!("iv-oplock-{}", std::process::id()));
        let a = OpLocks::default();
        let b = OpLocks::default(); // another "process": its own local map, same files
        let g = a.acquire(&dir, "vm1", LOCK_WAIT).await.unwrap();
        assert!(b.try_acquire(&dir, "vm1").is_none());
        let e = b.acquire(&dir, "vm1", Duration::from_millis(60)).await.err().unwrap();
        assert_eq!(crate::error::ErrorShape::code(&e), "CONCURRENT_MODIFICATION");
        // In this process too: a second operation waits no longer than its deadline.
        let e = a.acquire(&dir, "vm1", Duration::from_millis(60)).await.err().unwrap();
        assert_eq!(crate::error::ErrorShape::code(&e), "CONCURRENT_MODIFICATION");
        assert!(e.to_string().contains("this manager"), "{e}");
        drop(g);
        assert!(b.acquire(&dir, "vm1", Duration::from_millis(60)).await.is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }
}
