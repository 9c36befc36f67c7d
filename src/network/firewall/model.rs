//! A typed subset of the nftables language: exactly what Infinivirt writes, and what
//! it reads back from the kernel to verify and explain.
//!
//! No policy lives here (that is `ruleset.rs`) and no text is built here (that is
//! `render.rs`). Every value that ends up in nft text is a validated type: interface
//! names are [`IfName`]s, chain and set names are [`Ident`]s, addresses are
//! normalised [`Ipv4Net`]s, comments are sanitised [`Comment`]s, so a rendered batch
//! can never carry syntax a caller smuggled in.

use std::fmt;
use std::net::Ipv4Addr;

use crate::qemu::options::IfName;

/// An nftables address family (the subset Infinivirt uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Bridge,
    Inet,
    Ip,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Bridge => "bridge",
            Family::Inet => "inet",
            Family::Ip => "ip",
        }
    }
}

/// A table: family plus a fixed name (Infinivirt only ever names its own tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table {
    pub family: Family,
    pub name: &'static str,
}

/// `bridge infinivirt`: the spec's table of per-VM chains.
pub const BRIDGE_TABLE: Table = Table { family: Family::Bridge, name: "infinivirt" };
/// `inet infinivirt`: the fallback helpers (conntrack state marks, reject) on kernels
/// without bridge conntrack or bridge reject.
pub const INET_TABLE: Table = Table { family: Family::Inet, name: "infinivirt" };
/// `ip infinibay_nat`: the department masquerade rules (spec §8.7).
pub const NAT_TABLE: Table = Table { family: Family::Ip, name: "infinibay_nat" };

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.family.as_str(), self.name)
    }
}

/// A chain or set name: an ASCII letter or `_`, then letters, digits and `_`, at most
/// 64 bytes. Narrower than nft's identifiers, so it is never a keyword-shaped token
/// that needs quoting... except words like `forward`, which nft accepts as names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    pub const MAX_LEN: usize = 64;

    pub fn new(raw: &str) -> Option<Ident> {
        let mut bytes = raw.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
        let ok = first_ok && raw.len() <= Self::MAX_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        ok.then(|| Ident(raw.to_string()))
    }

    /// A name fixed in the source (always valid; checked by the tests).
    pub(crate) fn fixed(raw: &'static str) -> Ident {
        Ident(raw.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4 network, normalised the way the kernel stores it (host bits cleared;
/// `/32` is a plain address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Net {
    /// `len` above 32 is clamped to 32.
    pub fn new(addr: Ipv4Addr, len: u8) -> Ipv4Net {
        let len = len.min(32);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
        Ipv4Net { addr: Ipv4Addr::from(u32::from(addr) & mask), len }
    }

    /// Parses `a.b.c.d` or `a.b.c.d/n` (strict dotted quad, leading zeros allowed as
    /// in the spec's `isValidIpAddress`).
    pub fn parse(s: &str) -> Option<Ipv4Net> {
        let (a, n) = match s.split_once('/') {
            Some((a, n)) => {
                if n.is_empty() || n.len() > 2 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (a, n.parse::<u8>().ok().filter(|n| *n <= 32)?)
            }
            None => (s, 32),
        };
        Some(Ipv4Net::new(parse_dotted(a)?, n))
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        Ipv4Net::new(ip, self.len).addr == self.addr
    }
}

/// Strict dotted IPv4 (each part 1–3 digits, value ≤ 255).
pub fn parse_dotted(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut o = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        o[i] = p.parse::<u16>().ok().and_then(|v| u8::try_from(v).ok())?;
    }
    Some(Ipv4Addr::from(o))
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 32 {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.len)
        }
    }
}

/// A rule comment: at most 128 bytes (nft's limit), no `"`, `\` or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comment(String);

impl Comment {
    pub const MAX_BYTES: usize = 128;

    /// Applies the translator's sanitisation, then cuts to 128 bytes on a character
    /// boundary (64 multi-byte characters can exceed what nft accepts).
    pub fn sanitized(raw: &str) -> Comment {
        let mut s = super::translate::sanitize_comment(raw);
        if s.len() > Self::MAX_BYTES {
            let mut cut = Self::MAX_BYTES;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s = s.trim_end().to_string();
        }
        Comment(s)
    }

