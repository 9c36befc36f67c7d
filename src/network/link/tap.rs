//! `TapDeviceManager` (spec §8.1): persistent TAP devices for VMs.
//!
//! Devices are made with the TUN ioctls and configured over rtnetlink: no `ip` or
//! `ethtool` process per operation. Every call is a handful of kernel round trips
//! (tens of microseconds) with a deadline on each; callers run them on a blocking
//! thread, never on the Node thread.
//!
//! Differences from the original (see COMPATIBILITY.md): `create` does not sweep
//! orphans unless asked to, and refuses a name another VM holds instead of deleting
//! its TAP; the sweep spares TAPs this process has claimed and waits a grace
//! period before removing anyone else's; carrier is read from the kernel's carrier
//! state, not from `ip link` text; checksum offload that cannot be turned off is a
//! warning, not a failure.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::codec::LinkInfo;
use super::describe::{describe, Extras};
use super::ethtool::{self, Csum, OffloadOutcome};
use super::names::{owner_of, owner_tag, plan_create, tap_for_vm, Claimant, CreatePlan};
use super::registry::Registry;
use super::rtnl::{delete_link, Rtnl};
use super::tun;
use crate::log;
use crate::network::error::{Holder, LinkCause, LinkOp, NetworkError, SysError};
use crate::network::ifname::IfName;
use crate::network::names::TAP_NAME_PREFIX;

const NS: &str = "infinivirt:tap-device";
const MODULE: &str = "tap-device";

/// How long a TAP of another process must look orphaned, unchanged, before the
/// sweep removes it.
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(30);
const MAX_ORPHAN_GRACE_MS: f64 = 86_400_000.0;

/// Serialises `create` and the sweep's deletions within the process, so a sweep
/// never deletes a TAP between a `create`'s checks and its claim.
static CREATE_LOCK: Mutex<()> = Mutex::new(());

fn create_lock() -> MutexGuard<'static, ()> {
    CREATE_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Options of `new TapDeviceManager(options?)` (Infinivirt addition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapConfig {
    pub orphan_grace: Duration,
    /// Run the orphan sweep at the start of every `create` (what 5b14fc8 did).
    pub sweep_on_create: bool,
}

impl Default for TapConfig {
    fn default() -> Self {
        TapConfig { orphan_grace: DEFAULT_ORPHAN_GRACE, sweep_on_create: false }
    }
}

impl TapConfig {
    /// From the JS options; `orphanGraceMs` must be a finite number from 0 to one day.
    pub fn new(orphan_grace_ms: Option<f64>, sweep_on_create: Option<bool>) -> Result<Self, NetworkError> {
        let orphan_grace = match orphan_grace_ms {
            None => DEFAULT_ORPHAN_GRACE,
            Some(ms) if ms.is_finite() && (0.0..=MAX_ORPHAN_GRACE_MS).contains(&ms) => Duration::from_secs_f64(ms / 1000.0),
            Some(ms) => {
                return Err(NetworkError::InvalidArgument {
                    name: "orphanGraceMs",
                    reason: format!("must be a number of milliseconds from 0 to 86400000, got {ms}"),
                })
            }
        };
        Ok(TapConfig { orphan_grace, sweep_on_create: sweep_on_create.unwrap_or(false) })
    }
}

/// How many queues QEMU will open a TAP with (its `-netdev tap,queues=`). The kernel
/// lets QEMU attach several queues only to a TAP made multi-queue, and refuses a
/// single queue on one that is: the TAP is made to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapQueues(u32);

/// The kernel's limit of queues per TAP (`MAX_TAP_QUEUES`).
pub const MAX_TAP_QUEUES: u32 = 256;

impl TapQueues {
    pub const SINGLE: TapQueues = TapQueues(1);

    /// From `create`'s JS option: an integer from 0 to 256, as `addNetwork` takes it
    /// (0 and 1 both mean one queue); none is one queue.
    pub fn new(queues: Option<f64>) -> Result<Self, NetworkError> {
        match queues {
            None => Ok(TapQueues::SINGLE),
            Some(q) if q.is_finite() && q.fract() == 0.0 && (0.0..=f64::from(MAX_TAP_QUEUES)).contains(&q) => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // an integer in 0..=256
                let n = q as u32;
                Ok(TapQueues::from(n))
            }
            Some(q) => Err(NetworkError::InvalidArgument { name: "queues", reason: format!("must be an integer from 0 to {MAX_TAP_QUEUES}, got {q}") }),
        }
    }

    pub fn count(self) -> u32 {
        self.0
    }

    /// Whether the TAP must be multi-queue (`IFF_MULTI_QUEUE`).
    pub fn multi_queue(self) -> bool {
        self.0 > 1
    }
}

