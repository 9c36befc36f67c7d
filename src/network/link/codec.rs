//! The rtnetlink wire format, for the few messages the link managers use.
//!
//! Pure functions: requests are built into byte buffers and replies decoded from
//! them, so both are tested against bytes captured from the kernel. Layouts are
//! the kernel's uapi (`linux/netlink.h`, `linux/rtnetlink.h`, `linux/if_link.h`,
//! `linux/if_addr.h`); integers are in host byte order, as netlink requires.
//!
//! A message is a 16-byte `nlmsghdr` (length, type, flags, sequence, port id),
//! a fixed family header (`ifinfomsg`, 16 bytes, or `ifaddrmsg`, 8 bytes), then
//! attributes: 4-byte `nlattr` headers (length, type) each followed by a payload
//! padded to 4 bytes. Nested attributes hold attributes.

use std::net::Ipv4Addr;

use crate::network::ifname::IfName;
use crate::network::ipv4::Ipv4Cidr;

// ---- uapi constants (stable kernel ABI) ----------------------------------

pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_SETLINK: u16 = 19;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// On an `NLMSG_ERROR`: the original payload was left out (`NETLINK_CAP_ACK`).
pub const NLM_F_CAPPED: u16 = 0x100;
/// On an `NLMSG_ERROR`: extended-ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
pub const NLMSGERR_ATTR_MSG: u16 = 1;

pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_OPERSTATE: u16 = 16;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_IFALIAS: u16 = 20;
pub const IFLA_EXT_MASK: u16 = 29;
pub const IFLA_CARRIER: u16 = 33;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const IFLA_TUN_TYPE: u16 = 3;
pub const IFLA_TUN_PI: u16 = 4;
pub const IFLA_TUN_VNET_HDR: u16 = 5;
pub const IFLA_TUN_PERSIST: u16 = 6;
pub const IFLA_TUN_MULTI_QUEUE: u16 = 7;
/// `RTEXT_FILTER_SKIP_STATS`: leave the (large) statistics out of link replies.
pub const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;

pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_POINTOPOINT: u32 = 0x10;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_PROMISC: u32 = 0x100;
pub const IFF_MULTICAST: u32 = 0x1000;
pub const IFF_LOWER_UP: u32 = 0x10000;
pub const IFF_DORMANT: u32 = 0x20000;

/// `IFF_TAP` as reported in `IFLA_TUN_TYPE`.
pub const TUN_TYPE_TAP: u8 = 2;
pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;

const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;
const NLA_F_NESTED: u16 = 0x8000;
const NLA_TYPE_MASK: u16 = 0x3fff;

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The name of a message type, for error messages (`RTM_NEWLINK: File exists`).
pub fn call_name(msg_type: u16) -> &'static str {
    match msg_type {
        RTM_NEWLINK => "RTM_NEWLINK",
        RTM_DELLINK => "RTM_DELLINK",
        RTM_GETLINK => "RTM_GETLINK",
        RTM_SETLINK => "RTM_SETLINK",
        RTM_NEWADDR => "RTM_NEWADDR",
        RTM_DELADDR => "RTM_DELADDR",
        RTM_GETADDR => "RTM_GETADDR",
        _ => "netlink",
    }
}

// ---- requests --------------------------------------------------------------

/// A request being built. The header's length and sequence number are filled in by
/// [`Request::seal`] right before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    buf: Vec<u8>,
}

impl Request {
    fn new(msg_type: u16, flags: u16) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, sealed later
        buf.extend_from_slice(&msg_type.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // sequence, sealed later
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id 0: the kernel assigns ours
        Request { buf }
    }

