//! The QEMU guest agent client: the QGA wire with `guest-sync-delimited` resync,
//! one shared connection per socket, typed commands (exec, fsfreeze, guest info,
//! files, shutdown, passwords).

pub mod client;
pub mod commands;
pub mod error;
pub mod exec;
pub mod files;
mod link;