impl From<u32> for TapQueues {
    /// A count the caller computed (the lifecycle's `min(cores, 4)`), kept in 1..=256.
    fn from(n: u32) -> Self {
        TapQueues(n.clamp(1, MAX_TAP_QUEUES))
    }
}

/// `cleanupOrphanedTapDevices()`'s result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepResult {
    /// `vnet-*` tun/tap devices seen.
    pub total: u32,
    pub cleaned: u32,
    pub failed: u32,
}

pub struct TapManager {
    config: TapConfig,
    registry: &'static Registry,
}

fn kernel(op: impl FnOnce() -> LinkOp) -> impl FnOnce(SysError) -> NetworkError {
    move |e| NetworkError::link(op(), LinkCause::Kernel(e))
}

/// ENODEV/ENXIO on a device we just saw: it vanished meanwhile, which is fine for
/// operations that remove or detach.
fn gone(e: &SysError) -> bool {
    matches!(e.errno, Errno::ENODEV | Errno::ENXIO)
}

impl TapManager {
    pub fn new(config: TapConfig) -> Self {
        TapManager { config, registry: Registry::global() }
    }

    fn is_tap_candidate(link: &LinkInfo) -> bool {
        link.is_tuntap() && link.name.starts_with(TAP_NAME_PREFIX)
    }

    fn looks_orphaned(&self, link: &LinkInfo) -> bool {
        link.is_tuntap() && link.is_persistent() && !link.has_carrier() && self.registry.claimant(&link.name).is_none()
    }

    /// Creates `vm_id`'s single-queue TAP (`vnet-` + 10 alphanumerics) and claims it
    /// for the VM. `bridge` is only logged, as in the spec; `configure` attaches it.
    pub fn create(&self, vm_id: &str, bridge: Option<&str>) -> Result<IfName, NetworkError> {
        self.create_with_queues(vm_id, bridge, TapQueues::SINGLE)
    }

    /// [`Self::create`] for a QEMU that opens the TAP with `queues` queues: a TAP of
    /// more than one is made multi-queue.
    pub fn create_with_queues(&self, vm_id: &str, bridge: Option<&str>, queues: TapQueues) -> Result<IfName, NetworkError> {
        let tap = tap_for_vm(vm_id)?;
        log::log(NS, &format!("Creating TAP device {tap} for VM {vm_id} (bridge: {})", bridge.unwrap_or("none")));
        if self.config.sweep_on_create {
            let r = self.cleanup_orphaned_tap_devices();
            log::log(NS, &format!("Orphan sweep before create: {r:?}"));
        }
        let op = || LinkOp::CreateTap { tap: tap.to_string() };
        let _serial = create_lock();
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let existing = nl.link(&tap).map_err(kernel(op))?;
        match plan_create(vm_id, self.registry.claimant(tap.as_str()).as_ref(), existing.as_ref()) {
            CreatePlan::Create => {}
            CreatePlan::Replace => {
                if let Some(old) = &existing {
                    log::log(NS, &format!("TAP device {tap} already exists without carrier, re-creating it"));
                    match delete_link(old) {
                        Ok(()) => {}
                        Err(e) if gone(&e) => {}
                        Err(e) => return Err(kernel(op)(e)),
                    }
                }
            }
            CreatePlan::Refuse(holder) => {
                return Err(NetworkError::link(op(), LinkCause::Taken { vm_id: vm_id.to_string(), holder }));
            }
            CreatePlan::NotATap { kind } => {
                return Err(NetworkError::link(op(), LinkCause::WrongKind { device: tap.to_string(), kind, expected: "TAP device" }));
            }
        }
        tun::create_persistent_tap(&tap, queues.multi_queue()).map_err(kernel(op))?;
        let link = nl.link(&tap).map_err(kernel(op))?.ok_or_else(|| NetworkError::link(op(), LinkCause::Missing { device: tap.to_string() }))?;
        if let Err(e) = nl.set_alias(&link, &owner_tag(vm_id)) {
            // An untagged TAP would be anyone's: do not leave it behind.
            if let Err(undo) = nl.delete(&link) {
                log::warn(MODULE, &format!("Could not remove TAP device {tap} after a failed create: {undo}"));
            }
            return Err(kernel(op)(e));
        }
        self.registry.claim(tap.as_str(), Claimant::Vm(vm_id.to_string()));
        let mode = if queues.multi_queue() { " (multi-queue)" } else { "" };
        log::log(NS, &format!("Created TAP device {tap}{mode}"));
        Ok(tap)
    }

