//! What this kernel's nftables can do in the bridge family, probed once per process.
//!
//! Each probe is a tiny batch checked with `nft --check` (the kernel validates every
//! expression, then the transaction is aborted), so probing never changes the
//! ruleset. The result picks how connection states and `reject` are rendered:
//!
//! * conntrack: `ct state` in the bridge chain when the kernel has bridge conntrack
//!   (`nf_conntrack_bridge`); otherwise, when br_netfilter hands bridged IPv4 to the
//!   inet hooks (`net.bridge.bridge-nf-call-iptables = 1`), an `inet` prerouting chain
//!   copies each bridged packet's conntrack state into mark bits that the bridge rules
//!   match (`meta mark & <state bits> != 0`); otherwise unavailable, and rules that
//!   need it are refused.
//! * reject: `reject` in the bridge chain when the kernel allows it there; otherwise,
//!   with br_netfilter, the bridge rule marks the packet and an `inet` forward chain
//!   rejects it (a TCP reset or ICMP port-unreachable; the kernel sends it only when
//!   the host has a route back to the sender, else the packet is just dropped);
//!   otherwise unavailable, and REJECT rules are refused.

use tokio::sync::OnceCell;

use crate::exec::HostCommand;

/// How connection-state matches are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtMode {
    /// `ct state …` in the bridge chain.
    Native,
    /// Conntrack state copied into mark bits by `inet infinivirt prerouting`.
    Mark,
    Unavailable,
}

impl CtMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CtMode::Native => "native",
            CtMode::Mark => "mark",
            CtMode::Unavailable => "unavailable",
        }
    }
}

/// How REJECT rules are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectMode {
    /// `reject` in the bridge chain.
    Native,
    /// Marked in the bridge chain, rejected by `inet infinivirt forward`.
    Inet,
    Unavailable,
}

impl RejectMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectMode::Native => "native",
            RejectMode::Inet => "inet",
            RejectMode::Unavailable => "unavailable",
        }
    }
}

/// The probe results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `ct state` accepted in a bridge forward chain.
    pub bridge_conntrack: bool,
    /// `reject` accepted in a bridge forward chain.
    pub bridge_reject: bool,
    /// `meta ibrname` accepted in the bridge family (reported; not needed by the rules).
    pub bridge_meta_ibrname: bool,
    /// `ct state` accepted in an inet chain.
    pub inet_conntrack: bool,
    /// `reject` accepted in an inet forward chain.
    pub inet_reject: bool,
    /// br_netfilter passes bridged IPv4 to the inet hooks (`bridge-nf-call-iptables` is 1).
    pub br_netfilter: bool,
}

impl Capabilities {
    pub fn ct_mode(&self) -> CtMode {
        if self.bridge_conntrack {
            CtMode::Native
        } else if self.inet_conntrack && self.br_netfilter {
            CtMode::Mark
        } else {
            CtMode::Unavailable
        }
    }

    pub fn reject_mode(&self) -> RejectMode {
        if self.bridge_reject {
            RejectMode::Native
        } else if self.inet_reject && self.br_netfilter {
            RejectMode::Inet
        } else {
            RejectMode::Unavailable
        }
    }

    /// A kernel with everything in the bridge family (common distribution kernels).
    pub const FULL: Capabilities =
        Capabilities { bridge_conntrack: true, bridge_reject: true, bridge_meta_ibrname: true, inet_conntrack: true, inet_reject: true, br_netfilter: true };

    /// These machines: no bridge conntrack, reject or ibrname; br_netfilter on.
    pub const FALLBACK: Capabilities =
        Capabilities { bridge_conntrack: false, bridge_reject: false, bridge_meta_ibrname: false, inet_conntrack: true, inet_reject: true, br_netfilter: true };

    /// Nothing at all (no nft, or no permission).
    pub const NONE: Capabilities = Capabilities {
        bridge_conntrack: false,
        bridge_reject: false,
        bridge_meta_ibrname: false,
        inet_conntrack: false,
        inet_reject: false,
        br_netfilter: false,
    };

