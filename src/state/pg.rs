//! The PostgreSQL store: the backend's Prisma tables, natively through sqlx.
//!
//! Tables and columns are addressed by their quoted Prisma names; `id` (a v4 UUID) and
//! `"updatedAt"` (UTC, like Prisma Client) are supplied on every write, because the
//! Prisma schema leaves them to the client. The pool connects lazily with a short
//! acquire timeout; transactions refused for serialisation reasons or deadlocks are
//! retried a bounded number of times.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};
use tokio::sync::OnceCell;

use super::dburl::{quote_ident, translate, PgSettings};
use super::error::{DatabaseError, Retry, StateError};
use super::records::{
    row_status, ColumnKind, ColumnSource, FirewallRuleRecord, FirewallRuleSetRecord, MachineConfigUpdate, MachineConfigurationRecord, MachineRecord,
    RunningVmRecord, RuntimeRecord, TransitionResult, VmConfigRecord, CONFIG_COLUMNS,
};
use super::schema::{insert_row, Cell, Col};
use super::status::{automatic_write_allowed, Reason, VmStatus};
use super::store::{new_uuid, StatusChange, Store, StoreFuture};

const LOG: &str = "infinivirt:store";
/// `"updatedAt"` as Prisma writes it: the current UTC time, without time zone.
const NOW: &str = "(now() AT TIME ZONE 'UTC')";
/// Attempts of a transaction refused with 40001 or 40P01.
const TX_ATTEMPTS: u32 = 4;

pub struct PgStore {
    settings: PgSettings,
    options: PgConnectOptions,
    pool: OnceCell<PgPool>,
}

impl PgStore {
    pub fn new(url: &str) -> Result<Self, StateError> {
        let settings = translate(url);
        let mut options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StateError::InvalidOption { field: "databaseUrl".into(), reason: e.to_string() })?
            .application_name("infinivirt");
        if let Some(schema) = &settings.search_path {
            options = options.options([("search_path", quote_ident(schema))]);
        }
        if let Some(n) = settings.statement_cache {
            options = options.statement_cache_capacity(n);
        }
        if !settings.ignored.is_empty() {
            crate::log::log(LOG, &format!("ignoring Prisma-only URL parameters: {}", settings.ignored.join(", ")));
        }
        Ok(PgStore { settings, options, pool: OnceCell::new() })
    }

    /// The pool, ready for one query. When the pool holds no idle connection it is about
    /// to open one, and sqlx's pool keeps retrying a refused connection until the whole
    /// acquire timeout has passed, then reports only "pool timed out". So a cold pool
    /// first checks the server is reachable at all (a bare TCP or Unix-socket connect,
    /// bounded by `PROBE_TIMEOUT`): an unreachable server fails within about a second
    /// with the real cause (`Connection refused`), classified transient. A warm pool
    /// (an idle connection, or every connection busy) is used as it is.
    async fn pool(&self) -> Result<&PgPool, sqlx::Error> {
        let pool = self
            .pool
            .get_or_init(|| async {
                PgPoolOptions::new()
                    .max_connections(self.settings.max_connections)
                    .min_connections(0)
                    .acquire_timeout(self.settings.acquire_timeout)
                    .idle_timeout(Duration::from_secs(60))
                    .test_before_acquire(false)
                    .connect_lazy_with(self.options.clone())
            })
            .await;
        if pool.num_idle() == 0 && pool.size() < self.settings.max_connections {
            probe(&self.options, PROBE_TIMEOUT.min(self.settings.acquire_timeout)).await?;
        }
        Ok(pool)
    }
}

