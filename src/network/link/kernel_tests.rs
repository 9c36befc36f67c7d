//! The managers against the real kernel, each test in a network namespace of its
//! own: the test thread `unshare(CLONE_NEWNET)`s before touching anything, so the
//! host's links are never seen or changed, and everything made dies with the
//! namespace when the thread ends. Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN);
//! without it the tests say so and pass.
//!
//! The managers are called directly on the test thread (the binding layer's
//! blocking-pool hop would leave the namespace). Claims live in the process-wide
//! registry, so each test uses VM ids of its own.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;

use super::bridge::BridgeManager;
use super::codec::LinkInfo;
use super::ethtool::{self, Csum};
use super::rtnl::Rtnl;
use super::tap::{TapConfig, TapManager, TapQueues};
use super::tun;
use crate::error::ErrorShape;
use crate::network::error::NetworkError;
use crate::network::ifname::IfName;

/// Runs `f` on a thread inside a fresh network namespace; `None` without privileges.
fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET changes only this thread's namespace.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!("skipping kernel test: unshare(CLONE_NEWNET): {}", Errno::last());
            return None;
        }
        Some(f())
    })
    .join()
    .unwrap()
}

fn name(n: &str) -> IfName {
    IfName::new(n).unwrap()
}

fn link(n: &str) -> Option<LinkInfo> {
    Rtnl::open().unwrap().link(&name(n)).unwrap()
}

fn names() -> Vec<String> {
    Rtnl::open().unwrap().links().unwrap().into_iter().map(|l| l.name).collect()
}

fn taps(grace_ms: f64) -> TapManager {
    TapManager::new(TapConfig::new(Some(grace_ms), None).unwrap())
}

/// What QEMU does: attach to the persistent TAP (carrier on while the fd is open).
fn open_tap(n: &str) -> OwnedFd {
    open_tap_with(n, 0)
}

fn open_tap_with(n: &str, extra: libc::c_short) -> OwnedFd {
    try_open_tap(n, extra).unwrap()
}

/// One queue of the TAP as QEMU opens it (`IFF_MULTI_QUEUE` in `extra` when its
/// `-netdev tap` has `queues` > 1), or the kernel's refusal.
fn try_open_tap(n: &str, extra: libc::c_short) -> Result<OwnedFd, Errno> {
    // SAFETY: open(2) of a constant path; checked below.
    let raw = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    assert!(raw >= 0);
    // SAFETY: fresh descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ifr = super::ifreq::IfReq::new(&name(n));
    ifr.set_flags(tun::IFF_TAP | tun::IFF_NO_PI | tun::IFF_VNET_HDR | extra);
    // SAFETY: TUNSETIFF with a live ifreq.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
        return Err(Errno::last());
    }
    Ok(fd)
}

#[test]
fn bridge_lifecycle() {
    in_netns(|| {
        let b = BridgeManager;
        assert!(!b.exists("br9"));
        b.create("br9").unwrap();
        let l = link("br9").unwrap();
        assert!(l.is_bridge() && l.is_up());
        let e = b.create("br9").unwrap_err();
        assert_eq!(e.to_string(), "Bridge br9 already exists");
        assert_eq!(e.code(), "BRIDGE_ALREADY_EXISTS");

        b.assign_ip("br9", "10.0.0.1/24").unwrap();
        b.assign_ip("br9", "10.0.0.1/24").unwrap(); // already assigned: fine
        b.assign_ip("br9", "10.0.1.1/16").unwrap();
        assert_eq!(b.get_ips("br9"), ["10.0.0.1/24", "10.0.1.1/16"]);
        b.remove_ip("br9", "10.0.0.1/24").unwrap();
        b.remove_ip("br9", "10.0.0.1/24").unwrap(); // not assigned: fine
        assert_eq!(b.get_ips("br9"), ["10.0.1.1/16"]);

        let e = b.add_interface("br-none", "lo").unwrap_err();
        assert_eq!(e.to_string(), "Bridge br-none does not exist");
        assert_eq!(e.code(), "BRIDGE_NOT_FOUND");
        let e = b.add_interface("br9", "eth-none").unwrap_err();
        assert_eq!(e.to_string(), "Failed to add interface eth-none to bridge br9: Device eth-none does not exist");
        assert_eq!(e.code(), "DEVICE_NOT_FOUND");
        assert!(b.list_interfaces("br-none").is_empty());
        assert!(b.get_ips("br-none").is_empty());

        b.destroy("br9").unwrap();
        assert!(link("br9").is_none());
        b.destroy("br9").unwrap(); // missing: fine
        let e = b.destroy("lo").unwrap_err();
        assert_eq!(e.to_string(), "Failed to destroy bridge lo: lo is a physical device, not a bridge");
        assert!(link("lo").is_some());
    });
}

