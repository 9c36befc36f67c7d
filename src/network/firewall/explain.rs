//! `explain` (an Infinivirt addition): which rule decides a given packet, and why.
//!
//! The kernel's own rules are read back (`nft -j`) and evaluated in the kernel's
//! order: the base chain `forward` (DHCP exceptions, then the dispatch maps), the
//! VM's chain, the reject fallback, and the base policy. What the conntrack fallback
//! does (state bits in the mark) is simulated from the packet's state, so the
//! answer is the same on every kernel.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::error::{NftablesError, NftablesErrorCode as C};
use super::model::*;
use super::probe::{self, CtMode};
use super::readback::{self, KernelRule};
use super::render;
use super::ruleset;
use crate::qemu::options::IfName;

/// A packet to explain. `direction` is seen from the VM: `IN` travels to it, `OUT`
/// comes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// `tcp`, `udp`, `icmp` or another IPv4 protocol name.
    pub protocol: String,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub inbound: bool,
    /// The packet's conntrack state (`new` unless given).
    pub state: CtStates,
    /// The other bridge port, when it matters (another VM's TAP); else an uplink.
    pub peer: Option<IfName>,
}

/// Raw packet fields as they arrive from JS.
#[derive(Debug, Clone, Default)]
pub struct PacketInput {
    pub protocol: Option<String>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    pub src_port: Option<f64>,
    pub dst_port: Option<f64>,
    pub direction: Option<String>,
    pub state: Option<String>,
    pub peer_interface: Option<String>,
}

fn bad(msg: String) -> NftablesError {
    NftablesError::Rule { code: C::RULE_INVALID, message: msg }
}

impl Packet {
    pub fn parse(p: &PacketInput) -> Result<Packet, NftablesError> {
        let protocol = p.protocol.clone().unwrap_or_default().to_lowercase();
        if protocol.is_empty() || protocol == "all" || super::protocols::number(&protocol).is_none() {
            return Err(bad(format!("Invalid packet protocol: {}", p.protocol.as_deref().unwrap_or(""))));
        }
        let ip = |v: &Option<String>, what: &str| {
            v.as_deref().and_then(parse_dotted).ok_or_else(|| NftablesError::Rule {
                code: C::INVALID_IP_ADDRESS,
                message: format!("Invalid packet {what} address: {}", v.as_deref().unwrap_or("")),
            })
        };
        let port = |v: Option<f64>, what: &str| -> Result<Option<u16>, NftablesError> {
            match v {
                None => Ok(None),
                Some(n) if n.fract() == 0.0 && (0.0..=65535.0).contains(&n) =>
                {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Ok(Some(n as u16))
                }
                Some(n) => Err(NftablesError::Rule {
                    code: C::INVALID_PORT_RANGE,
                    message: format!("Invalid packet {what} port: {} (must be 0-65535)", super::translate::js_num(n)),
                }),
            }
        };
        let inbound = match p.direction.as_deref() {
            Some("IN") => true,
            Some("OUT") => false,
            other => return Err(bad(format!("Invalid packet direction: {}. Must be IN or OUT", other.unwrap_or("")))),
        };
        let state = match p.state.as_deref() {
            None => CtStates::NEW,
            Some(s) => CtStates::from_names([s]).ok_or_else(|| bad(format!("Invalid packet state: {s}")))?,
        };
        let peer = match p.peer_interface.as_deref() {
            None => None,
            Some(s) => Some(ruleset::parse_tap(s)?),
        };
        Ok(Packet {
            protocol,
            src: ip(&p.src_ip, "source")?,
            dst: ip(&p.dst_ip, "destination")?,
            sport: port(p.src_port, "source")?,
            dport: port(p.dst_port, "destination")?,
            inbound,
            state,
            peer,
        })
    }
}

