//! QEMU command lines: typed options, value escaping, the builder and driver presets.

pub mod accel;
pub mod builder;
pub mod error;
pub mod options;
pub mod pci;
pub mod pid;
pub mod presets;
pub mod process;
pub mod value;
pub mod vhost;

#[cfg(test)]
mod adversarial;
#[cfg(test)]
mod goldens;
