//! Requests against hand-laid-out bytes; replies against bytes captured from a 6.x
//! kernel (`testdata/*.hex`, made in a private network namespace with
//! `ip link add br9 type bridge`, two addresses, and `ip tuntap add dev vnet-a mode
//! tap` attached to it with an alias and a MAC). Netlink is host-endian; these
//! bytes are little-endian.
#![cfg(target_endian = "little")]

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

fn name(n: &str) -> IfName {
    IfName::new(n).unwrap()
}

fn sealed(mut r: Request) -> Vec<u8> {
    r.seal(7).to_vec()
}

#[test]
fn getlink_by_name_layout() {
    let got = sealed(get_link_by_name(&name("vnet-a")));
    let want = unhex(
        "34000000 1200 0100 07000000 00000000 \
         00 00 0000 00000000 00000000 00000000 \
         0800 1d00 08000000 \
         0b00 0300 766e65742d6100 00",
    );
    assert_eq!(got, want);
}

#[test]
fn new_bridge_layout() {
    // RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE; IFLA_IFNAME "br9"; nested IFLA_LINKINFO
    // { IFLA_INFO_KIND "bridge" } with NLA_F_NESTED.
    let got = sealed(new_bridge(&name("br9")));
    let want = unhex(
        "38000000 1000 0506 07000000 00000000 \
         00 00 0000 00000000 00000000 00000000 \
         0800 0300 62723900 \
         1000 1280 0b00 0100 62726964676500 00",
    );
    assert_eq!(got, want);
}

#[test]
fn setlink_layouts() {
    // up: flags IFF_UP, change IFF_UP; down: flags 0, change IFF_UP.
    assert_eq!(sealed(set_up(3, true)), unhex("20000000 1300 0500 07000000 00000000 00000000 03000000 01000000 01000000"));
    assert_eq!(sealed(set_up(3, false)), unhex("20000000 1300 0500 07000000 00000000 00000000 03000000 00000000 01000000"));
    // master 2; nomaster is IFLA_MASTER 0.
    assert_eq!(sealed(set_master(3, 2)), unhex("28000000 1300 0500 07000000 00000000 00000000 03000000 00000000 00000000 0800 0a00 02000000"));
    assert_eq!(sealed(set_master(3, 0))[36..40], [0, 0, 0, 0]);
    assert_eq!(sealed(del_link(3)), unhex("20000000 1100 0500 07000000 00000000 00000000 03000000 00000000 00000000"));
    let alias = sealed(set_alias(3, "infinivirt vm=a"));
    assert_eq!(&alias[32..36], &unhex("1400 1400")[..]);
    assert_eq!(&alias[36..52], b"infinivirt vm=a\0");
}

#[test]
fn address_layouts() {
    let c = Ipv4Cidr::new("10.0.0.1/24").unwrap();
    // ifaddrmsg: AF_INET, /24, flags 0, scope universe, index 2; IFA_LOCAL, IFA_ADDRESS.
    assert_eq!(sealed(new_addr(2, &c)), unhex("28000000 1400 0506 07000000 00000000 02 18 00 00 02000000 0800 0200 0a000001 0800 0100 0a000001"));
    assert_eq!(sealed(del_addr(2, &c)), unhex("28000000 1500 0500 07000000 00000000 02 18 00 00 02000000 0800 0200 0a000001 0800 0100 0a000001"));
    assert_eq!(sealed(dump_ipv4_addrs()), unhex("18000000 1600 0103 07000000 00000000 02 00 00 00 00000000"));
}

