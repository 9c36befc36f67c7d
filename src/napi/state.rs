//! Bindings of the state layer: the native stores, and `StateSync`, `EventHandler`
//! and `HealthMonitor` over either a native store or a caller's JS objects.
//!
//! Every JS object the core needs (a `DatabaseAdapter`, a QMP client, network
//! managers, hooks, the facade's `emit`) is reached through one "host" function per
//! native object: `host(requestJson) => Promise<responseJson>`, called through a weak
//! threadsafe function and awaited. The facade (`lib/state/host.js`) resolves the
//! target, awaits whatever it returns and never rejects: failures come back as an
//! envelope carrying the message, the codes found on the error and a handle to the
//! thrown object, so a JS caller gets that very object back.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{ClassInstance, Function, Promise, PromiseRaw};
use napi::threadsafe_function::ThreadsafeFunction;
use napi::{Env, Status};
use napi_derive::napi;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::error::{guarded, IntoNapi};
use super::lifecycle::NativeVmLifecycle;
use super::process::NativeQemuProcess;
use crate::state::cleanup::{NetworkRelease, NoNetwork, Resources};
use crate::state::emit::{option_millis, BoxFuture, Emitter, StatusSource};
use crate::state::error::{DatabaseError, ForeignError, Retry, StateError};
use crate::state::events::{EventHandlerConfig, EventHandlerCore, Job};
use crate::state::health::{ExitSource, HealthConfig, HealthHooks, HealthMonitorCore, NoHooks, WatchSpec};
use crate::state::records::{
    FirewallRuleRecord, MachineConfigUpdate, MachineConfigurationRecord, MachineRecord, RunningVmRecord, TransitionResult, VmConfigRecord,
};
use crate::state::status::{db_status_for_qmp, VmStatus};
use crate::state::store::{Store, StoreChoice, StoreFuture};
use crate::state::sync::StateSync;

type HostFn = ThreadsafeFunction<String, Promise<String>, String, Status, false, true>;

/// The facade's host function.
pub(crate) struct JsHost {
    f: HostFn,
}

/// Why a host request failed.
enum HostError {
    /// The target object or method does not exist.
    Missing(String),
    /// The JS side threw (or the call could not be made).
    Thrown(ForeignError),
}

impl JsHost {
    fn new(f: Function<String, Promise<String>>) -> napi::Result<Arc<Self>> {
        Ok(Arc::new(JsHost { f: f.build_threadsafe_function::<String>().callee_handled::<false>().weak::<true>().build()? }))
    }

    async fn request(&self, req: Value) -> Result<Value, HostError> {
        let unreachable = |e: napi::Error| {
            // The JS side is gone (environment closing): like an unreachable store.
            HostError::Thrown(ForeignError { message: format!("JS host unavailable: {e}"), code: None, reference: None, retry: Retry::Transient })
        };
        let promise = self.f.call_async_catch(req.to_string()).await.map_err(unreachable)?;
        let text = promise.await.map_err(unreachable)?;
        let resp: Value = serde_json::from_str(&text).map_err(|e| {
            HostError::Thrown(ForeignError { message: format!("bad host response: {e}"), code: None, reference: None, retry: Retry::Permanent })
        })?;
        if resp.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(resp.get("v").cloned().unwrap_or(Value::Null));
        }
        let message = resp.get("message").and_then(Value::as_str).unwrap_or("unknown error").to_string();
        if resp.get("missing").and_then(Value::as_bool) == Some(true) {
            return Err(HostError::Missing(message));
        }
        let codes: Vec<String> =
            resp.get("codes").and_then(Value::as_array).map(|a| a.iter().filter_map(|c| c.as_str().map(str::to_string)).collect()).unwrap_or_default();
        Err(HostError::Thrown(ForeignError {
            retry: ForeignError::classify(&codes, &message),
            code: resp.get("code").and_then(Value::as_str).map(str::to_string),
            reference: resp.get("ref").and_then(Value::as_u64),
            message,
        }))
    }

    async fn call(&self, target: &str, method: &str, args: Value) -> Result<Value, HostError> {
        self.request(json!({ "k": "call", "t": target, "m": method, "a": args })).await
    }
}

