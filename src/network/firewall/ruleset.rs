//! Firewall policy: department and VM rules → the typed nft model of one VM chain,
//! plus the fixed layout of `table bridge infinivirt` around it.
//!
//! Layout (all created idempotently, base chain rewritten whole in every batch):
//!
//! ```text
//! table bridge infinivirt
//!   set vm_ports  { type ifname }                every VM port
//!   map to_vm     { type ifname : verdict }      VM port → jump <vm chain>  (oifname: IN)
//!   map from_vm   { type ifname : verdict }      VM port → jump <vm chain>  (iifname: OUT)
//!   chain forward (filter, hook forward, priority 0, policy accept)
//!     iifname @vm_ports udp sport 67 udp dport 68 drop      a VM may not answer DHCP
//!     iifname @vm_ports udp sport 68 udp dport 67 accept    a VM may ask for an address
//!     oifname @vm_ports udp sport 67 udp dport 68 accept    and get the (non-VM) answer
//!     oifname vmap @to_vm
//!     iifname vmap @from_vm
//!   chain vm_<id>   the VM's merged rules, in priority order, then the terminal policy
//! ```
//!
//! Dispatch costs two map lookups per packet whatever the number of VMs, where the
//! original appended two jump rules per VM to `forward` (a linear scan).
//! On kernels without bridge conntrack or bridge reject the fallback chains of
//! `probe.rs` are added (see [`fallback_infra`]).

use super::error::{NftablesError, NftablesErrorCode as C};
use super::model::*;
use super::probe::{Capabilities, CtMode, RejectMode};
use super::rule::{prefix_len, FirewallRuleInput};
use crate::qemu::options::IfName;

pub const BASE_CHAIN: &str = "forward";
pub const VM_PORTS_SET: &str = "vm_ports";
pub const TO_VM_MAP: &str = "to_vm";
pub const FROM_VM_MAP: &str = "from_vm";
pub const REJECT_CHAIN: &str = "reject_fallback";
/// Bridge base chains of the conntrack fallback.
pub const FLAG_CHAIN: &str = "prerouting";
pub const CLEAR_CHAIN: &str = "input";
/// Inet base chains of the fallbacks.
pub const INET_CT_CHAIN: &str = "prerouting";
pub const INET_REJECT_CHAIN: &str = "forward";

/// Mark bits the fallbacks use on bridged packets (documented in COMPATIBILITY.md).
pub mod mark {
    /// Set on every frame entering a bridge port; consumed by the inet prerouting chain.
    pub const FLAG: u32 = 0x0400_0000;
    /// Set by a REJECT rule; the inet forward chain rejects such packets.
    pub const REJECT: u32 = 0x0800_0000;
    pub const ESTABLISHED: u32 = 0x1000_0000;
    pub const NEW: u32 = 0x2000_0000;
    pub const RELATED: u32 = 0x4000_0000;
    pub const INVALID: u32 = 0x8000_0000;
    /// Every bit Infinivirt owns.
    pub const OURS: u32 = 0xfc00_0000;
}

/// The mark bits standing for a set of conntrack states.
pub fn state_bits(s: CtStates) -> u32 {
    let mut bits = 0;
    for (state, bit) in
        [(CtStates::ESTABLISHED, mark::ESTABLISHED), (CtStates::NEW, mark::NEW), (CtStates::RELATED, mark::RELATED), (CtStates::INVALID, mark::INVALID)]
    {
        if s.contains(state) {
            bits |= bit;
        }
    }
    bits
}

/// The states a mask of state bits stands for (`None` if it holds other bits).
pub fn states_of_bits(bits: u32) -> Option<CtStates> {
    if bits == 0 || bits & !(mark::ESTABLISHED | mark::NEW | mark::RELATED | mark::INVALID) != 0 {
        return None;
    }
    let mut names = Vec::new();
    for (bit, n) in [(mark::ESTABLISHED, "established"), (mark::NEW, "new"), (mark::RELATED, "related"), (mark::INVALID, "invalid")] {
        if bits & bit != 0 {
            names.push(n);
        }
    }
    CtStates::from_names(names)
}

pub const DEFAULT_RULE_ID: &str = "__default_established";
pub const DEFAULT_RULE_NAME: &str = "Allow Established/Related (Auto)";
pub const TERMINAL_DROP_COMMENT: &str = "Infinivirt default policy: drop";

