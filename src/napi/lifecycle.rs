//! Bindings of the VM lifecycle core (`VMLifecycle`, and through the facade
//! `Infinivirt`): conversion only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::{ClassInstance, Function, Promise};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use serde_json::{json, Value};

use super::error::{guarded, IntoNapi};
use super::firewall::NativeNftablesService;
use super::network::NativeTapManager;
use super::state::{store_from, NativeStore};
use crate::lifecycle::config::VmCreateConfig;
use crate::lifecycle::error::{LifecycleError, LifecycleErrorCode as C};
use crate::lifecycle::vm::{ExitReport, LifecycleOptions, OperationResult, Reconciled, StopConfig, VmLifecycle};
use crate::network::firewall::service::{NftablesService, ServiceConfig};
use crate::network::link::tap::{TapConfig, TapManager};

#[napi(object)]
pub struct JsLifecycleOptions {
    pub disk_dir: Option<String>,
    pub qmp_socket_dir: Option<String>,
    pub pidfile_dir: Option<String>,
    pub qemu_binary: Option<String>,
    /// Test-only: raw QEMU arguments appended to every VM's command.
    pub extra_args: Option<Vec<String>>,
    pub enable_firewall_persistence: Option<bool>,
    pub firewall_persistence_dir: Option<String>,
    /// All-or-nothing firewall rules (default: env `INFINIVIRT_FIREWALL_STRICT`).
    pub firewall_strict_rules: Option<bool>,
}

#[napi(object)]
pub struct JsStopConfig {
    pub graceful: Option<bool>,
    pub timeout: Option<f64>,
    pub force: Option<bool>,
}

#[napi(js_name = "NativeVmLifecycle")]
pub struct NativeVmLifecycle {
    inner: Arc<VmLifecycle>,
}

impl NativeVmLifecycle {
    /// The lifecycle's journaled status-write queue (shared with the event handler and
    /// health monitor of the same `Infinivirt`).
    pub(crate) fn write_queue(&self) -> Arc<crate::state::queue::WriteQueue> {
        self.inner.write_queue()
    }
}

fn op_json(r: OperationResult) -> Value {
    let mut v = json!({ "success": r.success, "message": r.message, "vmId": r.vm_id });
    if let Some(f) = r.forced {
        v["forced"] = Value::from(f);
    }
    v
}

fn reconciled_json(r: Reconciled) -> Value {
    match r {
        Reconciled::Attached { vm_id, pid, qmp_socket, status } => {
            json!({ "vmId": vm_id, "outcome": "attached", "pid": pid, "qmpSocketPath": qmp_socket, "status": status.as_str() })
        }
        Reconciled::Tracked { vm_id } => json!({ "vmId": vm_id, "outcome": "tracked" }),
        Reconciled::Gone { vm_id, status } => json!({ "vmId": vm_id, "outcome": "gone", "status": status.as_str() }),
        Reconciled::Unknown { vm_id, why } => json!({ "vmId": vm_id, "outcome": "unknown", "reason": why }),
        Reconciled::Stranger { vm_id, pid, why } => json!({ "vmId": vm_id, "outcome": "stranger", "pid": pid, "reason": why }),
    }
}

fn stop_config(c: Option<JsStopConfig>) -> Result<StopConfig, LifecycleError> {
    let d = StopConfig::default();
    let Some(c) = c else { return Ok(d) };
    let timeout = match c.timeout {
        None => d.timeout,
        Some(ms) if ms.is_finite() && (0.0..=86_400_000.0).contains(&ms) => Duration::from_secs_f64(ms / 1000.0),
        Some(ms) => {
            return Err(LifecycleError::failed(C::INVALID_CONFIG, format!("Invalid stop timeout: {ms}"), None, None));
        }
    };
    Ok(StopConfig { graceful: c.graceful.unwrap_or(d.graceful), timeout, force: c.force.unwrap_or(d.force) })
}

