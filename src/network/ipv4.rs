//! An IPv4 interface address with its prefix length (`10.0.0.1/24`).

use std::fmt;
use std::net::Ipv4Addr;

use super::error::NetworkError;

/// `a.b.c.d/n`: a dotted quad (decimal octets 0–255, no leading zeros) and a
/// prefix length 0–32. Host bits may be set: this is an interface address, not a
/// network. The prefix is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    pub fn new(raw: &str) -> Result<Self, NetworkError> {
        let bad = |reason: &'static str| NetworkError::InvalidIpAddress { value: raw.to_string(), reason };
        let (addr, prefix) = raw.split_once('/').ok_or_else(|| bad("expected a.b.c.d/prefix, e.g. 10.0.0.1/24"))?;
        // std's parser takes exactly four decimal octets ≤ 255 without leading zeros.
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("the address is not a dotted quad of octets 0-255"))?;
        let prefix_ok = matches!(prefix.len(), 1 | 2) && prefix.bytes().all(|b| b.is_ascii_digit()) && (prefix.len() == 1 || !prefix.starts_with('0'));
        let prefix: u8 = match prefix.parse() {
            Ok(p) if prefix_ok && p <= 32 => p,
            _ => return Err(bad("the prefix length must be a number from 0 to 32")),
        };
        Ok(Ipv4Cidr { addr, prefix })
    }

    /// From parts the kernel reported (prefix lengths above 32 are clamped out by the caller).
    pub fn from_parts(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then_some(Ipv4Cidr { addr, prefix })
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Ipv4Cidr {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Self, NetworkError> {
        Ipv4Cidr::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    #[test]
    fn parses_and_renders() {
        for ok in ["10.0.0.1/24", "0.0.0.0/0", "255.255.255.255/32", "192.168.1.7/16"] {
            assert_eq!(Ipv4Cidr::new(ok).unwrap().to_string(), ok);
        }
        let c = Ipv4Cidr::new("10.0.1.1/16").unwrap();
        assert_eq!((c.addr(), c.prefix()), (Ipv4Addr::new(10, 0, 1, 1), 16));
    }

    #[test]
    fn rejects_before_any_command() {
        for bad in [
            "",
            "10.0.0.1",
            "10.0.0.1/",
            "10.0.0.1/33",
            "10.0.0.1/-1",
            "10.0.0.1/+8",
            "10.0.0.1/024",
            "10.0.0.1/08",
            "999.1.1.1/24",
            "10.0.0/24",
            "10.0.0.1.1/24",
            "010.0.0.1/24",
            " 10.0.0.1/24",
            "10.0.0.1/24 ",
            "fe80::1/64",
            "10.0.0.1/24/1",
            "a.b.c.d/8",
            "10.0.0.1/2\n",
        ] {
            let e = Ipv4Cidr::new(bad).unwrap_err();
            assert!(matches!(e, NetworkError::InvalidIpAddress { .. }), "{bad:?}");
            assert_eq!(e.code(), "INVALID_IP_ADDRESS");
        }
        assert_eq!(Ipv4Cidr::new("10.0.0.1").unwrap_err().to_string(), "Invalid IPv4 address '10.0.0.1': expected a.b.c.d/prefix, e.g. 10.0.0.1/24");
    }
}
