//! VM lifecycle: errors, constants and CPU pinning plans.

pub mod error;
pub mod pinning;