#[test]
fn decodes_a_tap() {
    let bytes = unhex(include_str!("testdata/getlink-vnet-a.hex"));
    let msgs = messages(&bytes).unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!((msgs[0].msg_type, msgs[0].seq), (RTM_NEWLINK, 7));
    let link = parse_link(msgs[0].payload).unwrap();
    assert_eq!(link.name, "vnet-a");
    assert_eq!(link.index, 3);
    assert_eq!(link.master, Some(2));
    assert_eq!(link.mtu, Some(1500));
    assert_eq!(link.alias.as_deref(), Some("infinivirt vm=a"));
    assert_eq!(link.mac.as_deref(), Some(&[0x52, 0x54, 0x00, 0xab, 0xcd, 0xef][..]));
    assert_eq!(link.kind.as_deref(), Some("tun"));
    assert_eq!(link.tun, Some(TunInfo { tap: true, pi: false, vnet_hdr: false, persist: true, multi_queue: false }));
    // Down (never brought up), no process attached.
    assert!(!link.is_up());
    assert_eq!(link.carrier, Some(false));
    assert!(!link.has_carrier());
    assert!(link.is_tuntap() && link.is_persistent() && !link.is_bridge());
    assert_eq!(link.flag_names(), "BROADCAST,MULTICAST");
    assert_eq!(operstate_name(link.operstate.unwrap()), "DOWN");
}

#[test]
fn decodes_a_bridge() {
    let bytes = unhex(include_str!("testdata/getlink-br9.hex"));
    let link = parse_link(messages(&bytes).unwrap()[0].payload).unwrap();
    assert_eq!((link.name.as_str(), link.index), ("br9", 2));
    assert!(link.is_bridge() && link.is_up());
    assert_eq!(link.tun, None);
    assert_eq!(link.master, None);
    // Up with a port that has no carrier: no carrier itself.
    assert!(!link.has_carrier());
    assert_eq!(link.flag_names(), "NO-CARRIER,BROADCAST,MULTICAST,UP");
}

#[test]
fn decodes_errors() {
    let bytes = unhex(include_str!("testdata/error-enodev.hex"));
    let m = messages(&bytes).unwrap()[0];
    assert_eq!(m.msg_type, NLMSG_ERROR);
    assert_eq!(parse_error(&m).unwrap(), ErrorReply { errno: 19, message: None });

    let bytes = unhex(include_str!("testdata/error-ext-ack.hex"));
    let m = messages(&bytes).unwrap()[0];
    assert_eq!(parse_error(&m).unwrap(), ErrorReply { errno: 95, message: Some("Unknown device type".into()) });
}

#[test]
fn decodes_an_address_dump() {
    let bytes = unhex(include_str!("testdata/dump-addrs.hex"));
    let msgs = messages(&bytes).unwrap();
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| m.msg_type == RTM_NEWADDR && m.flags & NLM_F_MULTI != 0));
    let addrs: Vec<String> = msgs
        .iter()
        .map(|m| {
            let a = parse_addr(m.payload).unwrap().unwrap();
            assert_eq!(a.index, 2);
            a.cidr.to_string()
        })
        .collect();
    assert_eq!(addrs, ["10.0.0.1/24", "10.0.1.1/16"]);
    // The dump's end.
    let done = unhex("14000000 0300 0200 07000000 28350000 00000000");
    assert_eq!(messages(&done).unwrap()[0].msg_type, NLMSG_DONE);
}

#[test]
fn ipv6_addresses_are_skipped() {
    let payload = unhex("0a 40 80 fd 02000000 1400 0100 fe800000000000000000000000000001");
    assert_eq!(parse_addr(&payload).unwrap(), None);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let good = unhex(include_str!("testdata/getlink-vnet-a.hex"));
    // Every truncation either parses fewer messages or fails cleanly.
    for cut in 0..good.len() {
        if let Ok(msgs) = messages(&good[..cut]) {
            for m in msgs {
                let _ = parse_link(m.payload);
            }
        }
    }
    // A length field larger than the buffer.
    let mut bad = good.clone();
    bad[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert!(messages(&bad).is_err());
    // A zero-length attribute ends the walk instead of looping.
    assert_eq!(attrs(&[0, 0, 1, 0, 9, 9, 9, 9]).count(), 0);
    assert!(parse_link(&[0; 8]).is_err());
    assert!(parse_addr(&[2, 24]).is_err());
}
