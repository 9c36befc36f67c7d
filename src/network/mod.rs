//! Host networking: MAC addresses, derived device names, TAP/bridge management and
//! the per-VM firewall.

pub mod error;
pub mod firewall;
pub mod mac;
pub mod names;
