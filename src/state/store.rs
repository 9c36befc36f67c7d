//! The database contract (spec §11.1, §17.7): one async trait, three implementations
//! (PostgreSQL on the backend's Prisma tables, embedded SQLite, and — in the napi layer
//! — a caller's JS `DatabaseAdapter` object).
//!
//! The trait is object safe (`Arc<dyn Store>`): methods return boxed futures, so the
//! sync layer is written once against whichever store the caller chose at run time.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use super::error::{DatabaseError, StateError};
use super::records::{FirewallRuleRecord, MachineConfigUpdate, MachineRecord, RunningVmRecord, RuntimeRecord, TransitionResult, VmConfigRecord};
use super::status::{automatic_write_allowed, Reason, VmStatus};

/// A store operation in flight.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DatabaseError>> + Send + 'a>>;

/// `/var/lib/infinivirt/disks` + `/<internalName>.qcow2` (spec §11.1 `getMachineDiskPath`).
pub const DISK_PATH_PREFIX: &str = "/var/lib/infinivirt/disks/";

/// What a conditional status write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    /// The status was `previous` and is now the new one.
    Written { previous: VmStatus },
    /// The status already was the new one; nothing written.
    Unchanged,
    /// The status is `error`, which an automatic demotion never overwrites.
    Refused { current: VmStatus },
    /// No such machine.
    NotFound,
}

/// The database contract. Every method is one logical operation of spec §11.1 with
/// its result mapping; errors carry the spec's codes and messages.
pub trait Store: Send + Sync + 'static {
    /// `"postgres"`, `"sqlite"` or `"js"`.
    fn kind(&self) -> &'static str;

    fn find_machine<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MachineRecord>>;
    /// Unconditional; a missing machine is not an error (spec §20.11 #123).
    fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a VmStatus) -> StoreFuture<'a, ()>;
    /// `update_machine_status` that also records why, where the store has a column for
    /// it (the embedded SQLite schema does; the backend's does not, so it is logged).
    fn update_status_with_reason<'a>(&'a self, id: &'a str, status: &'a VmStatus, reason: &'a Reason) -> StoreFuture<'a, ()> {
        let _ = reason;
        self.update_machine_status(id, status)
    }
    fn find_running_vms(&self) -> StoreFuture<'_, Vec<RunningVmRecord>>;
    /// VMs that may have a QEMU process: status running, starting, suspended or paused,
    /// or a stored PID (what a restarted manager must reconcile, rule 8). The default
    /// is `find_running_vms`, all a plain adapter offers.
    fn find_vms_with_process(&self) -> StoreFuture<'_, Vec<RunningVmRecord>> {
        self.find_running_vms()
    }
    fn clear_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    fn clear_volatile_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;
    fn find_machine_with_config<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<VmConfigRecord>>;
    fn update_machine_configuration<'a>(&'a self, id: &'a str, update: &'a MachineConfigUpdate) -> StoreFuture<'a, ()>;
    fn transition_vm_status<'a>(&'a self, id: &'a str, from: &'a VmStatus, to: &'a VmStatus, version: i64) -> StoreFuture<'a, TransitionResult>;
    fn get_firewall_rules<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<FirewallRuleRecord>>;
    fn get_firewall_rule_set_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>>;
    fn get_machine_internal_name<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>>;

    fn get_machine_disk_path<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(self.get_machine_internal_name(id).await?.filter(|n| !n.is_empty()).map(|n| format!("{DISK_PATH_PREFIX}{n}.qcow2"))) })
    }

    /// An automatic status write (crash, QMP event): never overwrites `error` with a
    /// demotion (`automatic_write_allowed`), never rewrites an equal status, and records
    /// `reason` where the store has a column for it. Native stores do this atomically;
    /// the default (for plain JS adapters) reads, decides and writes.
    fn set_status_automatic<'a>(&'a self, id: &'a str, status: &'a VmStatus, reason: &'a Reason) -> StoreFuture<'a, StatusChange> {
        let _ = reason; // a plain DatabaseAdapter has nowhere to keep it
        Box::pin(async move {
            let Some(m) = self.find_machine(id).await? else { return Ok(StatusChange::NotFound) };
            if m.status == *status {
                return Ok(StatusChange::Unchanged);
            }
            if !automatic_write_allowed(&m.status, status) {
                return Ok(StatusChange::Refused { current: m.status });
            }
            self.update_machine_status(id, status).await?;
            Ok(StatusChange::Written { previous: m.status })
        })
    }

    /// The VM's status and runtime columns whatever its status. The default scans
    /// `findRunningVMs` (all a plain adapter offers), so it only sees the runtime
    /// columns of running VMs.
    fn find_runtime<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<RuntimeRecord>> {
        Box::pin(async move {
            let running = self.find_running_vms().await?;
            if let Some(r) = running.into_iter().find(|r| r.id == id) {
                return Ok(Some(RuntimeRecord { status: r.status, configuration: r.configuration }));
            }
            // Not running: its status is all a plain adapter can tell.
            Ok(self.find_machine(id).await?.map(|m| RuntimeRecord { status: m.status, configuration: None }))
        })
    }

    /// Inserts one row into one of the contract's tables (embedded SQLite setups and
    /// tests have no backend to create machines). Columns are checked against the schema.
    fn insert_record<'a>(&'a self, model: &'a str, data: &'a serde_json::Value) -> StoreFuture<'a, String> {
        let _ = (model, data);
        Box::pin(async move { Err(DatabaseError::Unsupported { message: "insertRecord is not supported by this store".into() }) })
    }

    /// Closes pooled connections (idempotent).
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// PostgreSQL through sqlx; the URL may carry Prisma's parameters.
    Postgres { url: String },
    /// The embedded SQLite database at `path`.
    Sqlite { path: PathBuf },
}

