//! `DepartmentNatService` (spec §8.7): one masquerade rule per department bridge in
//! `table ip infinibay_nat`, chain `postrouting`, tagged with the comment
//! `dept-<bridge>`.
//!
//! Changes go through the firewall's model → render → one `nft -f -` transaction.
//! Rules are found by reading the chain as JSON and comparing the comment exactly,
//! so adding twice keeps one rule and removing `br1` leaves `br10` alone (spec §19
//! #15). IP forwarding is switched on through `/proc/sys/net/ipv4/ip_forward`.

use std::sync::LazyLock;

use super::firewall::apply::{run_batch, Label};
use super::firewall::error::{NftablesError, NftablesErrorCode as C};
use super::firewall::model::*;
use super::firewall::readback::{self, KernelRule};
use super::firewall::render;
use crate::qemu::options::IfName;

pub const NAT_CHAIN: &str = "postrouting";
pub const COMMENT_PREFIX: &str = "dept-";
pub const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// NAT changes in this process are serialised (read, then one transaction).
static NAT_LOCK: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);

fn nat_base() -> BaseChain {
    BaseChain { ty: ChainType::Nat, hook: Hook::Postrouting, priority: Priority::Srcnat, policy: Policy::Accept }
}

fn chain() -> Ident {
    Ident::fixed(NAT_CHAIN)
}

/// The table and chain (idempotent `add`s).
pub fn layout() -> Vec<Cmd> {
    vec![Cmd::AddTable(NAT_TABLE), Cmd::AddChain(NAT_TABLE, chain(), Some(nat_base()))]
}

pub fn comment_for(bridge: &IfName) -> String {
    format!("{COMMENT_PREFIX}{}", bridge.as_str())
}

/// `ip saddr <subnet> oifname != "<bridge>" masquerade comment "dept-<bridge>"`.
pub fn masquerade_rule(subnet: Ipv4Net, bridge: &IfName) -> Rule {
    Rule {
        matches: vec![Match::Addr { field: AddrField::Saddr, net: subnet }, Match::IfName { field: IfField::Oif, op: Op::Ne, name: bridge.clone() }],
        stmts: vec![Stmt::Masquerade],
        verdict: None,
        comment: Some(Comment::sanitized(&comment_for(bridge))),
    }
}

fn parse_bridge(bridge: &str) -> Result<IfName, NftablesError> {
    IfName::parse(bridge).map_err(|e| NftablesError::Rule { code: C::RULE_INVALID, message: format!("Invalid bridge name '{bridge}': {e}") })
}

/// A subnet as `a.b.c.d/n` (or a single address). Host bits are cleared, as nft would.
pub fn parse_subnet(subnet: &str) -> Result<Ipv4Net, NftablesError> {
    Ipv4Net::parse(subnet).ok_or_else(|| NftablesError::Rule { code: C::INVALID_IP_ADDRESS, message: format!("Invalid subnet: {subnet}") })
}

fn with_message(e: NftablesError, message: String) -> NftablesError {
    match e {
        NftablesError::Command { command, args, stderr, exit_code, .. } => NftablesError::Command { message, command, args, stderr, exit_code },
        other => other,
    }
}

fn comment_of(k: &KernelRule) -> Option<&str> {
    k.rule.as_ref().ok()?.comment.as_ref().map(Comment::as_str)
}

/// The chain's rules (empty when the table or chain is missing).
async fn rules() -> Result<Vec<KernelRule>, NftablesError> {
    Ok(readback::chain_rules(NAT_TABLE, NAT_CHAIN).await?.unwrap_or_default())
}

/// Turns IP forwarding on unless it already is; failures are only logged (spec).
pub async fn enable_ip_forward() {
    match tokio::fs::read_to_string(IP_FORWARD).await {
        Ok(v) if v.trim() == "1" => {}
        _ => {
            if let Err(e) = tokio::fs::write(IP_FORWARD, "1").await {
                crate::log::warn("dept-nat", &format!("cannot enable IP forwarding ({IP_FORWARD}): {e}"));
            } else {
                crate::log::log("infinivirt:dept-nat", "IP forwarding enabled");
            }
        }
    }
}

#[derive(Default)]
pub struct DepartmentNatService {
    initialized: tokio::sync::OnceCell<()>,
}

impl DepartmentNatService {
    pub fn new() -> Self {
        Self::default()
    }

    /// Table, chain and IP forwarding; once per instance (and idempotent anyway).
    pub async fn initialize(&self) -> Result<(), NftablesError> {
        self.initialized
            .get_or_try_init(|| async {
                run_batch(&Batch(layout()), &Label::new("add chain", ["ip", "infinibay_nat", NAT_CHAIN])).await?;
                enable_ip_forward().await;
                Ok::<(), NftablesError>(())
            })
            .await
            .map(|_| ())
    }