    /// Up, checksum offload off, and (with `bridge`) a port of that bridge.
    pub fn configure(&self, tap: &str, bridge: Option<&str>) -> Result<(), NetworkError> {
        let tap = IfName::new(tap)?;
        let bridge = bridge.map(IfName::new).transpose()?;
        let op = || LinkOp::ConfigureTap { tap: tap.to_string(), bridge: bridge.as_ref().map(IfName::to_string) };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let link = nl.link(&tap).map_err(kernel(op))?.ok_or_else(|| NetworkError::link(op(), LinkCause::Missing { device: tap.to_string() }))?;
        nl.set_up(&link, true).map_err(kernel(op))?;
        self.checksum_offload_off(&tap);
        if let Some(bridge) = &bridge {
            let br = nl.link(bridge).map_err(kernel(op))?.ok_or_else(|| NetworkError::link(op(), LinkCause::Missing { device: bridge.to_string() }))?;
            nl.set_master(&link, Some(&br)).map_err(kernel(op))?;
        }
        log::log(NS, &format!("Configured TAP device {tap}"));
        Ok(())
    }

    /// `ethtool -K <tap> tx off rx off`. A device that keeps checksumming on is
    /// logged as a warning, not an error: the VM still runs (spec §19 #23).
    fn checksum_offload_off(&self, tap: &IfName) {
        match ethtool::checksum_offload_off(tap) {
            Ok(results) => {
                for (dir, outcome) in results {
                    match outcome {
                        OffloadOutcome::Off => {}
                        OffloadOutcome::StillOn(e) | OffloadOutcome::Unknown(e) => {
                            log::warn(MODULE, &format!("Could not turn off {} on {tap} ({e}); guests may drop DHCP replies with bad checksums", dir.name()))
                        }
                    }
                }
            }
            Err(e) => log::warn(MODULE, &format!("Could not change checksum offload of {tap}: {e}")),
        }
    }

