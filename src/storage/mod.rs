//! Disk images and snapshots through `qemu-img`.

pub mod error;
