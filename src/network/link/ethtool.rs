//! TX/RX checksum offload through the `SIOCETHTOOL` ioctl (what
//! `ethtool -K <dev> tx off rx off` does), so no `ethtool` binary is needed.
//!
//! The spec turns both off on every TAP so guests receive broadcast DHCP replies
//! with valid checksums. A TAP's RX checksumming is fixed off (`[fixed]` in
//! `ethtool -k`): the kernel refuses to change it with `EOPNOTSUPP`, which is fine
//! when it is already off, so a refusal is checked against the current value.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;

use super::ifreq::IfReq;
use crate::network::error::SysError;
use crate::network::ifname::IfName;

const SIOCETHTOOL: libc::Ioctl = 0x8946;
const ETHTOOL_GRXCSUM: u32 = 0x14;
const ETHTOOL_SRXCSUM: u32 = 0x15;
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

/// `struct ethtool_value`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// One direction of checksum offload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csum {
    Tx,
    Rx,
}

impl Csum {
    pub fn name(self) -> &'static str {
        match self {
            Csum::Tx => "tx-checksumming",
            Csum::Rx => "rx-checksumming",
        }
    }

    fn get_cmd(self) -> u32 {
        match self {
            Csum::Tx => ETHTOOL_GTXCSUM,
            Csum::Rx => ETHTOOL_GRXCSUM,
        }
    }

    fn set_cmd(self) -> u32 {
        match self {
            Csum::Tx => ETHTOOL_STXCSUM,
            Csum::Rx => ETHTOOL_SRXCSUM,
        }
    }
}

/// An ioctl socket in the caller's network namespace.
fn ioctl_socket() -> Result<OwnedFd, SysError> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(SysError::last("socket(AF_INET)"));
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn ethtool(fd: &OwnedFd, name: &IfName, cmd: u32, data: u32, call: &'static str) -> Result<u32, SysError> {
    let mut value = EthtoolValue { cmd, data };
    let mut ifr = IfReq::new(name);
    ifr.set_data((&mut value as *mut EthtoolValue).cast());
    // SAFETY: SIOCETHTOOL reads `ifr` (a live `struct ifreq`) and, through its data
    // pointer, reads and writes `value`, a live `struct ethtool_value`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL, ifr.as_mut_ptr()) } < 0 {
        return Err(SysError::last(call));
    }
    Ok(value.data)
}

/// Whether checksum offload in `dir` is on.
pub fn checksum(name: &IfName, dir: Csum) -> Result<bool, SysError> {
    let fd = ioctl_socket()?;
    ethtool(&fd, name, dir.get_cmd(), 0, "SIOCETHTOOL get checksum").map(|v| v != 0)
}

/// What turning one direction off achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffloadOutcome {
    /// Off now (we turned it off, or it was off and cannot change).
    Off,
    /// Still on: the device refused the change.
    StillOn(SysError),
    /// The state could not be read or set at all.
    Unknown(SysError),
}

/// `ethtool -K <name> tx off rx off`, one direction at a time.
pub fn checksum_offload_off(name: &IfName) -> Result<[(Csum, OffloadOutcome); 2], SysError> {
    let fd = ioctl_socket()?;
    let off = |dir: Csum| match ethtool(&fd, name, dir.set_cmd(), 0, "SIOCETHTOOL set checksum") {
        Ok(_) => OffloadOutcome::Off,
        // EOPNOTSUPP: the feature is fixed for this device; fine if fixed off.
        Err(refused) if refused.errno == Errno::EOPNOTSUPP => match ethtool(&fd, name, dir.get_cmd(), 0, "SIOCETHTOOL get checksum") {
            Ok(0) => OffloadOutcome::Off,
            Ok(_) => OffloadOutcome::StillOn(refused),
            Err(e) => OffloadOutcome::Unknown(e),
        },
        Err(e) => OffloadOutcome::Unknown(e),
    };
    Ok([(Csum::Tx, off(Csum::Tx)), (Csum::Rx, off(Csum::Rx))])
}
