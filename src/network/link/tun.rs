//! Persistent TAP devices through `/dev/net/tun` (what `ip tuntap add mode tap` does).
//!
//! `TUNSETIFF` with `IFF_TAP | IFF_NO_PI` creates the device and attaches our file
//! descriptor to it; `TUNSETPERSIST 1` keeps the device after the descriptor is
//! closed. QEMU later opens the same name with its own flags (it adds
//! `IFF_VNET_HDR` when it wants it). `IFF_MULTI_QUEUE` is the one flag that must
//! match: the kernel refuses (EINVAL) an attach whose multi-queue flag differs from
//! the device's, and QEMU sets it exactly when its `-netdev tap` has `queues` > 1.
//! So a TAP is made multi-queue exactly when its VM's QEMU will open several queues.

use std::os::fd::AsRawFd;

use nix::libc;

use super::ifreq::IfReq;
use crate::network::error::SysError;
use crate::network::ifname::IfName;

const TUN_PATH: &std::ffi::CStr = c"/dev/net/tun";

// `TUNSETIFF` flags (linux/if_tun.h), as the `short` of `ifr_flags`.
pub(crate) const IFF_TAP: libc::c_short = 0x0002;
pub(crate) const IFF_NO_PI: libc::c_short = 0x1000;
pub(crate) const IFF_MULTI_QUEUE: libc::c_short = 0x0100;
#[cfg(test)]
pub(crate) const IFF_VNET_HDR: libc::c_short = 0x4000;
/// Attach without turning the carrier on.
#[cfg(test)]
pub(crate) const IFF_NO_CARRIER: libc::c_short = 0x0040;

/// A TAP (Ethernet frames) without the packet-info prefix.
const TAP_FLAGS: libc::c_short = IFF_TAP | IFF_NO_PI;

/// Creates the persistent TAP `name`, multi-queue when `multi_queue`. The caller has
/// checked that no device of that name exists: for an existing tun/tap, `TUNSETIFF`
/// would attach instead of failing.
pub fn create_persistent_tap(name: &IfName, multi_queue: bool) -> Result<(), SysError> {
    // SAFETY: open(2) of a constant NUL-terminated path; the result is checked.
    let raw = unsafe { libc::open(TUN_PATH.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(SysError::last("open(/dev/net/tun)"));
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns; dropping closes it.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };

    let mut ifr = IfReq::new(name);
    ifr.set_flags(if multi_queue { TAP_FLAGS | IFF_MULTI_QUEUE } else { TAP_FLAGS });
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq`; `ifr` is one, live and
    // large enough (see `IfReq`).
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) } < 0 {
        return Err(SysError::last("TUNSETIFF"));
    }
    // SAFETY: TUNSETPERSIST takes its argument by value; no memory is passed.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETPERSIST, 1 as libc::c_ulong) } < 0 {
        return Err(SysError::last("TUNSETPERSIST"));
    }
    Ok(())
}