#[test]
fn ports_are_listed_in_order_and_removed() {
    in_netns(|| {
        let b = BridgeManager;
        let t = taps(30_000.0);
        b.create("br-ports").unwrap();
        let a = t.create("ports-vm-aaaa", None).unwrap();
        let c = t.create("ports-vm-cccc", None).unwrap();
        b.add_interface("br-ports", a.as_str()).unwrap();
        b.add_interface("br-ports", c.as_str()).unwrap();
        assert_eq!(b.list_interfaces("br-ports"), [a.to_string(), c.to_string()]);
        // Not a port of that bridge: left alone.
        b.create("br-other").unwrap();
        b.remove_interface("br-other", a.as_str()).unwrap();
        assert!(link(a.as_str()).unwrap().master.is_some());
        b.remove_interface("br-ports", a.as_str()).unwrap();
        b.remove_interface("br-ports", "gone-dev").unwrap();
        assert_eq!(b.list_interfaces("br-ports"), [c.to_string()]);
        t.destroy(a.as_str()).unwrap();
        t.destroy(c.as_str()).unwrap();
    });
}

#[test]
fn tap_create_configure_attach_detach_destroy() {
    in_netns(|| {
        let t = taps(30_000.0);
        BridgeManager.create("br0").unwrap();
        let vm = "550e8400-e29b-41d4-a716-446655440000";
        let tap = t.create(vm, Some("br0")).unwrap();
        assert_eq!(tap.as_str(), "vnet-550e8400e2");
        let l = link(tap.as_str()).unwrap();
        assert!(l.is_tuntap() && l.tun.unwrap().tap && l.is_persistent() && !l.is_up());
        assert_eq!(l.alias.as_deref(), Some("infinivirt vm=550e8400-e29b-41d4-a716-446655440000"));
        assert_eq!(l.master, None); // the bridge is only logged by create
        assert_eq!(t.list_all_tap_devices(), [tap.to_string()]);
        assert!(t.exists(tap.as_str()));

        t.configure(tap.as_str(), Some("br0")).unwrap();
        let l = link(tap.as_str()).unwrap();
        let br = link("br0").unwrap();
        assert!(l.is_up());
        assert_eq!(l.master, u32::try_from(br.index).ok());
        assert!(!ethtool::checksum(&tap, Csum::Tx).unwrap());
        assert!(!ethtool::checksum(&tap, Csum::Rx).unwrap());
        assert!(!t.has_carrier(tap.as_str()));
        // Claimed by this process: not an orphan although persistent and carrier-less.
        assert!(!t.is_orphaned(tap.as_str()));

        t.detach_from_bridge(tap.as_str());
        let l = link(tap.as_str()).unwrap();
        assert!(!l.is_up() && l.master.is_none());
        assert!(t.is_orphaned(tap.as_str())); // a stopped VM's kept TAP

        t.attach_to_bridge(tap.as_str(), "br0", Some(vm)).unwrap();
        let l = link(tap.as_str()).unwrap();
        assert!(l.is_up() && l.master.is_some());
        assert!(!t.is_orphaned(tap.as_str()));

        t.bring_down(tap.as_str());
        assert!(!link(tap.as_str()).unwrap().is_up());
        t.bring_down("never-existed"); // never fails

        t.destroy(tap.as_str()).unwrap();
        assert!(link(tap.as_str()).is_none());
        t.destroy(tap.as_str()).unwrap(); // missing: fine
        t.detach_from_bridge(tap.as_str()); // missing: fine
        let e = t.attach_to_bridge(tap.as_str(), "br0", None).unwrap_err();
        assert_eq!(e.to_string(), "TAP device vnet-550e8400e2 does not exist, cannot attach to bridge");
        assert_eq!(e.code(), "DEVICE_NOT_FOUND");
        let e = t.destroy("lo").unwrap_err();
        assert_eq!(e.to_string(), "Failed to destroy TAP device lo: lo is a physical device, not a TAP device");
    });
}

