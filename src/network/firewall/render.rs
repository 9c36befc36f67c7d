//! Renders the typed model to nft's text language: one line per command, the whole
//! batch fed to `nft -f -` as one transaction. Pure, total and deterministic.

use std::fmt::Write as _;

use super::model::{AddrField, BaseChain, Batch, ChainType, Cmd, Element, Match, Op, Priority, Rule, SetKind, Stmt, Table, Verdict};

/// The batch as nft text, one command per line, ending with a newline.
pub fn batch(b: &Batch) -> String {
    let mut out = String::new();
    for c in &b.0 {
        out.push_str(&cmd(c));
        out.push('\n');
    }
    out
}

pub fn cmd(c: &Cmd) -> String {
    match c {
        Cmd::AddTable(t) => format!("add table {t}"),
        Cmd::DeleteTable(t) => format!("delete table {t}"),
        Cmd::AddChain(t, name, None) => format!("add chain {t} {name}"),
        Cmd::AddChain(t, name, Some(base)) => format!("add chain {t} {name} {}", base_chain(base)),
        Cmd::AddChainWithComment(t, name, c) => format!("add chain {t} {name} {{ comment \"{}\"; }}", c.as_str()),
        Cmd::FlushChain(t, name) => format!("flush chain {t} {name}"),
        Cmd::DeleteChain(t, name) => format!("delete chain {t} {name}"),
        Cmd::AddSet(t, name, SetKind::IfNames) => format!("add set {t} {name} {{ type ifname; }}"),
        Cmd::AddSet(t, name, SetKind::IfNameVerdicts) => format!("add map {t} {name} {{ type ifname : verdict; }}"),
        Cmd::AddElements(t, set, elems) => format!("add element {t} {set} {{ {} }}", elements(elems)),
        Cmd::DeleteElements(t, set, keys) => {
            let keys: Vec<String> = keys.iter().map(|k| format!("\"{}\"", k.as_str())).collect();
            format!("delete element {t} {set} {{ {} }}", keys.join(", "))
        }
        Cmd::AddRule(t, chain, r) => format!("add rule {t} {chain} {}", rule(r)),
        Cmd::DeleteRule(t, chain, handle) => format!("delete rule {t} {chain} handle {handle}"),
    }
}

/// `{ type filter hook forward priority 0; policy accept; }` (one argv element in the spec).
pub fn base_chain(b: &BaseChain) -> String {
    let ty = match b.ty {
        ChainType::Filter => "filter",
        ChainType::Nat => "nat",
    };
    let prio = match b.priority {
        Priority::Num(n) => n.to_string(),
        Priority::Srcnat => "srcnat".to_string(),
    };
    format!("{{ type {ty} hook {} priority {prio}; policy {}; }}", b.hook.as_str(), b.policy.as_str())
}

fn elements(elems: &[Element]) -> String {
    let parts: Vec<String> = elems
        .iter()
        .map(|e| match e {
            Element::Key(k) => format!("\"{}\"", k.as_str()),
            Element::Jump(k, chain) => format!("\"{}\" : jump {chain}", k.as_str()),
        })
        .collect();
    parts.join(", ")
}

fn hex(v: u32) -> String {
    format!("0x{v:08x}")
}

/// One match as nft text. Interface names are quoted, so a name such as `accept`
/// stays a string.
pub fn match_expr(m: &Match) -> String {
    let op = |o: &Op| match o {
        Op::Eq => "",
        Op::Ne => "!= ",
    };
    match m {
        Match::IfName { field, op: o, name } => format!("{} {}\"{}\"", field.as_str(), op(o), name.as_str()),
        Match::IfInSet { field, set } => format!("{} @{set}", field.as_str()),
        Match::IpProtocol(p) => format!("ip protocol {p}"),
        Match::Addr { field, net } => {
            let f = match field {
                AddrField::Saddr => "saddr",
                AddrField::Daddr => "daddr",
            };
            format!("ip {f} {net}")
        }
        Match::Port { proto, field, range } => {
            let f = match field {
                super::model::PortField::Sport => "sport",
                super::model::PortField::Dport => "dport",
            };
            format!("{} {f} {range}", proto.as_str())
        }
        Match::CtState(s) => {
            let names = s.names();
            if names.len() == 1 {
                format!("ct state {}", names[0])
            } else {
                format!("ct state {{ {} }}", names.join(", "))
            }
        }
        Match::MarkAny(m) => format!("meta mark & {} != 0x00000000", hex(*m)),
        Match::MarkAll(m) => format!("meta mark & {} == {}", hex(*m), hex(*m)),
        Match::MarkNone(m) => format!("meta mark & {} == 0x00000000", hex(*m)),
        Match::EtherType { op: o, ty } => format!("ether type {}{}", op(o), ty.as_str()),
    }
}

pub fn stmt(s: &Stmt) -> String {
    match s {
        Stmt::MarkSet { and, or } => {
            let mut t = "meta mark set meta mark".to_string();
            if *and != u32::MAX {
                let _ = write!(t, " & {}", hex(*and));
            }
            if *or != 0 {
                let _ = write!(t, " | {}", hex(*or));
            }
            t
        }
        Stmt::Masquerade => "masquerade".to_string(),
    }
}