impl HostError {
    fn into_db(self) -> DatabaseError {
        match self {
            HostError::Missing(message) => DatabaseError::Unsupported { message },
            HostError::Thrown(f) => DatabaseError::Foreign(f),
        }
    }

    fn message(&self) -> String {
        match self {
            HostError::Missing(m) => m.clone(),
            HostError::Thrown(f) => f.message.clone(),
        }
    }
}

/// A caller's `DatabaseAdapter` (a `PrismaAdapter`, a plain object, a mock).
struct JsStore {
    host: Arc<JsHost>,
}

impl JsStore {
    fn call<'a>(&'a self, method: &'a str, args: Value) -> BoxFuture<'a, Result<Value, DatabaseError>> {
        Box::pin(async move { self.host.call("db", method, args).await.map_err(HostError::into_db) })
    }
}

fn opt_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl Store for JsStore {
    fn kind(&self) -> &'static str {
        "js"
    }
    fn find_machine<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MachineRecord>> {
        Box::pin(async move { Ok(MachineRecord::from_js(&self.call("findMachine", json!([id])).await?)) })
    }
    fn update_machine_status<'a>(&'a self, id: &'a str, status: &'a VmStatus) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.call("updateMachineStatus", json!([id, status.as_str()])).await.map(drop) })
    }
    fn find_running_vms(&self) -> StoreFuture<'_, Vec<RunningVmRecord>> {
        Box::pin(async move { Ok(RunningVmRecord::list_from_js(&self.call("findRunningVMs", json!([])).await?)) })
    }
    fn clear_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.call("clearMachineConfiguration", json!([id])).await.map(drop) })
    }
    fn clear_volatile_machine_configuration<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.call("clearVolatileMachineConfiguration", json!([id])).await.map(drop) })
    }
    fn find_machine_with_config<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<VmConfigRecord>> {
        Box::pin(async move { Ok(VmConfigRecord::from_js(&self.call("findMachineWithConfig", json!([id])).await?)) })
    }
    fn update_machine_configuration<'a>(&'a self, id: &'a str, update: &'a MachineConfigUpdate) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let cfg: serde_json::Map<String, Value> = update.values().iter().map(|(k, _, v)| ((*k).to_string(), v.clone())).collect();
            self.call("updateMachineConfiguration", json!([id, cfg])).await.map(drop)
        })
    }
    fn transition_vm_status<'a>(&'a self, id: &'a str, from: &'a VmStatus, to: &'a VmStatus, version: i64) -> StoreFuture<'a, TransitionResult> {
        Box::pin(async move {
            let v = self.call("transitionVMStatus", json!([id, from.as_str(), to.as_str(), version])).await?;
            let vm_config = v
                .get("vmConfig")
                .and_then(VmConfigRecord::from_js)
                .ok_or_else(|| DatabaseError::Unsupported { message: "transitionVMStatus returned no vmConfig".into() })?;
            Ok(TransitionResult { new_version: v.get("newVersion").and_then(Value::as_i64).unwrap_or(vm_config.version), vm_config })
        })
    }
    fn get_firewall_rules<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<FirewallRuleRecord>> {
        Box::pin(async move {
            let v = self.call("getFirewallRules", json!([id])).await?;
            Ok(v.as_array().map(|a| a.iter().map(FirewallRuleRecord::read).collect()).unwrap_or_default())
        })
    }
    fn get_firewall_rule_set_id<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(opt_string(&self.call("getFirewallRuleSetId", json!([id])).await?)) })
    }
    fn get_machine_internal_name<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(opt_string(&self.call("getMachineInternalName", json!([id])).await?)) })
    }
    fn get_machine_disk_path<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<String>> {
        Box::pin(async move { Ok(opt_string(&self.call("getMachineDiskPath", json!([id])).await?)) })
    }
}

/// The facade's `emit` (lib/state/host.js handles the no-`'error'`-listener case).
struct JsEmitter {
    host: Arc<JsHost>,
}