/// How long the reachability check of a cold pool may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Opens (and drops) a bare transport connection to the server `options` names: the
/// error the pool's own connect loop would retry and then hide.
async fn probe(options: &PgConnectOptions, limit: Duration) -> Result<(), sqlx::Error> {
    let (target, attempt) = match unix_socket_path(options) {
        Some(path) => {
            let t = path.clone();
            (t, tokio::time::timeout(limit, async move { tokio::net::UnixStream::connect(path).await.map(drop) }).await)
        }
        None => {
            let (host, port) = (options.get_host().to_string(), options.get_port());
            (format!("{host}:{port}"), tokio::time::timeout(limit, async move { tokio::net::TcpStream::connect((host.as_str(), port)).await.map(drop) }).await)
        }
    };
    match attempt {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(sqlx::Error::Io(std::io::Error::new(e.kind(), format!("{e} (connecting to {target})")))),
        Err(_) => {
            Err(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {target} timed out after {} ms", limit.as_millis()))))
        }
    }
}

/// The Unix socket sqlx connects to, when the options name one (a `host` that is a
/// directory, or an explicit socket directory), as `<dir>/.s.PGSQL.<port>`.
fn unix_socket_path(options: &PgConnectOptions) -> Option<String> {
    let dir = match options.get_socket() {
        Some(dir) => dir.display().to_string(),
        None if options.get_host().starts_with('/') => options.get_host().to_string(),
        None => return None,
    };
    Some(format!("{dir}/.s.PGSQL.{}", options.get_port()))
}

/// Retries `$body` (an expression producing a fresh future each time) while it fails
/// with a serialisation failure or a deadlock, or once on a connection that died
/// (every operation is a single statement or a whole transaction, safe to rerun).
macro_rules! retrying {
    ($body:expr) => {{
        let mut attempt = 0u32;
        loop {
            match $body.await {
                Err(e) if attempt + 1 < TX_ATTEMPTS && (is_serialization_failure(&e) || (attempt == 0 && is_broken_connection(&e))) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt * attempt))).await;
                }
                r => break r,
            }
        }
    }};
}

fn sql_state(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
        _ => None,
    }
}

fn is_serialization_failure(e: &sqlx::Error) -> bool {
    matches!(sql_state(e).as_deref(), Some("40001" | "40P01"))
}

/// A pooled connection that died under us (the server restarted, a proxy cut it):
/// the pool drops it, and the operation is worth one more try on a fresh one.
fn is_broken_connection(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::Protocol(_))
        || sql_state(e).is_some_and(|c| c.starts_with("08") || matches!(c.as_str(), "57P01" | "57P02" | "57P03"))
}

/// Transient: the server is unreachable, restarting or shedding load, or refused a
/// transaction for concurrency reasons.
pub(crate) fn classify(e: &sqlx::Error) -> Retry {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => Retry::Transient,
        sqlx::Error::Database(d) => match d.code().as_deref() {
            Some(c) if c.starts_with("08") => Retry::Transient,
            Some("57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "55P03") => Retry::Transient,
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED (and their extended codes).
            Some(c) if c == "5" || c == "6" || c.parse::<u32>().is_ok_and(|n| n & 0xff == 5 || n & 0xff == 6) => Retry::Transient,
            _ => Retry::Permanent,
        },
        _ => Retry::Permanent,
    }
}

pub(crate) fn query_err(action: &'static str, vm_id: Option<&str>, e: &sqlx::Error) -> DatabaseError {
    DatabaseError::Query { action, vm_id: vm_id.map(str::to_string), cause: e.to_string(), sql_state: sql_state(e), retry: classify(e) }
}

pub(crate) fn update_err(action: &'static str, vm_id: Option<&str>, e: &sqlx::Error) -> DatabaseError {
    DatabaseError::Update { action, vm_id: vm_id.map(str::to_string), cause: e.to_string(), sql_state: sql_state(e), retry: classify(e) }
}

/// Named columns of a PostgreSQL row (type mismatches read as absent).
struct PgCols<'r>(&'r PgRow);