#[napi]
impl NativeVmLifecycle {
    #[napi(constructor)]
    pub fn new(store: Option<ClassInstance<NativeStore>>, host: Function<String, Promise<String>>, options: Option<JsLifecycleOptions>) -> napi::Result<Self> {
        let store = store_from(store, host)?;
        let mut opts = LifecycleOptions::default();
        let mut fw = ServiceConfig::default();
        if let Some(o) = options {
            if let Some(d) = o.disk_dir {
                opts.disk_dir = PathBuf::from(d);
            }
            if let Some(d) = o.qmp_socket_dir {
                opts.qmp_socket_dir = PathBuf::from(d);
            }
            if let Some(d) = o.pidfile_dir {
                opts.pidfile_dir = PathBuf::from(d);
            }
            if let Some(b) = o.qemu_binary {
                opts.qemu_binary = b;
            }
            opts.extra_args = o.extra_args.unwrap_or_default();
            fw.enable_persistence = o.enable_firewall_persistence.unwrap_or(true);
            if let Some(d) = o.firewall_persistence_dir {
                fw.persistence.dir = PathBuf::from(d);
            }
            if let Some(strict) = o.firewall_strict_rules {
                fw.strict_rules = strict;
            }
        }
        let nft = NftablesService::new(fw);
        let inner = VmLifecycle::new(store, opts, crate::qemu::accel::detect(), Arc::new(TapManager::new(TapConfig::default())), Arc::new(nft));
        Ok(NativeVmLifecycle { inner: Arc::new(inner) })
    }

    /// Creates the firewall table layout (`Infinivirt.initialize()`).
    #[napi]
    pub async fn initialize(&self) -> napi::Result<()> {
        let l = self.inner.clone();
        guarded(async move { l.nftables().initialize().await.napi() }).await
    }