    /// One line for logs and results.
    pub fn summary(&self) -> String {
        format!(
            "bridge conntrack {}, bridge reject {}, meta ibrname {}, br_netfilter {}; connection states: {}, reject: {}",
            yes(self.bridge_conntrack),
            yes(self.bridge_reject),
            yes(self.bridge_meta_ibrname),
            yes(self.br_netfilter),
            self.ct_mode().as_str(),
            self.reject_mode().as_str()
        )
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

const PROBE_TABLE: &str = "infinivirt_probe";

/// A throwaway batch: table, one base chain of `hook`, one rule. Checked, never committed.
fn probe_batch(family: &str, hook: &str, rule: &str) -> String {
    format!(
        "add table {family} {PROBE_TABLE}\n\
         add chain {family} {PROBE_TABLE} c {{ type filter hook {hook} priority 0; policy accept; }}\n\
         add rule {family} {PROBE_TABLE} c {rule}\n"
    )
}

async fn check(batch: String) -> bool {
    HostCommand::new("nft").args(["--check", "-f", "-"]).stdin(batch.into_bytes()).timeout(Some(std::time::Duration::from_secs(10))).run().await.is_ok()
}

/// Runs every probe (about six `nft --check` runs and one sysctl read).
pub async fn probe() -> Capabilities {
    let (bridge_conntrack, bridge_reject, bridge_meta_ibrname, inet_conntrack, inet_reject) = tokio::join!(
        check(probe_batch("bridge", "forward", "ct state established accept")),
        check(probe_batch("bridge", "forward", "reject")),
        check(probe_batch("bridge", "forward", "meta ibrname \"br0\" accept")),
        check(probe_batch("inet", "prerouting", "ct state established accept")),
        check(probe_batch("inet", "forward", "reject")),
    );
    let br_netfilter = tokio::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").await.is_ok_and(|s| s.trim() == "1");
    Capabilities { bridge_conntrack, bridge_reject, bridge_meta_ibrname, inet_conntrack, inet_reject, br_netfilter }
}

static CAPS: OnceCell<Capabilities> = OnceCell::const_new();

/// The probe result, computed on first use and then reused for the life of the process.
pub async fn capabilities() -> Capabilities {
    *CAPS
        .get_or_init(|| async {
            let caps = probe().await;
            crate::log::log("infinivirt:nftables", &format!("kernel capabilities: {}", caps.summary()));
            if caps.ct_mode() == CtMode::Mark || caps.reject_mode() == RejectMode::Inet {
                crate::log::log("infinivirt:nftables", "using the inet fallback (table inet infinivirt) for what the bridge family lacks");
            }
            if caps.ct_mode() == CtMode::Unavailable {
                crate::log::warn("nftables", "connection-state rules cannot be enforced on this host and will be refused");
            }
            if caps.reject_mode() == RejectMode::Unavailable {
                crate::log::warn("nftables", "REJECT rules cannot be enforced on this host and will be refused");
            }
            caps
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_the_probes() {
        assert_eq!(Capabilities::FULL.ct_mode(), CtMode::Native);
        assert_eq!(Capabilities::FULL.reject_mode(), RejectMode::Native);
        assert_eq!(Capabilities::FALLBACK.ct_mode(), CtMode::Mark);
        assert_eq!(Capabilities::FALLBACK.reject_mode(), RejectMode::Inet);
        assert_eq!(Capabilities::NONE.ct_mode(), CtMode::Unavailable);
        let no_brnf = Capabilities { br_netfilter: false, ..Capabilities::FALLBACK };
        assert_eq!(no_brnf.ct_mode(), CtMode::Unavailable);
        assert_eq!(no_brnf.reject_mode(), RejectMode::Unavailable);
        // Distribution kernels: bridge conntrack but reject only in prerouting/input.
        let distro = Capabilities { bridge_reject: false, ..Capabilities::FULL };
        assert_eq!(distro.reject_mode(), RejectMode::Inet);
    }

    #[test]
    fn probe_batch_shape() {
        assert_eq!(
            probe_batch("bridge", "forward", "reject"),
            "add table bridge infinivirt_probe\nadd chain bridge infinivirt_probe c { type filter hook forward priority 0; policy accept; }\nadd rule bridge infinivirt_probe c reject\n"
        );
    }
}