/// One rule looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub chain: String,
    /// 1-based position in the chain.
    pub position: usize,
    pub handle: u64,
    pub rule: String,
    pub rule_name: Option<String>,
    pub matched: bool,
    /// The first match that failed, or what the rule did.
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// `accept`, `drop`, `reject` or `unknown` (a rule Infinivirt cannot evaluate).
    pub verdict: String,
    pub decided_by: Option<Step>,
    pub reason: String,
    pub trace: Vec<Step>,
}

/// What the evaluator knows about the kernel.
pub struct Kernel {
    pub chains: HashMap<String, Vec<KernelRule>>,
    pub base_policy: Policy,
    pub sets: HashMap<String, Vec<String>>,
    pub maps: HashMap<String, Vec<(String, Option<String>)>>,
    pub ct_mode: CtMode,
}

/// The interfaces a packet goes through, seen from the bridge.
struct Ctx<'a> {
    pkt: &'a Packet,
    iif: Option<&'a str>,
    oif: Option<&'a str>,
    mark: u32,
}

enum Outcome {
    Final(Verdict, Step),
    Unknown(Step, String),
    Fallthrough,
}

fn proto_matches(p: &Packet, proto: IpProto) -> bool {
    super::protocols::number(&p.protocol) == Some(proto.0)
}

/// `None`: matches; `Some(why)`: does not.
fn check(m: &Match, cx: &Ctx<'_>, k: &Kernel) -> Option<String> {
    let pkt = cx.pkt;
    let iface = |f: IfField| match f {
        IfField::Iif => cx.iif,
        IfField::Oif => cx.oif,
    };
    let fail = |why: String| Some(why);
    match m {
        Match::IfName { field, op, name } => {
            let have = iface(*field);
            let eq = have == Some(name.as_str());
            let ok = if *op == Op::Eq { eq } else { !eq };
            (!ok).then(|| format!("{} is {}", field.as_str(), have.unwrap_or("another port")))
        }
        Match::IfInSet { field, set } => {
            let have = iface(*field);
            let found = have.is_some_and(|h| k.sets.get(set.as_str()).is_some_and(|s| s.iter().any(|e| e == h)));
            (!found).then(|| format!("{} {} is not in @{set}", field.as_str(), have.unwrap_or("(another port)")))
        }
        Match::IpProtocol(p) => (!proto_matches(pkt, *p)).then(|| format!("protocol is {}, not {p}", pkt.protocol)),
        Match::Addr { field, net } => {
            let (ip, f) = match field {
                AddrField::Saddr => (pkt.src, "source"),
                AddrField::Daddr => (pkt.dst, "destination"),
            };
            (!net.contains(ip)).then(|| format!("{f} {ip} is not in {net}"))
        }
        Match::Port { proto, field, range } => {
            if !proto_matches(pkt, IpProto::from(*proto)) {
                return fail(format!("protocol is {}, not {}", pkt.protocol, proto.as_str()));
            }
            let (p, f) = match field {
                PortField::Sport => (pkt.sport, "source port"),
                PortField::Dport => (pkt.dport, "destination port"),
            };
            match p {
                Some(p) if range.contains(p) => None,
                Some(p) => fail(format!("{f} {p} is not {range}")),
                None => fail(format!("the packet has no {f}")),
            }
        }
        Match::CtState(s) => (!s.contains(pkt.state)).then(|| format!("state {} is not {}", pkt.state.names().join(","), s.names().join(","))),
        Match::MarkAny(bits) => (cx.mark & bits == 0).then(|| mark_note(*bits, cx.mark, pkt)),
        Match::MarkAll(bits) => (cx.mark & bits != *bits).then(|| mark_note(*bits, cx.mark, pkt)),
        Match::MarkNone(bits) => (cx.mark & bits != 0).then(|| format!("mark {:#010x} has bits of {bits:#010x}", cx.mark)),
        Match::EtherType { op, ty } => {
            let eq = *ty == EtherType::Ip;
            let ok = if *op == Op::Eq { eq } else { !eq };
            (!ok).then(|| format!("the packet is IPv4, ether type {}{}", if *op == Op::Ne { "!= " } else { "" }, ty.as_str()))
        }
    }
}