/// Default embedded database.
pub const DEFAULT_SQLITE_PATH: &str = "/var/lib/infinivirt/state.db";

impl StoreChoice {
    /// `databaseUrl` (PostgreSQL, or `sqlite:`/`file:` for SQLite), else `sqlitePath`,
    /// else `INFINIVIRT_DATABASE_URL`, else `INFINIVIRT_SQLITE_PATH`, else the default
    /// embedded database. Giving both options is an error.
    pub fn resolve(database_url: Option<&str>, sqlite_path: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<StoreChoice, StateError> {
        let bad = |field: &str, reason: &str| StateError::InvalidOption { field: field.into(), reason: reason.into() };
        match (database_url, sqlite_path) {
            (Some(_), Some(_)) => Err(bad("databaseUrl", "give either databaseUrl or sqlitePath, not both")),
            (Some(url), None) => Self::from_url(url).ok_or_else(|| bad("databaseUrl", "expected a postgres://, postgresql://, sqlite: or file: URL")),
            (None, Some(p)) => Self::sqlite_path(p).ok_or_else(|| bad("sqlitePath", "expected a non-empty path")),
            (None, None) => {
                if let Some(url) = env("INFINIVIRT_DATABASE_URL").filter(|u| !u.is_empty()) {
                    return Self::from_url(&url).ok_or_else(|| bad("INFINIVIRT_DATABASE_URL", "expected a postgres://, postgresql://, sqlite: or file: URL"));
                }
                if let Some(p) = env("INFINIVIRT_SQLITE_PATH").filter(|p| !p.is_empty()) {
                    return Self::sqlite_path(&p).ok_or_else(|| bad("INFINIVIRT_SQLITE_PATH", "expected a path"));
                }
                Ok(StoreChoice::Sqlite { path: PathBuf::from(DEFAULT_SQLITE_PATH) })
            }
        }
    }

    /// Where the store is, for logs: `sqlite <path>`, or `postgres <url>` with the
    /// URL's password masked.
    pub fn describe(&self) -> String {
        match self {
            StoreChoice::Postgres { url } => format!("postgres {}", crate::redact::text(url)),
            StoreChoice::Sqlite { path } => format!("sqlite {}", path.display()),
        }
    }

    fn from_url(url: &str) -> Option<StoreChoice> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Some(StoreChoice::Postgres { url: url.to_string() });
        }
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).or_else(|| url.strip_prefix("file:"))?;
        // Prisma's `file:./dev.db?connection_limit=1`: the query is not part of the path.
        Self::sqlite_path(rest.split('?').next().unwrap_or(rest))
    }

    fn sqlite_path(p: &str) -> Option<StoreChoice> {
        (!p.is_empty() && !p.contains('\0')).then(|| StoreChoice::Sqlite { path: PathBuf::from(p) })
    }

    /// Opens the store. Nothing connects yet: the pool (and, for SQLite, the file and
    /// its migrations) is set up on first use, so construction never blocks or fails on
    /// an unreachable database.
    pub fn open(&self) -> Result<Arc<dyn Store>, StateError> {
        match self {
            StoreChoice::Postgres { url } => Ok(Arc::new(super::pg::PgStore::new(url)?)),
            StoreChoice::Sqlite { path } => Ok(Arc::new(super::sqlite::SqliteStore::new(path.clone()))),
        }
    }
}