    pub fn msg_type(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    pub fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// `struct ifinfomsg` (family AF_UNSPEC).
    fn ifinfo(mut self, index: i32, flags: u32, change: u32) -> Self {
        self.buf.extend_from_slice(&[AF_UNSPEC, 0]);
        self.buf.extend_from_slice(&0u16.to_ne_bytes()); // device type: any
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
        self
    }

    /// `struct ifaddrmsg`.
    fn ifaddr(mut self, family: u8, prefix: u8, index: u32) -> Self {
        self.buf.extend_from_slice(&[family, prefix, 0, 0]); // flags 0, scope universe
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self
    }

    fn attr(mut self, ty: u16, data: &[u8]) -> Self {
        let len = NLA_HDRLEN + data.len();
        // Attribute payloads here are names, addresses and integers: far below 64 KiB.
        self.buf.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    fn attr_u32(self, ty: u16, v: u32) -> Self {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A NUL-terminated string attribute.
    fn attr_str(self, ty: u16, s: &str) -> Self {
        let mut data = Vec::with_capacity(s.len() + 1);
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        self.attr(ty, &data)
    }

    fn nested(mut self, ty: u16, inner: impl FnOnce(Self) -> Self) -> Self {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        let mut me = inner(self);
        let len = u16::try_from(me.buf.len() - start).unwrap_or(u16::MAX);
        me.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        me
    }

    /// Fills in the length and sequence number; returns the bytes to send.
    pub fn seal(&mut self, seq: u32) -> &[u8] {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// `RTM_GETLINK` for one device by name (no statistics). The kernel answers with one
/// `RTM_NEWLINK` or `ENODEV`.
pub fn get_link_by_name(name: &IfName) -> Request {
    Request::new(RTM_GETLINK, NLM_F_REQUEST).ifinfo(0, 0, 0).attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS).attr_str(IFLA_IFNAME, name.as_str())
}

/// `RTM_GETLINK` for one device by index.
pub fn get_link_by_index(index: i32) -> Request {
    Request::new(RTM_GETLINK, NLM_F_REQUEST).ifinfo(index, 0, 0).attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
}

/// `RTM_GETLINK` dump of every device (no statistics).
pub fn dump_links() -> Request {
    Request::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP).ifinfo(0, 0, 0).attr_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
}

/// `ip link set <dev> up|down`: changes only `IFF_UP`.
pub fn set_up(index: i32, up: bool) -> Request {
    Request::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, if up { IFF_UP } else { 0 }, IFF_UP)
}

/// `ip link set <dev> master <index>`; `master` 0 is `nomaster`.
pub fn set_master(index: i32, master: u32) -> Request {
    Request::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, 0, 0).attr_u32(IFLA_MASTER, master)
}

/// `ip link set <dev> alias <text>`.
pub fn set_alias(index: i32, alias: &str) -> Request {
    Request::new(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, 0, 0).attr_str(IFLA_IFALIAS, alias)
}

/// `ip link add name <name> type bridge`; fails with `EEXIST` if the name is taken.
pub fn new_bridge(name: &IfName) -> Request {
    Request::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .ifinfo(0, 0, 0)
        .attr_str(IFLA_IFNAME, name.as_str())
        .nested(IFLA_LINKINFO, |r| r.attr_str(IFLA_INFO_KIND, "bridge"))
}

/// `ip link del` by index (an index, unlike a name, cannot be reused under us).
pub fn del_link(index: i32) -> Request {
    Request::new(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK).ifinfo(index, 0, 0)
}

/// `ip addr add <a.b.c.d/n> dev <index>`; `EEXIST` when already assigned.
pub fn new_addr(index: u32, cidr: &Ipv4Cidr) -> Request {
    let a = cidr.addr().octets();
    Request::new(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .ifaddr(AF_INET, cidr.prefix(), index)
        .attr(IFA_LOCAL, &a)
        .attr(IFA_ADDRESS, &a)
}

/// `ip addr del <a.b.c.d/n> dev <index>`; `EADDRNOTAVAIL` when not assigned.
pub fn del_addr(index: u32, cidr: &Ipv4Cidr) -> Request {
    let a = cidr.addr().octets();
    Request::new(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK).ifaddr(AF_INET, cidr.prefix(), index).attr(IFA_LOCAL, &a).attr(IFA_ADDRESS, &a)
}

/// `RTM_GETADDR` dump of the IPv4 addresses of every device.
pub fn dump_ipv4_addrs() -> Request {
    Request::new(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP).ifaddr(AF_INET, 0, 0)
}

// ---- replies ---------------------------------------------------------------

/// A reply the kernel sent that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed netlink reply: {}", self.0)
    }
}