    /// `installMedia`: the answer medium of an unattended install (built by the facade).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn create(&self, #[napi(ts_arg_type = "import('./index').VMCreateConfig")] config: Value, install_media: Option<String>) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move {
            let c: VmCreateConfig = serde_json::from_value(config)
                .map_err(|e| LifecycleError::failed(C::INVALID_CONFIG, format!("Invalid VM configuration: {e}"), None, None))
                .napi()?;
            let r = l.create_installing(&c, install_media.as_deref().map(std::path::Path::new)).await.napi()?;
            Ok(json!({
                "vmId": r.vm_id,
                "tapDevice": r.tap_device,
                "qmpSocketPath": r.qmp_socket_path,
                "displayPort": r.display_port,
                "pid": r.pid,
                "diskPaths": r.disk_paths,
                "pidFilePath": r.pid_file_path,
                "success": true,
            }))
        })
        .await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn start(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move {
            let (r, started) = l.start_detailed(&vm_id).await.napi()?;
            let mut v = op_json(r);
            // For the facade's `power_on` event; removed before the result reaches callers.
            if let Some(s) = started {
                v["started"] = json!({ "pid": s.pid, "tapDevice": s.tap_device, "qmpSocketPath": s.qmp_socket_path });
            }
            Ok(v)
        })
        .await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn stop(&self, vm_id: String, config: Option<JsStopConfig>) -> napi::Result<Value> {
        let l = self.inner.clone();
        let cfg = stop_config(config).napi()?;
        guarded(async move { Ok(op_json(l.stop(&vm_id, cfg).await.napi()?)) }).await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn restart(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move {
            let (r, stopped, started) = l.restart_detailed(&vm_id).await.napi()?;
            let mut v = op_json(r);
            // For the facade's events; removed before the result reaches callers.
            v["stopped"] = op_json(stopped);
            if let Some(s) = started {
                v["started"] = json!({ "pid": s.pid, "tapDevice": s.tap_device, "qmpSocketPath": s.qmp_socket_path });
            }
            Ok(v)
        })
        .await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn suspend(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { Ok(op_json(l.suspend(&vm_id).await.napi()?)) }).await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn resume(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { Ok(op_json(l.resume(&vm_id).await.napi()?)) }).await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn reset(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { Ok(op_json(l.reset(&vm_id).await.napi()?)) }).await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn destroy_resources(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { Ok(op_json(l.destroy_resources(&vm_id).await.napi()?)) }).await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn get_status(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move {
            let s = l.get_status(&vm_id).await.napi()?;
            let responsive = s.monitor_responsive;
            let mut v = json!({
                "vmId": s.vm_id,
                "status": s.status.as_str(),
                "qmpStatus": s.qmp_status,
                "pid": s.pid,
                "uptime": Value::Null,
                "processAlive": s.process_alive,
                "consistent": s.consistent,
                "tapDevice": s.tap_device,
                "qmpSocketPath": s.qmp_socket_path,
            });
            if let Some(r) = responsive {
                v["monitorResponsive"] = Value::from(r);
            }
            if let Some(r) = s.agent_responsive {
                v["agentResponsive"] = Value::from(r);
            }
            if let Some(ips) = s.guest_ip_addresses {
                v["guestIpAddresses"] = Value::from(ips);
            }
            Ok(v)
        })
        .await
    }

    #[napi]
    pub async fn eject_cdrom(&self, vm_id: String, device: String, force: bool) -> napi::Result<()> {
        let l = self.inner.clone();
        guarded(async move {
            l.qmp_command(&vm_id, "eject", Some(json!({ "device": device, "force": force }))).await.napi()?;
            Ok(())
        })
        .await
    }

    #[napi(ts_return_type = "Promise<unknown[]>")]
    pub async fn query_block_devices(&self, vm_id: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { l.qmp_command(&vm_id, "query-block", None).await.napi() }).await
    }

    /// `onExit(json)` is told about every exit the manager did not ask for (weak:
    /// never keeps Node alive).
    #[napi]
    pub fn set_exit_hook(&self, on_exit: Function<String, ()>) -> napi::Result<()> {
        let tsfn = on_exit.build_threadsafe_function::<String>().callee_handled::<false>().weak::<true>().build()?;
        self.inner.set_exit_hook(Arc::new(move |r: ExitReport| {
            let v = json!({ "vmId": r.vm_id, "status": r.status.as_str(), "crashed": r.crashed, "reason": r.reason });
            let _ = tsfn.call(v.to_string(), ThreadsafeFunctionCallMode::NonBlocking);
        }));
        Ok(())
    }

    /// Rule 8: adopts the VMs that still run, releases those that do not.
    #[napi(ts_return_type = "Promise<Array<Record<string, unknown>>>")]
    pub async fn reconcile(&self) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { Ok(Value::Array(l.reconcile().await.napi()?.into_iter().map(reconciled_json).collect())) }).await
    }

    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub async fn attach_running(&self, vm_id: String, qmp_socket_path: String) -> napi::Result<Value> {
        let l = self.inner.clone();
        guarded(async move { Ok(reconciled_json(l.attach_running(&vm_id, &qmp_socket_path).await.napi()?)) }).await
    }

    /// The lifecycle's own firewall service (same instance every call).
    #[napi]
    pub fn nftables_service(&self) -> NativeNftablesService {
        NativeNftablesService::from_inner(self.inner.nftables().clone())
    }

    /// The lifecycle's own TAP manager.
    #[napi]
    pub fn tap_manager(&self) -> NativeTapManager {
        NativeTapManager::from_inner(self.inner.taps().clone())
    }

    /// The directories in use (defaults applied natively).
    #[napi(ts_return_type = "{ diskDir: string; qmpSocketDir: string; pidfileDir: string }")]
    pub fn directories(&self) -> Value {
        let o = self.inner.options();
        json!({
            "diskDir": o.disk_dir.display().to_string(),
            "qmpSocketDir": o.qmp_socket_dir.display().to_string(),
            "pidfileDir": o.pidfile_dir.display().to_string(),
        })
    }

    /// Spec §5.5 step 8 (throws `INVALID_CONFIG` when the OS and the installer's target differ).
    #[napi]
    pub fn check_unattended_os(vm_id: Option<String>, vm_os: String, target: String) -> napi::Result<()> {
        crate::lifecycle::config::check_unattended_os(vm_id.as_deref(), &vm_os, &target).napi()
    }

    /// The QMP device of the installer CD-ROM for `machineType`.
    #[napi]
    pub fn installer_cd_device(machine_type: Option<String>) -> String {
        crate::lifecycle::config::installer_cd_device(machine_type.as_deref()).to_string()
    }

    /// Ids of the VMs this instance started and still tracks.
    #[napi]
    pub fn active_vms(&self) -> Vec<String> {
        self.inner.active_vms()
    }

    /// Disconnects QMP clients; the VMs keep running.
    #[napi]
    pub async fn shutdown(&self) -> napi::Result<()> {
        let l = self.inner.clone();
        guarded(async move {
            l.shutdown().await;
            Ok(())
        })
        .await
    }
}
