//! VM state stores and synchronisation.

pub mod error;
