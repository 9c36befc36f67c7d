//! The firewall rule as the backend stores it (spec `FirewallRuleInput`), and its
//! validation (spec §8.4 `validateRule`).

use serde::Deserialize;

use super::error::{NftablesError, NftablesErrorCode as C};
use super::CONNECTION_STATES;

/// A rule as it arrives from JS: optional fields accept `null` and `undefined` alike.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRuleInput {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub priority: Option<f64>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub src_port_start: Option<f64>,
    #[serde(default)]
    pub src_port_end: Option<f64>,
    #[serde(default)]
    pub dst_port_start: Option<f64>,
    #[serde(default)]
    pub dst_port_end: Option<f64>,
    #[serde(default)]
    pub src_ip_addr: Option<String>,
    #[serde(default)]
    pub src_ip_mask: Option<String>,
    #[serde(default)]
    pub dst_ip_addr: Option<String>,
    #[serde(default)]
    pub dst_ip_mask: Option<String>,
    #[serde(default)]
    pub connection_state: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub overrides_dept: Option<bool>,
    /// Why the rule as JS passed it could not be read (see [`Self::from_json_lenient`]);
    /// validation reports it.
    #[serde(skip)]
    pub unreadable: Option<String>,
}

impl FirewallRuleInput {
    /// A rule as JS passed it. A field of the wrong type (a string priority, a numeric
    /// name) is a `RULE_INVALID` error naming the rule, never a crash.
    pub fn from_json(v: serde_json::Value) -> Result<Self, NftablesError> {
        let id = v.get("id").and_then(serde_json::Value::as_str).unwrap_or("undefined").to_string();
        if !v.is_object() {
            return Err(NftablesError::Rule { code: C::RULE_INVALID, message: format!("Invalid rule: expected an object, got {v}") });
        }
        serde_json::from_value(v).map_err(|e| NftablesError::Rule { code: C::RULE_INVALID, message: format!("[Rule {id}] Invalid rule: {e}") })
    }

    /// [`Self::from_json`] that never fails: a value that cannot be read becomes a rule
    /// keeping its `id`, `name`, `action` and `priority` (when they have the right type)
    /// whose validation fails with the reading error. A firewall then leaves out that
    /// rule alone and reports it by name.
    pub fn from_json_lenient(v: serde_json::Value) -> Self {
        match Self::from_json(v.clone()) {
            Ok(r) => r,
            Err(e) => {
                let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
                FirewallRuleInput {
                    id: text("id"),
                    name: text("name"),
                    action: text("action"),
                    priority: v.get("priority").and_then(serde_json::Value::as_f64),
                    unreadable: Some(e.to_string()),
                    ..Default::default()
                }
            }
        }
    }

    /// `[Rule <id>] ` as the original prefixes its messages (`undefined` without an id).
    pub fn prefix(&self) -> String {
        format!("[Rule {}] ", self.id.as_deref().unwrap_or("undefined"))
    }

    fn err(&self, code: C, msg: impl AsRef<str>) -> NftablesError {
        NftablesError::Rule { code, message: format!("{}{}", self.prefix(), msg.as_ref()) }
    }

    /// `(protocol || 'all').toLowerCase()`.
    pub fn protocol_lower(&self) -> String {
        match self.protocol.as_deref() {
            None | Some("") => "all".to_string(),
            Some(p) => p.to_lowercase(),
        }
    }

    pub fn priority(&self) -> f64 {
        self.priority.filter(|p| p.is_finite()).unwrap_or(0.0)
    }

