//! The host network the lifecycle drives — the VM's TAP device and its firewall —
//! behind one trait, so `cargo test` reaches rollback and journal replay without
//! root. `KernelNet` is the real one (netlink + nft); tests use a recording fake.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::network::error::NetworkError;
use crate::network::firewall::error::NftablesError;
use crate::network::firewall::rule::FirewallRuleInput;
use crate::network::firewall::service::NftablesService;
use crate::network::link::tap::{TapManager, TapQueues};

pub type NetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait HostNet: Send + Sync + 'static {
    /// Creates the VM's TAP (claimed for it, not yet on a bridge) for a QEMU that
    /// opens it with `queues` queues (multi-queue when more than one); returns its name.
    fn tap_create(&self, vm_id: &str, bridge: Option<&str>, queues: u32) -> Result<String, NetworkError>;
    /// Brings a new TAP up on its bridge.
    fn tap_configure(&self, tap: &str, bridge: Option<&str>) -> Result<(), NetworkError>;
    /// Puts an existing TAP of the VM on the bridge again.
    fn tap_attach(&self, tap: &str, bridge: &str, vm_id: &str) -> Result<(), NetworkError>;
    fn tap_detach(&self, tap: &str);
    fn tap_bring_down(&self, tap: &str);
    fn tap_destroy(&self, tap: &str) -> Result<(), NetworkError>;
    fn tap_exists(&self, tap: &str) -> bool;
    fn tap_has_carrier(&self, tap: &str) -> bool;
    /// Whether an existing TAP is multi-queue (`None`: missing or not a tun/tap).
    fn tap_multi_queue(&self, tap: &str) -> Option<bool>;
    /// A device's state in words (diagnostics).
    fn device_state(&self, dev: &str) -> String;
    /// The VM's chain with `rules` and its dispatch, in one transaction.
    fn apply_rules<'a>(&'a self, vm_id: &'a str, tap: &'a str, rules: &'a [FirewallRuleInput]) -> NetFuture<'a, Result<(), NftablesError>>;
    fn chain_exists<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, bool>;
    /// The VM's chain (kept if it exists) and its dispatch for `tap`.
    fn create_chain<'a>(&'a self, vm_id: &'a str, tap: &'a str) -> NetFuture<'a, Result<(), NftablesError>>;
    fn detach_dispatch<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, ()>;
    fn remove_chain<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, ()>;
}

/// The kernel: the TAP manager (netlink) and the nftables service.
pub struct KernelNet {
    pub taps: Arc<TapManager>,
    pub nft: Arc<NftablesService>,
}

impl HostNet for KernelNet {
    fn tap_create(&self, vm_id: &str, bridge: Option<&str>, queues: u32) -> Result<String, NetworkError> {
        self.taps.create_with_queues(vm_id, bridge, TapQueues::from(queues)).map(|t| t.to_string())
    }
    fn tap_configure(&self, tap: &str, bridge: Option<&str>) -> Result<(), NetworkError> {
        self.taps.configure(tap, bridge)
    }
    fn tap_attach(&self, tap: &str, bridge: &str, vm_id: &str) -> Result<(), NetworkError> {
        self.taps.attach_to_bridge(tap, bridge, Some(vm_id))
    }
    fn tap_detach(&self, tap: &str) {
        self.taps.detach_from_bridge(tap);
    }
    fn tap_bring_down(&self, tap: &str) {
        self.taps.bring_down(tap);
    }
    fn tap_destroy(&self, tap: &str) -> Result<(), NetworkError> {
        self.taps.destroy(tap)
    }
    fn tap_exists(&self, tap: &str) -> bool {
        self.taps.exists(tap)
    }
    fn tap_has_carrier(&self, tap: &str) -> bool {
        self.taps.has_carrier(tap)
    }
    fn tap_multi_queue(&self, tap: &str) -> Option<bool> {
        self.taps.multi_queue(tap)
    }
    fn device_state(&self, dev: &str) -> String {
        self.taps.device_state(dev)
    }
    fn apply_rules<'a>(&'a self, vm_id: &'a str, tap: &'a str, rules: &'a [FirewallRuleInput]) -> NetFuture<'a, Result<(), NftablesError>> {
        Box::pin(async move { self.nft.apply_rules(vm_id, tap, rules, &[]).await.map(|_| ()) })
    }
    fn chain_exists<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, bool> {
        Box::pin(async move { self.nft.chain_exists(&crate::network::names::vm_chain_name(vm_id)).await })
    }
    fn create_chain<'a>(&'a self, vm_id: &'a str, tap: &'a str) -> NetFuture<'a, Result<(), NftablesError>> {
        Box::pin(async move { self.nft.create_vm_chain(vm_id, tap).await.map(|_| ()) })
    }
    fn detach_dispatch<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, ()> {
        Box::pin(self.nft.detach_jump_rules(vm_id))
    }
    fn remove_chain<'a>(&'a self, vm_id: &'a str) -> NetFuture<'a, ()> {
        Box::pin(self.nft.remove_vm_chain(vm_id))
    }
}
