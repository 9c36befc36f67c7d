//! Listen-address rules shared by SPICE and VNC (spec §7.1 check 2').

/// Why an address was refused, or `None` when it is acceptable.
pub fn address_problem(addr: &str) -> Option<String> {
    if addr.trim().is_empty() {
        return Some("Address cannot be empty".to_string());
    }
    if is_ipv4_shape(addr) {
        // The original accepted any 1-3 digit octets (`999.1.1.1`); we range-check them.
        return if is_ipv4(addr) { None } else { Some(format!("Invalid address format: {addr}")) };
    }
    if addr == "localhost" || addr == "0.0.0.0" || addr == "::" || addr == "::1" || is_ipv6(addr) || is_hostname(addr) {
        return None;
    }
    Some(format!("Invalid address format: {addr}"))
}

/// True for addresses only reachable from this host.
pub fn is_loopback(addr: &str) -> bool {
    addr == "localhost" || addr == "::1" || (is_ipv4(addr) && addr.starts_with("127."))
}

/// Four dot-separated groups of 1-3 digits (the spec's loose IPv4 shape).
fn is_ipv4_shape(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_ipv4(s: &str) -> bool {
    is_ipv4_shape(s) && s.split('.').all(|p| p.parse::<u16>().is_ok_and(|n| n <= 255))
}

/// `^([0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}$`
fn is_ipv6(s: &str) -> bool {
    let groups: Vec<&str> = s.split(':').collect();
    (3..=8).contains(&groups.len()) && groups.iter().all(|g| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_spec_examples() {
        for a in ["::", "::1", "localhost", "my-server.local", "192.168.1.1", "0.0.0.0", "fe80::1", "2001:db8::8a2e:370:7334"] {
            assert_eq!(address_problem(a), None, "{a}");
        }
    }

    #[test]
    fn rejects_bad_addresses() {
        assert_eq!(address_problem(""), Some("Address cannot be empty".into()));
        assert_eq!(address_problem("   "), Some("Address cannot be empty".into()));
        for a in ["bad addr!", "999.1.1.1", "256.0.0.1", "a,b", "-host", "host-", "x=y", "1.2.3.4,password=on", "a..b", "é.local"] {
            assert_eq!(address_problem(a), Some(format!("Invalid address format: {a}")), "{a}");
        }
    }

    #[test]
    fn loopback() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("127.1.2.3"));
        assert!(is_loopback("::1"));
        assert!(is_loopback("localhost"));
        assert!(!is_loopback("0.0.0.0"));
        assert!(!is_loopback("192.168.1.1"));
        assert!(!is_loopback("::"));
    }
}