    /// Adds the bridge's masquerade rule. Idempotent: an identical rule is kept as
    /// is; a rule for the same bridge with another subnet is replaced in the same
    /// transaction.
    pub async fn add_masquerade(&self, subnet: &str, bridge: &str) -> Result<(), NftablesError> {
        let bridge = parse_bridge(bridge)?;
        let net = parse_subnet(subnet)?;
        let fail = |e: NftablesError| {
            let m = format!("Failed to add masquerade for {}: {e}", bridge.as_str());
            with_message(e, m)
        };
        self.initialize().await.map_err(fail)?;
        let _g = NAT_LOCK.lock().await;
        let want = masquerade_rule(net, &bridge);
        let comment = comment_for(&bridge);
        let existing: Vec<KernelRule> = rules().await.map_err(fail)?.into_iter().filter(|k| comment_of(k) == Some(comment.as_str())).collect();
        if let [only] = existing.as_slice() {
            if only.rule.as_ref().ok() == Some(&want) {
                return Ok(());
            }
        }
        let mut batch = Batch(layout());
        batch.extend(existing.iter().map(|k| Cmd::DeleteRule(NAT_TABLE, chain(), k.handle)));
        batch.push(Cmd::AddRule(NAT_TABLE, chain(), want));
        run_batch(&batch, &Label::new("add masquerade", [net.to_string(), bridge.as_str().to_string()])).await.map_err(fail)
    }

    /// Removes every rule whose comment is exactly `dept-<bridge>`, in one transaction.
    pub async fn remove_masquerade(&self, bridge: &str) -> Result<(), NftablesError> {
        let bridge = parse_bridge(bridge)?;
        let fail = |e: NftablesError| {
            let m = format!("Failed to remove masquerade for {}: {e}", bridge.as_str());
            with_message(e, m)
        };
        self.initialize().await.map_err(fail)?;
        let _g = NAT_LOCK.lock().await;
        let comment = comment_for(&bridge);
        let handles: Vec<u64> = rules().await.map_err(fail)?.iter().filter(|k| comment_of(k) == Some(comment.as_str())).map(|k| k.handle).collect();
        let batch = Batch(handles.into_iter().map(|h| Cmd::DeleteRule(NAT_TABLE, chain(), h)).collect());
        run_batch(&batch, &Label::new("remove masquerade", [bridge.as_str().to_string()])).await.map_err(fail)
    }

    /// True when a rule with the comment `dept-<bridge>` exists; failures read as false.
    pub async fn has_masquerade(&self, bridge: &str) -> bool {
        let Ok(bridge) = parse_bridge(bridge) else { return false };
        let comment = comment_for(&bridge);
        rules().await.is_ok_and(|r| r.iter().any(|k| comment_of(k) == Some(comment.as_str())))
    }

    /// The bridges that have a masquerade rule, in rule order; failures read as empty.
    pub async fn list_masquerade_rules(&self) -> Vec<String> {
        rules().await.unwrap_or_default().iter().filter_map(|k| comment_of(k)?.strip_prefix(COMMENT_PREFIX).map(str::to_string)).collect()
    }

    /// The masquerade rules as nft text (for operators and tests).
    pub async fn rules_text(&self) -> Result<Vec<String>, NftablesError> {
        Ok(rules().await?.iter().map(|k| k.rule.as_ref().map(render::rule).unwrap_or_else(|e| format!("<{e}>"))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    #[test]
    fn spec_73_rule_text() {
        let b = IfName::parse("infinibr-abc123").unwrap();
        let mut batch = Batch(layout());
        batch.push(Cmd::AddRule(NAT_TABLE, chain(), masquerade_rule(parse_subnet("10.10.100.0/24").unwrap(), &b)));
        assert_eq!(
            render::batch(&batch),
            "add table ip infinibay_nat\n\
             add chain ip infinibay_nat postrouting { type nat hook postrouting priority srcnat; policy accept; }\n\
             add rule ip infinibay_nat postrouting ip saddr 10.10.100.0/24 oifname != \"infinibr-abc123\" masquerade comment \"dept-infinibr-abc123\"\n"
        );
    }

    #[test]
    fn reads_back_equal_to_what_it_writes() {
        // `nft -j list chain ip infinibay_nat postrouting` of the rule above.
        let json = serde_json::json!({"handle": 4, "comment": "dept-infinibr-abc123", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.10.100.0", "len": 24}}}},
            {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "infinibr-abc123"}},
            {"masquerade": null}]});
        let b = IfName::parse("infinibr-abc123").unwrap();
        assert_eq!(readback::parse_rule(&json).unwrap(), masquerade_rule(parse_subnet("10.10.100.0/24").unwrap(), &b));
    }

    #[test]
    fn inputs_are_validated() {
        assert_eq!(parse_subnet("10.0.0.0/33").unwrap_err().code(), "INVALID_IP_ADDRESS");
        assert_eq!(parse_subnet("10.0.0.0/24; flush ruleset").unwrap_err().code(), "INVALID_IP_ADDRESS");
        assert_eq!(parse_subnet("10.0.0.7/24").unwrap().to_string(), "10.0.0.0/24");
        assert_eq!(parse_bridge("br0\"; flush ruleset").unwrap_err().code(), "RULE_INVALID");
        assert_eq!(parse_bridge("").unwrap_err().code(), "RULE_INVALID");
    }
}
