//! Backups (API-next §2, issue 15): FULL and INCREMENTAL backups of running VMs
//! through QMP block jobs and persistent dirty bitmaps, of stopped VMs through a
//! `qemu-storage-daemon` running the same jobs; manifests; list, delete, restore
//! and verify.
//!
//! * [`layout`]: the one directory layout; [`manifest`]: `backup.json`
//! * [`job`]: the QMP transaction and job wait; [`daemon`]: the storage daemon
//! * [`images`]: the `qemu-img` runs (lock probe, target creation, restore)
//! * [`service`]: create/list/get/delete; [`restore`]: restore and verify
//! * [`error`]: the `BackupError` enum

pub mod daemon;
pub mod error;
pub mod images;
pub mod job;
pub mod layout;
pub mod manifest;
pub mod restore;
pub mod service;