    /// Deletes the TAP; a missing device is fine. Refuses devices that are not TAPs.
    pub fn destroy(&self, tap: &str) -> Result<(), NetworkError> {
        let tap = IfName::new(tap)?;
        let op = || LinkOp::DestroyTap { tap: tap.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let Some(link) = nl.link(&tap).map_err(kernel(op))? else {
            self.registry.release(tap.as_str());
            log::log(NS, &format!("TAP device {tap} does not exist, nothing to destroy"));
            return Ok(());
        };
        if !link.is_tuntap() {
            let kind = link.kind.clone().unwrap_or_else(|| "physical".into());
            return Err(NetworkError::link(op(), LinkCause::WrongKind { device: tap.to_string(), kind, expected: "TAP device" }));
        }
        // Down first, as `ip link set down` + `ip link del` did; then delete by index.
        match nl.set_up(&link, false).and_then(|()| delete_link(&link)) {
            Ok(()) => {}
            Err(e) if gone(&e) => {}
            Err(e) => return Err(kernel(op)(e)),
        }
        self.registry.release(tap.as_str());
        log::log(NS, &format!("Destroyed TAP device {tap}"));
        Ok(())
    }

    /// `ip link set <tap> down`; never fails (problems are logged).
    pub fn bring_down(&self, tap: &str) {
        let r = (|| -> Result<(), String> {
            let tap = IfName::new(tap).map_err(|e| e.to_string())?;
            let mut nl = Rtnl::open().map_err(|e| e.to_string())?;
            match nl.link(&tap).map_err(|e| e.to_string())? {
                Some(link) => nl.set_up(&link, false).map_err(|e| e.to_string()),
                None => Err(format!("TAP device {tap} does not exist")),
            }
        })();
        if let Err(e) = r {
            log::log(NS, &format!("Could not bring down {tap}: {e}"));
        }
    }

    /// `nomaster` and down, keeping the device (a stopped VM's TAP); releases the
    /// claim. Never fails (problems are logged).
    pub fn detach_from_bridge(&self, tap: &str) {
        self.registry.release(tap);
        let r = (|| -> Result<(), String> {
            let tap = IfName::new(tap).map_err(|e| e.to_string())?;
            let mut nl = Rtnl::open().map_err(|e| e.to_string())?;
            let Some(link) = nl.link(&tap).map_err(|e| e.to_string())? else { return Ok(()) };
            nl.set_master(&link, None).map_err(|e| e.to_string())?;
            nl.set_up(&link, false).map_err(|e| e.to_string())
        })();
        if let Err(e) = r {
            log::log(NS, &format!("Could not detach {tap} from its bridge: {e}"));
        }
    }

    /// Up and a port of `bridge` (no offload change, as in the spec). With `vm_id`
    /// the TAP must be that VM's (or untagged, and then becomes that VM's). Claims
    /// the TAP, so the orphan sweep leaves it alone while its VM starts.
    pub fn attach_to_bridge(&self, tap: &str, bridge: &str, vm_id: Option<&str>) -> Result<(), NetworkError> {
        let tap = IfName::new(tap)?;
        let bridge = IfName::new(bridge)?;
        let op = || LinkOp::AttachTap { tap: tap.to_string(), bridge: bridge.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let Some(link) = nl.link(&tap).map_err(kernel(op))? else {
            return Err(NetworkError::TapNotFoundForAttach { tap: tap.to_string() });
        };
        let owner = owner_of(&link).map(str::to_string);
        if let Some(vm) = vm_id {
            let other = match (self.registry.claimant(tap.as_str()), &owner) {
                (Some(Claimant::Vm(c)), _) if c != vm => Some(c),
                (_, Some(o)) if o != vm => Some(o.clone()),
                _ => None,
            };
            if let Some(other) = other {
                return Err(NetworkError::link(op(), LinkCause::Taken { vm_id: vm.to_string(), holder: Holder::Vm(other) }));
            }
        }
        let br = nl.link(&bridge).map_err(kernel(op))?.ok_or_else(|| NetworkError::link(op(), LinkCause::Missing { device: bridge.to_string() }))?;
        nl.set_up(&link, true).map_err(kernel(op))?;
        nl.set_master(&link, Some(&br)).map_err(kernel(op))?;
        let who = match (vm_id, owner) {
            (Some(vm), None) => {
                nl.set_alias(&link, &owner_tag(vm)).map_err(kernel(op))?;
                Claimant::Vm(vm.to_string())
            }
            (Some(vm), Some(_)) => Claimant::Vm(vm.to_string()),
            (None, Some(o)) => Claimant::Vm(o),
            (None, None) => Claimant::Unattributed,
        };
        self.registry.claim(tap.as_str(), who);
        log::log(NS, &format!("Attached TAP device {tap} to bridge {bridge}"));
        Ok(())
    }

    /// The device, or `None` when it is missing, the name is invalid or the kernel
    /// cannot be asked (logged).
    fn lookup(&self, name: &str) -> Option<LinkInfo> {
        let name = IfName::new(name).ok()?;
        match Rtnl::open().and_then(|mut nl| nl.link(&name)) {
            Ok(l) => l,
            Err(e) => {
                log::log(NS, &format!("Could not look up {name}: {e}"));
                None
            }
        }
    }

    pub fn exists(&self, tap: &str) -> bool {
        self.lookup(tap).is_some()
    }

    /// True when the device has carrier: for a TAP, a process (QEMU) holds it open.
    /// Read from the kernel's carrier state, so it does not depend on the admin state.
    pub fn has_carrier(&self, tap: &str) -> bool {
        self.lookup(tap).is_some_and(|l| l.has_carrier())
    }

    /// Whether the tun/tap `tap` is multi-queue; `None` when it is missing, not a
    /// tun/tap, or the kernel cannot be asked.
    pub fn multi_queue(&self, tap: &str) -> Option<bool> {
        self.lookup(tap).and_then(|l| l.tun).map(|t| t.multi_queue)
    }

    /// Names of the `vnet-*` tun/tap devices, in index order. Never fails.
    pub fn list_all_tap_devices(&self) -> Vec<String> {
        match Rtnl::open().and_then(|mut nl| nl.links()) {
            Ok(links) => links.into_iter().filter(Self::is_tap_candidate).map(|l| l.name).collect(),
            Err(e) => {
                log::log(NS, &format!("Could not list TAP devices: {e}"));
                Vec::new()
            }
        }
    }

    /// A persistent tun/tap without carrier that this process has not claimed.
    pub fn is_orphaned(&self, tap: &str) -> bool {
        self.lookup(tap).is_some_and(|l| self.looks_orphaned(&l))
    }

    /// Removes `vnet-*` TAPs that are persistent, carrier-less, unclaimed by this
    /// process, and have looked so, unchanged, for the grace period. Never fails.
    pub fn cleanup_orphaned_tap_devices(&self) -> SweepResult {
        let mut result = SweepResult::default();
        let (mut nl, links) = match Rtnl::open().and_then(|mut nl| nl.links().map(|l| (nl, l))) {
            Ok(x) => x,
            Err(e) => {
                log::log(NS, &format!("Orphan sweep could not list devices: {e}"));
                return result;
            }
        };
        let taps: Vec<LinkInfo> = links.into_iter().filter(Self::is_tap_candidate).collect();
        result.total = u32::try_from(taps.len()).unwrap_or(u32::MAX);
        for link in taps {
            if !self.looks_orphaned(&link) {
                self.registry.unsighted(&link.name);
                continue;
            }
            let age = self.registry.sighted(&link, Instant::now());
            if age < self.config.orphan_grace {
                log::log(NS, &format!("{} looks orphaned; removing it once that has held for the grace period", link.name));
                continue;
            }
            let _serial = create_lock();
            // Look again under the lock: a create or attach may have claimed it.
            let current = match nl.link_by_index(link.index) {
                Ok(Some(now)) if now.name == link.name && self.looks_orphaned(&now) => now,
                Ok(_) => continue,
                Err(e) => {
                    log::log(NS, &format!("Orphan sweep could not re-check {}: {e}", link.name));
                    result.failed += 1;
                    continue;
                }
            };
            match delete_link(&current) {
                Ok(()) => result.cleaned += 1,
                Err(e) if gone(&e) => result.cleaned += 1,
                Err(e) => {
                    log::warn(MODULE, &format!("Could not remove orphaned TAP device {}: {e}", link.name));
                    result.failed += 1;
                    continue;
                }
            }
            self.registry.unsighted(&link.name);
            log::log(NS, &format!("Removed orphaned TAP device {}", link.name));
        }
        result
    }

    /// A one-line description of any device (TAPs and bridges), or `Error: <why>`.
    pub fn device_state(&self, name: &str) -> String {
        device_state(name)
    }
}

/// `getDeviceState`: never fails, the failure is the string.
pub fn device_state(name: &str) -> String {
    let described = (|| -> Result<String, NetworkError> {
        let name = IfName::new(name)?;
        let mut nl = Rtnl::open().map_err(|e| NetworkError::Lookup { device: name.to_string(), cause: e })?;
        let link = nl
            .link(&name)
            .map_err(|e| NetworkError::Lookup { device: name.to_string(), cause: e })?
            .ok_or_else(|| NetworkError::DeviceNotFound { device: name.to_string() })?;
        let master_name = match link.master.and_then(|m| i32::try_from(m).ok()) {
            Some(m) => nl.link_by_index(m).ok().flatten().map(|l| l.name),
            None => None,
        };
        let checksum = match (ethtool::checksum(&name, Csum::Tx), ethtool::checksum(&name, Csum::Rx)) {
            (Ok(tx), Ok(rx)) => Some((tx, rx)),
            _ => None,
        };
        Ok(describe(&link, &Extras { master_name, checksum }))
    })();
    described.unwrap_or_else(|e| format!("Error: {e}"))
}
