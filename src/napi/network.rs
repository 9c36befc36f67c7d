//! Bindings of `TapDeviceManager` and `BridgeManager`: conversion only.
//!
//! The core's calls block for a few kernel round trips (each with a deadline), so
//! every one runs on tokio's blocking pool and resolves a Promise; the Node thread
//! never waits on the kernel. A missing string argument arrives as `None` and is
//! validated by the core like an empty one.

use std::sync::Arc;

use napi_derive::napi;

use super::error::{wire, IntoNapi};
use crate::error::WireError;
use crate::network::link::bridge::BridgeManager;
use crate::network::link::tap::{device_state, SweepResult, TapConfig, TapManager, TapQueues};

/// Runs a blocking core call off the async workers; a panic becomes a rejection.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> napi::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| wire(&WireError::internal(format!("Internal error in Infinivirt: {e}"))))
}

#[napi(object)]
pub struct JsTapManagerOptions {
    /// How long a `vnet-*` TAP this process did not claim must look orphaned,
    /// unchanged, before `cleanupOrphanedTapDevices` removes it. Default 30000.
    pub orphan_grace_ms: Option<f64>,
    /// Run the orphan sweep at the start of every `create` (5b14fc8 did). Default false.
    pub sweep_on_create: Option<bool>,
}

/// `create`'s options (Infinivirt addition).
#[napi(object)]
pub struct JsTapCreateOptions {
    /// The queue count QEMU will open the TAP with (`addNetwork`'s `queues`): above
    /// one the TAP is made multi-queue. Default 1.
    pub queues: Option<f64>,
}

#[napi(object)]
pub struct JsSweepResult {
    pub total: u32,
    pub cleaned: u32,
    pub failed: u32,
}

impl From<SweepResult> for JsSweepResult {
    fn from(r: SweepResult) -> Self {
        JsSweepResult { total: r.total, cleaned: r.cleaned, failed: r.failed }
    }
}

#[napi(js_name = "NativeTapManager")]
pub struct NativeTapManager {
    inner: Arc<TapManager>,
}

impl NativeTapManager {
    /// A JS handle on the lifecycle's TAP manager (shares its claims).
    pub(crate) fn from_inner(inner: Arc<TapManager>) -> Self {
        NativeTapManager { inner }
    }
}

#[napi]
impl NativeTapManager {
    #[napi(constructor)]
    pub fn new(options: Option<JsTapManagerOptions>) -> napi::Result<Self> {
        let (grace, sweep) = options.map_or((None, None), |o| (o.orphan_grace_ms, o.sweep_on_create));
        let config = TapConfig::new(grace, sweep).napi()?;
        Ok(NativeTapManager { inner: Arc::new(TapManager::new(config)) })
    }

    #[napi]
    pub async fn create(&self, vm_id: Option<String>, bridge: Option<String>, options: Option<JsTapCreateOptions>) -> napi::Result<String> {
        let queues = TapQueues::new(options.and_then(|o| o.queues)).napi()?;
        let m = self.inner.clone();
        blocking(move || m.create_with_queues(&vm_id.unwrap_or_default(), bridge.as_deref(), queues).map(String::from).napi()).await?
    }

    #[napi]
    pub async fn configure(&self, tap_name: Option<String>, bridge: Option<String>) -> napi::Result<()> {
        let m = self.inner.clone();
        blocking(move || m.configure(&tap_name.unwrap_or_default(), bridge.as_deref()).napi()).await?
    }

    #[napi]
    pub async fn destroy(&self, tap_name: Option<String>) -> napi::Result<()> {
        let m = self.inner.clone();
        blocking(move || m.destroy(&tap_name.unwrap_or_default()).napi()).await?
    }

    #[napi]
    pub async fn bring_down(&self, tap_name: Option<String>) -> napi::Result<()> {
        let m = self.inner.clone();
        blocking(move || m.bring_down(&tap_name.unwrap_or_default())).await
    }