/// One message of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msg<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Splits a datagram into its messages.
pub fn messages(mut buf: &[u8]) -> Result<Vec<Msg<'_>>, DecodeError> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0).ok_or(DecodeError("short header"))? as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(DecodeError("message length out of bounds"));
        }
        out.push(Msg {
            msg_type: u16_at(buf, 4).ok_or(DecodeError("short header"))?,
            flags: u16_at(buf, 6).ok_or(DecodeError("short header"))?,
            seq: u32_at(buf, 8).ok_or(DecodeError("short header"))?,
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Iterates the attributes of `buf`, yielding `(type, payload)` with the nested and
/// byte-order flags masked off. Stops at the first malformed attribute.
pub fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(rest, 0)?);
        let ty = u16_at(rest, 2)? & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            rest = &[];
            return None;
        }
        let payload = &rest[NLA_HDRLEN..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

fn attr_string(p: &[u8]) -> String {
    let end = p.iter().position(|&b| b == 0).unwrap_or(p.len());
    String::from_utf8_lossy(&p[..end]).into_owned()
}

fn attr_u8(p: &[u8]) -> Option<u8> {
    p.first().copied()
}

/// The payload of an `NLMSG_ERROR`: 0 for an ACK, else a negative errno, plus the
/// kernel's extended-ack message when it sent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub errno: i32,
    pub message: Option<String>,
}

pub fn parse_error(msg: &Msg<'_>) -> Result<ErrorReply, DecodeError> {
    let p = msg.payload;
    let error = i32_at(p, 0).ok_or(DecodeError("short error message"))?;
    // The echoed request: its header only when capped, else the whole message.
    let echoed = if msg.flags & NLM_F_CAPPED != 0 { NLMSG_HDRLEN } else { u32_at(p, 4).map_or(NLMSG_HDRLEN, |l| l as usize) };
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        let tlvs = p.get(4 + align4(echoed)..).unwrap_or(&[]);
        message = attrs(tlvs).find(|(t, _)| *t == NLMSGERR_ATTR_MSG).map(|(_, v)| attr_string(v));
    }
    Ok(ErrorReply { errno: -error, message })
}

/// What a tun/tap device reports in `IFLA_INFO_DATA` (`ip -d link`'s `tun type tap …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunInfo {
    pub tap: bool,
    pub pi: bool,
    pub vnet_hdr: bool,
    pub persist: bool,
    pub multi_queue: bool,
}

/// A device as `RTM_NEWLINK` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkInfo {
    pub index: i32,
    /// `IFF_*` flags as `ip link` prints them (`UP`, `LOWER_UP`, …).
    pub flags: u32,
    pub name: String,
    pub mtu: Option<u32>,
    /// Index of the bridge this device is a port of.
    pub master: Option<u32>,
    /// `IF_OPER_*` (RFC 2863).
    pub operstate: Option<u8>,
    /// The physical carrier, whether the device is administratively up or not.
    pub carrier: Option<bool>,
    pub mac: Option<Vec<u8>>,
    pub alias: Option<String>,
    /// `IFLA_INFO_KIND`: `tun`, `bridge`, `veth`, … (`None` for physical devices).
    pub kind: Option<String>,
    pub tun: Option<TunInfo>,
}

impl LinkInfo {
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// A tun/tap device in TAP mode (`ip tuntap` lists both modes as `tuntap`).
    pub fn is_tuntap(&self) -> bool {
        self.kind.as_deref() == Some("tun")
    }

    pub fn is_bridge(&self) -> bool {
        self.kind.as_deref() == Some("bridge")
    }

    /// The carrier: `IFLA_CARRIER` when the kernel reports it (it does for any
    /// admin state), else `IFF_LOWER_UP` (only reported while the device is up).
    pub fn has_carrier(&self) -> bool {
        self.carrier.unwrap_or(self.flags & IFF_LOWER_UP != 0)
    }

    /// A TAP's `persist` setting (false for anything that is not a tun/tap).
    pub fn is_persistent(&self) -> bool {
        self.tun.is_some_and(|t| t.persist)
    }

    /// `ip link`'s flag list: `BROADCAST,MULTICAST,UP,LOWER_UP`, plus `NO-CARRIER`
    /// first when the device is up without carrier.
    pub fn flag_names(&self) -> String {
        let table = [
            (IFF_LOOPBACK, "LOOPBACK"),
            (IFF_BROADCAST, "BROADCAST"),
            (IFF_POINTOPOINT, "POINTOPOINT"),
            (IFF_MULTICAST, "MULTICAST"),
            (IFF_NOARP, "NOARP"),
            (IFF_PROMISC, "PROMISC"),
            (IFF_UP, "UP"),
            (IFF_LOWER_UP, "LOWER_UP"),
            (IFF_DORMANT, "DORMANT"),
        ];
        let mut names: Vec<&str> = Vec::new();
        if self.is_up() && self.flags & IFF_LOWER_UP == 0 {
            names.push("NO-CARRIER");
        }
        names.extend(table.iter().filter(|(bit, _)| self.flags & bit != 0).map(|(_, n)| *n));
        names.join(",")
    }
}

