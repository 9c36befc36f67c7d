//! `FirewallRuleTranslator` (spec §8.4): a validated rule → the tokens of one nft rule.
//!
//! Tokens are built from typed, validated values only: interface names match
//! [`crate::qemu::options::IfName`], addresses and masks are checked IPv4, ports are
//! integers, states come from a closed set and the comment is sanitised, so no rule
//! field can add nft syntax of its own.

use super::error::{NftablesError, NftablesErrorCode as C};
use super::rule::{prefix_len, FirewallRuleInput};
use crate::qemu::options::IfName;

/// A number as JavaScript prints it (`443`, `1.5`).
pub fn js_num(v: f64) -> String {
    crate::qemu::value::js_number(v)
}

fn rule_err(code: C, message: String) -> NftablesError {
    NftablesError::Rule { code, message }
}

/// The interface name as an nft token, refused if it is not a valid interface name.
fn ifname(tap: &str) -> Result<String, NftablesError> {
    IfName::parse(tap).map(|n| n.as_str().to_string()).map_err(|e| rule_err(C::RULE_INVALID, format!("Invalid interface name '{tap}': {e}")))
}

pub fn direction_tokens(direction: &str, tap: &str) -> Result<Vec<String>, NftablesError> {
    let key = match direction {
        "IN" => "oifname", // traffic towards the VM leaves the bridge through its TAP
        "OUT" => "iifname",
        other => {
            return Err(rule_err(
                C::RULE_INVALID,
                format!("Invalid direction for translation: {other}. Only IN or OUT are supported. INOUT must be expanded by the caller."),
            ))
        }
    };
    Ok(vec![key.to_string(), ifname(tap)?])
}

/// `''` counts as `all` here too (the original validated `''` as `all` but then
/// refused it in translation, spec §19 #19).
/// Any other IPv4 protocol nft knows (`esp`, `gre`, `icmpv6`, `47`, …) becomes its
/// number (`tcp`, `udp` and `icmp` keep their names, also when given as numbers).
pub fn protocol_tokens(protocol: &str) -> Result<Vec<String>, NftablesError> {
    match protocol.to_lowercase().as_str() {
        "all" | "" => Ok(vec![]),
        p => match super::protocols::number(p) {
            Some(n) => Ok(vec!["ip".into(), "protocol".into(), super::model::IpProto(n).to_string()]),
            None => Err(rule_err(
                C::UNSUPPORTED_PROTOCOL,
                format!("Unsupported protocol: {protocol}. Supported protocols are: tcp, udp, icmp, all, an IPv4 protocol name or a number 0-255"),
            )),
        },
    }
}

fn port_value(start: f64, end: Option<f64>) -> String {
    match end {
        Some(e) if e != start => format!("{}-{}", js_num(start), js_num(e)),
        _ => js_num(start),
    }
}

pub fn ports_tokens(protocol: &str, src: (Option<f64>, Option<f64>), dst: (Option<f64>, Option<f64>)) -> Vec<String> {
    let p = protocol.to_lowercase();
    if p != "tcp" && p != "udp" {
        return vec![];
    }
    let mut t = Vec::new();
    if let Some(s) = src.0 {
        t.extend([p.clone(), "sport".into(), port_value(s, src.1)]);
    }
    if let Some(s) = dst.0 {
        t.extend([p.clone(), "dport".into(), port_value(s, dst.1)]);
    }
    t
}

fn address(addr: &str, mask: Option<&str>) -> String {
    match mask.filter(|m| !m.is_empty()).and_then(prefix_len) {
        Some(n) => format!("{addr}/{n}"),
        None => addr.to_string(),
    }
}

pub fn address_tokens(src: Option<&str>, src_mask: Option<&str>, dst: Option<&str>, dst_mask: Option<&str>) -> Vec<String> {
    let mut t = Vec::new();
    if let Some(a) = src.filter(|a| !a.is_empty()) {
        t.extend(["ip".into(), "saddr".into(), address(a, src_mask)]);
    }
    if let Some(a) = dst.filter(|a| !a.is_empty()) {
        t.extend(["ip".into(), "daddr".into(), address(a, dst_mask)]);
    }
    t
}

pub fn state_tokens(states: &[&str]) -> Vec<String> {
    match states {
        [] => vec![],
        [one] => vec!["ct".into(), "state".into(), (*one).to_string()],
        many => vec!["ct".into(), "state".into(), format!("{{ {} }}", many.join(", "))],
    }
}

pub fn action_token(action: &str) -> String {
    action.to_lowercase()
}