    /// The enabled connection states in the fixed order established, new, related, invalid.
    pub fn states(&self) -> Vec<&'static str> {
        let Some(cs) = &self.connection_state else { return Vec::new() };
        CONNECTION_STATES.iter().filter(|s| cs.get(**s).is_some_and(|v| v.as_bool() == Some(true))).copied().collect()
    }

    /// Spec §8.4 `validateRule`, in the spec's order, plus checks on values that would
    /// otherwise reach `nft` unchecked (action, direction, integral ports).
    pub fn validate(&self) -> Result<(), NftablesError> {
        if let Some(why) = &self.unreadable {
            return Err(NftablesError::Rule { code: C::RULE_INVALID, message: why.clone() });
        }
        let truthy = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.is_empty());
        if !truthy(&self.name) {
            return Err(self.err(C::RULE_INVALID, "Rule name is required"));
        }
        if !truthy(&self.action) {
            return Err(self.err(C::RULE_INVALID, "Rule action is required"));
        }
        if !truthy(&self.direction) {
            return Err(self.err(C::RULE_INVALID, "Rule direction is required"));
        }
        let action = self.action.as_deref().unwrap_or("");
        if !matches!(action, "ACCEPT" | "DROP" | "REJECT") {
            return Err(self.err(C::RULE_INVALID, format!("Invalid rule action: {action}. Must be ACCEPT, DROP or REJECT")));
        }
        let direction = self.direction.as_deref().unwrap_or("");
        if !matches!(direction, "IN" | "OUT" | "INOUT") {
            return Err(self.err(C::RULE_INVALID, format!("Invalid rule direction: {direction}. Must be IN, OUT or INOUT")));
        }
        let proto = self.protocol_lower();
        // Any IPv4 protocol nft knows, by name or number (the spec named four).
        if proto != "all" && super::protocols::number(&proto).is_none() {
            return Err(self.err(C::UNSUPPORTED_PROTOCOL, format!("Unsupported protocol: {}", self.protocol.as_deref().unwrap_or(""))));
        }
        let n = |v: f64| super::translate::js_num(v);
        if let (Some(a), Some(b)) = (self.src_port_start, self.src_port_end) {
            if a > b {
                return Err(self.err(C::INVALID_PORT_RANGE, format!("Source port range invalid: start ({}) > end ({})", n(a), n(b))));
            }
        }
        if let (Some(a), Some(b)) = (self.dst_port_start, self.dst_port_end) {
            if a > b {
                return Err(self.err(C::INVALID_PORT_RANGE, format!("Destination port range invalid: start ({}) > end ({})", n(a), n(b))));
            }
        }
        for (label, p) in [
            ("Source start", self.src_port_start),
            ("Source end", self.src_port_end),
            ("Destination start", self.dst_port_start),
            ("Destination end", self.dst_port_end),
        ] {
            if let Some(p) = p {
                if !(0.0..=65535.0).contains(&p) || p.fract() != 0.0 {
                    return Err(self.err(C::INVALID_PORT_RANGE, format!("{label} port out of range: {} (must be 0-65535)", n(p))));
                }
            }
        }
        let any_port = [self.src_port_start, self.src_port_end, self.dst_port_start, self.dst_port_end].iter().any(Option::is_some);
        if any_port && !matches!(proto.as_str(), "tcp" | "udp") {
            return Err(self.err(C::RULE_INVALID, format!("Ports can only be specified for tcp/udp protocols, not {}", self.protocol.as_deref().unwrap_or(""))));
        }
        if let Some(ip) = self.src_ip_addr.as_deref().filter(|s| !s.is_empty()) {
            if !is_valid_ip_address(ip) {
                return Err(self.err(C::INVALID_IP_ADDRESS, format!("Invalid source IP address: {ip}")));
            }
        }
        if let Some(ip) = self.dst_ip_addr.as_deref().filter(|s| !s.is_empty()) {
            if !is_valid_ip_address(ip) {
                return Err(self.err(C::INVALID_IP_ADDRESS, format!("Invalid destination IP address: {ip}")));
            }
        }
        for (label, m) in [("source", &self.src_ip_mask), ("destination", &self.dst_ip_mask)] {
            if let Some(m) = m.as_deref().filter(|s| !s.is_empty()) {
                if !is_valid_subnet_mask(m) {
                    return Err(self.err(
                        C::INVALID_SUBNET_MASK,
                        format!("Invalid {label} subnet mask: {m}. Expected CIDR (0-32) or dotted decimal (e.g., 255.255.255.0)"),
                    ));
                }
            }
        }
        if let Some(cs) = &self.connection_state {
            if let Some(bad) = cs.keys().find(|k| !CONNECTION_STATES.contains(&k.as_str())) {
                return Err(self.err(C::RULE_INVALID, format!("Invalid connection state: {bad}")));
            }
        }
        Ok(())
    }
}

/// Strict dotted IPv4, each octet 0–255 (leading zeros accepted, IPv6 refused).
pub fn is_valid_ip_address(ip: &str) -> bool {
    let parts: Vec<&str> = ip.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n <= 255))
}

/// `a.b.c.d/n` with a valid address and `0 ≤ n ≤ 32`.
pub fn is_valid_cidr(cidr: &str) -> bool {
    match cidr.split_once('/') {
        Some((ip, n)) => is_valid_ip_address(ip) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u8>().is_ok_and(|n| n <= 32),
        None => false,
    }
}