#[test]
fn configure_without_bridge_and_with_a_missing_one() {
    in_netns(|| {
        let t = taps(30_000.0);
        let tap = t.create("cfg-vm-1", None).unwrap();
        t.configure(tap.as_str(), None).unwrap();
        assert!(link(tap.as_str()).unwrap().is_up());
        let e = t.configure(tap.as_str(), Some("br-missing")).unwrap_err();
        assert_eq!(e.to_string(), "Failed to configure TAP device vnet-cfgvm1: Device br-missing does not exist");
        assert_eq!(e.code(), "BRIDGE_NOT_FOUND");
        let e = t.configure("vnet-none", None).unwrap_err();
        assert_eq!(e.code(), "DEVICE_NOT_FOUND");
        let e = t.attach_to_bridge(tap.as_str(), "br-missing", None).unwrap_err();
        assert_eq!(e.to_string(), "Failed to attach TAP device vnet-cfgvm1 to bridge br-missing: Device br-missing does not exist");
        t.destroy(tap.as_str()).unwrap();
    });
}

#[test]
fn carrier_follows_the_process_holding_the_tap() {
    in_netns(|| {
        let t = taps(0.0);
        let vm = "carrier-vm-1";
        let tap = t.create(vm, None).unwrap();
        // Down and unheld.
        assert!(!t.has_carrier(tap.as_str()));
        {
            let _qemu = open_tap(tap.as_str());
            // Carrier does not depend on the admin state (spec §19 #21).
            assert!(t.has_carrier(tap.as_str()));
            t.configure(tap.as_str(), None).unwrap();
            assert!(t.has_carrier(tap.as_str()));
            // Even this VM's own create does not replace a TAP a QEMU holds.
            t.detach_from_bridge(tap.as_str());
            let e = t.create(vm, None).unwrap_err();
            assert_eq!(e.code(), "DEVICE_ALREADY_EXISTS");
            assert!(e.to_string().contains("in use by a running QEMU of VM carrier-vm-1"), "{e}");
            // Nor does the sweep (grace 0, unclaimed after the detach).
            assert_eq!(t.cleanup_orphaned_tap_devices().cleaned, 0);
            assert!(t.exists(tap.as_str()));
        }
        assert!(!t.has_carrier(tap.as_str()));
        t.destroy(tap.as_str()).unwrap();
    });
}

#[test]
fn a_tap_that_is_not_persistent_is_never_an_orphan() {
    in_netns(|| {
        let t = taps(0.0);
        // Exists only while this fd is open, and has no carrier: `persist off`.
        let _held = open_tap_with("vnet-transient", tun::IFF_NO_CARRIER);
        let l = link("vnet-transient").unwrap();
        assert!(!l.has_carrier() && !l.is_persistent());
        assert!(!t.is_orphaned("vnet-transient"));
        assert_eq!(t.cleanup_orphaned_tap_devices().cleaned, 0);
        assert!(link("vnet-transient").is_some());
    });
}

#[test]
fn a_destroyed_name_is_free_at_once() {
    in_netns(|| {
        let t = taps(30_000.0);
        BridgeManager.create("br-reuse").unwrap();
        for i in 0..5 {
            let tap = t.create("reuse-vm-1", None).unwrap();
            t.configure(tap.as_str(), Some("br-reuse")).unwrap();
            t.destroy(tap.as_str()).unwrap();
            assert!(link(tap.as_str()).is_none(), "round {i}");
            // The same name as a bridge right away, and back.
            BridgeManager.create(tap.as_str()).unwrap();
            BridgeManager.destroy(tap.as_str()).unwrap();
            assert!(link(tap.as_str()).is_none());
        }
    });
}