fn mark_note(bits: u32, mark: u32, pkt: &Packet) -> String {
    match ruleset::states_of_bits(bits) {
        Some(s) => format!("state {} is not {} (conntrack fallback)", pkt.state.names().join(","), s.names().join(",")),
        None => format!("mark {mark:#010x} does not have {bits:#010x}"),
    }
}

fn step(chain: &str, i: usize, kr: &KernelRule, matched: bool, note: String) -> Step {
    let (rule, rule_name) = match &kr.rule {
        Ok(r) => (render::rule(r), r.comment.as_ref().map(|c| c.as_str().to_string())),
        Err(why) => (format!("<{why}>"), None),
    };
    Step { chain: chain.to_string(), position: i + 1, handle: kr.handle, rule, rule_name, matched, note }
}

fn eval_chain(chain: &str, cx: &mut Ctx<'_>, k: &Kernel, trace: &mut Vec<Step>, depth: usize) -> Outcome {
    let Some(rules) = k.chains.get(chain) else {
        return Outcome::Fallthrough;
    };
    for (i, kr) in rules.iter().enumerate() {
        let rule = match &kr.rule {
            Ok(r) => r,
            Err(why) => {
                let s = step(chain, i, kr, false, format!("cannot evaluate: {why}"));
                trace.push(s.clone());
                return Outcome::Unknown(s, why.clone());
            }
        };
        if let Some(why) = rule.matches.iter().find_map(|m| check(m, cx, k)) {
            trace.push(step(chain, i, kr, false, why));
            continue;
        }
        for s in &rule.stmts {
            if let Stmt::MarkSet { and, or } = s {
                cx.mark = (cx.mark & and) | or;
            }
        }
        let target = match &rule.verdict {
            None => {
                trace.push(step(chain, i, kr, true, "matched (no verdict)".into()));
                continue;
            }
            Some(Verdict::Jump(t)) => Some(t.to_string()),
            Some(Verdict::Vmap { field, map }) => {
                let key = match field {
                    IfField::Iif => cx.iif,
                    IfField::Oif => cx.oif,
                };
                let hit = key.and_then(|key| k.maps.get(map.as_str()).and_then(|m| m.iter().find(|(kk, _)| kk == key)));
                match hit {
                    Some((_, Some(t))) => Some(t.clone()),
                    _ => {
                        trace.push(step(chain, i, kr, false, format!("{} {} is not in @{map}", field.as_str(), key.unwrap_or("(another port)"))));
                        continue;
                    }
                }
            }
            Some(Verdict::Return) => {
                trace.push(step(chain, i, kr, true, "return".into()));
                return Outcome::Fallthrough;
            }
            Some(v) => {
                let s = step(chain, i, kr, true, render::verdict(v));
                trace.push(s.clone());
                return Outcome::Final(v.clone(), s);
            }
        };
        let Some(target) = target else { continue };
        let jumped = step(chain, i, kr, true, format!("jump {target}"));
        trace.push(jumped.clone());
        if depth > 16 {
            return Outcome::Unknown(jumped, "jump depth exceeded".into());
        }
        match eval_chain(&target, cx, k, trace, depth + 1) {
            Outcome::Fallthrough => continue,
            // The reject fallback only carries out the jumping rule's REJECT.
            Outcome::Final(v, _) if target == ruleset::REJECT_CHAIN => return Outcome::Final(v, jumped),
            other => return other,
        }
    }
    Outcome::Fallthrough
}

