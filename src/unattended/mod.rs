//! Unattended guest OS installation.

pub mod error;
pub mod monitor;