impl ColumnSource for PgCols<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0.try_get::<Option<String>, _>(name).ok().flatten()
    }
    fn int(&self, name: &str) -> Option<i64> {
        self.0.try_get::<Option<i32>, _>(name).ok().flatten().map(i64::from)
    }
    fn boolean(&self, name: &str) -> Option<bool> {
        self.0.try_get::<Option<bool>, _>(name).ok().flatten()
    }
    fn json(&self, name: &str) -> Option<Value> {
        self.0.try_get::<Option<Value>, _>(name).ok().flatten()
    }
}

/// `c."qemuPid", c."tapDeviceName", …` for every configuration column.
static CONFIG_SELECT: LazyLock<String> = LazyLock::new(|| CONFIG_COLUMNS.iter().map(|(n, _)| format!("c.\"{n}\"")).collect::<Vec<_>>().join(", "));

static VM_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT m.\"id\", m.\"status\", m.\"name\", m.\"internalName\", m.\"os\", m.\"cpuCores\", m.\"ramGB\", m.\"diskSizeGB\", \
         m.\"gpuPciAddress\", m.\"version\", m.\"firewallRuleSetId\", d.\"id\" AS \"deptId\", d.\"name\" AS \"deptName\", \
         d.\"firewallRuleSetId\" AS \"deptRuleSetId\", c.\"id\" AS \"cfgId\", {} \
         FROM \"Machine\" m LEFT JOIN \"Department\" d ON d.\"id\" = m.\"departmentId\" \
         LEFT JOIN \"MachineConfiguration\" c ON c.\"machineId\" = m.\"id\" WHERE m.\"id\" = $1",
        *CONFIG_SELECT
    )
});

const RUNTIME_SELECT: &str = "SELECT m.\"id\", m.\"status\", c.\"id\" AS \"cfgId\", c.\"qemuPid\", c.\"tapDeviceName\", c.\"qmpSocketPath\", \
     c.\"guestAgentSocketPath\", c.\"infiniServiceSocketPath\", c.\"cpuPinning\" \
     FROM \"Machine\" m LEFT JOIN \"MachineConfiguration\" c ON c.\"machineId\" = m.\"id\"";
const RUNNING_ONLY: &str = "m.\"status\" = 'running'";
/// A VM that may have a QEMU process (what a restarted manager reconciles).
const MAY_HAVE_PROCESS: &str = "m.\"status\" IN ('running', 'starting', 'suspended', 'paused') OR c.\"qemuPid\" IS NOT NULL";

const RULE_COLUMNS: &str = "\"id\", \"ruleSetId\", \"name\", \"description\", \"action\"::text AS \"action\", \
     \"direction\"::text AS \"direction\", \"priority\", \"protocol\", \"srcPortStart\", \"srcPortEnd\", \"dstPortStart\", \
     \"dstPortEnd\", \"srcIpAddr\", \"srcIpMask\", \"dstIpAddr\", \"dstIpMask\", \"connectionState\", \"overridesDept\"";

fn runtime_of(row: &PgRow) -> Option<MachineConfigurationRecord> {
    let cols = PgCols(row);
    cols.text("cfgId").map(|_| MachineConfigurationRecord::read(&cols))
}

/// Loads one VM with its configuration, rule sets and department (spec §11.1
/// `findMachineWithConfig`); `lock` takes a row lock on the machine for a transition.
async fn load_vm(conn: &mut PgConnection, id: &str, lock: bool) -> Result<Option<VmConfigRecord>, sqlx::Error> {
    let sql = if lock { format!("{} FOR UPDATE OF m", *VM_SELECT) } else { VM_SELECT.clone() };
    let Some(row) = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await? else { return Ok(None) };
    let c = PgCols(&row);
    let sets = load_rule_sets(conn, &VmConfigRecord::rule_set_ids(&c)).await?;
    Ok(Some(VmConfigRecord::from_row(&c, &sets)))
}

