//! Host networking: MAC addresses, derived device names, TAP/bridge management and
//! the per-VM firewall.

pub mod error;
pub mod firewall;
pub mod ifname;
pub mod ipv4;
pub mod link;
pub mod mac;
pub mod names;
pub mod nat;