#[test]
fn colliding_vm_ids_never_share_a_tap() {
    in_netns(|| {
        let t = taps(30_000.0);
        let a = "collide12345-aaaa";
        let b = "collide12345-bbbb";
        let tap = t.create(a, None).unwrap();
        let before = link(tap.as_str()).unwrap();
        let e = t.create(b, None).unwrap_err();
        assert_eq!(e.code(), "DEVICE_ALREADY_EXISTS");
        let m = e.to_string();
        assert!(m.starts_with("Failed to create TAP device vnet-collide123: VM collide12345-bbbb"), "{m}");
        assert!(m.contains("as VM collide12345-aaaa"), "{m}");
        // A's TAP is untouched (same device, same owner).
        let after = link(tap.as_str()).unwrap();
        assert_eq!((after.index, after.alias), (before.index, before.alias));

        // After A stopped (claim released) the owner tag still protects it.
        t.detach_from_bridge(tap.as_str());
        assert!(t.create(b, None).is_err());
        assert!(t.attach_to_bridge(tap.as_str(), "lo", Some(b)).is_err());
        // A itself may re-create its own idle TAP.
        let again = t.create(a, None).unwrap();
        assert_eq!(again, tap);
        t.destroy(tap.as_str()).unwrap();
        // Once A's TAP is gone, B gets the name.
        assert_eq!(t.create(b, None).unwrap(), tap);
        t.destroy(tap.as_str()).unwrap();
    });
}

#[test]
fn untagged_taps_of_the_original_library_are_found_and_replaced() {
    in_netns(|| {
        let t = taps(30_000.0);
        let legacy = name("vnet-legacy1234");
        tun::create_persistent_tap(&legacy, false).unwrap(); // as `ip tuntap add` made it
        assert_eq!(t.list_all_tap_devices(), [legacy.to_string()]);
        let old = link(legacy.as_str()).unwrap();
        let tap = t.create("legacy1234-vm", None).unwrap();
        assert_eq!(tap, legacy);
        let new = link(tap.as_str()).unwrap();
        assert_ne!(new.index, old.index);
        assert_eq!(new.alias.as_deref(), Some("infinivirt vm=legacy1234-vm"));
        t.destroy(tap.as_str()).unwrap();
    });
}

#[test]
fn an_untagged_tap_in_use_is_not_replaced() {
    in_netns(|| {
        let t = taps(30_000.0);
        BridgeManager.create("br-untagged").unwrap();
        let legacy = name("vnet-untagged12");
        tun::create_persistent_tap(&legacy, false).unwrap();
        // A VM started by the lifecycle's reuse path: attached without a VM id.
        t.attach_to_bridge(legacy.as_str(), "br-untagged", None).unwrap();
        let e = t.create("untagged12-vm", None).unwrap_err();
        assert_eq!(e.code(), "DEVICE_ALREADY_EXISTS");
        assert!(e.to_string().contains("a VM whose id is not known"), "{e}");
        // Stopped: free to be replaced by whoever maps to the name.
        t.detach_from_bridge(legacy.as_str());
        t.create("untagged12-vm", None).unwrap();
        t.destroy(legacy.as_str()).unwrap();
    });
}

#[test]
fn other_devices_are_not_taken_over() {
    in_netns(|| {
        let t = taps(30_000.0);
        BridgeManager.create("vnet-brvm").unwrap();
        let e = t.create("br-vm", None).unwrap_err();
        assert_eq!(e.to_string(), "Failed to create TAP device vnet-brvm: vnet-brvm is a bridge device, not a TAP device");
        assert!(link("vnet-brvm").unwrap().is_bridge());
        // Bridges are not TAPs to the sweep either.
        assert!(t.list_all_tap_devices().is_empty());
    });
}

#[test]
fn the_sweep_spares_starting_vms_and_removes_real_orphans() {
    in_netns(|| {
        let t = taps(0.0);
        // A VM that is starting: created and configured, QEMU not attached yet.
        let starting = t.create("sweep-starting", None).unwrap();
        t.configure(starting.as_str(), None).unwrap();
        // A stopped VM's kept TAP (released), and a leftover of another process.
        let stopped = t.create("sweep-stopped", None).unwrap();
        t.detach_from_bridge(stopped.as_str());
        let leftover = name("vnet-leftover");
        tun::create_persistent_tap(&leftover, false).unwrap();
        // Not vnet-*: never touched.
        let foreign = name("tap-foreign");
        tun::create_persistent_tap(&foreign, false).unwrap();

        let r = t.cleanup_orphaned_tap_devices();
        assert_eq!((r.total, r.cleaned, r.failed), (3, 2, 0));
        assert!(link(starting.as_str()).is_some());
        assert!(link(stopped.as_str()).is_none());
        assert!(link(leftover.as_str()).is_none());
        assert!(link(foreign.as_str()).is_some());
        t.destroy(starting.as_str()).unwrap();

        let r = t.cleanup_orphaned_tap_devices();
        assert_eq!((r.total, r.cleaned, r.failed), (0, 0, 0));
    });
}

