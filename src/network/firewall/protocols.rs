//! IPv4 protocol numbers and their names, for `ip protocol` matches.
//!
//! nft takes a protocol as a number 0–255 or as a name, which it resolves through
//! the host's `/etc/protocols` (and a few keywords of its own, such as `icmpv6`); it
//! lists numbers back under those names. Translation therefore accepts the IANA
//! keywords below, any name of the host's file and any number, and always writes the
//! number (the three protocols the spec names stay names), so what is written never
//! depends on the host's file; reading back accepts the names nft prints.

use std::sync::LazyLock;

/// The IANA keywords (and the usual aliases) of the protocols a firewall rule may
/// name, lower-case. Numbers without a keyword are reachable by number.
const KNOWN: &[(&str, u8)] = &[
    ("ip", 0),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("ip-encap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ipsec-esp", 50),
    ("ah", 51),
    ("ipsec-ah", 51),
    ("skip", 57),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("cphb", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ospfigp", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("comp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// `(name, number)` of every entry of the host's `/etc/protocols` (names and aliases,
/// lower-cased; entries above 255 left out). Read once.
static HOST: LazyLock<Vec<(String, u8)>> = LazyLock::new(|| std::fs::read_to_string("/etc/protocols").map(|t| parse_protocols_file(&t)).unwrap_or_default());

/// Parses the `/etc/protocols` format: `name number [aliases…] [# comment]`.
pub fn parse_protocols_file(text: &str) -> Vec<(String, u8)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(num)) = (words.next(), words.next()) else { continue };
        let Ok(n) = num.parse::<u8>() else { continue };
        for w in std::iter::once(name).chain(words) {
            out.push((w.to_ascii_lowercase(), n));
        }
    }
    out
}

/// A protocol number written in decimal without leading zeros (`0`–`255`).
fn decimal(s: &str) -> Option<u8> {
    let canonical = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// The number a protocol stands for: a decimal 0–255, a keyword above or a name of
/// the host's `/etc/protocols` (case-insensitive). `None` for anything else.
pub fn number(protocol: &str) -> Option<u8> {
    if let Some(n) = decimal(protocol) {
        return Some(n);
    }
    let p = protocol.to_ascii_lowercase();
    KNOWN.iter().find(|(name, _)| *name == p).map(|(_, n)| *n).or_else(|| HOST.iter().find(|(name, _)| *name == p).map(|(_, n)| *n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_the_host_file() {
        for (name, n) in [("tcp", 6), ("UDP", 17), ("icmp", 1), ("icmpv6", 58), ("ipv6-icmp", 58), ("esp", 50), ("gre", 47), ("sctp", 132), ("ip", 0)] {
            assert_eq!(number(name), Some(n), "{name}");
        }
        for (s, n) in [("0", 0), ("50", 50), ("255", 255)] {
            assert_eq!(number(s), Some(n), "{s}");
        }
        for bad in ["", "256", "-1", "050", "1.5", "bogus", "tcp ", "all"] {
            assert_eq!(number(bad), None, "{bad}");
        }
        let parsed = parse_protocols_file("# c\nfoo\t200\tFOO-X\t# x\nbig 262 BIG\n\nbar 7\n");
        assert_eq!(parsed, [("foo".to_string(), 200), ("foo-x".to_string(), 200), ("bar".to_string(), 7)]);
    }
}
