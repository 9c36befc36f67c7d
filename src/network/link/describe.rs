//! `getDeviceState`'s one-line description of a device, in `ip -d link show`'s words.

use std::fmt::Write;

use super::codec::{operstate_name, LinkInfo};

/// What else is known about the device when it is described.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// The bridge's name, looked up from `link.master`.
    pub master_name: Option<String>,
    /// `(tx, rx)` checksum offload, when it could be read.
    pub checksum: Option<(bool, bool)>,
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// `12: vnet-a: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state UP
/// carrier on link/ether 52:54:00:… tun type tap pi off vnet_hdr on persist on
/// alias "infinivirt vm=…" tx-checksumming off rx-checksumming off` (one line).
pub fn describe(link: &LinkInfo, extras: &Extras) -> String {
    let mut s = format!("{}: {}: <{}>", link.index, link.name, link.flag_names());
    if let Some(mtu) = link.mtu {
        let _ = write!(s, " mtu {mtu}");
    }
    match (&extras.master_name, link.master) {
        (Some(m), _) => {
            let _ = write!(s, " master {m}");
        }
        (None, Some(i)) => {
            let _ = write!(s, " master if{i}");
        }
        (None, None) => {}
    }
    let _ = write!(s, " state {}", operstate_name(link.operstate.unwrap_or(0)));
    let _ = write!(s, " carrier {}", on_off(link.has_carrier()));
    if let Some(mac) = link.mac.as_ref().filter(|m| m.len() == 6) {
        let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
        let _ = write!(s, " link/ether {}", hex.join(":"));
    }
    match (&link.kind, link.tun) {
        (_, Some(t)) => {
            let _ = write!(
                s,
                " tun type {} pi {} vnet_hdr {} multi_queue {} persist {}",
                if t.tap { "tap" } else { "tun" },
                on_off(t.pi),
                on_off(t.vnet_hdr),
                on_off(t.multi_queue),
                on_off(t.persist)
            );
        }
        (Some(k), None) => {
            let _ = write!(s, " {k}");
        }
        (None, None) => {}
    }
    if let Some(a) = &link.alias {
        let _ = write!(s, " alias {a:?}");
    }
    if let Some((tx, rx)) = extras.checksum {
        let _ = write!(s, " tx-checksumming {} rx-checksumming {}", on_off(tx), on_off(rx));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::link::codec::{TunInfo, IFF_BROADCAST, IFF_LOWER_UP, IFF_MULTICAST, IFF_UP};

    #[test]
    fn reads_like_ip_link() {
        let link = LinkInfo {
            index: 12,
            flags: IFF_BROADCAST | IFF_MULTICAST | IFF_UP | IFF_LOWER_UP,
            name: "vnet-a".into(),
            mtu: Some(1500),
            master: Some(3),
            operstate: Some(6),
            carrier: Some(true),
            mac: Some(vec![0x52, 0x54, 0, 0xab, 0xcd, 0xef]),
            alias: Some("infinivirt vm=a".into()),
            kind: Some("tun".into()),
            tun: Some(TunInfo { tap: true, persist: true, vnet_hdr: true, ..TunInfo::default() }),
        };
        let extras = Extras { master_name: Some("br0".into()), checksum: Some((false, false)) };
        assert_eq!(
            describe(&link, &extras),
            "12: vnet-a: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master br0 state UP carrier on \
             link/ether 52:54:00:ab:cd:ef tun type tap pi off vnet_hdr on multi_queue off persist on \
             alias \"infinivirt vm=a\" tx-checksumming off rx-checksumming off"
        );
    }

    #[test]
    fn a_down_bridge() {
        let link = LinkInfo {
            index: 3,
            flags: IFF_BROADCAST | IFF_MULTICAST | IFF_UP,
            name: "br9".into(),
            operstate: Some(2),
            carrier: Some(false),
            kind: Some("bridge".into()),
            ..LinkInfo::default()
        };
        assert_eq!(describe(&link, &Extras::default()), "3: br9: <NO-CARRIER,BROADCAST,MULTICAST,UP> state DOWN carrier off bridge");
    }
}
