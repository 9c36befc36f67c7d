//! The embedded SQLite store: the same logical schema as the backend's tables, created
//! on first use from the migrations in `migrations/sqlite/`, so a single host runs with
//! no database to set up.
//!
//! WAL journal, foreign keys on, a busy timeout; read-decide-write operations run in
//! `BEGIN IMMEDIATE` transactions so two writers (even in two processes) serialise.
//! Unlike the backend's schema, `"Machine"` records why its status last changed.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqliteConnection};
use tokio::sync::OnceCell;

use super::error::{DatabaseError, Retry};
use super::pg::{query_err, update_err};
use super::records::{
    row_status, ColumnKind, ColumnSource, FirewallRuleRecord, FirewallRuleSetRecord, MachineConfigUpdate, MachineConfigurationRecord, MachineRecord,
    RunningVmRecord, RuntimeRecord, TransitionResult, VmConfigRecord, CONFIG_COLUMNS,
};
use super::schema::{insert_row, Cell};
use super::status::{automatic_write_allowed, Reason, VmStatus};
use super::store::{new_uuid, StatusChange, Store, StoreFuture};

const LOG: &str = "infinivirt:store";
const NOW: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema migrations, in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/sqlite/0001_init.sql")];

pub struct SqliteStore {
    path: PathBuf,
    pool: OnceCell<SqlitePool>,
}

impl SqliteStore {
    pub fn new(path: PathBuf) -> Self {
        SqliteStore { path, pool: OnceCell::new() }
    }

    /// The pool (a cheap handle), creating the file, its directory and the schema on
    /// first use.
    async fn pool(&self) -> Result<SqlitePool, sqlx::Error> {
        // Boxed as `Send` here, where its lifetimes are concrete: the open future runs
        // migrations through `&mut` connections, whose `Executor` impls are not
        // higher-ranked enough for the compiler to prove `Send` at every call site.
        let open: std::pin::Pin<Box<dyn std::future::Future<Output = Result<SqlitePool, sqlx::Error>> + Send + '_>> = Box::pin(self.open());
        self.pool.get_or_try_init(|| open).await.cloned()
    }

    async fn open(&self) -> Result<SqlitePool, sqlx::Error> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                use std::os::unix::fs::DirBuilderExt;
                // The database holds console passwords: private to the manager.
                std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(sqlx::Error::Io)?;
            }
        }
        let fresh = !self.path.exists();
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(4).acquire_timeout(BUSY_TIMEOUT).connect_with(options).await?;
        if fresh {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).map_err(sqlx::Error::Io)?;
        }
        migrate(&pool).await?;
        Ok(pool)
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, sqlx::Error> {
        self.pool().await?.acquire().await
    }
}

/// Applies the migrations not yet applied, each in one immediate transaction (so two
/// processes opening a fresh file do not both create the tables).
fn migrate(pool: &SqlitePool) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(migrate_inner(pool))
}

async fn migrate_inner(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let current: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await?;
        if current >= version {
            continue;
        }
        // A plain string runs unprepared, all its statements in turn.
        sqlx::Executor::execute(&mut *tx, *sql).await?;
        // PRAGMA takes no bound parameters; `version` is our own integer.
        let pragma = format!("PRAGMA user_version = {version}");
        sqlx::Executor::execute(&mut *tx, pragma.as_str()).await?;
        tx.commit().await?;
        crate::log::log(LOG, &format!("applied SQLite migration {version}"));
    }
    Ok(())
}

struct LiteCols<'r>(&'r SqliteRow);

impl ColumnSource for LiteCols<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0.try_get::<Option<String>, _>(name).ok().flatten()
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.0.try_get::<Option<i64>, _>(name).ok().flatten()
    }
    fn boolean(&self, name: &str) -> Option<bool> {
        self.0.try_get::<Option<bool>, _>(name).ok().flatten()
    }
    fn json(&self, name: &str) -> Option<Value> {
        self.text(name).and_then(|t| serde_json::from_str(&t).ok()).filter(|v: &Value| !v.is_null())
    }
}

