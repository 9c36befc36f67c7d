//! The QMP client.

pub mod error;
