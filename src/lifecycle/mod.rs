//! VM lifecycle: errors, create configuration, the VM's QEMU command, CPU pinning plans,
//! the per-VM UEFI vars file.

mod agent;
pub mod command;
pub mod config;
pub mod error;
pub mod host;
pub mod identity;
pub mod journal;
mod launch;
pub mod oplock;
mod ops;
pub mod pinning;
mod rules;
mod spec;
mod start;
pub mod uefi;
mod undo;
pub mod vm;
mod watch;

#[cfg(test)]
mod core_tests;