static CONFIG_SELECT: LazyLock<String> = LazyLock::new(|| CONFIG_COLUMNS.iter().map(|(n, _)| format!("c.\"{n}\"")).collect::<Vec<_>>().join(", "));

static VM_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT m.\"id\", m.\"status\", m.\"name\", m.\"internalName\", m.\"os\", m.\"cpuCores\", m.\"ramGB\", m.\"diskSizeGB\", \
         m.\"gpuPciAddress\", m.\"version\", m.\"firewallRuleSetId\", d.\"id\" AS \"deptId\", d.\"name\" AS \"deptName\", \
         d.\"firewallRuleSetId\" AS \"deptRuleSetId\", c.\"id\" AS \"cfgId\", {} \
         FROM \"Machine\" m LEFT JOIN \"Department\" d ON d.\"id\" = m.\"departmentId\" \
         LEFT JOIN \"MachineConfiguration\" c ON c.\"machineId\" = m.\"id\" WHERE m.\"id\" = ?1",
        *CONFIG_SELECT
    )
});

const RUNTIME_SELECT: &str = "SELECT m.\"id\", m.\"status\", c.\"id\" AS \"cfgId\", c.\"qemuPid\", c.\"tapDeviceName\", c.\"qmpSocketPath\", \
     c.\"guestAgentSocketPath\", c.\"infiniServiceSocketPath\", c.\"cpuPinning\" \
     FROM \"Machine\" m LEFT JOIN \"MachineConfiguration\" c ON c.\"machineId\" = m.\"id\"";
const RUNNING_ONLY: &str = "m.\"status\" = 'running'";
/// A VM that may have a QEMU process (what a restarted manager reconciles).
const MAY_HAVE_PROCESS: &str = "m.\"status\" IN ('running', 'starting', 'suspended', 'paused') OR c.\"qemuPid\" IS NOT NULL";

const RULE_COLUMNS: &str = "\"id\", \"ruleSetId\", \"name\", \"description\", \"action\", \"direction\", \"priority\", \"protocol\", \
     \"srcPortStart\", \"srcPortEnd\", \"dstPortStart\", \"dstPortEnd\", \"srcIpAddr\", \"srcIpMask\", \"dstIpAddr\", \"dstIpMask\", \
     \"connectionState\", \"overridesDept\"";

fn runtime_of(row: &SqliteRow) -> Option<MachineConfigurationRecord> {
    let cols = LiteCols(row);
    cols.text("cfgId").map(|_| MachineConfigurationRecord::read(&cols))
}

async fn load_vm(conn: &mut SqliteConnection, id: &str) -> Result<Option<VmConfigRecord>, sqlx::Error> {
    let Some(row) = sqlx::query(&VM_SELECT).bind(id.to_string()).fetch_optional(&mut *conn).await? else { return Ok(None) };
    let c = LiteCols(&row);
    let sets = load_rule_sets(conn, &VmConfigRecord::rule_set_ids(&c)).await?;
    Ok(Some(VmConfigRecord::from_row(&c, &sets)))
}

async fn load_rule_sets(conn: &mut SqliteConnection, ids: &[String]) -> Result<Vec<FirewallRuleSetRecord>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: String = (1..=ids.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT \"id\", \"name\", \"internalName\", \"priority\", \"isActive\" FROM \"FirewallRuleSet\" WHERE \"id\" IN ({marks})");
    let mut q = sqlx::query_as::<_, (String, String, String, i64, bool)>(&sql);
    for id in ids {
        q = q.bind(id.to_string());
    }
    let sets = q.fetch_all(&mut *conn).await?;
    let sql = format!("SELECT {RULE_COLUMNS} FROM \"FirewallRule\" WHERE \"ruleSetId\" IN ({marks}) ORDER BY \"createdAt\", \"id\"");
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id.to_string());
    }
    let rules = q.fetch_all(&mut *conn).await?;
    Ok(sets
        .into_iter()
        .map(|(id, name, internal_name, priority, is_active)| FirewallRuleSetRecord {
            rules: rules.iter().filter(|r| LiteCols(r).text("ruleSetId").as_ref() == Some(&id)).map(|r| FirewallRuleRecord::read(&LiteCols(r))).collect(),
            id,
            name,
            internal_name,
            priority,
            is_active,
        })
        .collect())
}

type LiteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_config<'q>(q: LiteQuery<'q>, kind: ColumnKind, v: &Value) -> LiteQuery<'q> {
    match kind {
        ColumnKind::Text => q.bind(v.as_str().map(str::to_string)),
        ColumnKind::Int => q.bind(super::records::json_int(v)),
        ColumnKind::Bool => q.bind(v.as_bool()),
        ColumnKind::JsonArray | ColumnKind::JsonObject => q.bind((!v.is_null()).then(|| v.to_string())),
    }
}

fn io_err(action: &'static str, vm_id: &str, e: &sqlx::Error) -> DatabaseError {
    update_err(action, Some(vm_id), e)
}

impl SqliteStore {
    /// Status and runtime columns of the VMs `filter` (a fixed SQL condition) selects.
    async fn runtime_rows(&self, filter: &'static str, what: &'static str) -> Result<Vec<RunningVmRecord>, DatabaseError> {
        let err = |e: sqlx::Error| query_err(what, None, &e);
        let pool = self.pool().await.map_err(err)?;
        let rows = sqlx::query(&format!("{RUNTIME_SELECT} WHERE {filter}")).fetch_all(&pool).await.map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| {
                let c = LiteCols(r);
                RunningVmRecord { id: c.text("id").unwrap_or_default(), status: row_status(&c), configuration: runtime_of(r) }
            })
            .collect())
    }
    async fn set_status_automatic_once(&self, id: &str, status: &VmStatus, reason: &Reason) -> Result<StatusChange, sqlx::Error> {
        let mut tx = self.pool().await?.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT \"status\" FROM \"Machine\" WHERE \"id\" = ?1").bind(id.to_string()).fetch_optional(&mut *tx).await?;
        let Some(current) = current.map(VmStatus::from) else { return Ok(StatusChange::NotFound) };
        if current == *status {
            return Ok(StatusChange::Unchanged);
        }
        if !automatic_write_allowed(&current, status) {
            return Ok(StatusChange::Refused { current });
        }
        sqlx::query(&format!(
            "UPDATE \"Machine\" SET \"status\" = ?2, \"statusReason\" = ?3, \"statusChangedAt\" = {NOW}, \"updatedAt\" = {NOW} WHERE \"id\" = ?1"
        ))
        .bind(id.to_string())
        .bind(status.to_string())
        .bind(format!("{}: {}", reason.code(), reason.describe()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StatusChange::Written { previous: current })
    }

    async fn transition_once(&self, id: &str, from: &VmStatus, to: &VmStatus, version: i64) -> Result<Result<TransitionResult, DatabaseError>, sqlx::Error> {
        let mut tx = self.pool().await?.begin_with("BEGIN IMMEDIATE").await?;
        let Some(mut vm) = load_vm(&mut tx, id).await? else { return Ok(Err(DatabaseError::MachineNotFound { vm_id: id.into() })) };
        if vm.version != version {
            return Ok(Err(DatabaseError::VersionConflict { vm_id: id.into(), expected: version, found: vm.version }));
        }
        if vm.status != *from {
            return Ok(Err(DatabaseError::StatusConflict { vm_id: id.into(), expected: from.to_string(), found: vm.status.into() }));
        }
        let new_version = vm.version + 1;
        let done = sqlx::query(&format!(
            "UPDATE \"Machine\" SET \"status\" = ?4, \"version\" = ?5, \"statusReason\" = NULL, \"statusChangedAt\" = {NOW}, \"updatedAt\" = {NOW} \
             WHERE \"id\" = ?1 AND \"status\" = ?2 AND \"version\" = ?3"
        ))
        .bind(id.to_string())
        .bind(from.to_string())
        .bind(version)
        .bind(to.to_string())
        .bind(new_version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(Err(DatabaseError::ConcurrentModification { vm_id: id.into(), expected_status: from.to_string(), expected_version: version }));
        }
        tx.commit().await?;
        vm.status = to.clone();
        vm.version = new_version;
        Ok(Ok(TransitionResult { new_version, vm_config: vm }))
    }

    async fn upsert_config(&self, id: &str, update: &MachineConfigUpdate) -> Result<(), sqlx::Error> {
        let cols: Vec<&str> = update.values().iter().map(|(n, _, _)| *n).collect();
        let names: String = cols.iter().map(|n| format!(", \"{n}\"")).collect();
        let params: String = (0..cols.len()).map(|i| format!(", ?{}", i + 3)).collect();
        let sets: String = cols.iter().map(|n| format!("\"{n}\" = excluded.\"{n}\", ")).collect();
        let sql = format!(
            "INSERT INTO \"MachineConfiguration\" (\"id\", \"machineId\", \"updatedAt\"{names}) VALUES (?1, ?2, {NOW}{params}) \
             ON CONFLICT (\"machineId\") DO UPDATE SET {sets}\"updatedAt\" = excluded.\"updatedAt\""
        );
        let mut q = sqlx::query(&sql).bind(new_uuid()).bind(id.to_string());
        for (_, kind, v) in update.values() {
            q = bind_config(q, *kind, v);
        }
        q.execute(&self.pool().await?).await?;
        Ok(())
    }

    async fn scalar_text(&self, sql: &str, id: &str) -> Result<Option<String>, sqlx::Error> {
        let pool = self.pool().await?;
        let v: Option<Option<String>> = sqlx::query_scalar(sql).bind(id.to_string()).fetch_optional(&pool).await?;
        Ok(v.flatten())
    }

    async fn exec_by_id(&self, sql: &str, id: &str) -> Result<u64, sqlx::Error> {
        let pool = self.pool().await?;
        Ok(sqlx::query(sql).bind(id.to_string()).execute(&pool).await?.rows_affected())
    }
}

impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn find_machine<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MachineRecord>> {
        Box::pin(async move {
            let err = |e: sqlx::Error| query_err("find machine", Some(id), &e);
            let pool = self.pool().await.map_err(err)?;
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT \"id\", \"status\" FROM \"Machine\" WHERE \"id\" = ?1").bind(id.to_string()).fetch_optional(&pool).await.map_err(err)?;
            Ok(row.map(|(id, status): (String, String)| MachineRecord { id, status: status.into() }))
        })
    }

    fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a VmStatus) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let err = |e: sqlx::Error| update_err("update machine status", Some(id), &e);
            let pool = self.pool().await.map_err(err)?;
            let sql = format!(
                "UPDATE \"Machine\" SET \"status\" = ?2, \"statusReason\" = NULL, \"statusChangedAt\" = {NOW}, \"updatedAt\" = {NOW} WHERE \"id\" = ?1"
            );
            let done = sqlx::query(&sql).bind(id.to_string()).bind(status.to_string()).execute(&pool).await.map_err(err)?.rows_affected();
            if done == 0 {
                crate::log::log(&format!("{LOG}:warn"), &format!("Machine {id} not found while setting status {status}"));
            }
            Ok(())
        })
    }

    fn update_status_with_reason<'a>(&'a self, id: &'a str, status: &'a VmStatus, reason: &'a Reason) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let err = |e: sqlx::Error| update_err("update machine status", Some(id), &e);
            let pool = self.pool().await.map_err(err)?;
            let sql =
                format!("UPDATE \"Machine\" SET \"status\" = ?2, \"statusReason\" = ?3, \"statusChangedAt\" = {NOW}, \"updatedAt\" = {NOW} WHERE \"id\" = ?1");
            let why = format!("{}: {}", reason.code(), reason.describe());
            sqlx::query(&sql).bind(id.to_string()).bind(status.to_string()).bind(why).execute(&pool).await.map_err(err)?;
            Ok(())
        })
    }

    fn find_running_vms(&self) -> StoreFuture<'_, Vec<RunningVmRecord>> {
        Box::pin(self.runtime_rows(RUNNING_ONLY, "find running VMs"))
    }

    fn find_vms_with_process(&self) -> StoreFuture<'_, Vec<RunningVmRecord>> {
        Box::pin(self.runtime_rows(MAY_HAVE_PROCESS, "find VMs with a process"))
    }

    fn clear_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE \"MachineConfiguration\" SET \"qemuPid\" = NULL, \"tapDeviceName\" = NULL, \"qmpSocketPath\" = NULL, \"updatedAt\" = {NOW} WHERE \"machineId\" = ?1"
            );
            self.exec_by_id(&sql, id).await.map_err(|e| io_err("clear machine configuration", id, &e))?;
            Ok(())
        })
    }

    fn clear_volatile_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let sql =
                format!("UPDATE \"MachineConfiguration\" SET \"qemuPid\" = NULL, \"qmpSocketPath\" = NULL, \"updatedAt\" = {NOW} WHERE \"machineId\" = ?1");
            self.exec_by_id(&sql, id).await.map_err(|e| io_err("clear volatile machine configuration", id, &e))?;
            Ok(())
        })
    }

    fn find_machine_with_config<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<VmConfigRecord>> {
        Box::pin(async move {
            let err = |e: sqlx::Error| query_err("find machine with config", Some(id), &e);
            let mut conn = self.conn().await.map_err(err)?;
            load_vm(&mut conn, id).await.map_err(err)
        })
    }

    fn update_machine_configuration<'a>(&'a self, id: &'a str, update: &'a MachineConfigUpdate) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if id.is_empty() {
                return Err(DatabaseError::InvalidInput { message: "Machine ID is required".into(), vm_id: None });
            }
            self.upsert_config(id, update).await.map_err(|e| io_err("update machine configuration", id, &e))
        })
    }

    fn transition_vm_status<'a>(&'a self, id: &'a str, from: &'a VmStatus, to: &'a VmStatus, version: i64) -> StoreFuture<'a, TransitionResult> {
        Box::pin(async move {
            match self.transition_once(id, from, to, version).await {
                Ok(r) => r,
                Err(e) => Err(io_err("transition VM status", id, &e)),
            }
        })
    }

    fn get_firewall_rules<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<FirewallRuleRecord>> {
        Box::pin(async move {
            let err = |e: sqlx::Error| query_err("get firewall rules", Some(id), &e);
            let mut conn = self.conn().await.map_err(err)?;
            match load_vm(&mut conn, id).await.map_err(err)? {
                Some(vm) => Ok(vm.firewall_rules()),
                None => Err(DatabaseError::MachineNotFound { vm_id: id.into() }),
            }
        })
    }

    fn get_firewall_rule_set_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            self.scalar_text("SELECT \"firewallRuleSetId\" FROM \"Machine\" WHERE \"id\" = ?1", id)
                .await
                .map_err(|e| query_err("get firewall rule set ID", Some(id), &e))
        })
    }

    fn get_machine_internal_name<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            self.scalar_text("SELECT \"internalName\" FROM \"Machine\" WHERE \"id\" = ?1", id)
                .await
                .map_err(|e| query_err("get machine internal name", Some(id), &e))
        })
    }

    fn set_status_automatic<'a>(&'a self, id: &'a str, status: &'a VmStatus, reason: &'a Reason) -> StoreFuture<'a, StatusChange> {
        Box::pin(async move {
            let r = self.set_status_automatic_once(id, status, reason).await.map_err(|e| io_err("update machine status", id, &e))?;
            if let StatusChange::Written { previous } = &r {
                crate::log::log(LOG, &format!("VM {id}: {previous} -> {status} ({})", reason.describe()));
            }
            Ok(r)
        })
    }

    fn find_runtime<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<RuntimeRecord>> {
        Box::pin(async move {
            let err = |e: sqlx::Error| query_err("find machine runtime", Some(id), &e);
            let pool = self.pool().await.map_err(err)?;
            let sql = format!("{RUNTIME_SELECT} WHERE m.\"id\" = ?1");
            let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(&pool).await.map_err(err)?;
            Ok(row.map(|r| RuntimeRecord { status: row_status(&LiteCols(&r)), configuration: runtime_of(&r) }))
        })
    }

    fn insert_record<'a>(&'a self, model: &'a str, data: &'a Value) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let row = insert_row(model, data).map_err(|m| DatabaseError::InvalidInput { message: m, vm_id: None })?;
            let mut names = String::from("\"id\", \"updatedAt\"");
            let mut params = format!("?1, {NOW}");
            for (i, (n, _, _)) in row.cells.iter().enumerate() {
                names.push_str(&format!(", \"{n}\""));
                params.push_str(&format!(", ?{}", i + 2));
            }
            let sql = format!("INSERT INTO \"{}\" ({names}) VALUES ({params})", row.model.name);
            let mut q = sqlx::query(&sql).bind(row.id.clone());
            for (_, _, cell) in &row.cells {
                q = match cell {
                    Cell::Text(v) => q.bind(v.clone()),
                    Cell::Int(v) => q.bind(*v),
                    Cell::Bool(v) => q.bind(*v),
                    Cell::Json(v) => q.bind(v.as_ref().map(Value::to_string)),
                };
            }
            let err = |e: sqlx::Error| update_err("insert record", None, &e);
            let pool = self.pool().await.map_err(err)?;
            q.execute(&pool).await.map_err(err)?;
            Ok(row.id)
        })
    }

    fn close(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            if let Some(p) = self.pool.get() {
                p.close().await;
            }
        })
    }
}

