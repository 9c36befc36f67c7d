//! Validated Linux interface names: what a TAP, bridge or port may be called.
//!
//! One rule for every user of an interface name (the network managers, the QEMU
//! builder's `ifname=`, the firewall's `iifname`), so a name one part accepts is a
//! name every other part accepts.

use std::fmt;

use super::error::NetworkError;

/// The kernel's `IFNAMSIZ` minus the terminating NUL.
pub const MAX_IFNAME_LEN: usize = 15;

/// An interface name: 1 to 15 bytes of `[A-Za-z0-9_.-]`, not `.` or `..`.
///
/// This is stricter than the kernel (which only bans `/`, `:`, whitespace and
/// those two names) so the name is safe in every place it is written: QEMU
/// option strings (no `,` or `=`), nft rules and log lines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

/// Why a string is not an [`IfName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNameProblem {
    Empty,
    TooLong,
    Dots,
    BadChar,
}

impl IfNameProblem {
    pub fn describe(self) -> &'static str {
        match self {
            IfNameProblem::Empty => "it is empty",
            IfNameProblem::TooLong => "it is longer than 15 bytes",
            IfNameProblem::Dots => "'.' and '..' are not interface names",
            IfNameProblem::BadChar => "only letters, digits, '-', '_' and '.' are allowed",
        }
    }
}

impl fmt::Display for IfNameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl IfName {
    /// The only constructor: every other way in (`FromStr`, `TryFrom`) calls it.
    pub fn new(raw: impl Into<String>) -> Result<Self, NetworkError> {
        let raw = raw.into();
        match Self::problem(&raw) {
            None => Ok(IfName(raw)),
            Some(problem) => Err(NetworkError::InvalidInterfaceName { name: raw, problem }),
        }
    }

    /// The first rule `raw` breaks, if any.
    pub fn problem(raw: &str) -> Option<IfNameProblem> {
        if raw.is_empty() {
            Some(IfNameProblem::Empty)
        } else if raw.len() > MAX_IFNAME_LEN {
            Some(IfNameProblem::TooLong)
        } else if raw == "." || raw == ".." {
            Some(IfNameProblem::Dots)
        } else if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            Some(IfNameProblem::BadChar)
        } else {
            None
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as the kernel's fixed `char[IFNAMSIZ]`, NUL-padded.
    pub fn to_ifr_name(&self) -> [u8; MAX_IFNAME_LEN + 1] {
        let mut out = [0u8; MAX_IFNAME_LEN + 1];
        // The constructor bounds the length to 15, so this never overruns.
        out[..self.0.len()].copy_from_slice(self.0.as_bytes());
        out
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for IfName {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Self, NetworkError> {
        IfName::new(s)
    }
}

impl TryFrom<String> for IfName {
    type Error = NetworkError;
    fn try_from(s: String) -> Result<Self, NetworkError> {
        IfName::new(s)
    }
}

impl From<IfName> for String {
    fn from(n: IfName) -> String {
        n.0
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    #[test]
    fn accepts_real_names() {
        for ok in ["vnet-550e8400e2", "br0", "virbr0", "eth0.100", "a", "tap_1", "infinibr-abc123"] {
            assert_eq!(IfName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_what_the_kernel_or_a_parser_would_misread() {
        let cases = [
            ("", IfNameProblem::Empty),
            ("vnet-550e8400e2x", IfNameProblem::TooLong),
            (".", IfNameProblem::Dots),
            ("..", IfNameProblem::Dots),
            ("tap 0", IfNameProblem::BadChar),
            ("tap0;reboot", IfNameProblem::BadChar),
            ("a,b", IfNameProblem::BadChar),
            ("a=b", IfNameProblem::BadChar),
            ("../x", IfNameProblem::BadChar),
            ("a:b", IfNameProblem::BadChar),
            ("täp0", IfNameProblem::BadChar),
            ("tap\n", IfNameProblem::BadChar),
            ("t\0", IfNameProblem::BadChar),
        ];
        for (bad, want) in cases {
            let e = IfName::new(bad).unwrap_err();
            match &e {
                NetworkError::InvalidInterfaceName { name, problem } => {
                    assert_eq!(name, bad);
                    assert_eq!(*problem, want, "{bad:?}");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(e.code(), "INVALID_INTERFACE_NAME");
        }
    }

    #[test]
    fn message_names_the_value() {
        let e = IfName::new("a b").unwrap_err();
        assert_eq!(e.to_string(), "Invalid interface name 'a b': only letters, digits, '-', '_' and '.' are allowed");
    }

    #[test]
    fn ifr_name_is_nul_padded() {
        let n = IfName::new("vnet-550e8400e2").unwrap().to_ifr_name();
        assert_eq!(&n[..15], b"vnet-550e8400e2");
        assert_eq!(n[15], 0);
    }

    #[test]
    fn the_builder_accepts_exactly_these_names() {
        // The QEMU builder's `ifname=` goes through the same rule.
        for s in ["vnet-x", "", "a,b", "..", "0123456789abcdef", "tap.1"] {
            assert_eq!(IfName::new(s).is_ok(), crate::qemu::options::IfName::parse(s).is_ok(), "{s:?}");
        }
    }
}
