//! `NftablesPersistence` (spec §8.6): the firewall tables saved to a file that
//! `nft -f` loads at boot, written atomically (temp file, fsync, rename) under a lock
//! file, with a backup of the previous version.
//!
//! The file starts with `add table …` / `delete table …` for each saved table, so
//! loading it (at boot, by `restoreFromDisk` or by hand) replaces those tables in one
//! transaction instead of adding duplicate rules to what is already there.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::apply::{list_text, run_file, run_text, Label};
use super::model::{Table, BRIDGE_TABLE, INET_TABLE};

pub const DEFAULT_PERSISTENCE_DIR: &str = "/etc/infinivirt/nftables";
pub const MAIN_FILE: &str = "infinivirt.nft";
pub const BACKUP_FILE: &str = "infinivirt.nft.bak";
pub const TEMP_FILE: &str = "infinivirt.nft.tmp";
pub const LOCK_FILE: &str = ".lock";
/// A lock file older than this is left over from a crashed writer and is removed.
pub const STALE_LOCK: Duration = Duration::from_secs(5 * 60);

/// Spec `PersistenceConfig`; `dir` is configurable (tests use a temporary directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceConfig {
    pub dir: PathBuf,
    pub create_backup: bool,
    pub use_locking: bool,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        PersistenceConfig { dir: PathBuf::from(DEFAULT_PERSISTENCE_DIR), create_backup: true, use_locking: true }
    }
}

/// Spec `PersistenceResult`; `timestamp` in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistenceResult {
    pub success: bool,
    pub file_path: String,
    pub timestamp: f64,
    pub error: Option<String>,
}

/// Spec `RestoreResult`.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreResult {
    pub success: bool,
    pub rules_loaded: bool,
    pub timestamp: f64,
    pub error: Option<String>,
}

/// Spec `getStatus()` result.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistenceStatus {
    pub persistence_dir: String,
    pub main_file_exists: bool,
    pub backup_file_exists: bool,
    pub main_file_modified: Option<f64>,
    pub table_exists: bool,
}

#[allow(clippy::cast_precision_loss)] // milliseconds since 1970 stay far below 2^53
fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as f64
}

#[derive(Debug, Clone)]
pub struct NftablesPersistence {
    config: PersistenceConfig,
}

/// Serialises exports within the process.
static EXPORT_LOCK: std::sync::LazyLock<tokio::sync::Mutex<()>> = std::sync::LazyLock::new(Default::default);

/// Removes the lock file when dropped (every exit path of an export).
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                crate::log::warn("nftables-persistence", &format!("cannot remove the lock file {}: {e}", self.0.display()));
            }
        }
    }
}

/// The line that marks a file written by this version (it replaces its tables).
const REPLACE_MARKER: &str = "delete table bridge infinivirt";

impl NftablesPersistence {
    pub fn new(config: PersistenceConfig) -> Self {
        NftablesPersistence { config }
    }

    pub fn config(&self) -> &PersistenceConfig {
        &self.config
    }

    pub fn main_path(&self) -> PathBuf {
        self.config.dir.join(MAIN_FILE)
    }

    pub fn backup_path(&self) -> PathBuf {
        self.config.dir.join(BACKUP_FILE)
    }

    fn temp_path(&self) -> PathBuf {
        self.config.dir.join(TEMP_FILE)
    }

    fn lock_path(&self) -> PathBuf {
        self.config.dir.join(LOCK_FILE)
    }