async fn load_rule_sets(conn: &mut PgConnection, ids: &[String]) -> Result<Vec<FirewallRuleSetRecord>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sets = sqlx::query("SELECT \"id\", \"name\", \"internalName\", \"priority\", \"isActive\" FROM \"FirewallRuleSet\" WHERE \"id\" = ANY($1)")
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    let rules = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM \"FirewallRule\" WHERE \"ruleSetId\" = ANY($1) ORDER BY \"createdAt\", \"id\""))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(sets
        .iter()
        .map(|s| {
            let c = PgCols(s);
            let id = c.text("id").unwrap_or_default();
            FirewallRuleSetRecord {
                rules: rules.iter().filter(|r| PgCols(r).text("ruleSetId").as_ref() == Some(&id)).map(|r| FirewallRuleRecord::read(&PgCols(r))).collect(),
                name: c.text("name").unwrap_or_default(),
                internal_name: c.text("internalName").unwrap_or_default(),
                priority: c.int("priority").unwrap_or(500),
                is_active: c.boolean("isActive").unwrap_or(true),
                id,
            }
        })
        .collect())
}

fn bind_config<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    kind: ColumnKind,
    v: &Value,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    match kind {
        ColumnKind::Text => q.bind(v.as_str().map(str::to_string)),
        ColumnKind::Int => q.bind(super::records::json_int(v).and_then(|n| i32::try_from(n).ok())),
        ColumnKind::Bool => q.bind(v.as_bool()),
        ColumnKind::JsonArray | ColumnKind::JsonObject => q.bind((!v.is_null()).then(|| sqlx::types::Json(v.clone()))),
    }
}

async fn status_for_update(conn: &mut PgConnection, id: &str) -> Result<Option<VmStatus>, sqlx::Error> {
    let row = sqlx::query("SELECT \"status\" FROM \"Machine\" WHERE \"id\" = $1 FOR UPDATE").bind(id).fetch_optional(&mut *conn).await?;
    Ok(row.and_then(|r| PgCols(&r).text("status")).map(VmStatus::from))
}

impl PgStore {
    /// Status and runtime columns of the VMs `filter` (a fixed SQL condition) selects.
    async fn runtime_rows(&self, filter: &'static str, what: &'static str) -> Result<Vec<RunningVmRecord>, DatabaseError> {
        let rows = retrying!(async { sqlx::query(&format!("{RUNTIME_SELECT} WHERE {filter}")).fetch_all(self.pool().await?).await })
            .map_err(|e| query_err(what, None, &e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let c = PgCols(r);
                RunningVmRecord { id: c.text("id").unwrap_or_default(), status: row_status(&c), configuration: runtime_of(r) }
            })
            .collect())
    }
    async fn set_status_automatic_once(&self, id: &str, status: &VmStatus) -> Result<StatusChange, sqlx::Error> {
        let mut tx = self.pool().await?.begin().await?;
        let Some(current) = status_for_update(&mut tx, id).await? else { return Ok(StatusChange::NotFound) };
        if current == *status {
            return Ok(StatusChange::Unchanged);
        }
        if !automatic_write_allowed(&current, status) {
            return Ok(StatusChange::Refused { current });
        }
        sqlx::query(&format!("UPDATE \"Machine\" SET \"status\" = $2, \"updatedAt\" = {NOW} WHERE \"id\" = $1"))
            .bind(id)
            .bind(status.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(StatusChange::Written { previous: current })
    }

    async fn transition_once(&self, id: &str, from: &VmStatus, to: &VmStatus, version: i64) -> Result<Result<TransitionResult, DatabaseError>, sqlx::Error> {
        let mut tx = self.pool().await?.begin().await?;
        let Some(mut vm) = load_vm(&mut tx, id, true).await? else { return Ok(Err(DatabaseError::MachineNotFound { vm_id: id.into() })) };
        if vm.version != version {
            return Ok(Err(DatabaseError::VersionConflict { vm_id: id.into(), expected: version, found: vm.version }));
        }
        if vm.status != *from {
            return Ok(Err(DatabaseError::StatusConflict { vm_id: id.into(), expected: from.to_string(), found: vm.status.into() }));
        }
        let new_version = vm.version + 1;
        let done = sqlx::query(&format!(
            "UPDATE \"Machine\" SET \"status\" = $4, \"version\" = $5, \"updatedAt\" = {NOW} WHERE \"id\" = $1 AND \"status\" = $2 AND \"version\" = $3"
        ))
        .bind(id)
        .bind(from.as_str())
        .bind(i32::try_from(version).unwrap_or(i32::MAX))
        .bind(to.as_str())
        .bind(i32::try_from(new_version).unwrap_or(i32::MAX))
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
        let params: String = (0..cols.len()).map(|i| format!(", ${}", i + 3)).collect();
        let sets: String = cols.iter().map(|n| format!("\"{n}\" = EXCLUDED.\"{n}\", ")).collect();
        let sql = format!(
            "INSERT INTO \"MachineConfiguration\" (\"id\", \"machineId\", \"updatedAt\"{names}) VALUES ($1, $2, {NOW}{params}) \
             ON CONFLICT (\"machineId\") DO UPDATE SET {sets}\"updatedAt\" = EXCLUDED.\"updatedAt\""
        );
        let mut q = sqlx::query(&sql).bind(new_uuid()).bind(id);
        for (_, kind, v) in update.values() {
            q = bind_config(q, *kind, v);
        }
        q.execute(self.pool().await?).await?;
        Ok(())
    }

    async fn internal_name(&self, id: &str) -> Result<Option<String>, sqlx::Error> {
        let row =
            retrying!(async { sqlx::query("SELECT \"internalName\" FROM \"Machine\" WHERE \"id\" = $1").bind(id).fetch_optional(self.pool().await?).await })?;
        Ok(row.and_then(|r| PgCols(&r).text("internalName")))
    }
}