    #[napi]
    pub async fn detach_from_bridge(&self, tap_name: Option<String>) -> napi::Result<()> {
        let m = self.inner.clone();
        blocking(move || m.detach_from_bridge(&tap_name.unwrap_or_default())).await
    }

    #[napi]
    pub async fn attach_to_bridge(&self, tap_name: Option<String>, bridge: Option<String>, vm_id: Option<String>) -> napi::Result<()> {
        let m = self.inner.clone();
        blocking(move || m.attach_to_bridge(&tap_name.unwrap_or_default(), &bridge.unwrap_or_default(), vm_id.as_deref()).napi()).await?
    }

    #[napi]
    pub async fn exists(&self, tap_name: Option<String>) -> napi::Result<bool> {
        let m = self.inner.clone();
        blocking(move || m.exists(&tap_name.unwrap_or_default())).await
    }

    #[napi]
    pub async fn has_carrier(&self, tap_name: Option<String>) -> napi::Result<bool> {
        let m = self.inner.clone();
        blocking(move || m.has_carrier(&tap_name.unwrap_or_default())).await
    }

    #[napi]
    pub async fn list_all_tap_devices(&self) -> napi::Result<Vec<String>> {
        let m = self.inner.clone();
        blocking(move || m.list_all_tap_devices()).await
    }

    #[napi]
    pub async fn is_orphaned(&self, tap_name: Option<String>) -> napi::Result<bool> {
        let m = self.inner.clone();
        blocking(move || m.is_orphaned(&tap_name.unwrap_or_default())).await
    }

    #[napi]
    pub async fn cleanup_orphaned_tap_devices(&self) -> napi::Result<JsSweepResult> {
        let m = self.inner.clone();
        blocking(move || m.cleanup_orphaned_tap_devices().into()).await
    }

    #[napi]
    pub async fn get_device_state(&self, name: Option<String>) -> napi::Result<String> {
        blocking(move || device_state(&name.unwrap_or_default())).await
    }
}

#[napi]
pub async fn bridge_exists(name: Option<String>) -> napi::Result<bool> {
    blocking(move || BridgeManager.exists(&name.unwrap_or_default())).await
}

#[napi]
pub async fn bridge_create(name: Option<String>) -> napi::Result<()> {
    blocking(move || BridgeManager.create(&name.unwrap_or_default()).napi()).await?
}

#[napi]
pub async fn bridge_destroy(name: Option<String>) -> napi::Result<()> {
    blocking(move || BridgeManager.destroy(&name.unwrap_or_default()).napi()).await?
}

#[napi]
pub async fn bridge_add_interface(bridge: Option<String>, iface: Option<String>) -> napi::Result<()> {
    blocking(move || BridgeManager.add_interface(&bridge.unwrap_or_default(), &iface.unwrap_or_default()).napi()).await?
}

#[napi]
pub async fn bridge_remove_interface(bridge: Option<String>, iface: Option<String>) -> napi::Result<()> {
    blocking(move || BridgeManager.remove_interface(&bridge.unwrap_or_default(), &iface.unwrap_or_default()).napi()).await?
}

#[napi]
pub async fn bridge_list_interfaces(bridge: Option<String>) -> napi::Result<Vec<String>> {
    blocking(move || BridgeManager.list_interfaces(&bridge.unwrap_or_default())).await
}

#[napi]
pub async fn bridge_assign_ip(bridge: Option<String>, ip_with_cidr: Option<String>) -> napi::Result<()> {
    blocking(move || BridgeManager.assign_ip(&bridge.unwrap_or_default(), &ip_with_cidr.unwrap_or_default()).napi()).await?
}

#[napi]
pub async fn bridge_remove_ip(bridge: Option<String>, ip_with_cidr: Option<String>) -> napi::Result<()> {
    blocking(move || BridgeManager.remove_ip(&bridge.unwrap_or_default(), &ip_with_cidr.unwrap_or_default()).napi()).await?
}

#[napi]
pub async fn bridge_get_ips(bridge: Option<String>) -> napi::Result<Vec<String>> {
    blocking(move || BridgeManager.get_ips(&bridge.unwrap_or_default())).await
}
