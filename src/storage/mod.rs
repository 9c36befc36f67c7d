//! Disk images and snapshots: `qemu-img` for stopped VMs, QMP for running ones.
//!
//! * [`values`]: validated inputs (paths, formats, sizes, …)
//! * [`qemu_img`]: `QemuImgService` — argv rendering and the runners
//! * [`snapshot`]: `SnapshotManager` — names, listing, internal snapshots
//! * [`info`]: `qemu-img` JSON into the spec's result types
//! * [`backing`]: thin clones — backing file checks, the clone guard, flattening
//! * [`clones`]: finding the clones of an image
//! * [`live`]: the QMP alternatives for a running VM's disk
//! * [`quiesce`]: live snapshots with the guest frozen through its agent
//! * [`lock`]: per-image locks; [`progress`]: percent reports of long runs
//! * [`error`]: `StorageError` and the one classifier of qemu-img failures

pub mod backing;
pub mod clones;
pub mod error;
pub mod info;
pub mod live;
pub mod lock;
pub mod progress;
pub mod qemu_img;
pub mod quiesce;
pub mod snapshot;
pub mod values;
