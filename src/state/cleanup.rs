//! Releasing what a dead (or shut down) VM held: its TAP's bridge port, its firewall
//! jump rules, its sockets, its pidfile and its runtime columns (spec §10.3).
//!
//! Every step is idempotent (unlinking a missing socket succeeds, clearing cleared
//! columns succeeds), so running a cleanup twice — the pushed crash path and the
//! periodic sweep racing — releases nothing twice and fails nothing.
//!
//! TAP and firewall steps go through [`NetworkRelease`], implemented by the owner
//! (the networking classes); without one they are no-ops that report `SUCCESS` with
//! a note, and no host command runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::emit::{date, now_ms, BoxFuture};
use super::queue::{PendingWrite, Submitted};
use super::records::MachineConfigurationRecord;
use super::sync::StateSync;

/// Spec §17.7 `MAX_CLEANUP_RETRIES`.
pub const MAX_CLEANUP_RETRIES: u32 = 3;
pub const CLEANUP_RETRY_BASE_DELAY: Duration = Duration::from_millis(1000);
pub const CLEANUP_RETRY_MAX_DELAY: Duration = Duration::from_millis(10000);

/// The host side of network cleanup: `TapDeviceManager.detachFromBridge`,
/// `NftablesService.detachJumpRules`, `CgroupsManager.cleanupEmptyScopes`.
/// `Ok(Some(note))` reports success with a remark.
pub trait NetworkRelease: Send + Sync {
    fn detach_tap<'a>(&'a self, tap: &'a str) -> BoxFuture<'a, Result<Option<String>, String>>;
    fn detach_firewall<'a>(&'a self, vm_id: &'a str) -> BoxFuture<'a, Result<Option<String>, String>>;
    fn cleanup_cgroups(&self) -> BoxFuture<'_, Result<Option<String>, String>>;
}

/// No network layer configured: nothing to detach, and it says so.
pub struct NoNetwork;

const NOT_CONFIGURED: &str = "no network manager configured; nothing done";

impl NetworkRelease for NoNetwork {
    fn detach_tap<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async { Ok(Some(NOT_CONFIGURED.to_string())) })
    }
    fn detach_firewall<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<String>, String>> {
        Box::pin(async { Ok(Some(NOT_CONFIGURED.to_string())) })
    }
    fn cleanup_cgroups(&self) -> BoxFuture<'_, Result<Option<String>, String>> {
        Box::pin(async { Ok(Some(NOT_CONFIGURED.to_string())) })
    }
}

/// Spec §17.7 `CleanupResourceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    TapDevice,
    FirewallChain,
    QmpSocket,
    Pidfile,
    DbConfiguration,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::TapDevice => "TAP_DEVICE",
            ResourceType::FirewallChain => "FIREWALL_CHAIN",
            ResourceType::QmpSocket => "QMP_SOCKET",
            ResourceType::Pidfile => "PIDFILE",
            ResourceType::DbConfiguration => "DB_CONFIGURATION",
        }
    }
}

/// Spec `CleanupResourceState` (plus `note`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceState {
    pub kind: ResourceType,
    pub identifier: String,
    pub success: bool,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<f64>,
    pub note: Option<String>,
}

impl ResourceState {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "type": self.kind.as_str(),
            "identifier": self.identifier,
            "status": if self.success { "SUCCESS" } else { "FAILED" },
            "attempts": self.attempts,
        });
        if let Some(e) = &self.last_error {
            v["lastError"] = Value::from(e.clone());
        }
        if let Some(t) = self.last_attempt_at {
            v["lastAttemptAt"] = date(t);
        }
        if let Some(n) = &self.note {
            v["note"] = Value::from(n.clone());
        }
        v
    }
}

/// Spec `CleanupResult`.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanupResult {
    pub vm_id: String,
    pub resources: Vec<ResourceState>,
    pub timestamp: f64,
}