    fn lock(&self) -> Result<Option<LockGuard>, String> {
        if !self.config.use_locking {
            return Ok(None);
        }
        let path = self.lock_path();
        for _ in 0..2 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
                    f.write_all(format!("{}\n{ms}\n", std::process::id()).as_bytes()).map_err(|e| format!("Cannot write lock file {}: {e}", path.display()))?;
                    return Ok(Some(LockGuard(path)));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a < STALE_LOCK) {
                        return Err("Lock file exists and is not stale".into());
                    }
                    crate::log::warn("nftables-persistence", &format!("removing stale lock file {}", path.display()));
                    std::fs::remove_file(&path).map_err(|e| format!("Cannot remove stale lock file {}: {e}", path.display()))?;
                }
                Err(e) => return Err(format!("Cannot create lock file {}: {e}", path.display())),
            }
        }
        Err("Lock file exists and is not stale".into())
    }

    /// Saves `bridge infinivirt` (and `inet infinivirt` when present). Never fails:
    /// problems come back in `error`. Exports in this process run one at a time (the
    /// lock file only keeps other processes out); each reads the kernel's current
    /// state, so the last one to finish holds everything changed before it started.
    pub async fn export(&self) -> PersistenceResult {
        let _serial = EXPORT_LOCK.lock().await;
        let file_path = self.main_path().to_string_lossy().into_owned();
        let timestamp = now_ms();
        let fail = |error: String| PersistenceResult { success: false, file_path: file_path.clone(), timestamp, error: Some(error) };
        if let Err(e) = mkdir(&self.config.dir) {
            return fail(e);
        }
        let _lock = match self.lock() {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let bridge = match list_text(&["list", "table", "bridge", "infinivirt"]).await {
            Ok(Some(t)) => t,
            Ok(None) => return PersistenceResult { success: true, file_path, timestamp, error: Some("No infinivirt table exists".into()) },
            Err(e) => return fail(e.to_string()),
        };
        let inet = match list_text(&["list", "table", "inet", "infinivirt"]).await {
            Ok(t) => t,
            Err(e) => return fail(e.to_string()),
        };
        let content = file_content(&crate::log::iso_now(), &bridge, inet.as_deref());
        match self.write_atomically(&content) {
            Ok(()) => PersistenceResult { success: true, file_path, timestamp, error: None },
            Err(e) => fail(e),
        }
    }

    fn write_atomically(&self, content: &str) -> Result<(), String> {
        let main = self.main_path();
        if self.config.create_backup && main.exists() {
            std::fs::copy(&main, self.backup_path()).map_err(|e| format!("Cannot back up {}: {e}", main.display()))?;
        }
        write_replace(&self.temp_path(), &main, content.as_bytes())
    }

    pub async fn has_file(&self) -> bool {
        tokio::fs::metadata(self.main_path()).await.is_ok()
    }

    pub async fn remove_file(&self) -> bool {
        match tokio::fs::remove_file(self.main_path()).await {
            Ok(()) => true,
            Err(e) => {
                crate::log::log("infinivirt:nftables-persistence", &format!("cannot remove {}: {e}", self.main_path().display()));
                false
            }
        }
    }

    /// Loads the main file (spec: missing is success without rules, a file without
    /// the table and its `forward` chain is refused).
    pub async fn restore(&self) -> RestoreResult {
        self.load(&self.main_path(), "No persistence file exists", true).await
    }

    /// Loads the backup, then makes it the main file.
    pub async fn rollback(&self) -> RestoreResult {
        let bak = self.backup_path();
        let mut r = self.load(&bak, "No backup file exists", false).await;
        if r.success && r.rules_loaded {
            let copied = std::fs::read(&bak)
                .map_err(|e| format!("Cannot read {}: {e}", bak.display()))
                .and_then(|data| write_replace(&self.temp_path(), &self.main_path(), &data));
            if let Err(e) = copied {
                r = RestoreResult { success: false, rules_loaded: true, timestamp: r.timestamp, error: Some(e) };
            }
        }
        r
    }

    async fn load(&self, path: &Path, missing: &str, missing_ok: bool) -> RestoreResult {
        let timestamp = now_ms();
        let content = match tokio::fs::read_to_string(path).await {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return RestoreResult { success: missing_ok, rules_loaded: false, timestamp, error: Some(missing.into()) }
            }
            Err(e) => return RestoreResult { success: false, rules_loaded: false, timestamp, error: Some(format!("Cannot read {}: {e}", path.display())) },
        };
        if !content.contains("table bridge infinivirt") || !content.contains("chain forward") {
            return RestoreResult { success: false, rules_loaded: false, timestamp, error: Some("Invalid ruleset format".into()) };
        }
        let op = Label::new("nft -f", [path.to_string_lossy().into_owned()]);
        let res = if content.lines().any(|l| l.trim() == REPLACE_MARKER) {
            run_file(&path.to_string_lossy(), &op).await
        } else {
            // A file from the original library adds to what exists; replace instead.
            run_text(format!("{}\n{content}", replace_preamble(&[BRIDGE_TABLE])), &op).await
        };
        match res {
            Ok(()) => RestoreResult { success: true, rules_loaded: true, timestamp, error: None },
            Err(e) => RestoreResult { success: false, rules_loaded: false, timestamp, error: Some(e.to_string()) },
        }
    }

    pub async fn status(&self) -> PersistenceStatus {
        let main = std::fs::metadata(self.main_path()).ok();
        #[allow(clippy::cast_precision_loss)]
        let modified = main.as_ref().and_then(|m| m.modified().ok()).and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as f64);
        PersistenceStatus {
            persistence_dir: self.config.dir.to_string_lossy().into_owned(),
            main_file_exists: main.is_some(),
            backup_file_exists: self.backup_path().exists(),
            main_file_modified: modified,
            table_exists: super::readback::table_exists(BRIDGE_TABLE).await.unwrap_or(false),
        }
    }
}