impl Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn find_machine<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MachineRecord>> {
        Box::pin(async move {
            let row = retrying!(async {
                sqlx::query("SELECT \"id\", \"status\" FROM \"Machine\" WHERE \"id\" = $1").bind(id).fetch_optional(self.pool().await?).await
            })
            .map_err(|e| query_err("find machine", Some(id), &e))?;
            Ok(row.map(|r| {
                let c = PgCols(&r);
                MachineRecord { id: c.text("id").unwrap_or_default(), status: row_status(&c) }
            }))
        })
    }

    fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a VmStatus) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let done = retrying!(async {
                sqlx::query(&format!("UPDATE \"Machine\" SET \"status\" = $2, \"updatedAt\" = {NOW} WHERE \"id\" = $1"))
                    .bind(id)
                    .bind(status.as_str())
                    .execute(self.pool().await?)
                    .await
            })
            .map_err(|e| update_err("update machine status", Some(id), &e))?;
            if done.rows_affected() == 0 {
                crate::log::log(&format!("{LOG}:warn"), &format!("Machine {id} not found while setting status {status}"));
            }
            Ok(())
        })
    }

    fn update_status_with_reason<'a>(&'a self, id: &'a str, status: &'a VmStatus, reason: &'a Reason) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.update_machine_status(id, status).await?;
            crate::log::log(LOG, &format!("VM {id}: status {status} ({})", reason.describe()));
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
            retrying!(async {
                sqlx::query(&format!(
                    "UPDATE \"MachineConfiguration\" SET \"qemuPid\" = NULL, \"tapDeviceName\" = NULL, \"qmpSocketPath\" = NULL, \"updatedAt\" = {NOW} WHERE \"machineId\" = $1"
                ))
                .bind(id)
                .execute(self.pool().await?)
                .await
            })
            .map_err(|e| update_err("clear machine configuration", Some(id), &e))?;
            Ok(())
        })
    }

    fn clear_volatile_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            retrying!(async {
                sqlx::query(&format!(
                    "UPDATE \"MachineConfiguration\" SET \"qemuPid\" = NULL, \"qmpSocketPath\" = NULL, \"updatedAt\" = {NOW} WHERE \"machineId\" = $1"
                ))
                .bind(id)
                .execute(self.pool().await?)
                .await
            })
            .map_err(|e| update_err("clear volatile machine configuration", Some(id), &e))?;
            Ok(())
        })
    }

    fn find_machine_with_config<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<VmConfigRecord>> {
        Box::pin(async move {
            let err = |e: sqlx::Error| query_err("find machine with config", Some(id), &e);
            retrying!(async {
                let mut conn = self.pool().await?.acquire().await?;
                load_vm(&mut conn, id, false).await
            })
            .map_err(err)
        })
    }

    fn update_machine_configuration<'a>(&'a self, id: &'a str, update: &'a MachineConfigUpdate) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if id.is_empty() {
                return Err(DatabaseError::InvalidInput { message: "Machine ID is required".into(), vm_id: None });
            }
            retrying!(self.upsert_config(id, update)).map_err(|e| update_err("update machine configuration", Some(id), &e))
        })
    }

    fn transition_vm_status<'a>(&'a self, id: &'a str, from: &'a VmStatus, to: &'a VmStatus, version: i64) -> StoreFuture<'a, TransitionResult> {
        Box::pin(async move {
            match retrying!(self.transition_once(id, from, to, version)) {
                Ok(r) => r,
                Err(e) => Err(update_err("transition VM status", Some(id), &e)),
            }
        })
    }

    fn get_firewall_rules<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<FirewallRuleRecord>> {
        Box::pin(async move {
            let err = |e: sqlx::Error| query_err("get firewall rules", Some(id), &e);
            let vm = retrying!(async {
                let mut conn = self.pool().await?.acquire().await?;
                load_vm(&mut conn, id, false).await
            })
            .map_err(err)?;
            match vm {
                Some(vm) => Ok(vm.firewall_rules()),
                None => Err(DatabaseError::MachineNotFound { vm_id: id.into() }),
            }
        })
    }

    fn get_firewall_rule_set_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move {
            let row = retrying!(async {
                sqlx::query("SELECT \"firewallRuleSetId\" FROM \"Machine\" WHERE \"id\" = $1").bind(id).fetch_optional(self.pool().await?).await
            })
            .map_err(|e| query_err("get firewall rule set ID", Some(id), &e))?;
            Ok(row.and_then(|r| PgCols(&r).text("firewallRuleSetId")))
        })
    }

    fn get_machine_internal_name<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { self.internal_name(id).await.map_err(|e| query_err("get machine internal name", Some(id), &e)) })
    }

    fn set_status_automatic<'a>(&'a self, id: &'a str, status: &'a VmStatus, reason: &'a Reason) -> StoreFuture<'a, StatusChange> {
        Box::pin(async move {
            let r = retrying!(self.set_status_automatic_once(id, status)).map_err(|e| update_err("update machine status", Some(id), &e))?;
            if let StatusChange::Written { previous } = &r {
                // The backend's schema has no column for it: the log keeps the reason.
                crate::log::log(LOG, &format!("VM {id}: {previous} -> {status} ({})", reason.describe()));
            }
            Ok(r)
        })
    }

    fn find_runtime<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<RuntimeRecord>> {
        Box::pin(async move {
            let row = retrying!(async { sqlx::query(&format!("{RUNTIME_SELECT} WHERE m.\"id\" = $1")).bind(id).fetch_optional(self.pool().await?).await })
                .map_err(|e| query_err("find machine runtime", Some(id), &e))?;
            Ok(row.map(|r| RuntimeRecord { status: row_status(&PgCols(&r)), configuration: runtime_of(&r) }))
        })
    }

    fn insert_record<'a>(&'a self, model: &'a str, data: &'a Value) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let row = insert_row(model, data).map_err(|m| DatabaseError::InvalidInput { message: m, vm_id: None })?;
            let mut names = String::from("\"id\", \"updatedAt\"");
            let mut params = format!("$1, {NOW}");
            for (i, (n, col, _)) in row.cells.iter().enumerate() {
                names.push_str(&format!(", \"{n}\""));
                match col {
                    Col::Enum(t) => params.push_str(&format!(", ${}::\"{t}\"", i + 2)),
                    _ => params.push_str(&format!(", ${}", i + 2)),
                }
            }
            let sql = format!("INSERT INTO \"{}\" ({names}) VALUES ({params})", row.model.name);
            let mut q = sqlx::query(&sql).bind(row.id.clone());
            for (_, _, cell) in &row.cells {
                q = match cell {
                    Cell::Text(v) => q.bind(v.clone()),
                    Cell::Int(v) => q.bind(*v),
                    Cell::Bool(v) => q.bind(*v),
                    Cell::Json(v) => q.bind(v.clone().map(sqlx::types::Json)),
                };
            }
            let pool = self.pool().await.map_err(|e| update_err("insert record", None, &e))?;
            q.execute(pool).await.map_err(|e| update_err("insert record", None, &e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_filter_matches_the_status_helper() {
        for s in VmStatus::KNOWN {
            assert_eq!(MAY_HAVE_PROCESS.contains(&format!("'{s}'")), s.may_have_process(), "{s}");
        }
    }

    #[test]
    fn select_lists_quote_every_column() {
        assert!(CONFIG_SELECT.starts_with("c.\"qemuPid\", c.\"tapDeviceName\""));
        assert_eq!(CONFIG_SELECT.matches("c.\"").count(), CONFIG_COLUMNS.len());
        assert!(VM_SELECT.contains("LEFT JOIN \"MachineConfiguration\" c ON c.\"machineId\" = m.\"id\""));
    }

    #[test]
    fn store_builds_without_connecting() {
        let s = PgStore::new("postgresql://nobody@127.0.0.1:1/none?schema=x&connection_limit=2").unwrap();
        assert_eq!(s.settings.max_connections, 2);
        assert!(PgStore::new("postgresql://[bad").is_err());
    }

    /// A server that is not there fails fast with the real cause, not after the
    /// acquire timeout as "pool timed out", and the failure is transient.
    #[test]
    fn unreachable_server_fails_fast_with_the_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // pool_timeout=5: the pool alone would wait five seconds.
            let s = PgStore::new(&format!("postgresql://nobody@127.0.0.1:{port}/none?pool_timeout=5")).unwrap();
            let t = std::time::Instant::now();
            let e = s.find_machine("m1").await.unwrap_err();
            assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());
            assert!(e.is_transient(), "{e}");
            assert!(e.to_string().contains("refused"), "{e}");
            assert!(e.to_string().starts_with("Failed to find machine: "), "{e}");
            let e = s.update_machine_status("m1", &VmStatus::Off).await.unwrap_err();
            assert!(e.is_transient() && e.to_string().contains("refused"), "{e}");
            let e = s.find_running_vms().await.unwrap_err();
            assert!(e.is_transient() && e.to_string().contains("refused"), "{e}");
            let e = s.find_machine_with_config("m1").await.unwrap_err();
            assert!(e.is_transient() && e.to_string().contains("refused"), "{e}");
            assert!(t.elapsed() < Duration::from_millis(1500), "{:?}", t.elapsed());
            // a socket directory with no server in it
            let s = PgStore::new("postgresql://nobody@localhost/none?host=/nonexistent-iv-dir").unwrap();
            let e = s.find_machine("m1").await.unwrap_err();
            assert!(e.is_transient(), "{e}");
            assert!(e.to_string().contains("/nonexistent-iv-dir/.s.PGSQL.5432"), "{e}");
        });
    }

    #[test]
    fn error_classes() {
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Retry::Transient);
        assert_eq!(classify(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))), Retry::Transient);
        assert_eq!(classify(&sqlx::Error::RowNotFound), Retry::Permanent);
        let e = update_err("update machine status", Some("v"), &sqlx::Error::PoolTimedOut);
        assert!(e.is_transient());
        assert!(e.to_string().starts_with("Failed to update machine status: "));
    }
}