pub fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Accept => "accept".into(),
        Verdict::Drop => "drop".into(),
        Verdict::Reject => "reject".into(),
        Verdict::Return => "return".into(),
        Verdict::Jump(c) => format!("jump {c}"),
        Verdict::Vmap { field, map } => format!("{} vmap @{map}", field.as_str()),
    }
}

/// The body of a rule (what follows `add rule <table> <chain>`).
pub fn rule(r: &Rule) -> String {
    let mut parts: Vec<String> = r.matches.iter().map(match_expr).collect();
    parts.extend(r.stmts.iter().map(stmt));
    if let Some(v) = &r.verdict {
        parts.push(verdict(v));
    }
    if let Some(c) = &r.comment {
        parts.push(format!("comment \"{}\"", c.as_str()));
    }
    parts.join(" ")
}

/// `bridge infinivirt` etc., for messages.
pub fn table(t: &Table) -> String {
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::firewall::model::*;
    use crate::qemu::options::IfName;

    fn ifn(s: &str) -> IfName {
        IfName::parse(s).unwrap()
    }

    #[test]
    fn every_command_shape() {
        let t = BRIDGE_TABLE;
        let fwd = Ident::fixed("forward");
        let base = BaseChain { ty: ChainType::Filter, hook: Hook::Forward, priority: Priority::Num(0), policy: Policy::Accept };
        let nat = BaseChain { ty: ChainType::Nat, hook: Hook::Postrouting, priority: Priority::Srcnat, policy: Policy::Accept };
        let b = Batch(vec![
            Cmd::AddTable(t),
            Cmd::AddChain(t, fwd.clone(), Some(base)),
            Cmd::AddChain(NAT_TABLE, Ident::fixed("postrouting"), Some(nat)),
            Cmd::AddSet(t, Ident::fixed("vm_ports"), SetKind::IfNames),
            Cmd::AddSet(t, Ident::fixed("to_vm"), SetKind::IfNameVerdicts),
            Cmd::AddElements(t, Ident::fixed("to_vm"), vec![Element::Jump(ifn("vnet-a"), Ident::fixed("vm_a")), Element::Key(ifn("x"))]),
            Cmd::DeleteElements(t, Ident::fixed("to_vm"), vec![ifn("vnet-a"), ifn("vnet-b")]),
            Cmd::FlushChain(t, fwd.clone()),
            Cmd::DeleteChain(t, Ident::fixed("vm_a")),
            Cmd::AddChainWithComment(t, Ident::fixed("vm_a"), Comment::sanitized("infinivirt-vm:a-1")),
            Cmd::DeleteRule(t, fwd.clone(), 7),
            Cmd::DeleteTable(INET_TABLE),
            Cmd::AddRule(
                t,
                fwd,
                Rule {
                    matches: vec![
                        Match::IfName { field: IfField::Oif, op: Op::Eq, name: ifn("accept") },
                        Match::IpProtocol(IpProto::UDP),
                        Match::IpProtocol(IpProto(50)),
                        Match::Addr { field: AddrField::Saddr, net: Ipv4Net::parse("10.0.0.0/24").unwrap() },
                        Match::Port { proto: L4::Udp, field: PortField::Sport, range: PortRange { lo: 1000, hi: 2000 } },
                        Match::CtState(CtStates::from_names(["new", "established"]).unwrap()),
                        Match::MarkAny(0x5000_0000),
                        Match::EtherType { op: Op::Ne, ty: EtherType::Arp },
                    ],
                    stmts: vec![Stmt::MarkSet { and: 0x03ff_ffff, or: 0x0400_0000 }],
                    verdict: Some(Verdict::Jump(Ident::fixed("reject_fallback"))),
                    comment: Some(Comment::sanitized("x; \"y\"")),
                },
            ),
        ]);
        let want = "\
add table bridge infinivirt
add chain bridge infinivirt forward { type filter hook forward priority 0; policy accept; }
add chain ip infinibay_nat postrouting { type nat hook postrouting priority srcnat; policy accept; }
add set bridge infinivirt vm_ports { type ifname; }
add map bridge infinivirt to_vm { type ifname : verdict; }
add element bridge infinivirt to_vm { \"vnet-a\" : jump vm_a, \"x\" }
delete element bridge infinivirt to_vm { \"vnet-a\", \"vnet-b\" }
flush chain bridge infinivirt forward
delete chain bridge infinivirt vm_a
add chain bridge infinivirt vm_a { comment \"infinivirt-vm:a-1\"; }
delete rule bridge infinivirt forward handle 7
delete table inet infinivirt
add rule bridge infinivirt forward oifname \"accept\" ip protocol udp ip protocol 50 ip saddr 10.0.0.0/24 udp sport 1000-2000 ct state { established, new } meta mark & 0x50000000 != 0x00000000 ether type != arp meta mark set meta mark & 0x03ffffff | 0x04000000 jump reject_fallback comment \"x; 'y'\"
";
        assert_eq!(batch(&b), want);
    }
}
