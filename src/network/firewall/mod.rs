//! Per-VM nftables firewall: rule model, translation and atomic apply.

pub mod error;
pub mod rule;
pub mod translate;

pub const INFINIVIRT_TABLE_NAME: &str = "infinivirt";
pub const DEFAULT_CHAIN_PRIORITY: i32 = 0;
pub const NFTABLES_COMMENT_PREFIX: &str = "infinivirt";
pub const SUPPORTED_PROTOCOLS: [&str; 4] = ["tcp", "udp", "icmp", "all"];
pub const CONNECTION_STATES: [&str; 4] = ["established", "new", "related", "invalid"];
