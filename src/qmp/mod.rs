//! The QMP client: wire format, shared per-socket connections, events.

pub mod client;
pub mod error;
pub mod line;
pub mod wire;