impl Emitter for JsEmitter {
    fn emit<'a>(&'a self, name: &'a str, payload: Value) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.host.request(json!({ "k": "emit", "n": name, "p": payload })).await.map(drop).map_err(|e| e.message()) })
    }
}

/// A QMP client the facade registered for one call (`isConnected()` + `queryStatus()`).
struct JsStatus {
    host: Arc<JsHost>,
    target: String,
}

impl StatusSource for JsStatus {
    fn query_status(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let connected = self.host.call(&self.target, "isConnected", json!([])).await.map_err(|e| e.message())?;
            if connected.as_bool() != Some(true) {
                return Err("QMP client not connected".into());
            }
            let v = self.host.call(&self.target, "queryStatus", json!([])).await.map_err(|e| e.message())?;
            v.get("status").and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("query-status returned no status: {v}"))
        })
    }
}

/// `TapDeviceManager` / `NftablesService` / `CgroupsManager`-like objects the owner passed.
struct JsNetwork {
    host: Arc<JsHost>,
}

impl JsNetwork {
    async fn step(&self, target: &str, method: &str, args: Value) -> Result<Option<String>, String> {
        match self.host.call(target, method, args).await {
            Ok(_) => Ok(None),
            Err(HostError::Missing(_)) => Ok(Some(format!("no {target}.{method} configured; nothing done"))),
            Err(HostError::Thrown(f)) => Err(f.message),
        }
    }
}

impl NetworkRelease for JsNetwork {
    fn detach_tap<'a>(&'a self, tap: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(self.step("tapManager", "detachFromBridge", json!([tap])))
    }
    fn detach_firewall<'a>(&'a self, vm: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(self.step("nftables", "detachJumpRules", json!([vm])))
    }
    fn cleanup_cgroups(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(self.step("cgroups", "cleanupEmptyScopes", json!([])))
    }
}

struct JsHooks {
    host: Arc<JsHost>,
}

impl JsHooks {
    async fn hook(&self, method: &str, args: Value) -> Result<(), String> {
        match self.host.call("hooks", method, args).await {
            Ok(_) | Err(HostError::Missing(_)) => Ok(()),
            Err(HostError::Thrown(f)) => Err(f.message),
        }
    }
}

impl HealthHooks for JsHooks {
    fn on_crash_detected<'a>(&'a self, vm: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(self.hook("onCrashDetected", json!([vm])))
    }
    fn on_cleanup_alert(&self, alert: Value) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { self.hook("onCleanupAlert", json!([alert])).await })
    }
}

use super::records::{JsFirewallRuleRecord, JsMachineRecord, JsRunningVmRecord, JsTransitionResult, JsVmConfigRecord, JsVmInfo};

// ---------------------------------------------------------------- native stores

#[napi(object)]
pub struct JsStoreOptions {
    pub database_url: Option<String>,
    pub sqlite_path: Option<String>,
}

/// A native store (PostgreSQL or SQLite) with the `DatabaseAdapter` methods.
#[napi(js_name = "NativeStore")]
pub struct NativeStore {
    inner: Arc<dyn Store>,
    location: String,
}

fn version_arg(v: f64) -> Result<i64, StateError> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= 2_147_483_647.0 {
        #[allow(clippy::cast_possible_truncation)] // integral and within i32, checked
        return Ok(v as i64);
    }
    Err(StateError::InvalidOption { field: "expectedVersion".into(), reason: format!("must be an integer, got {v}") })
}

#[napi]
impl NativeStore {
    #[napi(constructor)]
    pub fn new(options: Option<JsStoreOptions>) -> napi::Result<Self> {
        let (url, path) = options.map_or((None, None), |o| (o.database_url, o.sqlite_path));
        let choice = StoreChoice::resolve(url.as_deref(), path.as_deref(), |k| std::env::var(k).ok()).napi()?;
        Ok(NativeStore { inner: choice.open().napi()?, location: choice.describe() })
    }

    /// Where the store is (`sqlite <path>` or `postgres <url>`, password masked), for logs.
    #[napi(getter)]
    pub fn location(&self) -> String {
        self.location.clone()
    }

    /// `"postgres"` or `"sqlite"`.
    #[napi(getter)]
    pub fn kind(&self) -> String {
        self.inner.kind().to_string()
    }