    /// A comment read back from the kernel (kept verbatim for comparison).
    pub fn from_kernel(raw: &str) -> Comment {
        Comment(raw.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Postrouting,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Postrouting => "postrouting",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainType {
    Filter,
    Nat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    Num(i32),
    /// `srcnat` (100), spelled as the spec spells the NAT chain.
    Srcnat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    Accept,
    Drop,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        }
    }
}

/// The hook of a base chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BaseChain {
    pub ty: ChainType,
    pub hook: Hook,
    pub priority: Priority,
    pub policy: Policy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IfField {
    /// `iifname`: the port a frame came in on (a VM's traffic going out).
    Iif,
    /// `oifname`: the port a frame leaves through (traffic towards a VM).
    Oif,
}

impl IfField {
    pub fn as_str(self) -> &'static str {
        match self {
            IfField::Iif => "iifname",
            IfField::Oif => "oifname",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4 {
    Tcp,
    Udp,
    Icmp,
}

impl L4 {
    pub fn as_str(self) -> &'static str {
        match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
            L4::Icmp => "icmp",
        }
    }

    pub fn parse(s: &str) -> Option<L4> {
        match s {
            "tcp" => Some(L4::Tcp),
            "udp" => Some(L4::Udp),
            "icmp" => Some(L4::Icmp),
            _ => None,
        }
    }
}

/// An IPv4 protocol number (`ip protocol`), shown as `tcp`, `udp` or `icmp` for the
/// three protocols the spec names and as its number otherwise (see `protocols.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpProto(pub u8);

impl IpProto {
    pub const ICMP: IpProto = IpProto(1);
    pub const TCP: IpProto = IpProto(6);
    pub const UDP: IpProto = IpProto(17);

    /// The transport whose ports a rule may match, if it is one.
    pub fn l4(self) -> Option<L4> {
        match self {
            IpProto::TCP => Some(L4::Tcp),
            IpProto::UDP => Some(L4::Udp),
            IpProto::ICMP => Some(L4::Icmp),
            _ => None,
        }
    }
}

impl From<L4> for IpProto {
    fn from(l: L4) -> IpProto {
        match l {
            L4::Tcp => IpProto::TCP,
            L4::Udp => IpProto::UDP,
            L4::Icmp => IpProto::ICMP,
        }
    }
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.l4() {
            Some(l) => f.write_str(l.as_str()),
            None => write!(f, "{}", self.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrField {
    Saddr,
    Daddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortField {
    Sport,
    Dport,
}

/// An inclusive port range (`lo == hi` is a single port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub fn contains(&self, p: u16) -> bool {
        self.lo <= p && p <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// A set of conntrack states, rendered in the spec's fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CtStates(u8);

impl CtStates {
    pub const ESTABLISHED: CtStates = CtStates(1);
    pub const NEW: CtStates = CtStates(2);
    pub const RELATED: CtStates = CtStates(4);
    pub const INVALID: CtStates = CtStates(8);
    const ORDER: [(CtStates, &'static str); 4] =
        [(CtStates::ESTABLISHED, "established"), (CtStates::NEW, "new"), (CtStates::RELATED, "related"), (CtStates::INVALID, "invalid")];

    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<CtStates> {
        let mut s = CtStates(0);
        for n in names {
            s.0 |= CtStates::ORDER.iter().find(|(_, name)| *name == n)?.0 .0;
        }
        Some(s)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, other: CtStates) -> bool {
        other.0 != 0 && self.0 & other.0 == other.0
    }

    pub fn union(self, other: CtStates) -> CtStates {
        CtStates(self.0 | other.0)
    }

    pub fn names(self) -> Vec<&'static str> {
        CtStates::ORDER.iter().filter(|(s, _)| self.0 & s.0 != 0).map(|(_, n)| *n).collect()
    }

    pub fn bits(self) -> u8 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ip,
    Arp,
}

impl EtherType {
    pub fn as_str(self) -> &'static str {
        match self {
            EtherType::Ip => "ip",
            EtherType::Arp => "arp",
        }
    }
}

/// One match expression of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `iifname "vnet-a"` / `oifname != "br0"`.
    IfName { field: IfField, op: Op, name: IfName },
    /// `iifname @vm_ports`.
    IfInSet { field: IfField, set: Ident },
    /// `ip protocol tcp` / `ip protocol 50`.
    IpProtocol(IpProto),
    /// `ip saddr 10.0.0.0/24`.
    Addr { field: AddrField, net: Ipv4Net },
    /// `tcp dport 22` / `udp sport 1000-2000`.
    Port { proto: L4, field: PortField, range: PortRange },
    /// `ct state { established, related }`.
    CtState(CtStates),
    /// `meta mark & <mask> != 0`: any of the bits (the conntrack fallback).
    MarkAny(u32),
    /// `meta mark & <mask> == <mask>`: all of the bits.
    MarkAll(u32),
    /// `meta mark & <mask> == 0`: none of the bits.
    MarkNone(u32),
    /// `ether type ip` / `ether type != arp`.
    EtherType { op: Op, ty: EtherType },
}

/// A statement that is not a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stmt {
    /// `meta mark set meta mark & and | or`.
    MarkSet {
        and: u32,
        or: u32,
    },
    Masquerade,
}

/// The verdict that ends a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    Return,
    Jump(Ident),
    /// `oifname vmap @to_vm`.
    Vmap {
        field: IfField,
        map: Ident,
    },
}

/// One rule: matches, then statements, then an optional verdict and comment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub stmts: Vec<Stmt>,
    pub verdict: Option<Verdict>,
    pub comment: Option<Comment>,
}

/// What a named set holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetKind {
    /// `type ifname`.
    IfNames,
    /// `type ifname : verdict`.
    IfNameVerdicts,
}