/// A random (version 4) UUID in its canonical text form, from the kernel's CSPRNG:
/// what Prisma's `@default(uuid())` would have put in `id`.
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    fill_random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn fill_random(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: getrandom writes at most `rest.len()` bytes into the valid, exclusively
        // borrowed buffer `rest` and touches nothing else.
        let n = unsafe { nix::libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) if n > 0 => filled += n,
            // EINTR: try again. Any other failure (no getrandom): the OS-seeded hasher.
            _ if nix::errno::Errno::last() == nix::errno::Errno::EINTR => {}
            _ => {
                use std::hash::BuildHasher;
                for chunk in rest.chunks_mut(8) {
                    let r = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now()).to_le_bytes();
                    chunk.copy_from_slice(&r[..chunk.len()]);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn store_choice() {
        let pg = StoreChoice::resolve(Some("postgresql://u@h/db?schema=public"), None, no_env).unwrap();
        assert_eq!(pg, StoreChoice::Postgres { url: "postgresql://u@h/db?schema=public".into() });
        assert_eq!(StoreChoice::resolve(None, Some("/tmp/x.db"), no_env).unwrap(), StoreChoice::Sqlite { path: "/tmp/x.db".into() });
        assert_eq!(StoreChoice::resolve(Some("file:./dev.db?connection_limit=1"), None, no_env).unwrap(), StoreChoice::Sqlite { path: "./dev.db".into() });
        assert_eq!(StoreChoice::resolve(None, None, no_env).unwrap(), StoreChoice::Sqlite { path: DEFAULT_SQLITE_PATH.into() });
        let env = |k: &str| (k == "INFINIVIRT_DATABASE_URL").then(|| "postgres://x/y".to_string());
        assert_eq!(StoreChoice::resolve(None, None, env).unwrap(), StoreChoice::Postgres { url: "postgres://x/y".into() });
        assert!(StoreChoice::resolve(Some("mysql://x"), None, no_env).is_err());
        assert!(StoreChoice::resolve(Some("postgres://x"), Some("/a"), no_env).is_err());
        assert!(StoreChoice::resolve(None, Some(""), no_env).is_err());
    }

    #[test]
    fn described_without_password() {
        let pg = StoreChoice::resolve(Some("postgres://app:s3cret@db:5432/x"), None, no_env).unwrap();
        assert_eq!(pg.describe(), "postgres postgres://app:***@db:5432/x");
        assert_eq!(StoreChoice::resolve(None, None, no_env).unwrap().describe(), format!("sqlite {DEFAULT_SQLITE_PATH}"));
    }

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }
}
