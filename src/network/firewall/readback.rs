//! Reads the kernel's state back (from `nft -j` JSON) into the typed model, so
//! verification and explanation compare and evaluate values, never text.
//!
//! Only the expressions Infinivirt writes are recognised; any other rule is kept as
//! [`KernelRule::rule`] `Err(description)`, which verification reports as drift and
//! explanation treats as "cannot tell".

use serde_json::Value;

use super::apply::list_json;
use super::error::NftablesError;
use super::model::*;
use crate::qemu::options::IfName;

/// One rule as the kernel holds it.
#[derive(Debug, Clone)]
pub struct KernelRule {
    pub handle: u64,
    /// The rule in the model, or why it could not be read into it.
    pub rule: Result<Rule, String>,
}

/// The rules of a chain, or `None` when the table or chain does not exist.
pub async fn chain_rules(t: Table, chain: &str) -> Result<Option<Vec<KernelRule>>, NftablesError> {
    Ok(read_chain(t, chain).await?.map(|c| c.rules))
}

/// A chain as the kernel holds it.
#[derive(Debug, Clone)]
pub struct KernelChain {
    /// The policy of a base chain (`None` for a regular chain).
    pub policy: Option<Policy>,
    pub rules: Vec<KernelRule>,
}

/// A chain with its policy and rules, or `None` when the table or chain does not exist.
pub async fn read_chain(t: Table, chain: &str) -> Result<Option<KernelChain>, NftablesError> {
    let Some(items) = list_json(&["list", "chain", t.family.as_str(), t.name, chain]).await? else {
        return Ok(None);
    };
    let policy = items.iter().filter_map(|i| i.get("chain")).find_map(|c| match c.get("policy").and_then(Value::as_str) {
        Some("accept") => Some(Policy::Accept),
        Some("drop") => Some(Policy::Drop),
        _ => None,
    });
    Ok(Some(KernelChain { policy, rules: rules_of(&items) }))
}

/// The `rule` entries of a JSON listing, in order.
pub fn rules_of(items: &[Value]) -> Vec<KernelRule> {
    items
        .iter()
        .filter_map(|i| i.get("rule"))
        .map(|r| KernelRule { handle: r.get("handle").and_then(Value::as_u64).unwrap_or(0), rule: parse_rule(r) })
        .collect()
}

/// The comment of a chain: `None` when the chain (or its table) does not exist,
/// `Some(None)` when it has no comment. nft's JSON leaves chain comments out (1.0.6),
/// so this reads the text listing of the one chain, where the comment is the first
/// line of the chain's block.
pub async fn chain_comment(t: Table, chain: &Ident) -> Result<Option<Option<String>>, NftablesError> {
    let Some(text) = super::apply::list_text(&["list", "chain", t.family.as_str(), t.name, chain.as_str()]).await? else {
        return Ok(None);
    };
    Ok(Some(chain_comment_of(&text, chain)))
}

/// The comment line right after `chain <name> {` in a listing, unquoted.
pub fn chain_comment_of(text: &str, chain: &Ident) -> Option<String> {
    let head = format!("chain {chain} {{");
    let mut lines = text.lines().map(str::trim).skip_while(|l| *l != head);
    lines.next()?;
    let c = lines.next()?.strip_prefix("comment \"")?.strip_suffix('"')?;
    Some(c.to_string())
}

/// The names of the table's chains in listing order (empty when the table is missing).
/// Lists chains only (`nft -j list chains <family>`), never their rules.
pub async fn chain_names(t: Table) -> Result<Vec<String>, NftablesError> {
    let items = list_json(&["list", "chains", t.family.as_str()]).await?.unwrap_or_default();
    Ok(chain_names_of(&items, t))
}

/// True when the table exists.
pub async fn table_exists(t: Table) -> Result<bool, NftablesError> {
    let items = list_json(&["list", "tables", t.family.as_str()]).await?.unwrap_or_default();
    Ok(items.iter().filter_map(|i| i.get("table")).any(|x| x.get("name").and_then(Value::as_str) == Some(t.name)))
}

pub fn chain_names_of(items: &[Value], t: Table) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("chain"))
        .filter(|c| c.get("table").and_then(Value::as_str) == Some(t.name) && c.get("family").and_then(Value::as_str) == Some(t.family.as_str()))
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// A verdict map's elements: `(key, jump target)`; the target is `None` for a verdict
/// other than a jump. `None` when the map (or its table) does not exist.
pub async fn map_elements(t: Table, map: &str) -> Result<Option<Vec<(String, Option<String>)>>, NftablesError> {
    let Some(items) = list_json(&["list", "map", t.family.as_str(), t.name, map]).await? else {
        return Ok(None);
    };
    Ok(Some(map_elements_of(&items)))
}