/// A prefix length as a canonical decimal 0–32, or a contiguous dotted mask.
pub fn is_valid_subnet_mask(m: &str) -> bool {
    prefix_len(m).is_some()
}

/// The prefix length a mask stands for (`'24'` → 24, `'255.255.254.0'` → 23).
pub fn prefix_len(m: &str) -> Option<u8> {
    if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) {
        let n: u8 = m.parse().ok()?;
        return (n <= 32 && n.to_string() == m).then_some(n);
    }
    if !is_valid_ip_address(m) {
        return None;
    }
    let octets: Vec<u32> = m.split('.').filter_map(|p| p.parse().ok()).collect();
    let bits = octets.iter().fold(0u32, |acc, o| (acc << 8) | o);
    let ones = bits.leading_ones();
    // Contiguous: every bit after the leading ones is zero.
    (bits.checked_shl(ones).unwrap_or(0) == 0).then(|| u8::try_from(ones).unwrap_or(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_of_the_wrong_shape_is_a_rule_error() {
        use crate::error::ErrorShape;
        let e = FirewallRuleInput::from_json(serde_json::json!({"id":"r9","name":"n","priority":"high"})).unwrap_err();
        assert_eq!(e.code(), "RULE_INVALID");
        assert!(e.to_string().starts_with("[Rule r9] Invalid rule: "), "{e}");
        assert!(FirewallRuleInput::from_json(serde_json::json!("x")).is_err());
        let ok = FirewallRuleInput::from_json(serde_json::json!({"id":"a","name":"n","srcIpAddr":null})).unwrap();
        assert_eq!(ok.src_ip_addr, None);
    }

    #[test]
    fn lenient_reading_keeps_the_rule_to_report_it() {
        use crate::error::ErrorShape;
        let r = FirewallRuleInput::from_json_lenient(serde_json::json!({"id":"r9","name":"Deny","action":"DROP","priority":5,"srcPortStart":"x"}));
        assert_eq!((r.name.as_deref(), r.action.as_deref(), r.priority), (Some("Deny"), Some("DROP"), Some(5.0)));
        let e = r.validate().unwrap_err();
        assert_eq!(e.code(), "RULE_INVALID");
        assert!(e.to_string().starts_with("[Rule r9] Invalid rule: "), "{e}");
        let good = serde_json::json!({"id":"a","name":"n","action":"ACCEPT","direction":"IN","protocol":"esp"});
        assert_eq!(FirewallRuleInput::from_json_lenient(good.clone()), FirewallRuleInput::from_json(good).unwrap());
    }

    #[test]
    fn every_ip_protocol_validates() {
        let r =
            |p: &str| FirewallRuleInput::from_json(serde_json::json!({"id":"r","name":"n","action":"DROP","direction":"IN","protocol":p})).unwrap().validate();
        for ok in ["icmpv6", "esp", "gre", "sctp", "ESP", "47", "0", "255", "ipv6-icmp", "", "all"] {
            assert!(r(ok).is_ok(), "{ok}");
        }
        for bad in ["256", "bogus", "-1", "tcp;", "050"] {
            assert_eq!(r(bad).unwrap_err().to_string(), format!("[Rule r] Unsupported protocol: {bad}"));
        }
    }

    #[test]
    fn spec_64_helpers() {
        for ok in ["24", "0", "32", "255.255.255.0", "255.255.254.0", "255.0.0.0", "0.0.0.0", "255.255.255.255"] {
            assert!(is_valid_subnet_mask(ok), "{ok}");
        }
        for bad in ["33", "024", "255.255.0.255", "256.0.0.0", "", "-1", "255.255.255"] {
            assert!(!is_valid_subnet_mask(bad), "{bad}");
        }
        assert!(is_valid_cidr("10.0.0.0/8"));
        assert!(!is_valid_cidr("10.0.0.0/33"));
        assert!(!is_valid_cidr("10.0.0.0/"));
        assert!(is_valid_ip_address("01.2.3.4"));
        assert!(!is_valid_ip_address("::1"));
        assert!(!is_valid_ip_address("1.2.3.4 "));
        assert_eq!(prefix_len("255.255.255.0"), Some(24));
        assert_eq!(prefix_len("255.255.254.0"), Some(23));
        assert_eq!(prefix_len("0.0.0.0"), Some(0));
        assert_eq!(prefix_len("16"), Some(16));
    }
}