pub fn ident(s: &'static str) -> Ident {
    Ident::fixed(s)
}

/// The spec's implicit last rule (priority 9999).
pub fn default_rule() -> FirewallRuleInput {
    let mut cs = serde_json::Map::new();
    cs.insert("established".into(), true.into());
    cs.insert("related".into(), true.into());
    FirewallRuleInput {
        id: Some(DEFAULT_RULE_ID.into()),
        name: Some(DEFAULT_RULE_NAME.into()),
        action: Some("ACCEPT".into()),
        direction: Some("INOUT".into()),
        protocol: Some("all".into()),
        priority: Some(9999.0),
        connection_state: Some(cs),
        overrides_dept: Some(false),
        ..Default::default()
    }
}

/// Spec §8.5 steps 3–4: a VM rule with `overridesDept` knocks out every department
/// rule of the same direction and protocol (case-insensitive); department rules come
/// first, then VM rules, then the default rule, stably sorted by priority.
pub fn merge(dept: &[FirewallRuleInput], vm: &[FirewallRuleInput]) -> Vec<FirewallRuleInput> {
    let proto = |r: &FirewallRuleInput| r.protocol.as_deref().unwrap_or("").to_lowercase();
    let overrides: Vec<&FirewallRuleInput> = vm.iter().filter(|r| r.overrides_dept == Some(true)).collect();
    let mut merged: Vec<FirewallRuleInput> =
        dept.iter().filter(|d| !overrides.iter().any(|o| o.direction == d.direction && proto(o) == proto(d))).cloned().collect();
    merged.extend(vm.iter().cloned());
    merged.push(default_rule());
    merged.sort_by(|a, b| a.priority().partial_cmp(&b.priority()).unwrap_or(std::cmp::Ordering::Equal));
    merged
}

/// How a rule was adapted to the kernel (reported in `FirewallApplyResult.fallbacks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub rule_name: String,
    /// `"ct state"`, `"reject"` or `"default rule"`.
    pub feature: &'static str,
    /// `"mark"`, `"inet"` or `"omitted"`.
    pub mode: &'static str,
}

/// Everything one VM's firewall consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFirewall {
    pub chain: Ident,
    /// The comment recording the VM that owns the chain ([`owner_comment`]).
    pub owner: Comment,
    pub tap: IfName,
    /// The chain's rules in order, terminal policy included.
    pub rules: Vec<Rule>,
    /// Spec `totalRules`: merged rules including the default rule, INOUT counted once.
    pub total_rules: usize,
    /// Spec `failures`: `(ruleName, error)` of each rule left out (never in strict mode).
    pub failures: Vec<(String, String)>,
    pub fallbacks: Vec<Fallback>,
}

/// The chain name for a VM (`generateVMChainName`), as an identifier.
pub fn vm_chain(vm_id: &str) -> Ident {
    // `vm_` plus lower-case ASCII alphanumerics is always a valid identifier.
    Ident::new(&crate::network::names::vm_chain_name(vm_id)).unwrap_or_else(|| Ident::fixed("vm_"))
}

const OWNER_PREFIX: &str = "infinivirt-vm:";
const OWNER_HASH_PREFIX: &str = "infinivirt-vm-sha256:";

