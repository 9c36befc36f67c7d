//! Whether QEMU can use vhost-net here.
//!
//! The spec's multi-queue `-netdev tap` asks for `vhost=on`, and QEMU then opens
//! `/dev/vhost-net` itself and refuses to start when it cannot (no such device, no
//! permission). The lifecycle asks first and leaves `vhost=on` out where it would
//! fail: the VM runs, with the packets going through QEMU instead of the kernel.

use std::path::Path;
use std::sync::Once;

pub const VHOST_NET: &str = "/dev/vhost-net";

const MODULE: &str = "qemu";

static WARNED: Once = Once::new();

/// Opens (and closes) `dev` read-write, as QEMU does.
fn probe(dev: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new().read(true).write(true).open(dev).map(drop)
}

/// True when `/dev/vhost-net` opens. When it does not, says so once per process (a
/// warning) and answers false. Asked at each VM start, so a host that gains the
/// device (a module loaded later) uses it from the next start on.
pub fn usable() -> bool {
    usable_at(Path::new(VHOST_NET))
}

fn usable_at(dev: &Path) -> bool {
    match probe(dev) {
        Ok(()) => true,
        Err(e) => {
            WARNED.call_once(|| {
                crate::log::warn(
                    MODULE,
                    &format!("{} cannot be opened ({e}): multi-queue VMs start without vhost=on (networking in QEMU, slower)", dev.display()),
                );
            });
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_that_opens_is_usable_and_a_missing_one_is_not() {
        // /dev/null stands in for a character device that opens read-write.
        assert!(usable_at(Path::new("/dev/null")));
        assert!(!usable_at(Path::new("/dev/iv-no-such-vhost")));
        assert!(!usable_at(Path::new("/dev/iv-no-such-vhost")), "same answer, warned once");
    }
}