    #[napi]
    pub async fn find_machine(&self, id: String) -> napi::Result<Option<JsMachineRecord>> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.find_machine(&id).await.napi()?.map(Into::into)) }).await
    }

    #[napi]
    pub async fn update_machine_status(&self, id: String, status: String) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.update_machine_status(&id, &VmStatus::from(status)).await.napi() }).await
    }

    #[napi(js_name = "findRunningVMs")]
    pub async fn find_running_vms(&self) -> napi::Result<Vec<JsRunningVmRecord>> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.find_running_vms().await.napi()?.into_iter().map(Into::into).collect()) }).await
    }

    #[napi]
    pub async fn clear_machine_configuration(&self, id: String) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.clear_machine_configuration(&id).await.napi() }).await
    }

    #[napi]
    pub async fn clear_volatile_machine_configuration(&self, id: String) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.clear_volatile_machine_configuration(&id).await.napi() }).await
    }

    #[napi]
    pub async fn find_machine_with_config(&self, id: String) -> napi::Result<Option<JsVmConfigRecord>> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.find_machine_with_config(&id).await.napi()?.map(Into::into)) }).await
    }

    /// `config` is checked here, column by column (a typed error names a bad key).
    #[napi]
    pub async fn update_machine_configuration(
        &self,
        id: String,
        #[napi(ts_arg_type = "Partial<ExtendedMachineConfigurationRecord>")] config: Value,
    ) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move {
            if id.is_empty() {
                return Err(DatabaseError::InvalidInput { message: "Machine ID is required".into(), vm_id: None }).napi();
            }
            let update = MachineConfigUpdate::from_json(&config).map_err(|cause| DatabaseError::Update {
                action: "update machine configuration",
                vm_id: Some(id.clone()),
                cause,
                sql_state: None,
                retry: Retry::Permanent,
            });
            s.update_machine_configuration(&id, &update.napi()?).await.napi()
        })
        .await
    }

    #[napi(js_name = "transitionVMStatus")]
    pub async fn transition_vm_status(
        &self,
        id: String,
        expected_status: String,
        new_status: String,
        expected_version: f64,
    ) -> napi::Result<JsTransitionResult> {
        let s = self.inner.clone();
        guarded(async move {
            let v = version_arg(expected_version).napi()?;
            Ok(s.transition_vm_status(&id, &VmStatus::from(expected_status), &VmStatus::from(new_status), v).await.napi()?.into())
        })
        .await
    }

    #[napi]
    pub async fn get_firewall_rules(&self, id: String) -> napi::Result<Vec<JsFirewallRuleRecord>> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.get_firewall_rules(&id).await.napi()?.into_iter().map(Into::into).collect()) }).await
    }

    #[napi(js_name = "getFirewallRuleSetId")]
    pub async fn get_firewall_rule_set_id(&self, id: String) -> napi::Result<Option<String>> {
        let s = self.inner.clone();
        guarded(async move { s.get_firewall_rule_set_id(&id).await.napi() }).await
    }

    #[napi]
    pub async fn get_machine_internal_name(&self, id: String) -> napi::Result<Option<String>> {
        let s = self.inner.clone();
        guarded(async move { s.get_machine_internal_name(&id).await.napi() }).await
    }

    #[napi]
    pub async fn get_machine_disk_path(&self, id: String) -> napi::Result<Option<String>> {
        let s = self.inner.clone();
        guarded(async move { s.get_machine_disk_path(&id).await.napi() }).await
    }

    /// Inserts one row into a contract table; resolves its id. `data` is checked
    /// against the model's columns here.
    #[napi]
    pub async fn insert_record(&self, model: String, #[napi(ts_arg_type = "Record<string, unknown>")] data: Value) -> napi::Result<String> {
        let s = self.inner.clone();
        guarded(async move { s.insert_record(&model, &data).await.napi() }).await
    }

    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move {
            s.close().await;
            Ok(())
        })
        .await
    }
}