pub fn map_elements_of(items: &[Value]) -> Vec<(String, Option<String>)> {
    let elems = items.iter().filter_map(|i| i.get("map")).filter_map(|m| m.get("elem")).filter_map(Value::as_array).flatten();
    elems
        .filter_map(|e| {
            let pair = e.as_array()?;
            let key = pair.first()?.as_str()?.to_string();
            let target = pair.get(1).and_then(|v| v.get("jump")).and_then(|j| j.get("target")).and_then(Value::as_str).map(str::to_string);
            Some((key, target))
        })
        .collect()
}

/// A set's elements (`None` when the set or its table does not exist).
pub async fn set_elements(t: Table, set: &str) -> Result<Option<Vec<String>>, NftablesError> {
    let Some(items) = list_json(&["list", "set", t.family.as_str(), t.name, set]).await? else {
        return Ok(None);
    };
    Ok(Some(set_elements_of(&items)))
}

pub fn set_elements_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.get("set"))
        .filter_map(|s| s.get("elem"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

/// One JSON rule into the model.
pub fn parse_rule(r: &Value) -> Result<Rule, String> {
    let exprs = r.get("expr").and_then(Value::as_array).ok_or("rule without expressions")?;
    let mut rule = Rule { comment: r.get("comment").and_then(Value::as_str).map(Comment::from_kernel), ..Default::default() };
    for e in exprs {
        if rule.verdict.is_some() {
            return Err(format!("expression after the verdict: {e}"));
        }
        if let Some(m) = e.get("match") {
            if let Some(m) = parse_match(m)? {
                rule.matches.push(m);
            }
        } else if let Some(m) = e.get("mangle") {
            rule.stmts.push(parse_mangle(m)?);
        } else if e.get("counter").is_some() {
            // Counters do not change what a rule decides.
        } else if e.get("masquerade").is_some() {
            rule.stmts.push(Stmt::Masquerade);
        } else {
            rule.verdict = Some(parse_verdict(e)?);
        }
    }
    Ok(rule)
}

fn unknown(what: &str, v: &Value) -> String {
    format!("unrecognised {what}: {v}")
}

fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn as_u16(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|n| u16::try_from(n).ok())
}

/// `{"&": [{"meta": {"key": "mark"}}, N]}` → N.
fn mark_mask(left: &Value) -> Option<u32> {
    let pair = left.get("&")?.as_array()?;
    (pair.first()?.get("meta")?.get("key")?.as_str()? == "mark").then_some(())?;
    as_u32(pair.get(1)?)
}

fn meta_key(left: &Value) -> Option<&str> {
    left.get("meta")?.get("key")?.as_str()
}

fn payload(left: &Value) -> Option<(&str, &str)> {
    let p = left.get("payload")?;
    Some((p.get("protocol")?.as_str()?, p.get("field")?.as_str()?))
}

fn parse_match(m: &Value) -> Result<Option<Match>, String> {
    let bad = || unknown("match", m);
    let op = m.get("op").and_then(Value::as_str).ok_or_else(bad)?;
    let left = m.get("left").ok_or_else(bad)?;
    let right = m.get("right").ok_or_else(bad)?;
    let eq = match op {
        "==" | "in" => Op::Eq,
        "!=" => Op::Ne,
        _ => return Err(bad()),
    };
    if let Some(mask) = mark_mask(left) {
        let r = as_u32(right).ok_or_else(bad)?;
        return match (eq, r) {
            (Op::Ne, 0) => Ok(Some(Match::MarkAny(mask))),
            (Op::Eq, 0) => Ok(Some(Match::MarkNone(mask))),
            (Op::Eq, r) if r == mask => Ok(Some(Match::MarkAll(mask))),
            _ => Err(bad()),
        };
    }
    if let Some(key) = meta_key(left) {
        let field = match key {
            "iifname" => IfField::Iif,
            "oifname" => IfField::Oif,
            // nft's implicit dependency of a port match; the port match says it all.
            "l4proto" if eq == Op::Eq => return Ok(None),
            _ => return Err(bad()),
        };
        let s = right.as_str().ok_or_else(bad)?;
        if let Some(set) = s.strip_prefix('@') {
            if eq != Op::Eq {
                return Err(bad());
            }
            return Ok(Some(Match::IfInSet { field, set: Ident::new(set).ok_or_else(bad)? }));
        }
        let name = IfName::parse(s).map_err(|_| bad())?;
        return Ok(Some(Match::IfName { field, op: eq, name }));
    }
    if left.get("ct").and_then(|c| c.get("key")).and_then(Value::as_str) == Some("state") {
        if eq != Op::Eq {
            return Err(bad());
        }
        let names: Vec<&str> = match right {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            Value::Object(o) => o.get("set").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default(),
            _ => vec![],
        };
        let states = CtStates::from_names(names).filter(|s| !s.is_empty()).ok_or_else(bad)?;
        return Ok(Some(Match::CtState(states)));
    }
    let Some((proto, field)) = payload(left) else { return Err(bad()) };
    match (proto, field) {
        ("ether", "type") => {
            let ty = match right.as_str() {
                Some("ip") => EtherType::Ip,
                Some("arp") => EtherType::Arp,
                _ => return Err(bad()),
            };
            Ok(Some(Match::EtherType { op: eq, ty }))
        }
        ("ip", "protocol") if eq == Op::Eq => {
            // nft prints a number under the host's name for it, or as a number.
            let n = match right {
                Value::String(s) => super::protocols::number(s),
                Value::Number(_) => right.as_u64().and_then(|n| u8::try_from(n).ok()),
                _ => None,
            };
            Ok(Some(Match::IpProtocol(IpProto(n.ok_or_else(bad)?))))
        }
        ("ip", f @ ("saddr" | "daddr")) if eq == Op::Eq => {
            let net = match right {
                Value::String(s) => Ipv4Net::parse(s),
                Value::Object(o) => o.get("prefix").and_then(|p| {
                    let addr = parse_dotted(p.get("addr")?.as_str()?)?;
                    let len = u8::try_from(p.get("len")?.as_u64()?).ok()?;
                    Some(Ipv4Net::new(addr, len))
                }),
                _ => None,
            }
            .ok_or_else(bad)?;
            let field = if f == "saddr" { AddrField::Saddr } else { AddrField::Daddr };
            Ok(Some(Match::Addr { field, net }))
        }
        (p @ ("tcp" | "udp"), f @ ("sport" | "dport")) if eq == Op::Eq => {
            let range = match right {
                Value::Number(_) => as_u16(right).map(|p| PortRange { lo: p, hi: p }),
                Value::Object(o) => o.get("range").and_then(Value::as_array).and_then(|r| Some(PortRange { lo: as_u16(r.first()?)?, hi: as_u16(r.get(1)?)? })),
                _ => None,
            }
            .ok_or_else(bad)?;
            let proto = L4::parse(p).ok_or_else(bad)?;
            let field = if f == "sport" { PortField::Sport } else { PortField::Dport };
            Ok(Some(Match::Port { proto, field, range }))
        }
        _ => Err(bad()),
    }
}

fn is_mark(v: &Value) -> bool {
    meta_key(v) == Some("mark")
}

fn parse_mangle(m: &Value) -> Result<Stmt, String> {
    let bad = || unknown("statement", m);
    if !m.get("key").is_some_and(is_mark) {
        return Err(bad());
    }
    let value = m.get("value").ok_or_else(bad)?;
    // mark & A | O, mark | O, mark & A
    let (and, or) = if let Some(pair) = value.get("|").and_then(Value::as_array) {
        let or = pair.get(1).and_then(as_u32).ok_or_else(bad)?;
        let inner = pair.first().ok_or_else(bad)?;
        let and = if is_mark(inner) { u32::MAX } else { mark_mask(inner).ok_or_else(bad)? };
        (and, or)
    } else if let Some(and) = mark_mask(value) {
        (and, 0)
    } else {
        return Err(bad());
    };
    Ok(super::ruleset::mark_set(and, or))
}

fn parse_verdict(e: &Value) -> Result<Verdict, String> {
    let bad = || unknown("expression", e);
    if e.get("accept").is_some() {
        return Ok(Verdict::Accept);
    }
    if e.get("drop").is_some() {
        return Ok(Verdict::Drop);
    }
    if e.get("return").is_some() {
        return Ok(Verdict::Return);
    }
    if e.get("reject").is_some() {
        return Ok(Verdict::Reject);
    }
    if let Some(j) = e.get("jump") {
        let target = j.get("target").and_then(Value::as_str).and_then(Ident::new).ok_or_else(bad)?;
        return Ok(Verdict::Jump(target));
    }
    if let Some(v) = e.get("vmap") {
        let field = match v.get("key").and_then(meta_key) {
            Some("iifname") => IfField::Iif,
            Some("oifname") => IfField::Oif,
            _ => return Err(bad()),
        };
        let map = v.get("data").and_then(Value::as_str).and_then(|d| d.strip_prefix('@')).and_then(Ident::new).ok_or_else(bad)?;
        return Ok(Verdict::Vmap { field, map });
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_nft_prints_for_our_rules() {
        // Shapes copied from `nft -j list` of nft 1.0.6 (kernel 6.18).
        let r = json!({"handle": 12, "comment": "Allow HTTPS", "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "vnet-a"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": "tcp"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "sport"}}, "right": {"range": [1000, 2000]}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 443}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "192.168.0.0", "len": 16}}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "10.0.0.1"}},
            {"match": {"op": "!=", "left": {"&": [{"meta": {"key": "mark"}}, 1342177280u32]}, "right": 0}},
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}},
            {"match": {"op": "==", "left": {"ct": {"key": "state"}}, "right": {"set": ["new"]}}},
            {"match": {"op": "!=", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "arp"}},
            {"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"&": [{"meta": {"key": "mark"}}, 134217727u32]}, 67108864u32]}}},
            {"accept": null}]});
        let rule = parse_rule(&r).unwrap();
        assert_eq!(
            crate::network::firewall::render::rule(&rule),
            "oifname \"vnet-a\" ip protocol tcp udp sport 1000-2000 tcp dport 443 ip daddr 192.168.0.0/16 ip saddr 10.0.0.1 \
             meta mark & 0x50000000 != 0x00000000 ct state { established, related } ct state new ether type != arp \
             meta mark set meta mark & 0x07ffffff | 0x04000000 accept comment \"Allow HTTPS\""
        );
        let v = parse_rule(&json!({"expr": [{"vmap": {"key": {"meta": {"key": "oifname"}}, "data": "@to_vm"}}]})).unwrap();
        assert_eq!(v.verdict, Some(Verdict::Vmap { field: IfField::Oif, map: Ident::fixed("to_vm") }));
        let j =
            parse_rule(&json!({"expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@vm_ports"}}, {"jump": {"target": "vm_a"}}]}))
                .unwrap();
        assert_eq!(j.matches, vec![Match::IfInSet { field: IfField::Iif, set: Ident::fixed("vm_ports") }]);
        assert!(parse_rule(&json!({"expr": [{"log": {}}, {"accept": null}]})).is_err());
        assert!(parse_rule(&json!({"expr": [{"accept": null}, {"drop": null}]})).is_err());
        let rej = parse_rule(&json!({"expr": [{"reject": {"type": "icmpx", "expr": "port-unreachable"}}]})).unwrap();
        assert_eq!(rej.verdict, Some(Verdict::Reject));
    }

    #[test]
    fn reads_maps_sets_and_chains() {
        let items = vec![
            json!({"map": {"family": "bridge", "name": "to_vm", "table": "infinivirt", "elem": [["vnet-a", {"jump": {"target": "vm_a"}}], ["vnet-b", {"accept": null}]]}}),
        ];
        assert_eq!(map_elements_of(&items), vec![("vnet-a".to_string(), Some("vm_a".to_string())), ("vnet-b".to_string(), None)]);
        let items = vec![json!({"set": {"name": "vm_ports", "elem": ["vnet-a", "vnet-b"]}})];
        assert_eq!(set_elements_of(&items), ["vnet-a", "vnet-b"]);
        let items = vec![
            json!({"table": {"family": "bridge", "name": "infinivirt"}}),
            json!({"chain": {"family": "bridge", "table": "infinivirt", "name": "forward"}}),
            json!({"chain": {"family": "bridge", "table": "infinivirt", "name": "vm_abc"}}),
            json!({"chain": {"family": "inet", "table": "infinivirt", "name": "forward"}}),
        ];
        assert_eq!(chain_names_of(&items, BRIDGE_TABLE), ["forward", "vm_abc"]);
    }

    #[test]
    fn reads_protocols_by_name_or_number_and_chain_comments() {
        let p = |right: Value| {
            let m = json!({"op": "==", "left": {"payload": {"protocol": "ip", "field": "protocol"}}, "right": right});
            parse_match(&m).unwrap()
        };
        assert_eq!(p(json!("tcp")), Some(Match::IpProtocol(IpProto::TCP)));
        assert_eq!(p(json!("esp")), Some(Match::IpProtocol(IpProto(50))));
        assert_eq!(p(json!("ipv6-icmp")), Some(Match::IpProtocol(IpProto(58))));
        assert_eq!(p(json!(250)), Some(Match::IpProtocol(IpProto(250))));
        let text = "table bridge infinivirt {\n\tchain vm_a {\n\t\tcomment \"infinivirt-vm:a-1\"\n\t\tdrop\n\t}\n}\n";
        assert_eq!(chain_comment_of(text, &Ident::fixed("vm_a")).as_deref(), Some("infinivirt-vm:a-1"));
        let bare = "table bridge infinivirt {\n\tchain vm_a {\n\t\tip protocol tcp drop comment \"x\"\n\t}\n}\n";
        assert_eq!(chain_comment_of(bare, &Ident::fixed("vm_a")), None);
    }
}