fn mkdir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).map_err(|e| format!("Cannot create {}: {e}", dir.display()))
}

/// Writes `data` to `tmp` (0644), syncs it, renames it over `dest` and syncs the directory.
fn write_replace(tmp: &Path, dest: &Path, data: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(tmp)
        .map_err(|e| format!("Cannot write {}: {e}", tmp.display()))?;
    f.write_all(data).and_then(|()| f.sync_all()).map_err(|e| format!("Cannot write {}: {e}", tmp.display()))?;
    drop(f);
    std::fs::rename(tmp, dest).map_err(|e| format!("Cannot rename {} to {}: {e}", tmp.display(), dest.display()))?;
    if let Some(dir) = dest.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            // Best effort: the rename is already visible; this only makes it durable sooner.
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `add table` then `delete table` for each table: in one `nft -f` transaction this
/// removes the table whether or not it existed, before the file defines it again.
fn replace_preamble(tables: &[Table]) -> String {
    tables.iter().map(|t| format!("add table {t}\ndelete table {t}\n")).collect()
}

/// The file: the spec's header, the replace preamble, then the listings.
pub fn file_content(exported_at: &str, bridge: &str, inet: Option<&str>) -> String {
    let mut tables = vec![BRIDGE_TABLE];
    if inet.is_some() {
        tables.push(INET_TABLE);
    }
    let mut out = format!(
        "#!/usr/sbin/nft -f\n#\n# Infinivirt nftables rules\n# Exported: {exported_at}\n# DO NOT EDIT - This file is managed by infinivirt\n#\n\
         # Loading this file replaces the tables below in one transaction.\n{}",
        replace_preamble(&tables)
    );
    for listing in std::iter::once(bridge).chain(inet) {
        out.push_str(listing.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_layout() {
        let f = file_content("2025-01-01T00:00:00.000Z", "table bridge infinivirt {\n\tchain forward {\n\t}\n}\n", Some("table inet infinivirt {\n}\n"));
        assert_eq!(
            f,
            "#!/usr/sbin/nft -f\n#\n# Infinivirt nftables rules\n# Exported: 2025-01-01T00:00:00.000Z\n# DO NOT EDIT - This file is managed by infinivirt\n#\n\
             # Loading this file replaces the tables below in one transaction.\n\
             add table bridge infinivirt\ndelete table bridge infinivirt\nadd table inet infinivirt\ndelete table inet infinivirt\n\
             table bridge infinivirt {\n\tchain forward {\n\t}\n}\ntable inet infinivirt {\n}\n"
        );
        assert!(f.lines().any(|l| l == REPLACE_MARKER));
    }

    #[test]
    fn lock_is_exclusive_and_stale_locks_go() {
        let dir = std::env::temp_dir().join(format!("iv-persist-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = NftablesPersistence::new(PersistenceConfig { dir: dir.clone(), ..Default::default() });
        let held = p.lock().unwrap();
        assert_eq!(p.lock().err().as_deref(), Some("Lock file exists and is not stale"));
        drop(held);
        assert!(!dir.join(LOCK_FILE).exists());
        // A lock older than five minutes is removed.
        std::fs::write(dir.join(LOCK_FILE), "1\n0\n").unwrap();
        let old = SystemTime::now() - Duration::from_secs(600);
        let f = std::fs::File::options().write(true).open(dir.join(LOCK_FILE)).unwrap();
        f.set_modified(old).unwrap();
        drop(f);
        let again = p.lock().unwrap();
        assert!(again.is_some());
        drop(again);
        let unlocked = NftablesPersistence::new(PersistenceConfig { dir: dir.clone(), use_locking: false, ..Default::default() });
        assert!(unlocked.lock().unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = std::env::temp_dir().join(format!("iv-persist-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = NftablesPersistence::new(PersistenceConfig { dir: dir.clone(), ..Default::default() });
        p.write_atomically("one\n").unwrap();
        p.write_atomically("two\n").unwrap();
        assert_eq!(std::fs::read_to_string(p.main_path()).unwrap(), "two\n");
        assert_eq!(std::fs::read_to_string(p.backup_path()).unwrap(), "one\n");
        assert!(!p.temp_path().exists());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(p.main_path()).unwrap().permissions().mode() & 0o777, 0o644);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