/// The store for another binding (the VM lifecycle): the native one, or the facade's
/// adapter reached through `host`.
pub(crate) fn store_from(native: Option<ClassInstance<'_, NativeStore>>, host: Function<String, Promise<String>>) -> napi::Result<Arc<dyn Store>> {
    let host = JsHost::new(host)?;
    Ok(store_of(native, &host))
}

/// The store a sync object works on: the native one, or the facade's adapter.
fn store_of(native: Option<ClassInstance<'_, NativeStore>>, host: &Arc<JsHost>) -> Arc<dyn Store> {
    match native {
        Some(n) => n.inner.clone(),
        None => Arc::new(JsStore { host: host.clone() }),
    }
}

fn json_out(v: &Value) -> String {
    v.to_string()
}

#[napi(js_name = "mapQmpStatusToDbStatus")]
pub fn map_qmp_status_to_db_status(status: String) -> String {
    db_status_for_qmp(&status).to_string()
}

// ---------------------------------------------------------------- StateSync

#[napi(js_name = "NativeStateSync")]
pub struct NativeStateSync {
    sync: Arc<StateSync>,
    host: Arc<JsHost>,
}

#[napi]
impl NativeStateSync {
    #[napi(constructor)]
    pub fn new(store: Option<ClassInstance<NativeStore>>, host: Function<String, Promise<String>>) -> napi::Result<Self> {
        let host = JsHost::new(host)?;
        Ok(NativeStateSync { sync: Arc::new(StateSync::new(store_of(store, &host))), host })
    }

    /// `syncState` with the QMP client the facade registered as `target`; resolves JSON.
    #[napi]
    pub async fn sync_state(&self, vm_id: String, target: String) -> napi::Result<String> {
        let (s, host) = (self.sync.clone(), self.host.clone());
        guarded(async move { Ok(json_out(&s.sync_state(&vm_id, &JsStatus { host, target }).await.to_json())) }).await
    }

    #[napi(js_name = "updateVMStatus")]
    pub async fn update_vm_status(&self, vm_id: String, status: String) -> napi::Result<()> {
        let s = self.sync.clone();
        guarded(async move { s.update_vm_status(&vm_id, &VmStatus::from(status)).await.napi() }).await
    }

    #[napi(js_name = "getVMStatus")]
    pub async fn get_vm_status(&self, vm_id: String) -> napi::Result<String> {
        let s = self.sync.clone();
        guarded(async move { s.get_vm_status(&vm_id).await.napi().map(String::from) }).await
    }

    #[napi(js_name = "getVMPid")]
    pub async fn get_vm_pid(&self, vm_id: String) -> napi::Result<Option<f64>> {
        let s = self.sync.clone();
        #[allow(clippy::cast_precision_loss)] // PIDs are far below 2^53
        guarded(async move { Ok(s.get_vm_pid(&vm_id).await.napi()?.map(|p| p as f64)) }).await
    }

    #[napi(js_name = "getVMInfo")]
    pub async fn get_vm_info(&self, vm_id: String) -> napi::Result<Option<JsVmInfo>> {
        let s = self.sync.clone();
        guarded(
            async move { Ok(s.get_vm_info(&vm_id).await.napi()?.map(|i| JsVmInfo { tap_device_name: i.tap_device_name, has_cpu_pinning: i.has_cpu_pinning })) },
        )
        .await
    }

    #[napi]
    pub async fn clear_volatile_machine_configuration(&self, vm_id: String) -> napi::Result<()> {
        let s = self.sync.clone();
        guarded(async move { s.clear_volatile(&vm_id).await.napi() }).await
    }

    #[napi]
    pub async fn update_status_direct(&self, vm_id: String, status: String) -> napi::Result<String> {
        let s = self.sync.clone();
        guarded(async move {
            let reason = crate::state::status::Reason::Operation { name: "updateStatusDirect".into() };
            Ok(json_out(&s.update_status_direct(&vm_id, &VmStatus::from(status), reason).await.to_json()))
        })
        .await
    }

    /// Writes still queued because the store was unreachable.
    #[napi]
    pub fn pending_writes(&self) -> u32 {
        u32::try_from(self.sync.queue().pending_total()).unwrap_or(u32::MAX)
    }
}

// ---------------------------------------------------------------- EventHandler