impl CleanupResult {
    pub fn failed(&self) -> Vec<&ResourceState> {
        self.resources.iter().filter(|r| !r.success).collect()
    }

    pub fn to_json(&self) -> Value {
        let ok = self.resources.iter().filter(|r| r.success).count();
        json!({
            "vmId": self.vm_id,
            "totalResources": self.resources.len(),
            "successfulCleanups": ok,
            "failedCleanups": self.resources.len() - ok,
            "resources": self.resources.iter().map(ResourceState::to_json).collect::<Vec<_>>(),
            "timestamp": date(self.timestamp),
        })
    }

    /// `CleanupAlertEvent` when anything failed.
    pub fn alert(&self) -> Option<Value> {
        let failed = self.failed();
        (!failed.is_empty()).then(|| {
            json!({
                "vmId": self.vm_id,
                "failedResources": failed.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
                "timestamp": date(now_ms()),
                "severity": if failed.len() >= 3 { "error" } else { "warning" },
            })
        })
    }
}

/// `min(base·2^(n-1), max)`: the wait after the n-th failed attempt.
pub fn retry_delay(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    base.saturating_mul(factor).min(CLEANUP_RETRY_MAX_DELAY.max(base))
}

/// The pidfile the spec derives from the QMP socket: `<dir>/<basename(sock, '.sock')>.pid`.
pub fn pidfile_for(dir: &Path, qmp_socket: &str) -> PathBuf {
    let base = Path::new(qmp_socket).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = base.strip_suffix(".sock").unwrap_or(&base);
    dir.join(format!("{stem}.pid"))
}

/// Everything one cleanup releases, captured before the status flips.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub tap_device_name: Option<String>,
    pub qmp_socket_path: Option<String>,
    pub guest_agent_socket_path: Option<String>,
    pub infini_service_socket_path: Option<String>,
    /// Explicit pidfile (a watched `QemuProcess` knows its own); else derived from the
    /// QMP socket and the configured directory.
    pub pidfile: Option<PathBuf>,
    pub has_cpu_pinning: bool,
}

impl Resources {
    pub fn from_config(c: &MachineConfigurationRecord) -> Self {
        Resources {
            tap_device_name: c.tap_device_name.clone(),
            qmp_socket_path: c.qmp_socket_path.clone(),
            guest_agent_socket_path: c.guest_agent_socket_path.clone(),
            infini_service_socket_path: c.infini_service_socket_path.clone(),
            pidfile: None,
            has_cpu_pinning: c.has_cpu_pinning(),
        }
    }

    /// Fills what `self` lacks from `other`.
    pub fn merged(mut self, other: &Resources) -> Self {
        let fill = |a: &mut Option<String>, b: &Option<String>| {
            if a.is_none() {
                a.clone_from(b);
            }
        };
        fill(&mut self.tap_device_name, &other.tap_device_name);
        fill(&mut self.qmp_socket_path, &other.qmp_socket_path);
        fill(&mut self.guest_agent_socket_path, &other.guest_agent_socket_path);
        fill(&mut self.infini_service_socket_path, &other.infini_service_socket_path);
        if self.pidfile.is_none() {
            self.pidfile.clone_from(&other.pidfile);
        }
        self.has_cpu_pinning |= other.has_cpu_pinning;
        self
    }
}

/// Runs the spec's cleanup (§10.3, resources 1–7, up to 3 attempts each).
pub struct Cleaner {
    pub sync: Arc<StateSync>,
    pub net: Arc<dyn NetworkRelease>,
    pub pidfile_dir: PathBuf,
    pub retry_base: Duration,
}

enum StepOutcome {
    Done(Option<String>),
    Failed(String),
}

