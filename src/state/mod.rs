//! VM state stores and synchronisation.

pub mod error;
pub mod status;
