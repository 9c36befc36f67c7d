//! `struct ifreq`, the argument of the interface ioctls (`TUNSETIFF`, `SIOCETHTOOL`).

use nix::libc;

use crate::network::ifname::IfName;

/// The union half of `struct ifreq`: 24 bytes on 64-bit Linux (its largest member,
/// `struct ifmap`), 16 on 32-bit. Sizing it for 64-bit is harmless on 32-bit: the
/// kernel reads only what it needs.
#[repr(C)]
#[derive(Clone, Copy)]
union IfReqData {
    flags: libc::c_short,
    data: *mut libc::c_void,
    _size: [u8; 24],
}

/// `struct ifreq { char ifr_name[IFNAMSIZ]; union { … } }`.
#[repr(C)]
pub struct IfReq {
    name: [u8; 16],
    u: IfReqData,
}

impl IfReq {
    pub fn new(name: &IfName) -> Self {
        IfReq { name: name.to_ifr_name(), u: IfReqData { _size: [0; 24] } }
    }

    /// `ifr_flags`.
    pub fn set_flags(&mut self, flags: libc::c_short) {
        self.u.flags = flags;
    }

    /// `ifr_data`: a pointer the ioctl reads from and writes to.
    pub fn set_data(&mut self, data: *mut libc::c_void) {
        self.u.data = data;
    }

    pub fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        (self as *mut IfReq).cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_kernel_layout() {
        // 40 bytes on x86_64/aarch64, the name first and the union right after it.
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        let mut r = IfReq::new(&IfName::new("vnet-a").unwrap());
        r.set_flags(0x1002);
        // SAFETY: reading back the bytes of a plain-old-data struct we own.
        let bytes: [u8; 40] = unsafe { std::mem::transmute_copy(&r) };
        assert_eq!(&bytes[..7], b"vnet-a\0");
        assert_eq!(&bytes[16..18], &0x1002i16.to_ne_bytes());
    }
}