#[test]
fn the_sweep_waits_out_the_grace_period() {
    in_netns(|| {
        let t = taps(300.0);
        let leftover = name("vnet-graceful");
        tun::create_persistent_tap(&leftover, false).unwrap();
        assert!(t.is_orphaned(leftover.as_str()));
        assert_eq!(t.cleanup_orphaned_tap_devices().cleaned, 0); // first seen now
        assert!(link(leftover.as_str()).is_some());
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(t.cleanup_orphaned_tap_devices().cleaned, 1);
        assert!(link(leftover.as_str()).is_none());
    });
}

#[test]
fn sweep_on_create_is_opt_in() {
    in_netns(|| {
        let leftover = name("vnet-optin");
        tun::create_persistent_tap(&leftover, false).unwrap();
        let plain = taps(0.0);
        plain.create("optin-vm-1", None).unwrap();
        assert!(link(leftover.as_str()).is_some());
        let sweeping = TapManager::new(TapConfig::new(Some(0.0), Some(true)).unwrap());
        sweeping.create("optin-vm-2", None).unwrap();
        assert!(link(leftover.as_str()).is_none());
        // The sweep spared both claimed TAPs.
        assert!(link("vnet-optinvm1").is_some() && link("vnet-optinvm2").is_some());
        plain.destroy("vnet-optinvm1").unwrap();
        plain.destroy("vnet-optinvm2").unwrap();
    });
}

#[test]
fn invalid_input_is_refused_before_the_kernel_is_touched() {
    in_netns(|| {
        let t = taps(30_000.0);
        let b = BridgeManager;
        let before = names();
        let bad_names = ["", "sixteen-chars-xx", "a b", "br0;reboot", "..", "a,b"];
        for n in bad_names {
            for e in [
                b.create(n).unwrap_err(),
                b.destroy(n).unwrap_err(),
                b.add_interface(n, "lo").unwrap_err(),
                b.add_interface("lo", n).unwrap_err(),
                b.assign_ip(n, "10.0.0.1/24").unwrap_err(),
                t.configure(n, None).unwrap_err(),
                t.configure("lo", Some(n)).unwrap_err(),
                t.destroy(n).unwrap_err(),
                t.attach_to_bridge(n, "lo", None).unwrap_err(),
                t.attach_to_bridge("lo", n, None).unwrap_err(),
            ] {
                assert!(matches!(e, NetworkError::InvalidInterfaceName { .. }), "{n:?}: {e}");
                assert_eq!(e.code(), "INVALID_INTERFACE_NAME");
            }
            assert!(!t.exists(n) && !t.has_carrier(n) && !t.is_orphaned(n));
            assert!(t.device_state(n).starts_with("Error: Invalid interface name"), "{n:?}");
            assert!(b.list_interfaces(n).is_empty() && b.get_ips(n).is_empty());
        }
        b.create("br-valid").unwrap();
        for cidr in ["10.0.0.1", "10.0.0.1/33", "999.0.0.1/24", "10.0.0.1/24 dev lo"] {
            let e = b.assign_ip("br-valid", cidr).unwrap_err();
            assert_eq!(e.code(), "INVALID_IP_ADDRESS", "{cidr}");
            assert_eq!(b.remove_ip("br-valid", cidr).unwrap_err().code(), "INVALID_IP_ADDRESS");
        }
        assert!(b.get_ips("br-valid").is_empty());
        for vm in ["", "---"] {
            assert_eq!(t.create(vm, None).unwrap_err().code(), "INVALID_INTERFACE_NAME");
        }
        b.destroy("br-valid").unwrap();
        assert_eq!(names(), before);
    });
}