/// `IF_OPER_*` as `ip link` prints it.
pub fn operstate_name(state: u8) -> &'static str {
    match state {
        1 => "NOTPRESENT",
        2 => "DOWN",
        3 => "LOWERLAYERDOWN",
        4 => "TESTING",
        5 => "DORMANT",
        6 => "UP",
        _ => "UNKNOWN",
    }
}

/// Decodes the payload of an `RTM_NEWLINK`.
pub fn parse_link(payload: &[u8]) -> Result<LinkInfo, DecodeError> {
    if payload.len() < IFINFOMSG_LEN {
        return Err(DecodeError("short ifinfomsg"));
    }
    let mut link = LinkInfo {
        index: i32_at(payload, 4).ok_or(DecodeError("short ifinfomsg"))?,
        flags: u32_at(payload, 8).ok_or(DecodeError("short ifinfomsg"))?,
        ..LinkInfo::default()
    };
    for (ty, p) in attrs(&payload[IFINFOMSG_LEN..]) {
        match ty {
            IFLA_IFNAME => link.name = attr_string(p),
            IFLA_MTU => link.mtu = u32_at(p, 0),
            IFLA_MASTER => link.master = u32_at(p, 0).filter(|m| *m != 0),
            IFLA_OPERSTATE => link.operstate = attr_u8(p),
            IFLA_CARRIER => link.carrier = attr_u8(p).map(|c| c != 0),
            IFLA_ADDRESS => link.mac = Some(p.to_vec()),
            IFLA_IFALIAS => link.alias = Some(attr_string(p)).filter(|a| !a.is_empty()),
            IFLA_LINKINFO => parse_linkinfo(p, &mut link),
            _ => {}
        }
    }
    if link.name.is_empty() {
        return Err(DecodeError("link without a name"));
    }
    Ok(link)
}

fn parse_linkinfo(p: &[u8], link: &mut LinkInfo) {
    let mut data = None;
    for (ty, v) in attrs(p) {
        match ty {
            IFLA_INFO_KIND => link.kind = Some(attr_string(v)),
            IFLA_INFO_DATA => data = Some(v),
            _ => {}
        }
    }
    if let (Some("tun"), Some(data)) = (link.kind.as_deref(), data) {
        let mut tun = TunInfo::default();
        for (ty, v) in attrs(data) {
            let on = attr_u8(v).is_some_and(|b| b != 0);
            match ty {
                IFLA_TUN_TYPE => tun.tap = attr_u8(v) == Some(TUN_TYPE_TAP),
                IFLA_TUN_PI => tun.pi = on,
                IFLA_TUN_VNET_HDR => tun.vnet_hdr = on,
                IFLA_TUN_PERSIST => tun.persist = on,
                IFLA_TUN_MULTI_QUEUE => tun.multi_queue = on,
                _ => {}
            }
        }
        link.tun = Some(tun);
    }
}

/// One IPv4 address of a device, from an `RTM_NEWADDR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrInfo {
    pub index: u32,
    pub cidr: Ipv4Cidr,
}

/// Decodes an `RTM_NEWADDR`; `None` for a non-IPv4 address.
pub fn parse_addr(payload: &[u8]) -> Result<Option<AddrInfo>, DecodeError> {
    if payload.len() < IFADDRMSG_LEN {
        return Err(DecodeError("short ifaddrmsg"));
    }
    let (family, prefix) = (payload[0], payload[1]);
    let index = u32_at(payload, 4).ok_or(DecodeError("short ifaddrmsg"))?;
    if family != AF_INET {
        return Ok(None);
    }
    let ip = |p: &[u8]| -> Option<Ipv4Addr> { Some(Ipv4Addr::from(<[u8; 4]>::try_from(p).ok()?)) };
    let (mut local, mut address) = (None, None);
    for (ty, p) in attrs(&payload[IFADDRMSG_LEN..]) {
        match ty {
            IFA_LOCAL => local = ip(p),
            IFA_ADDRESS => address = ip(p),
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always ours.
    let addr = local.or(address).ok_or(DecodeError("IPv4 address without IFA_LOCAL/IFA_ADDRESS"))?;
    let cidr = Ipv4Cidr::from_parts(addr, prefix).ok_or(DecodeError("IPv4 prefix longer than 32"))?;
    Ok(Some(AddrInfo { index, cidr }))
}

#[cfg(test)]
mod tests;