/// One element of a set or verdict map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    Key(IfName),
    Jump(IfName, Ident),
}

/// One command of a batch; a batch runs as one kernel transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    AddTable(Table),
    DeleteTable(Table),
    AddChain(Table, Ident, Option<BaseChain>),
    /// A regular chain created with a comment (which records the VM owning it; the
    /// kernel keeps the comment of an existing chain, so this never changes it).
    AddChainWithComment(Table, Ident, Comment),
    FlushChain(Table, Ident),
    DeleteChain(Table, Ident),
    AddSet(Table, Ident, SetKind),
    AddElements(Table, Ident, Vec<Element>),
    DeleteElements(Table, Ident, Vec<IfName>),
    AddRule(Table, Ident, Rule),
    DeleteRule(Table, Ident, u64),
}

/// An ordered list of commands for one `nft -f -` run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch(pub Vec<Cmd>);

impl Batch {
    pub fn push(&mut self, c: Cmd) {
        self.0.push(c);
    }

    pub fn extend(&mut self, it: impl IntoIterator<Item = Cmd>) {
        self.0.extend(it);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idents_are_narrow() {
        for ok in ["forward", "vm_abc123de", "vm_", "_x", "to_vm"] {
            assert!(Ident::new(ok).is_some(), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "a;flush", "a\"", "vm.x", &"a".repeat(65)] {
            assert!(Ident::new(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn networks_normalise_like_the_kernel() {
        assert_eq!(Ipv4Net::parse("192.168.1.5/16").unwrap().to_string(), "192.168.0.0/16");
        assert_eq!(Ipv4Net::parse("10.0.0.1/32").unwrap().to_string(), "10.0.0.1");
        assert_eq!(Ipv4Net::parse("10.0.0.1").unwrap().to_string(), "10.0.0.1");
        assert_eq!(Ipv4Net::parse("10.1.2.3/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(Ipv4Net::parse("01.2.3.4").unwrap().to_string(), "1.2.3.4");
        for bad in ["", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "256.1.1.1", "1.2.3.4/ 8", "::1", "1.2.3.4 x"] {
            assert!(Ipv4Net::parse(bad).is_none(), "{bad}");
        }
        let n = Ipv4Net::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.200.1.1".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
    }

    #[test]
    fn comments_fit_nft() {
        assert_eq!(Comment::sanitized("a\"b\\c\nd").as_str(), "a'b/c d");
        let long = Comment::sanitized(&"€".repeat(64));
        assert!(long.as_str().len() <= Comment::MAX_BYTES);
        assert_eq!(long.as_str().chars().count(), 42);
    }

    #[test]
    fn states_keep_the_spec_order() {
        let s = CtStates::from_names(["related", "established"]).unwrap();
        assert_eq!(s.names(), ["established", "related"]);
        assert!(CtStates::from_names(["bogus"]).is_none());
        assert!(s.contains(CtStates::ESTABLISHED));
        assert!(!s.contains(CtStates::NEW));
    }
}