impl Cleaner {
    async fn attempt<'a, F>(&self, kind: ResourceType, identifier: String, mut step: F) -> ResourceState
    where
        F: FnMut() -> BoxFuture<'a, StepOutcome>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let at = now_ms();
            match step().await {
                StepOutcome::Done(note) => {
                    return ResourceState { kind, identifier, success: true, attempts, last_error: None, last_attempt_at: Some(at), note };
                }
                StepOutcome::Failed(e) if attempts >= MAX_CLEANUP_RETRIES => {
                    return ResourceState { kind, identifier, success: false, attempts, last_error: Some(e), last_attempt_at: Some(at), note: None };
                }
                StepOutcome::Failed(e) => {
                    crate::log::log("infinivirt:health-monitor", &format!("cleanup of {} {identifier} failed (attempt {attempts}): {e}", kind.as_str()));
                    tokio::time::sleep(retry_delay(self.retry_base, attempts)).await;
                }
            }
        }
    }

    /// Releases `res` for `vm`; the runtime columns are cleared last, and only when
    /// everything before succeeded. A clear the store cannot take now is queued.
    pub async fn release(&self, vm: &str, res: &Resources) -> CleanupResult {
        self.release_with(vm, res, false).await
    }

    /// `release`; with `store_down` (the store was just seen unreachable) the clearing
    /// of the runtime columns is queued without attempts, and reported as not done.
    pub async fn release_with(&self, vm: &str, res: &Resources, store_down: bool) -> CleanupResult {
        let mut out = Vec::new();
        if let Some(tap) = res.tap_device_name.clone() {
            let net = self.net.clone();
            out.push(
                self.attempt(ResourceType::TapDevice, tap.clone(), || {
                    let (net, tap) = (net.clone(), tap.clone());
                    Box::pin(async move { net.detach_tap(&tap).await.map_or_else(StepOutcome::Failed, StepOutcome::Done) })
                })
                .await,
            );
        }
        let net = self.net.clone();
        let vm_id = vm.to_string();
        out.push(
            self.attempt(ResourceType::FirewallChain, vm_id.clone(), || {
                let (net, vm_id) = (net.clone(), vm_id.clone());
                Box::pin(async move { net.detach_firewall(&vm_id).await.map_or_else(StepOutcome::Failed, StepOutcome::Done) })
            })
            .await,
        );
        for sock in [&res.qmp_socket_path, &res.guest_agent_socket_path, &res.infini_service_socket_path].into_iter().flatten() {
            let p = PathBuf::from(sock);
            out.push(
                self.attempt(ResourceType::QmpSocket, sock.clone(), || {
                    let p = p.clone();
                    Box::pin(async move { unlink_if_exists(&p) })
                })
                .await,
            );
        }
        let pidfile = res.pidfile.clone().or_else(|| res.qmp_socket_path.as_deref().map(|s| pidfile_for(&self.pidfile_dir, s)));
        if let Some(pf) = pidfile {
            out.push(
                self.attempt(ResourceType::Pidfile, pf.display().to_string(), || {
                    let pf = pf.clone();
                    Box::pin(async move { remove_stale_pidfile(&pf) })
                })
                .await,
            );
        }
        let upstream_failed = out.iter().any(|r| !r.success);
        if upstream_failed {
            out.push(ResourceState {
                kind: ResourceType::DbConfiguration,
                identifier: vm.to_string(),
                success: false,
                attempts: 0,
                last_error: Some("Skipped due to upstream resource cleanup failures".into()),
                last_attempt_at: None,
                note: None,
            });
        } else if store_down {
            self.sync.queue().defer(vm, PendingWrite::ClearVolatile);
            out.push(ResourceState {
                kind: ResourceType::DbConfiguration,
                identifier: vm.to_string(),
                success: false,
                attempts: 0,
                last_error: Some("Database unreachable; queued until it is back".into()),
                last_attempt_at: None,
                note: None,
            });
        } else {
            let sync = self.sync.clone();
            let vm_id = vm.to_string();
            let mut state = self
                .attempt(ResourceType::DbConfiguration, vm_id.clone(), || {
                    let (sync, vm_id) = (sync.clone(), vm_id.clone());
                    Box::pin(async move { sync.clear_volatile(&vm_id).await.map_or_else(|e| StepOutcome::Failed(e.to_string()), |()| StepOutcome::Done(None)) })
                })
                .await;
            if !state.success {
                // Not lost: the clear lands once the store is back.
                if let Submitted::Queued { .. } = self.sync.queue().submit(vm, PendingWrite::ClearVolatile).await {
                    state.note = Some("queued until the database is reachable".into());
                }
            }
            out.push(state);
        }
        CleanupResult { vm_id: vm.to_string(), resources: out, timestamp: now_ms() }
    }
}

