//! Unattended guest OS installation.

pub mod error;