/// `Retry` of an SQLite failure (busy/locked are transient), for callers outside.
pub fn retry_of(e: &sqlx::Error) -> Retry {
    super::pg::classify(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn temp_db(name: &str) -> (PathBuf, SqliteStore) {
        let dir = std::env::temp_dir().join(format!("iv-sqlite-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/state.db");
        (dir, SqliteStore::new(path))
    }

    async fn seed(s: &SqliteStore) {
        s.insert_record("FirewallRuleSet", &json!({"id": "rs-d", "name": "d", "internalName": "d", "entityType": "DEPARTMENT", "entityId": "d1"}))
            .await
            .unwrap();
        s.insert_record("FirewallRuleSet", &json!({"id": "rs-v", "name": "v", "internalName": "v", "entityType": "VM", "entityId": "m1", "priority": 100}))
            .await
            .unwrap();
        s.insert_record("FirewallRule", &json!({"id": "r1", "ruleSetId": "rs-v", "name": "ssh", "action": "ACCEPT", "direction": "IN", "priority": 200, "protocol": "tcp", "dstPortStart": 22, "connectionState": {"new": true}})).await.unwrap();
        s.insert_record("FirewallRule", &json!({"id": "r2", "ruleSetId": "rs-d", "name": "drop", "action": "DROP", "direction": "INOUT", "priority": 200}))
            .await
            .unwrap();
        s.insert_record("Department", &json!({"id": "d1", "name": "Sales", "firewallRuleSetId": "rs-d"})).await.unwrap();
        s.insert_record("Machine", &json!({"id": "m1", "name": "vm one", "internalName": "vm-one", "status": "running", "os": "ubuntu", "cpuCores": 2, "ramGB": 4, "departmentId": "d1", "firewallRuleSetId": "rs-v"})).await.unwrap();
    }

    #[test]
    fn process_filter_matches_the_status_helper() {
        for s in VmStatus::KNOWN {
            assert_eq!(MAY_HAVE_PROCESS.contains(&format!("'{s}'")), s.may_have_process(), "{s}");
        }
    }

    #[test]
    fn creates_schema_and_runs_the_contract() {
        let (dir, s) = temp_db("contract");
        rt().block_on(async {
            seed(&s).await;
            let upd = MachineConfigUpdate::from_json(&json!({"qemuPid": 4242, "tapDeviceName": "vnet-1", "qmpSocketPath": "/run/x.sock", "diskPaths": ["/d.qcow2"], "cpuPinning": {"cores": [0, 1]}, "enableAudio": true})).unwrap();
            s.update_machine_configuration("m1", &upd).await.unwrap();
            let running = s.find_running_vms().await.unwrap();
            assert_eq!(running.len(), 1);
            let cfg = running[0].configuration.clone().unwrap();
            assert_eq!((cfg.qemu_pid, cfg.tap_device_name.as_deref()), (Some(4242), Some("vnet-1")));
            assert!(cfg.has_cpu_pinning());
            let vm = s.find_machine_with_config("m1").await.unwrap().unwrap();
            let js = vm.to_json();
            assert_eq!(js["configuration"]["bridge"], "virbr0");
            assert_eq!(js["configuration"]["enableUsbTablet"], true);
            assert_eq!(js["configuration"]["enableAudio"], true);
            assert_eq!(js["configuration"]["diskPaths"], json!(["/d.qcow2"]));
            assert_eq!(js["department"]["firewallRuleSet"]["rules"][0]["action"], "DROP");
            let rules: Vec<String> = s.get_firewall_rules("m1").await.unwrap().into_iter().map(|r| r.id).collect();
            assert_eq!(rules, ["r2", "r1"]);
            assert_eq!(s.get_machine_disk_path("m1").await.unwrap().as_deref(), Some("/var/lib/infinivirt/disks/vm-one.qcow2"));
            s.clear_volatile_machine_configuration("m1").await.unwrap();
            let rt = s.find_runtime("m1").await.unwrap().unwrap();
            assert_eq!(rt.configuration.unwrap().qemu_pid, None);
            // conditional writes never overwrite error
            s.update_machine_status("m1", &VmStatus::Error).await.unwrap();
            assert_eq!(s.set_status_automatic("m1", &VmStatus::Off, &Reason::Killed).await.unwrap(), StatusChange::Refused { current: "error".into() });
            s.update_machine_status("m1", &VmStatus::Running).await.unwrap();
            assert_eq!(s.set_status_automatic("m1", &VmStatus::Off, &Reason::Killed).await.unwrap(), StatusChange::Written { previous: "running".into() });
            assert_eq!(s.set_status_automatic("m1", &VmStatus::Off, &Reason::Killed).await.unwrap(), StatusChange::Unchanged);
            assert_eq!(s.set_status_automatic("nope", &VmStatus::Off, &Reason::Killed).await.unwrap(), StatusChange::NotFound);
            // transitions
            let t = s.transition_vm_status("m1", &VmStatus::Off, &VmStatus::Starting, 1).await.unwrap();
            assert_eq!(t.new_version, 2);
            let e = s.transition_vm_status("m1", &VmStatus::Off, &VmStatus::Starting, 2).await.unwrap_err();
            assert!(matches!(e, DatabaseError::StatusConflict { .. }), "{e:?}");
            let e = s.transition_vm_status("m1", &VmStatus::Starting, &VmStatus::Running, 1).await.unwrap_err();
            assert!(matches!(e, DatabaseError::VersionConflict { expected: 1, found: 2, .. }));
            assert!(matches!(s.transition_vm_status("x", &"a".into(), &"b".into(), 1).await.unwrap_err(), DatabaseError::MachineNotFound { .. }));
            // missing machine: resolves
            s.update_machine_status("nope", &VmStatus::Off).await.unwrap();
            // a status this crate does not know is stored and read back verbatim
            let odd = VmStatus::from("migrating");
            s.update_machine_status("m1", &odd).await.unwrap();
            assert_eq!(s.find_machine("m1").await.unwrap().unwrap().status, VmStatus::Other("migrating".into()));
            assert_eq!(s.find_runtime("m1").await.unwrap().unwrap().status, odd);
            let t = s.transition_vm_status("m1", &odd, &VmStatus::Starting, 2).await.unwrap();
            assert_eq!(t.vm_config.status, VmStatus::Starting);
            s.close().await;
        });
        // reopening applies no migration twice
        let s2 = SqliteStore::new(dir.join("sub/state.db"));
        rt().block_on(async { assert_eq!(s2.find_machine("m1").await.unwrap().unwrap().status, "starting") });
        std::fs::remove_dir_all(dir).unwrap();
    }
}