/// The comment a VM's chain carries to record its owner, since chain names keep only
/// the first 8 alphanumerics of the id and two VMs can share one: `infinivirt-vm:<id>`
/// for ids of up to 50 bytes of `[A-Za-z0-9._:@-]` (UUIDs, cuids), else the first 128
/// bits of the id's SHA-256, so the comment never needs quoting and stays within the
/// 64 characters a sanitised comment keeps.
pub fn owner_comment(vm_id: &str) -> Comment {
    let plain = !vm_id.is_empty() && vm_id.len() <= 50 && vm_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:@-".contains(&b));
    if plain {
        return Comment::sanitized(&format!("{OWNER_PREFIX}{vm_id}"));
    }
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(vm_id.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    Comment::sanitized(&format!("{OWNER_HASH_PREFIX}{hex}"))
}

/// The owner a chain comment records, for messages: the VM id, or the hash of an id
/// that could not be written as is. `None` for a comment that records no owner.
pub fn owner_of(comment: &str) -> Option<String> {
    if let Some(id) = comment.strip_prefix(OWNER_PREFIX) {
        return Some(id.to_string());
    }
    comment.strip_prefix(OWNER_HASH_PREFIX).map(|h| format!("with id hash sha256:{h}"))
}

pub fn parse_tap(tap: &str) -> Result<IfName, NftablesError> {
    IfName::parse(tap).map_err(|e| NftablesError::Rule { code: C::RULE_INVALID, message: format!("Invalid interface name '{tap}': {e}") })
}

/// Validates and translates every merged rule. A rule that fails is left out and
/// reported in `failures` (the spec's "processed even if some rules failed"); a
/// DROP or REJECT rule left out widens what reaches the VM, so it is also logged as a
/// warning. With `strict` the first bad rule fails the whole plan instead (nothing is
/// applied). A bad TAP name always fails it.
pub fn plan_vm(
    vm_id: &str,
    tap: &str,
    dept: &[FirewallRuleInput],
    vm: &[FirewallRuleInput],
    caps: &Capabilities,
    policy: Policy,
    strict: bool,
) -> Result<VmFirewall, NftablesError> {
    let tap = parse_tap(tap)?;
    let merged = merge(dept, vm);
    let mut rules = Vec::new();
    let mut fallbacks = Vec::new();
    let mut failures = Vec::new();
    for input in &merged {
        match translate_rule(input, &tap, caps, policy, &mut fallbacks) {
            Ok(r) => rules.extend(r),
            Err(e) if strict => return Err(e),
            Err(e) => {
                let name = input.name.clone().filter(|n| !n.is_empty()).or_else(|| input.id.clone()).unwrap_or_default();
                let action = input.action.as_deref().unwrap_or("").to_ascii_uppercase();
                if matches!(action.as_str(), "DROP" | "REJECT") {
                    crate::log::warn(
                        "nftables",
                        &format!("VM {vm_id}: {action} rule '{name}' is left out of its firewall, so what it would stop is not stopped: {e}"),
                    );
                } else {
                    crate::log::log("infinivirt:nftables", &format!("VM {vm_id}: rule '{name}' is left out of its firewall: {e}"));
                }
                failures.push((name, e.to_string()));
            }
        }
    }
    rules.extend(terminal(policy));
    Ok(VmFirewall { chain: vm_chain(vm_id), owner: owner_comment(vm_id), tap, rules, total_rules: merged.len(), failures, fallbacks })
}

/// The last rule of a VM chain: nothing for `accept` (the base policy decides), an
/// explicit drop of everything but ARP for `drop` (ARP must pass for IPv4 to work,
/// and no rule can match it).
pub fn terminal(policy: Policy) -> Option<Rule> {
    match policy {
        Policy::Accept => None,
        Policy::Drop => Some(Rule {
            matches: vec![Match::EtherType { op: Op::Ne, ty: EtherType::Arp }],
            verdict: Some(Verdict::Drop),
            comment: Some(Comment::sanitized(TERMINAL_DROP_COMMENT)),
            ..Default::default()
        }),
    }
}

fn cap_err(input: &FirewallRuleInput, what: &str) -> NftablesError {
    NftablesError::Rule { code: C::RULE_INVALID, message: format!("{}{what}", input.prefix()) }
}

const NO_CT: &str = "Connection-state matching is not available on this host: the kernel has no bridge conntrack \
                     (nf_conntrack_bridge) and br_netfilter does not pass bridged IPv4 to the inet hooks \
                     (net.bridge.bridge-nf-call-iptables = 1)";
const NO_REJECT: &str = "REJECT is not available on this host: the kernel cannot reject in the bridge family and \
                         br_netfilter does not pass bridged IPv4 to the inet hooks (net.bridge.bridge-nf-call-iptables = 1)";

/// One validated rule → one nft rule per direction (INOUT gives IN then OUT).
pub fn translate_rule(
    input: &FirewallRuleInput,
    tap: &IfName,
    caps: &Capabilities,
    policy: Policy,
    fallbacks: &mut Vec<Fallback>,
) -> Result<Vec<Rule>, NftablesError> {
    input.validate()?;
    let name = input.name.clone().unwrap_or_default();
    let direction = input.direction.as_deref().unwrap_or("");
    let action = input.action.as_deref().unwrap_or("");
    let states = CtStates::from_names(input.states()).unwrap_or_default();
    if direction == "IN" && action == "ACCEPT" && !states.is_empty() && !states.contains(CtStates::NEW) {
        crate::log::log(
            "infinivirt:firewall-translator:warn",
            &format!("{}IN ACCEPT rule without connectionState.new only matches packets of the listed states", input.prefix()),
        );
    }

    let state_match = if states.is_empty() {
        None
    } else {
        match caps.ct_mode() {
            CtMode::Native => Some(Match::CtState(states)),
            CtMode::Mark => {
                fallbacks.push(Fallback { rule_name: name.clone(), feature: "ct state", mode: "mark" });
                Some(Match::MarkAny(state_bits(states)))
            }
            CtMode::Unavailable => {
                // The default rule only accepts what an accept policy accepts anyway.
                if input.id.as_deref() == Some(DEFAULT_RULE_ID) && policy == Policy::Accept {
                    fallbacks.push(Fallback { rule_name: name, feature: "default rule", mode: "omitted" });
                    return Ok(vec![]);
                }
                return Err(cap_err(input, NO_CT));
            }
        }
    };
    let verdict = match action {
        "ACCEPT" => Verdict::Accept,
        "DROP" => Verdict::Drop,
        _ => match caps.reject_mode() {
            RejectMode::Native => Verdict::Reject,
            RejectMode::Inet => {
                fallbacks.push(Fallback { rule_name: name.clone(), feature: "reject", mode: "inet" });
                Verdict::Jump(ident(REJECT_CHAIN))
            }
            RejectMode::Unavailable => return Err(cap_err(input, NO_REJECT)),
        },
    };

    let proto = match input.protocol_lower().as_str() {
        "all" => None,
        // Validation has checked the protocol.
        p => super::protocols::number(p).map(IpProto),
    };
    let net = |addr: &Option<String>, mask: &Option<String>| -> Option<Ipv4Net> {
        let a = addr.as_deref().filter(|a| !a.is_empty())?;
        let len = mask.as_deref().filter(|m| !m.is_empty()).and_then(prefix_len).unwrap_or(32);
        // Validation has checked the address; a failure here cannot happen.
        parse_dotted(a).map(|ip| Ipv4Net::new(ip, len))
    };
    let port = |start: Option<f64>, end: Option<f64>| -> Option<PortRange> {
        let lo = u16_of(start?)?;
        let hi = end.and_then(u16_of).unwrap_or(lo);
        Some(PortRange { lo, hi })
    };

    let mut common = Vec::new();
    if let Some(p) = proto {
        common.push(Match::IpProtocol(p));
    }
    if let Some(n) = net(&input.src_ip_addr, &input.src_ip_mask) {
        common.push(Match::Addr { field: AddrField::Saddr, net: n });
    }
    if let Some(n) = net(&input.dst_ip_addr, &input.dst_ip_mask) {
        common.push(Match::Addr { field: AddrField::Daddr, net: n });
    }
    if let Some(p @ (L4::Tcp | L4::Udp)) = proto.and_then(IpProto::l4) {
        if let Some(r) = port(input.src_port_start, input.src_port_end) {
            common.push(Match::Port { proto: p, field: PortField::Sport, range: r });
        }
        if let Some(r) = port(input.dst_port_start, input.dst_port_end) {
            common.push(Match::Port { proto: p, field: PortField::Dport, range: r });
        }
    }
    common.extend(state_match);
    let comment = Some(name.as_str()).filter(|n| !n.is_empty()).map(Comment::sanitized);

    let fields: &[IfField] = match direction {
        "IN" => &[IfField::Oif],
        "OUT" => &[IfField::Iif],
        _ => &[IfField::Oif, IfField::Iif],
    };
    Ok(fields
        .iter()
        .map(|f| {
            let mut matches = vec![Match::IfName { field: *f, op: Op::Eq, name: tap.clone() }];
            matches.extend(common.iter().cloned());
            Rule { matches, stmts: vec![], verdict: Some(verdict.clone()), comment: comment.clone() }
        })
        .collect())
}

/// A validated port number (0–65535, integral) as `u16`.
fn u16_of(v: f64) -> Option<u16> {
    if v.fract() != 0.0 || !(0.0..=65535.0).contains(&v) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked just above
    Some(v as u16)
}

fn rule(matches: Vec<Match>, verdict: Option<Verdict>, comment: Option<&str>) -> Rule {
    Rule { matches, stmts: vec![], verdict, comment: comment.map(Comment::sanitized) }
}

fn dhcp(field: IfField, sport: u16, dport: u16) -> Vec<Match> {
    vec![
        Match::IfInSet { field, set: ident(VM_PORTS_SET) },
        Match::Port { proto: L4::Udp, field: PortField::Sport, range: PortRange { lo: sport, hi: sport } },
        Match::Port { proto: L4::Udp, field: PortField::Dport, range: PortRange { lo: dport, hi: dport } },
    ]
}

/// The rules of the base chain `forward`: scoped DHCP exceptions, then dispatch.
pub fn base_rules() -> Vec<Rule> {
    vec![
        rule(dhcp(IfField::Iif, 67, 68), Some(Verdict::Drop), Some("Block DHCP server replies from VMs")),
        rule(dhcp(IfField::Iif, 68, 67), Some(Verdict::Accept), Some("Allow DHCP client to server")),
        rule(dhcp(IfField::Oif, 67, 68), Some(Verdict::Accept), Some("Allow DHCP server to client")),
        rule(vec![], Some(Verdict::Vmap { field: IfField::Oif, map: ident(TO_VM_MAP) }), None),
        rule(vec![], Some(Verdict::Vmap { field: IfField::Iif, map: ident(FROM_VM_MAP) }), None),
    ]
}

pub fn forward_base() -> BaseChain {
    BaseChain { ty: ChainType::Filter, hook: Hook::Forward, priority: Priority::Num(0), policy: Policy::Accept }
}

fn filter_base(hook: Hook, prio: i32) -> BaseChain {
    BaseChain { ty: ChainType::Filter, hook, priority: Priority::Num(prio), policy: Policy::Accept }
}

/// Table, base chain, sets and maps (idempotent `add`s), then the base chain rewritten
/// whole, then the fallback helpers the kernel needs. Safe to put in every batch: it
/// never touches a VM chain or a map element.
pub fn infra(caps: &Capabilities) -> Vec<Cmd> {
    let t = BRIDGE_TABLE;
    let mut v = vec![
        Cmd::AddTable(t),
        Cmd::AddChain(t, ident(BASE_CHAIN), Some(forward_base())),
        Cmd::AddSet(t, ident(VM_PORTS_SET), SetKind::IfNames),
        Cmd::AddSet(t, ident(TO_VM_MAP), SetKind::IfNameVerdicts),
        Cmd::AddSet(t, ident(FROM_VM_MAP), SetKind::IfNameVerdicts),
    ];
    v.extend(fallback_infra(caps));
    v.push(Cmd::FlushChain(t, ident(BASE_CHAIN)));
    v.extend(base_rules().into_iter().map(|r| Cmd::AddRule(t, ident(BASE_CHAIN), r)));
    v
}

/// A chain created (if missing) and rewritten whole in this batch.
fn chain_with(t: Table, name: &'static str, base: Option<BaseChain>, rules: Vec<Rule>) -> Vec<Cmd> {
    let mut v = vec![Cmd::AddChain(t, ident(name), base), Cmd::FlushChain(t, ident(name))];
    v.extend(rules.into_iter().map(|r| Cmd::AddRule(t, ident(name), r)));
    v
}

/// `meta mark set meta mark & and | or`, in the kernel's canonical form (the bits of
/// `or` are also kept by `and`), so what is written compares equal to what is read.
pub fn mark_set(and: u32, or: u32) -> Stmt {
    Stmt::MarkSet { and: and | or, or }
}

/// The helper chains of the fallbacks, when the kernel needs them:
///
/// * conntrack (`CtMode::Mark`): `bridge prerouting` (priority -300, before
///   br_netfilter) clears Infinivirt's mark bits and sets FLAG on every bridged frame;
///   `inet prerouting` (priority -150, after conntrack) turns FLAG into the packet's
///   state bits; `bridge input` clears the bits of frames delivered to the host, so
///   they never reach the host's routing. The VM rules then match the state bits.
/// * reject (`RejectMode::Inet`): `bridge reject_fallback` marks IPv4 with REJECT and
///   accepts it (anything else is dropped), `inet forward` rejects marked packets.
///   The bridge forward hook runs before br_netfilter's inet forward hook.
pub fn fallback_infra(caps: &Capabilities) -> Vec<Cmd> {
    let mut v = Vec::new();
    let ct = caps.ct_mode() == CtMode::Mark;
    let rj = caps.reject_mode() == RejectMode::Inet;
    let keep = !mark::OURS;
    if ct {
        v.extend(chain_with(
            BRIDGE_TABLE,
            FLAG_CHAIN,
            Some(filter_base(Hook::Prerouting, -300)),
            vec![Rule { stmts: vec![mark_set(keep, mark::FLAG)], ..Default::default() }],
        ));
        v.extend(chain_with(
            BRIDGE_TABLE,
            CLEAR_CHAIN,
            Some(filter_base(Hook::Input, -300)),
            vec![Rule { stmts: vec![mark_set(keep, 0)], ..Default::default() }],
        ));
    }
    if rj {
        v.extend(chain_with(
            BRIDGE_TABLE,
            REJECT_CHAIN,
            None,
            vec![
                Rule {
                    matches: vec![Match::EtherType { op: Op::Eq, ty: EtherType::Ip }],
                    stmts: vec![mark_set(u32::MAX, mark::REJECT)],
                    verdict: Some(Verdict::Accept),
                    ..Default::default()
                },
                rule(vec![], Some(Verdict::Drop), None),
            ],
        ));
    }
    if ct || rj {
        v.push(Cmd::AddTable(INET_TABLE));
    }
    if ct {
        let mut rules = vec![rule(vec![Match::MarkNone(mark::FLAG)], Some(Verdict::Return), None)];
        for (s, bit) in
            [(CtStates::ESTABLISHED, mark::ESTABLISHED), (CtStates::NEW, mark::NEW), (CtStates::RELATED, mark::RELATED), (CtStates::INVALID, mark::INVALID)]
        {
            rules.push(Rule { matches: vec![Match::CtState(s)], stmts: vec![mark_set(u32::MAX, bit)], ..Default::default() });
        }
        rules.push(Rule { stmts: vec![mark_set(!mark::FLAG, 0)], ..Default::default() });
        v.extend(chain_with(INET_TABLE, INET_CT_CHAIN, Some(filter_base(Hook::Prerouting, -150)), rules));
    }
    if rj {
        v.extend(chain_with(
            INET_TABLE,
            INET_REJECT_CHAIN,
            Some(filter_base(Hook::Forward, 0)),
            vec![rule(vec![Match::MarkAll(mark::REJECT)], Some(Verdict::Reject), None)],
        ));
    }
    v
}

/// The VM chain created if missing (with its owner comment) and replaced whole:
/// `add chain`, `flush chain`, then every rule. In one transaction no packet sees it
/// half-written.
pub fn vm_chain_cmds(fw: &VmFirewall) -> Vec<Cmd> {
    let t = BRIDGE_TABLE;
    let mut v = vec![Cmd::AddChainWithComment(t, fw.chain.clone(), fw.owner.clone()), Cmd::FlushChain(t, fw.chain.clone())];
    v.extend(fw.rules.iter().map(|r| Cmd::AddRule(t, fw.chain.clone(), r.clone())));
    v
}

/// The map elements that send a port's traffic to a chain (idempotent `add element`).
pub fn dispatch_add(tap: &IfName, chain: &Ident) -> Vec<Cmd> {
    let t = BRIDGE_TABLE;
    vec![
        Cmd::AddElements(t, ident(VM_PORTS_SET), vec![Element::Key(tap.clone())]),
        Cmd::AddElements(t, ident(TO_VM_MAP), vec![Element::Jump(tap.clone(), chain.clone())]),
        Cmd::AddElements(t, ident(FROM_VM_MAP), vec![Element::Jump(tap.clone(), chain.clone())]),
    ]
}

/// Removes ports from the maps and the port set (each key must exist in its set).
pub fn dispatch_delete(ports: &[IfName], to_vm: &[IfName], from_vm: &[IfName]) -> Vec<Cmd> {
    let t = BRIDGE_TABLE;
    let mut v = Vec::new();
    for (set, keys) in [(TO_VM_MAP, to_vm), (FROM_VM_MAP, from_vm), (VM_PORTS_SET, ports)] {
        if !keys.is_empty() {
            v.push(Cmd::DeleteElements(t, ident(set), keys.to_vec()));
        }
    }
    v
}

#[cfg(test)]
#[path = "ruleset_tests.rs"]
mod tests;