/// First 64 characters, `"` → `'`, `\` → `/`, tab/CR/LF → space, trimmed; plus any
/// other control character dropped, so the quoted string can never be left.
pub fn sanitize_comment(name: &str) -> String {
    name.chars()
        .take(64)
        .filter_map(|c| match c {
            '"' => Some('\''),
            '\\' => Some('/'),
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Spec §8.4 `translateToTokens`: validate, then direction, protocol, addresses,
/// ports, connection state, action and comment.
pub fn translate(rule: &FirewallRuleInput, tap: &str) -> Result<Vec<String>, NftablesError> {
    rule.validate()?;
    let mut t = direction_tokens(rule.direction.as_deref().unwrap_or(""), tap)?;
    let proto = rule.protocol.clone().unwrap_or_default();
    t.extend(protocol_tokens(&proto)?);
    t.extend(address_tokens(rule.src_ip_addr.as_deref(), rule.src_ip_mask.as_deref(), rule.dst_ip_addr.as_deref(), rule.dst_ip_mask.as_deref()));
    t.extend(ports_tokens(&proto, (rule.src_port_start, rule.src_port_end), (rule.dst_port_start, rule.dst_port_end)));
    t.extend(state_tokens(&rule.states()));
    t.push(action_token(rule.action.as_deref().unwrap_or("")));
    if let Some(name) = rule.name.as_deref().filter(|n| !n.is_empty()) {
        t.push("comment".into());
        t.push(format!("\"{}\"", sanitize_comment(name)));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;
    use serde_json::json;

    fn rule(v: serde_json::Value) -> FirewallRuleInput {
        serde_json::from_value(v).unwrap()
    }

    fn toks(v: serde_json::Value, tap: &str) -> Vec<String> {
        translate(&rule(v), tap).unwrap()
    }

    fn err(v: serde_json::Value) -> (String, String) {
        let e = translate(&rule(v), "vnet-x").unwrap_err();
        (e.code().to_string(), e.to_string())
    }

    #[test]
    fn spec_55_to_59() {
        assert_eq!(
            toks(
                json!({"id":"r1","name":"Allow HTTPS","action":"ACCEPT","direction":"IN","priority":100,"protocol":"tcp","dstPortStart":443,"dstPortEnd":443}),
                "vnet-abc12345"
            ),
            ["oifname", "vnet-abc12345", "ip", "protocol", "tcp", "tcp", "dport", "443", "accept", "comment", "\"Allow HTTPS\""]
        );
        assert_eq!(
            toks(
                json!({"id":"r2","name":"SSH","action":"ACCEPT","direction":"IN","priority":1,"protocol":"tcp","dstPortStart":22,"connectionState":{"new":true,"established":true,"related":true}}),
                "vnet-abc"
            ),
            [
                "oifname",
                "vnet-abc",
                "ip",
                "protocol",
                "tcp",
                "tcp",
                "dport",
                "22",
                "ct",
                "state",
                "{ established, new, related }",
                "accept",
                "comment",
                "\"SSH\""
            ]
        );
        assert_eq!(
            toks(
                json!({"id":"r3","name":"DNS","direction":"OUT","protocol":"UDP","srcPortStart":1000,"srcPortEnd":2000,"dstPortStart":53,"dstPortEnd":54,"action":"ACCEPT","priority":1}),
                "vnet-x"
            ),
            ["iifname", "vnet-x", "ip", "protocol", "udp", "udp", "sport", "1000-2000", "udp", "dport", "53-54", "accept", "comment", "\"DNS\""]
        );
        assert_eq!(
            toks(json!({"id":"r4","name":"Block ping","action":"DROP","direction":"IN","protocol":"icmp","priority":1}), "vnet-x"),
            ["oifname", "vnet-x", "ip", "protocol", "icmp", "drop", "comment", "\"Block ping\""]
        );
        assert_eq!(
            toks(
                json!({"id":"r5","name":"Net","action":"REJECT","direction":"IN","protocol":"all","priority":1,"srcIpAddr":"10.0.0.0","srcIpMask":"255.255.255.0","dstIpAddr":"192.168.1.5","dstIpMask":"16"}),
                "vnet-x"
            ),
            ["oifname", "vnet-x", "ip", "saddr", "10.0.0.0/24", "ip", "daddr", "192.168.1.5/16", "reject", "comment", "\"Net\""]
        );
    }

    #[test]
    fn spec_60_states() {
        let base = |cs: serde_json::Value| toks(json!({"id":"r","name":"n","action":"ACCEPT","direction":"IN","protocol":"all","connectionState":cs}), "t0");
        assert_eq!(base(json!({"established":true}))[2..5], ["ct", "state", "established"]);
        assert_eq!(base(json!({"invalid":true,"related":true,"new":true,"established":true}))[4], "{ established, new, related, invalid }");
        assert_eq!(base(json!({"established":false})), ["oifname", "t0", "accept", "comment", "\"n\""]);
    }

    #[test]
    fn spec_61_comment() {
        assert_eq!(sanitize_comment("  He said \"hi\"\\path\tx  "), "He said 'hi'/path x");
        assert_eq!(sanitize_comment(&"a".repeat(70)).len(), 64);
        assert_eq!(sanitize_comment("x\u{0}\u{1b}y"), "xy");
    }

    #[test]
    fn spec_62_63_validation() {
        let r = |extra: serde_json::Value| {
            let mut base = json!({"id":"r1","name":"n","action":"ACCEPT","direction":"IN","protocol":"tcp","priority":1});
            for (k, v) in extra.as_object().unwrap() {
                base[k] = v.clone();
            }
            err(base)
        };
        assert_eq!(r(json!({"name":""})), ("RULE_INVALID".into(), "[Rule r1] Rule name is required".into()));
        assert_eq!(r(json!({"protocol":"sctpx"})), ("UNSUPPORTED_PROTOCOL".into(), "[Rule r1] Unsupported protocol: sctpx".into()));
        assert_eq!(
            r(json!({"srcPortStart":10,"srcPortEnd":5})),
            ("INVALID_PORT_RANGE".into(), "[Rule r1] Source port range invalid: start (10) > end (5)".into())
        );
        assert_eq!(r(json!({"dstPortStart":70000})).1, "[Rule r1] Destination start port out of range: 70000 (must be 0-65535)");
        assert_eq!(
            r(json!({"protocol":"icmp","dstPortStart":1})),
            ("RULE_INVALID".into(), "[Rule r1] Ports can only be specified for tcp/udp protocols, not icmp".into())
        );
        assert_eq!(r(json!({"srcIpAddr":"300.1.1.1"})), ("INVALID_IP_ADDRESS".into(), "[Rule r1] Invalid source IP address: 300.1.1.1".into()));
        assert_eq!(r(json!({"srcIpMask":"255.0.255.0"})).0, "INVALID_SUBNET_MASK");
        assert_eq!(r(json!({"connectionState":{"foo":true}})).1, "[Rule r1] Invalid connection state: foo");
        assert_eq!(
            r(json!({"direction":"INOUT"})),
            ("RULE_INVALID".into(), "Invalid direction for translation: INOUT. Only IN or OUT are supported. INOUT must be expanded by the caller.".into())
        );
        // Additions: closed action/direction sets, integral ports.
        assert_eq!(r(json!({"action":"accept; flush ruleset"})).0, "RULE_INVALID");
        assert_eq!(r(json!({"direction":"SIDEWAYS"})).0, "RULE_INVALID");
        assert_eq!(r(json!({"dstPortStart":22.5})).0, "INVALID_PORT_RANGE");
    }

    #[test]
    fn every_ip_protocol_translates_by_name_or_number() {
        for (p, tok) in [("icmpv6", "58"), ("ESP", "50"), ("gre", "47"), ("sctp", "132"), ("47", "47"), ("0", "0"), ("6", "tcp"), ("TCP", "tcp")] {
            assert_eq!(protocol_tokens(p).unwrap(), ["ip", "protocol", tok], "{p}");
        }
        assert_eq!(
            toks(json!({"id":"r","name":"No GRE","action":"DROP","direction":"IN","protocol":"gre"}), "t0"),
            ["oifname", "t0", "ip", "protocol", "47", "drop", "comment", "\"No GRE\""]
        );
        assert_eq!(protocol_tokens("256").unwrap_err().to_string().split('.').next(), Some("Unsupported protocol: 256"));
    }

    #[test]
    fn null_fields_are_absent_and_empty_protocol_is_all() {
        assert_eq!(
            toks(
                json!({"id":"r","name":"n","action":"DROP","direction":"OUT","protocol":"","priority":5,"srcPortStart":null,"srcIpAddr":null,"srcIpMask":null,"connectionState":null,"description":null}),
                "t0"
            ),
            ["iifname", "t0", "drop", "comment", "\"n\""]
        );
    }

    #[test]
    fn injection_is_refused_or_neutralised() {
        let base = |name: &str, tap: &str| translate(&rule(json!({"id":"r","name":name,"action":"ACCEPT","direction":"IN","protocol":"all"})), tap);
        assert!(base("x", "vnet-a; flush").is_err());
        assert!(base("x", "vnet\"a").is_err());
        assert!(base("x", "").is_err());
        let t = base("a\"; flush ruleset; \"b\nc", "vnet-a").unwrap();
        assert_eq!(t.last().unwrap(), "\"a'; flush ruleset; 'b c\"");
        assert!(err(json!({"id":"r","name":"n","action":"ACCEPT","direction":"IN","protocol":"tcp","srcIpAddr":"1.2.3.4 counter"})).0 == "INVALID_IP_ADDRESS");
    }
}
