//! VM lifecycle: errors, create configuration, the VM's QEMU command, CPU pinning plans.

pub mod command;
pub mod config;
pub mod error;
pub mod pinning;
pub mod vm;
