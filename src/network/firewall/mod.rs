//! Per-VM nftables firewall: rule model, translation and atomic apply.
//!
//! `rule.rs` and `translate.rs` are the spec's rule input, validation and token
//! translator; `model.rs` is the typed nft model, `render.rs` turns it into one
//! `nft -f -` batch, `ruleset.rs` is the policy (merge, dispatch, fallbacks),
//! `probe.rs` finds what the kernel can do, `apply.rs` and `readback.rs` talk to nft,
//! `service.rs` is `NftablesService`, `persistence.rs` its file, `verify.rs` and
//! `explain.rs` the operator tools.

pub mod apply;
pub mod error;
pub mod explain;
pub mod model;
pub mod persistence;
pub mod probe;
pub mod protocols;
pub mod readback;
pub mod render;
pub mod rule;
pub mod ruleset;
pub mod service;
pub mod translate;
pub mod verify;

#[cfg(test)]
mod golden;

pub const INFINIVIRT_TABLE_NAME: &str = "infinivirt";
pub const DEFAULT_CHAIN_PRIORITY: i32 = 0;
pub const NFTABLES_COMMENT_PREFIX: &str = "infinivirt";
pub const SUPPORTED_PROTOCOLS: [&str; 4] = ["tcp", "udp", "icmp", "all"];
pub const CONNECTION_STATES: [&str; 4] = ["established", "new", "related", "invalid"];