#[test]
fn device_state_is_one_line_or_an_error() {
    in_netns(|| {
        let t = taps(30_000.0);
        BridgeManager.create("br-state").unwrap();
        let tap = t.create("state-vm-1", None).unwrap();
        t.configure(tap.as_str(), Some("br-state")).unwrap();
        let s = t.device_state(tap.as_str());
        assert!(!s.contains('\n'));
        assert!(s.contains(": vnet-statevm1: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 master br-state state DOWN carrier off"), "{s}");
        assert!(s.contains("tun type tap pi off vnet_hdr off multi_queue off persist on"), "{s}");
        assert!(s.contains("alias \"infinivirt vm=state-vm-1\" tx-checksumming off rx-checksumming off"), "{s}");
        assert!(t.device_state("br-state").contains(": br-state: <"));
        assert_eq!(t.device_state("br9"), "Error: Device br9 does not exist");
        t.destroy(tap.as_str()).unwrap();
    });
}

#[test]
fn a_tap_for_several_queues_is_multi_queue_and_takes_them() {
    in_netns(|| {
        let t = taps(30_000.0);
        let mq = t.create_with_queues("mq-vm-2", None, TapQueues::from(2)).unwrap();
        let l = link(mq.as_str()).unwrap();
        assert!(l.tun.unwrap().multi_queue && l.is_persistent());
        assert_eq!(t.multi_queue(mq.as_str()), Some(true));
        assert!(t.device_state(mq.as_str()).contains("multi_queue on persist on"));
        // What QEMU with `queues=2` does: two multi-queue attaches. A single-queue
        // attach is what the kernel refuses on this TAP.
        let q0 = try_open_tap(mq.as_str(), tun::IFF_MULTI_QUEUE).unwrap();
        let q1 = try_open_tap(mq.as_str(), tun::IFF_MULTI_QUEUE).unwrap();
        assert!(t.has_carrier(mq.as_str()));
        assert_eq!(try_open_tap(mq.as_str(), 0).unwrap_err(), Errno::EINVAL);
        drop((q0, q1));

        // One queue (and the JS default): a single-queue TAP, which refuses QEMU's
        // multi-queue attach with the EINVAL QEMU reported.
        for (vm, q) in [("mq-vm-1", TapQueues::from(1)), ("mq-vm-0", TapQueues::new(Some(0.0)).unwrap()), ("mq-vm-n", TapQueues::new(None).unwrap())] {
            let sq = t.create_with_queues(vm, None, q).unwrap();
            assert!(!link(sq.as_str()).unwrap().tun.unwrap().multi_queue);
            assert_eq!(t.multi_queue(sq.as_str()), Some(false));
            assert_eq!(try_open_tap(sq.as_str(), tun::IFF_MULTI_QUEUE).unwrap_err(), Errno::EINVAL);
            drop(try_open_tap(sq.as_str(), 0).unwrap());
            t.destroy(sq.as_str()).unwrap();
        }

        // `create` of a VM whose TAP exists with the other mode makes it anew.
        let again = t.create("mq-vm-2", None).unwrap();
        assert_eq!(t.multi_queue(again.as_str()), Some(false));
        assert_eq!(t.multi_queue("lo"), None);
        assert_eq!(t.multi_queue("vnet-none"), None);
        t.destroy(again.as_str()).unwrap();
    });
}

#[test]
fn queue_counts_are_checked() {
    assert_eq!(TapQueues::new(None).unwrap(), TapQueues::SINGLE);
    assert_eq!(TapQueues::new(Some(4.0)).unwrap().count(), 4);
    assert!(TapQueues::new(Some(256.0)).unwrap().multi_queue());
    assert_eq!(TapQueues::from(0).count(), 1);
    assert_eq!(TapQueues::from(1000).count(), 256);
    for bad in [-1.0, 1.5, 257.0, f64::NAN, f64::INFINITY] {
        assert_eq!(TapQueues::new(Some(bad)).unwrap_err().code(), "INVALID_ARGUMENT", "{bad}");
    }
}

#[test]
fn config_options_are_checked() {
    assert_eq!(TapConfig::new(None, None).unwrap(), TapConfig::default());
    assert_eq!(TapConfig::new(Some(0.0), Some(true)).unwrap().orphan_grace, Duration::ZERO);
    for bad in [-1.0, f64::NAN, f64::INFINITY, 86_400_001.0] {
        assert_eq!(TapConfig::new(Some(bad), None).unwrap_err().code(), "INVALID_ARGUMENT");
    }
}