/// Evaluates `pkt` for the VM whose port is `tap` against `k` (pure; tested in Rust).
pub fn evaluate(pkt: &Packet, tap: Option<&IfName>, k: &Kernel) -> Explanation {
    let me = tap.map(IfName::as_str);
    let other = pkt.peer.as_ref().map(IfName::as_str);
    let (iif, oif) = if pkt.inbound { (other, me) } else { (me, other) };
    let mark = if k.ct_mode == CtMode::Mark { ruleset::state_bits(pkt.state) } else { 0 };
    let mut cx = Ctx { pkt, iif, oif, mark };
    let mut trace = Vec::new();
    let out = eval_chain(ruleset::BASE_CHAIN, &mut cx, k, &mut trace, 0);
    match out {
        Outcome::Final(v, s) => {
            let rejected_later = v == Verdict::Accept && cx.mark & ruleset::mark::REJECT != 0;
            let verdict = if rejected_later || v == Verdict::Reject { "reject".to_string() } else { render::verdict(&v) };
            let who = match &s.rule_name {
                Some(n) => format!("rule \"{n}\" (position {} of {})", s.position, s.chain),
                None => format!("rule {} of {}", s.position, s.chain),
            };
            let how = if rejected_later { " (marked in the bridge, rejected by inet infinivirt forward)" } else { "" };
            Explanation { reason: format!("{who} decides: {verdict}{how}"), decided_by: Some(s), trace, verdict }
        }
        Outcome::Unknown(s, why) => Explanation {
            verdict: "unknown".into(),
            reason: format!("rule {} of {} cannot be evaluated ({why})", s.position, s.chain),
            decided_by: Some(s),
            trace,
        },
        Outcome::Fallthrough => {
            let p = k.base_policy.as_str();
            let reason = if tap.is_none() {
                format!("the VM has no dispatched port, so no VM rule applies; the base chain policy decides: {p}")
            } else {
                format!("no rule decided; the base chain policy decides: {p}")
            };
            Explanation { verdict: p.to_string(), decided_by: None, reason, trace }
        }
    }
}

/// Reads the kernel's state and explains `pkt` for `vm_id`.
pub async fn explain(vm_id: &str, pkt: &Packet) -> Result<Explanation, NftablesError> {
    let chain = ruleset::vm_chain(vm_id);
    let caps = probe::capabilities().await;
    let t = BRIDGE_TABLE;
    let mut maps = HashMap::new();
    for m in [ruleset::TO_VM_MAP, ruleset::FROM_VM_MAP] {
        maps.insert(m.to_string(), readback::map_elements(t, m).await?.unwrap_or_default());
    }
    let mut sets = HashMap::new();
    sets.insert(ruleset::VM_PORTS_SET.to_string(), readback::set_elements(t, ruleset::VM_PORTS_SET).await?.unwrap_or_default());
    // The VM's port: the map key that leads to its chain.
    let field_map = if pkt.inbound { ruleset::TO_VM_MAP } else { ruleset::FROM_VM_MAP };
    let tap = maps.get(field_map).and_then(|m| m.iter().find(|(_, t)| t.as_deref() == Some(chain.as_str()))).and_then(|(k, _)| IfName::parse(k).ok());
    // The base chain, this VM's chain, the peer's chain (when the peer is a VM port)
    // and every chain they jump to.
    let peer_chain = pkt.peer.as_ref().and_then(|p| maps.values().flatten().find(|(k, _)| k == p.as_str()).and_then(|(_, t)| t.clone()));
    let mut chains = HashMap::new();
    let mut base_policy = Policy::Accept;
    let mut todo: Vec<String> = [Some(ruleset::BASE_CHAIN.to_string()), Some(chain.to_string()), peer_chain].into_iter().flatten().collect();
    while let Some(name) = todo.pop() {
        if chains.contains_key(&name) {
            continue;
        }
        let Some(kc) = readback::read_chain(t, &name).await? else { continue };
        if name == ruleset::BASE_CHAIN {
            base_policy = kc.policy.unwrap_or(Policy::Accept);
        }
        for kr in &kc.rules {
            if let Ok(Rule { verdict: Some(Verdict::Jump(j)), .. }) = &kr.rule {
                todo.push(j.to_string());
            }
        }
        chains.insert(name, kc.rules);
    }
    let k = Kernel { chains, base_policy, sets, maps, ct_mode: caps.ct_mode() };
    Ok(evaluate(pkt, tap.as_ref(), &k))
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
