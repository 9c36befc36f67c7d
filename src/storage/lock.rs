//! Per-image locks of this process: operations on one image are serialised
//! (reads share, writes are exclusive), different images run in parallel.
//!
//! qemu-img's own file locks already stop two *processes* writing one image at once,
//! but they make the loser fail ("Failed to get write lock") instead of waiting, and
//! they cannot make a check-then-act sequence (refuse a duplicate snapshot name,
//! then create it) atomic. This map does both inside the manager.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Weak<RwLock<()>>>>> = LazyLock::new(Default::default);

/// How an operation uses an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug)]
enum Held {
    // Fields are held for their Drop, never read.
    Read(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Write(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// Holds the locks of one operation until dropped.
#[derive(Debug)]
pub struct ImageGuard {
    _held: Vec<Held>,
}

/// The identity of an image file: its canonical path when it exists (so two names
/// of one file share a lock), else its canonical directory plus its name, else the
/// absolute path as given.
async fn key(abs: &Path) -> PathBuf {
    if let Ok(p) = tokio::fs::canonicalize(abs).await {
        return p;
    }
    if let (Some(dir), Some(name)) = (abs.parent(), abs.file_name()) {
        if let Ok(d) = tokio::fs::canonicalize(dir).await {
            return d.join(name);
        }
    }
    abs.to_path_buf()
}

fn entry(key: PathBuf) -> Arc<RwLock<()>> {
    // Each critical section is one lookup or insert; a panic cannot leave the map
    // half-updated, so a poisoned lock is safe to recover.
    let mut map = LOCKS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(l) = map.get(&key).and_then(Weak::upgrade) {
        return l;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let l = Arc::new(RwLock::new(()));
    map.insert(key, Arc::downgrade(&l));
    l
}

/// Locks every image of an operation, in a global order so two operations that
/// share images cannot deadlock. An image named twice gets the stronger access.
pub async fn acquire(images: &[(&Path, Access)]) -> ImageGuard {
    let mut keyed: Vec<(PathBuf, Access)> = Vec::with_capacity(images.len());
    for (p, a) in images {
        keyed.push((key(p).await, *a));
    }
    keyed.sort();
    let mut wanted: Vec<(PathBuf, Access)> = Vec::with_capacity(keyed.len());
    for (k, a) in keyed {
        match wanted.last_mut() {
            Some((last, acc)) if *last == k => *acc = (*acc).max(a),
            _ => wanted.push((k, a)),
        }
    }
    let mut held = Vec::with_capacity(wanted.len());
    for (k, a) in wanted {
        let l = entry(k);
        held.push(match a {
            Access::Read => Held::Read(l.read_owned().await),
            Access::Write => Held::Write(l.write_owned().await),
        });
    }
    ImageGuard { _held: held }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    }

    const SHORT: Duration = Duration::from_millis(100);

    #[test]
    fn writes_to_one_image_wait_for_each_other() {
        rt().block_on(async {
            let p = Path::new("/nonexistent-dir-for-lock-test/a.qcow2");
            let g = acquire(&[(p, Access::Write)]).await;
            assert!(tokio::time::timeout(SHORT, acquire(&[(p, Access::Write)])).await.is_err());
            assert!(tokio::time::timeout(SHORT, acquire(&[(p, Access::Read)])).await.is_err());
            drop(g);
            assert!(tokio::time::timeout(SHORT, acquire(&[(p, Access::Write)])).await.is_ok());
        });
    }

    #[test]
    fn reads_share_and_other_images_run_in_parallel() {
        rt().block_on(async {
            let a = Path::new("/nonexistent-dir-for-lock-test/b.qcow2");
            let b = Path::new("/nonexistent-dir-for-lock-test/c.qcow2");
            let _r = acquire(&[(a, Access::Read)]).await;
            assert!(tokio::time::timeout(SHORT, acquire(&[(a, Access::Read)])).await.is_ok());
            let _w = acquire(&[(b, Access::Write)]).await;
            assert!(tokio::time::timeout(SHORT, acquire(&[(Path::new("/nonexistent-dir-for-lock-test/d"), Access::Write)])).await.is_ok());
        });
    }

    #[test]
    fn two_names_of_one_file_share_a_lock() {
        rt().block_on(async {
            let dir = std::env::temp_dir().join(format!("infinivirt-lock-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("img");
            std::fs::write(&file, b"").unwrap();
            let link = dir.join("link");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&file, &link).unwrap();
            let g = acquire(&[(&file, Access::Write)]).await;
            assert!(tokio::time::timeout(SHORT, acquire(&[(&link, Access::Read)])).await.is_err());
            assert!(tokio::time::timeout(SHORT, acquire(&[(&dir.join("./img"), Access::Read)])).await.is_err());
            drop(g);
            std::fs::remove_dir_all(&dir).unwrap();
        });
    }

    #[test]
    fn one_image_named_twice_takes_one_lock() {
        rt().block_on(async {
            let p = Path::new("/nonexistent-dir-for-lock-test/e.qcow2");
            let g = tokio::time::timeout(SHORT, acquire(&[(p, Access::Read), (p, Access::Write)])).await.unwrap();
            assert_eq!(g._held.len(), 1);
            assert!(matches!(g._held[0], Held::Write(_)));
        });
    }
}