#[napi(object)]
pub struct JsEventHandlerOptions {
    pub enable_logging: Option<bool>,
    pub emit_custom_events: Option<bool>,
    /// How long the cleanup after SHUTDOWN waits for QEMU to exit (default 30000).
    pub exit_wait_ms: Option<f64>,
    /// The owner passed network managers (`tapManager`, `nftables`, `cgroups`).
    pub has_network: Option<bool>,
}

#[napi(js_name = "NativeEventHandler")]
pub struct NativeEventHandler {
    core: Arc<EventHandlerCore>,
    host: Arc<JsHost>,
}

fn done_promise<'e>(env: &'e Env, rx: oneshot::Receiver<()>) -> napi::Result<PromiseRaw<'e, ()>> {
    env.spawn_future(async move {
        let _ = rx.await;
        Ok(())
    })
}

impl NativeEventHandler {
    fn enqueue(&self, vm_id: &str, job: Job) {
        if let Some(worker) = self.core.enqueue(vm_id, job) {
            napi::bindgen_prelude::spawn(worker);
        }
    }
}

#[napi]
impl NativeEventHandler {
    #[napi(constructor)]
    pub fn new(store: Option<ClassInstance<NativeStore>>, host: Function<String, Promise<String>>, options: JsEventHandlerOptions) -> napi::Result<Self> {
        let host = JsHost::new(host)?;
        let mut config = EventHandlerConfig {
            enable_logging: options.enable_logging.unwrap_or(true),
            emit_custom_events: options.emit_custom_events.unwrap_or(true),
            ..EventHandlerConfig::default()
        };
        if let Some(ms) = options.exit_wait_ms {
            config.exit_wait = option_millis("exitWaitMs", ms).napi()?;
        }
        let net: Arc<dyn NetworkRelease> = if options.has_network == Some(true) { Arc::new(JsNetwork { host: host.clone() }) } else { Arc::new(NoNetwork) };
        let sync = Arc::new(StateSync::new(store_of(store, &host)));
        let core = EventHandlerCore::new(sync, net, Arc::new(JsEmitter { host: host.clone() }), config);
        Ok(NativeEventHandler { core, host })
    }

    #[napi]
    pub fn attach(&self, vm_id: String) {
        self.core.attach(&vm_id);
    }

    #[napi]
    pub fn detach(&self, vm_id: String) {
        self.core.detach(&vm_id);
    }

    /// Queues one QMP event (call in arrival order); resolves once it was handled.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn handle_event<'e>(
        &self,
        env: &'e Env,
        vm_id: String,
        event: String,
        #[napi(ts_arg_type = "Record<string, unknown> | undefined | null")] data: Option<Value>,
        timestamp_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'e, ()>> {
        let (tx, rx) = oneshot::channel();
        let timestamp = timestamp_ms.filter(|t| t.is_finite());
        self.enqueue(&vm_id, Job::Event { event, data, timestamp, done: Some(tx) });
        done_promise(env, rx)
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn handle_disconnect<'e>(&self, env: &'e Env, vm_id: String) -> napi::Result<PromiseRaw<'e, ()>> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(&vm_id, Job::Disconnect { done: Some(tx) });
        done_promise(env, rx)
    }

    /// After a QMP reconnect: re-reads the run state through the client registered as `target`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn resync<'e>(&self, env: &'e Env, vm_id: String, target: String) -> napi::Result<PromiseRaw<'e, ()>> {
        let (tx, rx) = oneshot::channel();
        let source = Arc::new(JsStatus { host: self.host.clone(), target });
        self.enqueue(&vm_id, Job::Resync { source, done: Some(tx) });
        done_promise(env, rx)
    }

    #[napi]
    pub fn pending_writes(&self) -> u32 {
        u32::try_from(self.core.sync().queue().pending_total()).unwrap_or(u32::MAX)
    }

    /// Status writes go through `lifecycle`'s journaled queue from now on: they
    /// survive a manager restart and land in order with the lifecycle's own.
    #[napi]
    pub fn share_writes_with(&self, lifecycle: ClassInstance<NativeVmLifecycle>) {
        self.core.sync().share_queue(lifecycle.write_queue());
    }
}

