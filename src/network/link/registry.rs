//! The TAPs this process is using, and the orphan candidates it has seen.
//!
//! A TAP is claimed when `create` makes it or `attachToBridge` puts it to use, and
//! released by `destroy` and `detachFromBridge`. The orphan sweep never touches a
//! claimed TAP: between `create` and the moment QEMU opens the device (carrier on)
//! the claim is the only sign that a VM is starting with it.
//!
//! For TAPs of other processes the sweep also waits: a device is removed only after
//! it has looked orphaned, unchanged (same index, admin state and bridge), for a
//! grace period. Another manager bringing it up or attaching it resets the clock.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::codec::LinkInfo;
use super::names::Claimant;

/// What identifies "the same orphan, unchanged" between two sweeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    index: i32,
    up: bool,
    master: Option<u32>,
}

impl Fingerprint {
    pub fn of(link: &LinkInfo) -> Self {
        Fingerprint { index: link.index, up: link.is_up(), master: link.master }
    }
}

#[derive(Debug, Default)]
struct State {
    claims: HashMap<String, Claimant>,
    sightings: HashMap<String, (Fingerprint, Instant)>,
}

/// Claims and orphan sightings. One per process ([`Registry::global`]) so every
/// `TapDeviceManager` instance sees the others' claims.
#[derive(Debug, Default)]
pub struct Registry {
    state: Mutex<State>,
}

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::default);

impl Registry {
    pub fn global() -> &'static Registry {
        &GLOBAL
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panic (single map operations), so a
        // poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn claim(&self, tap: &str, who: Claimant) {
        let mut s = self.lock();
        s.sightings.remove(tap);
        s.claims.insert(tap.to_string(), who);
    }

    pub fn release(&self, tap: &str) {
        let mut s = self.lock();
        s.claims.remove(tap);
        s.sightings.remove(tap);
    }

    pub fn claimant(&self, tap: &str) -> Option<Claimant> {
        self.lock().claims.get(tap).cloned()
    }

    /// Notes that `link` looks orphaned at `now`; returns for how long it has
    /// looked orphaned without changing.
    pub fn sighted(&self, link: &LinkInfo, now: Instant) -> Duration {
        let fp = Fingerprint::of(link);
        let mut s = self.lock();
        match s.sightings.get(&link.name) {
            Some((seen, since)) if *seen == fp => now.saturating_duration_since(*since),
            _ => {
                s.sightings.insert(link.name.clone(), (fp, now));
                Duration::ZERO
            }
        }
    }

    /// Drops the sighting of a device that is gone or no longer looks orphaned.
    pub fn unsighted(&self, tap: &str) {
        self.lock().sightings.remove(tap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: i32, up: bool, master: Option<u32>) -> LinkInfo {
        LinkInfo { index, name: "vnet-a".into(), flags: if up { super::super::codec::IFF_UP } else { 0 }, master, ..LinkInfo::default() }
    }

    #[test]
    fn claims_are_per_name() {
        let r = Registry::default();
        r.claim("vnet-a", Claimant::Vm("a".into()));
        assert_eq!(r.claimant("vnet-a"), Some(Claimant::Vm("a".into())));
        assert_eq!(r.claimant("vnet-b"), None);
        r.release("vnet-a");
        assert_eq!(r.claimant("vnet-a"), None);
    }

    #[test]
    fn the_grace_clock_runs_only_while_nothing_changes() {
        let r = Registry::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(r.sighted(&link(5, false, None), t0), Duration::ZERO);
        assert_eq!(r.sighted(&link(5, false, None), t0 + s(10)), s(10));
        // Brought up and attached by someone: a new sighting.
        assert_eq!(r.sighted(&link(5, true, Some(3)), t0 + s(20)), Duration::ZERO);
        assert_eq!(r.sighted(&link(5, true, Some(3)), t0 + s(50)), s(30));
        // Deleted and re-created under the same name: a new device.
        assert_eq!(r.sighted(&link(9, true, Some(3)), t0 + s(60)), Duration::ZERO);
        // A claim resets it too.
        r.claim("vnet-a", Claimant::Unattributed);
        r.release("vnet-a");
        assert_eq!(r.sighted(&link(9, true, Some(3)), t0 + s(70)), Duration::ZERO);
        r.unsighted("vnet-a");
        assert_eq!(r.sighted(&link(9, true, Some(3)), t0 + s(80)), Duration::ZERO);
    }
}