fn unlink_if_exists(p: &Path) -> StepOutcome {
    match std::fs::remove_file(p) {
        Ok(()) => StepOutcome::Done(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StepOutcome::Done(None),
        Err(e) => StepOutcome::Failed(format!("{}: {e}", p.display())),
    }
}

/// Keeps a pidfile that names a live process (spec §10.3 step 6), else removes it.
fn remove_stale_pidfile(p: &Path) -> StepOutcome {
    let live = std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<i32>().ok()).is_some_and(crate::qemu::pid::pid_alive);
    if live {
        return StepOutcome::Done(Some("pidfile names a live process; kept".into()));
    }
    unlink_if_exists(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::queue::tests::{rt, MemStore};

    #[test]
    fn delays_and_paths() {
        assert_eq!(retry_delay(CLEANUP_RETRY_BASE_DELAY, 1), Duration::from_millis(1000));
        assert_eq!(retry_delay(CLEANUP_RETRY_BASE_DELAY, 2), Duration::from_millis(2000));
        assert_eq!(retry_delay(CLEANUP_RETRY_BASE_DELAY, 9), Duration::from_millis(10000));
        assert_eq!(pidfile_for(Path::new("/var/run/infinivirt/pids"), "/nonexist/vm1.sock"), PathBuf::from("/var/run/infinivirt/pids/vm1.pid"));
    }

    #[test]
    fn spec_92_resources() {
        rt().block_on(async {
            let store = MemStore::with(&[("vm1", "off", Some(MachineConfigurationRecord { qemu_pid: Some(999_999), ..Default::default() }))]);
            let c = Cleaner {
                sync: Arc::new(StateSync::new(store.clone())),
                net: Arc::new(NoNetwork),
                pidfile_dir: "/var/run/infinivirt/pids".into(),
                retry_base: CLEANUP_RETRY_BASE_DELAY,
            };
            let res = Resources { tap_device_name: Some("vnet-vm1".into()), qmp_socket_path: Some("/nonexist/vm1.sock".into()), ..Default::default() };
            let r = c.release("vm1", &res).await;
            let v = r.to_json();
            let kinds: Vec<(String, String, String, u64)> = v["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| {
                    (
                        x["type"].as_str().unwrap().into(),
                        x["identifier"].as_str().unwrap().into(),
                        x["status"].as_str().unwrap().into(),
                        x["attempts"].as_u64().unwrap(),
                    )
                })
                .collect();
            let want = [
                ("TAP_DEVICE", "vnet-vm1"),
                ("FIREWALL_CHAIN", "vm1"),
                ("QMP_SOCKET", "/nonexist/vm1.sock"),
                ("PIDFILE", "/var/run/infinivirt/pids/vm1.pid"),
                ("DB_CONFIGURATION", "vm1"),
            ];
            assert_eq!(kinds, want.iter().map(|(a, b)| (a.to_string(), b.to_string(), "SUCCESS".to_string(), 1)).collect::<Vec<_>>());
            assert_eq!((v["totalResources"].as_u64(), v["failedCleanups"].as_u64()), (Some(5), Some(0)));
            assert!(r.alert().is_none());
            assert_eq!(store.calls(), ["clearVolatileMachineConfiguration vm1"]);
        });
    }
}