// ---------------------------------------------------------------- HealthMonitor

#[napi(object)]
pub struct JsHealthMonitorOptions {
    pub check_interval_ms: Option<f64>,
    pub enable_cleanup: Option<bool>,
    pub pidfile_dir: Option<String>,
    /// First cleanup retry delay (default 1000; doubles).
    pub cleanup_retry_base_ms: Option<f64>,
    pub has_network: Option<bool>,
    pub has_hooks: Option<bool>,
}

#[napi(object)]
pub struct JsWatchOptions {
    pub pid: Option<f64>,
    pub qmp_socket_path: Option<String>,
    pub tap_device_name: Option<String>,
    pub guest_agent_socket_path: Option<String>,
    pub infini_service_socket_path: Option<String>,
    pub pidfile: Option<String>,
    pub stderr_path: Option<String>,
}

#[napi(js_name = "NativeHealthMonitor")]
pub struct NativeHealthMonitor {
    core: Arc<HealthMonitorCore>,
}

fn pid_arg(v: Option<f64>) -> Result<Option<i32>, StateError> {
    match v {
        None => Ok(None),
        Some(p) if p.is_finite() && p.fract() == 0.0 && p >= 1.0 && p <= f64::from(i32::MAX) => {
            #[allow(clippy::cast_possible_truncation)] // integral and within i32, checked
            Ok(Some(p as i32))
        }
        Some(p) => Err(StateError::InvalidOption { field: "pid".into(), reason: format!("must be a positive integer, got {p}") }),
    }
}

/// What `watchVM` watches: the exit source plus the options' socket, resources and stderr.
fn watch_spec(pid: i32, exit: ExitSource, options: &JsWatchOptions) -> WatchSpec {
    WatchSpec {
        pid,
        exit,
        qmp_socket: options.qmp_socket_path.clone().map(Into::into),
        resources: resources_of(options),
        stderr_path: options.stderr_path.clone().map(Into::into),
    }
}

fn resources_of(o: &JsWatchOptions) -> Resources {
    Resources {
        tap_device_name: o.tap_device_name.clone(),
        qmp_socket_path: o.qmp_socket_path.clone(),
        guest_agent_socket_path: o.guest_agent_socket_path.clone(),
        infini_service_socket_path: o.infini_service_socket_path.clone(),
        pidfile: o.pidfile.clone().map(Into::into),
        has_cpu_pinning: false,
    }
}

#[napi]
impl NativeHealthMonitor {
    #[napi(constructor)]
    pub fn new(store: Option<ClassInstance<NativeStore>>, host: Function<String, Promise<String>>, options: JsHealthMonitorOptions) -> napi::Result<Self> {
        let host = JsHost::new(host)?;
        let mut config = HealthConfig::default();
        if let Some(ms) = options.check_interval_ms {
            config.check_interval = option_millis("checkIntervalMs", ms).napi()?;
        }
        config.enable_cleanup = options.enable_cleanup.unwrap_or(true);
        if let Some(d) = options.pidfile_dir {
            config.pidfile_dir = d.into();
        }
        if let Some(ms) = options.cleanup_retry_base_ms {
            config.retry_base = option_millis("cleanupRetryBaseMs", ms).napi()?;
        }
        let net: Arc<dyn NetworkRelease> = if options.has_network == Some(true) { Arc::new(JsNetwork { host: host.clone() }) } else { Arc::new(NoNetwork) };
        let hooks: Arc<dyn HealthHooks> = if options.has_hooks == Some(true) { Arc::new(JsHooks { host: host.clone() }) } else { Arc::new(NoHooks) };
        let sync = Arc::new(StateSync::new(store_of(store, &host)));
        let core = HealthMonitorCore::new(sync, net, Arc::new(JsEmitter { host }), hooks, config);
        Ok(NativeHealthMonitor { core })
    }

