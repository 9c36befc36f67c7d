//! Links: TAP devices and bridges (spec §8.1, §8.2), through the kernel's own
//! interfaces instead of `ip`/`ethtool` processes.
//!
//! * [`codec`] encodes and decodes the rtnetlink messages; [`socket`] carries them
//!   over a `NETLINK_ROUTE` socket with a deadline; [`rtnl`] names the operations.
//! * [`tun`] creates persistent TAPs with the TUN ioctls; [`ethtool`] turns checksum
//!   offload off with `SIOCETHTOOL`.
//! * [`names`] derives TAP names from VM ids and decides what to do about a name
//!   that is taken; [`registry`] remembers which TAPs this process is using.
//! * [`tap`] and [`bridge`] are the two managers; [`describe`] renders
//!   `getDeviceState`'s line.
//!
//! The calls block for microseconds (a few kernel round trips, each with a
//! deadline). The binding layer runs them on tokio's blocking pool.

pub mod bridge;
pub mod codec;
pub mod describe;
pub mod ethtool;
mod ifreq;
pub mod names;
pub mod registry;
pub mod rtnl;
pub mod socket;
pub mod tap;
pub mod tun;

#[cfg(test)]
mod kernel_tests;
