//! Bindings of `CpuPinningAdapter` (spec §12.1) and `CgroupsManager` (spec §13):
//! conversion only. File reads of `/sys` and cgroupfs run on tokio's blocking pool.

use std::sync::Arc;

use napi_derive::napi;

use super::error::{wire, IntoNapi};
use crate::error::WireError;
use crate::lifecycle::pinning::{numactl_args, seed_from_js, vcpus_from_js, PinningAdapter};
use crate::qemu::options::PinningStrategy;
use crate::system::cgroups::{CgroupsManager, Placement};
use crate::system::cores::from_js_numbers;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> napi::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| wire(&WireError::internal(format!("Internal error in Infinivirt: {e}"))))
}

#[napi(object)]
pub struct JsPinningPlan {
    pub wrapper_command: Option<String>,
    pub wrapper_args: Vec<String>,
    pub pinning_applied: bool,
    pub pinned_cores: Vec<u32>,
    pub numa_nodes: Vec<u32>,
    pub hybrid_seed: Option<u32>,
}

#[napi(object)]
pub struct JsNumaNode {
    pub id: u32,
    pub cpus: Vec<u32>,
}

#[napi(object)]
pub struct JsNumaTopology {
    /// Ascending node ids (the facade turns them into a `Map`).
    pub nodes: Vec<JsNumaNode>,
    pub total_cpus: u32,
    pub is_numa_system: bool,
}

#[napi(js_name = "NativeCpuPinningAdapter")]
pub struct NativeCpuPinningAdapter {
    inner: Arc<PinningAdapter>,
}

#[napi]
impl NativeCpuPinningAdapter {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeCpuPinningAdapter { inner: Arc::new(PinningAdapter::new()) }
    }

    #[napi]
    pub async fn generate_pinning_command(&self, vcpu_count: f64, strategy: String, seed: Option<f64>) -> napi::Result<JsPinningPlan> {
        let strategy = PinningStrategy::parse(&strategy).napi()?;
        let a = self.inner.clone();
        let p = blocking(move || a.generate(vcpus_from_js(vcpu_count), strategy, seed.map(seed_from_js))).await?;
        Ok(JsPinningPlan {
            wrapper_command: p.wrapper_command.map(str::to_string),
            wrapper_args: p.wrapper_args,
            pinning_applied: p.pinning_applied,
            pinned_cores: p.pinned_cores,
            numa_nodes: p.numa_nodes,
            hybrid_seed: p.hybrid_seed,
        })
    }

    #[napi]
    pub fn generate_numactl_args(&self, cores: Vec<f64>, nodes: Vec<f64>) -> Vec<String> {
        numactl_args(&cores, &nodes)
    }

    #[napi]
    pub async fn get_numa_topology(&self) -> napi::Result<JsNumaTopology> {
        let a = self.inner.clone();
        let t = blocking(move || a.topology()).await?;
        Ok(JsNumaTopology {
            nodes: t.nodes.iter().map(|(id, cpus)| JsNumaNode { id: *id, cpus: cpus.clone() }).collect(),
            total_cpus: u32::try_from(t.total_cpus).unwrap_or(u32::MAX),
            is_numa_system: t.is_numa_system,
        })
    }

    #[napi]
    pub async fn is_numactl_available(&self) -> napi::Result<bool> {
        let a = self.inner.clone();
        blocking(move || a.numactl_available()).await
    }

    #[napi]
    pub async fn validate_cores(&self, cores: Vec<f64>) -> napi::Result<()> {
        let cores = from_js_numbers(&cores).napi()?;
        let a = self.inner.clone();
        blocking(move || a.validate_cores(&cores).napi()).await?
    }

    #[napi]
    pub fn clear_cache(&self) {
        self.inner.clear_cache();
    }
}

/// What `applyCpuPinning` did (the public method resolves `undefined`; the reason
/// for a skip was already logged natively).
#[napi(object)]
pub struct JsPlacement {
    pub placed: bool,
    /// `cgroups v2` or `cgroups v1 cpuset` when placed.
    pub layout: Option<String>,
    pub group: Option<String>,
    /// Why nothing was placed.
    pub reason: Option<String>,
}

#[napi(js_name = "NativeCgroupsManager")]
pub struct NativeCgroupsManager {
    inner: Arc<CgroupsManager>,
}

#[napi]
impl NativeCgroupsManager {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeCgroupsManager { inner: Arc::new(CgroupsManager::new()) }
    }

    #[napi]
    pub async fn apply_cpu_pinning(&self, pid: f64, cores: Vec<f64>) -> napi::Result<JsPlacement> {
        let m = self.inner.clone();
        let p = blocking(move || m.apply_cpu_pinning_js(pid, &cores)).await?;
        Ok(match p {
            Placement::Placed { layout, group, .. } => {
                JsPlacement { placed: true, layout: Some(layout.as_str().to_string()), group: Some(group.display().to_string()), reason: None }
            }
            Placement::Skipped(why) => JsPlacement { placed: false, layout: None, group: None, reason: Some(why.to_string()) },
        })
    }

    #[napi]
    pub async fn cleanup_empty_scopes(&self) -> napi::Result<u32> {
        let m = self.inner.clone();
        blocking(move || u32::try_from(m.cleanup_empty_scopes()).unwrap_or(u32::MAX)).await
    }

    #[napi]
    pub async fn get_host_cpu_count(&self) -> napi::Result<u32> {
        let m = self.inner.clone();
        blocking(move || u32::try_from(m.host_cpu_count()).unwrap_or(u32::MAX)).await
    }

    #[napi]
    pub async fn validate_cores(&self, cores: Vec<f64>) -> napi::Result<()> {
        let cores = from_js_numbers(&cores).napi()?;
        let m = self.inner.clone();
        blocking(move || m.validate_cores(&cores).napi()).await?
    }
}