    #[napi]
    pub async fn start(&self) -> napi::Result<()> {
        let c = self.core.clone();
        guarded(async move {
            c.start().await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub fn stop(&self) {
        self.core.stop();
    }

    #[napi]
    pub fn is_monitoring(&self) -> bool {
        self.core.is_monitoring()
    }

    #[napi(js_name = "checkAllVMs")]
    pub async fn check_all_vms(&self) -> napi::Result<String> {
        let c = self.core.clone();
        guarded(async move { Ok(json_out(&c.check_all().await.to_json())) }).await
    }

    #[napi(js_name = "checkVM")]
    pub fn check_vm(&self, pid: f64) -> bool {
        #[allow(clippy::cast_possible_truncation)] // only integral values in i32 range get here
        let p = (pid.is_finite() && pid.fract() == 0.0 && pid.abs() <= f64::from(i32::MAX)).then_some(pid as i64);
        p.is_some_and(HealthMonitorCore::check_vm)
    }

    /// `config` is read leniently (a field of the wrong type counts as absent).
    #[napi]
    pub async fn retry_cleanup(&self, vm_id: String, #[napi(ts_arg_type = "Partial<MachineConfigurationRecord>")] config: Value) -> napi::Result<String> {
        let c = self.core.clone();
        guarded(async move {
            let res = Resources::from_config(&MachineConfigurationRecord::read(&config));
            Ok(json_out(&c.retry_cleanup(&vm_id, &res).await))
        })
        .await
    }

    /// Watches a `QemuProcess` (its pidfd) for a crash.
    #[napi]
    pub fn watch_process(&self, vm_id: String, process: ClassInstance<NativeQemuProcess>, options: JsWatchOptions) -> napi::Result<()> {
        let p = process.core();
        let pid = p.pid().or(pid_arg(options.pid).napi()?).unwrap_or(0);
        napi::bindgen_prelude::spawn(self.core.watch(&vm_id, watch_spec(pid, ExitSource::Process(p), &options)));
        Ok(())
    }

    /// Watches a bare PID (a pidfd is opened now; the PID is never signalled).
    #[napi]
    pub fn watch_pid(&self, vm_id: String, options: JsWatchOptions) -> napi::Result<()> {
        let pid = pid_arg(options.pid).napi()?.ok_or_else(|| StateError::InvalidOption { field: "pid".into(), reason: "is required".into() }).napi()?;
        napi::bindgen_prelude::spawn(self.core.watch(&vm_id, watch_spec(pid, ExitSource::Pid(pid), &options)));
        Ok(())
    }

    #[napi]
    pub fn unwatch(&self, vm_id: String) -> bool {
        self.core.unwatch(&vm_id)
    }

    #[napi]
    pub fn watched(&self) -> Vec<String> {
        self.core.watched()
    }

    #[napi]
    pub fn pending_writes(&self) -> u32 {
        u32::try_from(self.core.sync().queue().pending_total()).unwrap_or(u32::MAX)
    }

    /// Status writes go through `lifecycle`'s journaled queue from now on: they
    /// survive a manager restart and land in order with the lifecycle's own.
    #[napi]
    pub fn share_writes_with(&self, lifecycle: ClassInstance<NativeVmLifecycle>) {
        self.core.sync().share_queue(lifecycle.write_queue());
    }
}

#[napi(object, object_from_js = false)]
pub struct JsStateDefaults {
    pub check_interval_ms: u32,
    pub pidfile_dir: String,
    pub exit_wait_ms: u32,
    pub sqlite_path: String,
    pub cleanup_retry_base_ms: u32,
}

fn millis_u32(d: Duration, fallback: u32) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(fallback)
}

/// The default pidfile directory and timings, for the facade's defaults.
#[napi]
pub fn state_defaults() -> JsStateDefaults {
    JsStateDefaults {
        check_interval_ms: millis_u32(crate::state::health::DEFAULT_CHECK_INTERVAL, 30_000),
        pidfile_dir: crate::state::health::DEFAULT_PIDFILE_DIR.to_string(),
        exit_wait_ms: millis_u32(crate::state::events::EXIT_WAIT, 30_000),
        sqlite_path: crate::state::store::DEFAULT_SQLITE_PATH.to_string(),
        cleanup_retry_base_ms: millis_u32(Duration::from_millis(1000), 1000),
    }
}
