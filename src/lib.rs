//! Infinivirt: the VM manager core of Infinibay.
//!
//! The crate is plain Rust (`cargo test` needs no Node). With the `napi` feature it
//! also compiles the Node.js binding layer in `src/napi/`, which only converts values
//! and errors; the JS facade (`index.js`) rebuilds the public classes on top of it.

pub mod agent;
pub mod backup;
pub mod consts;
pub mod display;
pub mod error;
pub mod exec;
pub mod lifecycle;
pub mod log;
pub mod network;
pub mod qemu;
pub mod qmp;
pub mod redact;
pub mod secret;
pub mod state;
pub mod storage;
pub mod system;
pub mod unattended;

#[cfg(feature = "napi")]
mod napi;
