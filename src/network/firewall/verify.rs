//! `verifyVM` (an Infinivirt addition): compares what the kernel holds with what should
//! be there, and reports every difference (drift).
//!
//! "Should" is the plan for rules given by the caller (e.g. re-read from the
//! database), else what this service instance last applied. The kernel's rules are
//! read from `nft -j` into the model and compared as values, rule by rule, together
//! with the VM's dispatch elements and the fixed layout (base chain, fallbacks).

use super::error::NftablesError;
use super::model::*;
use super::probe;
use super::readback::{self, KernelRule};
use super::render;
use super::ruleset::{self, VmFirewall};

/// One difference between the kernel and the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// `missing-chain`, `missing-rule`, `unexpected-rule`, `dispatch`, `layout`, `owner`, `no-expectation`.
    pub kind: &'static str,
    /// 1-based position in the chain (of the expected rule for `missing-rule`, of the
    /// kernel's rule for `unexpected-rule`).
    pub position: Option<usize>,
    pub chain: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub vm_id: String,
    pub chain_name: String,
    pub tap_device_name: Option<String>,
    /// `arguments`, `last-applied` or `none`.
    pub expected_source: &'static str,
    pub in_sync: bool,
    pub chain_exists: bool,
    pub expected_rules: usize,
    pub kernel_rules: usize,
    pub drift: Vec<Drift>,
}

/// What a kernel rule looks like in a report.
fn shown(k: &KernelRule) -> String {
    match &k.rule {
        Ok(r) => render::rule(r),
        Err(why) => format!("<{why}>"),
    }
}

/// An edit script between two sequences: `(Some(i), Some(j))` kept, `(Some(i), None)`
/// only in `a`, `(None, Some(j))` only in `b`. Longest common subsequence; falls back
/// to position-wise comparison for very long chains.
fn diff(a: &[String], b: &[String]) -> Vec<(Option<usize>, Option<usize>)> {
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > 4_000_000 {
        return (0..n.max(m))
            .flat_map(|i| match (a.get(i), b.get(i)) {
                (Some(x), Some(y)) if x == y => vec![(Some(i), Some(i))],
                (Some(_), Some(_)) => vec![(Some(i), None), (None, Some(i))],
                (Some(_), None) => vec![(Some(i), None)],
                (None, _) => vec![(None, Some(i))],
            })
            .collect();
    }
    let mut l = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[i][j] = if a[i] == b[j] { l[i + 1][j + 1] + 1 } else { l[i + 1][j].max(l[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push((Some(i), Some(j)));
            i += 1;
            j += 1;
        } else if i < n && (j == m || l[i + 1][j] >= l[i][j + 1]) {
            out.push((Some(i), None));
            i += 1;
        } else {
            out.push((None, Some(j)));
            j += 1;
        }
    }
    out
}

/// Compares a chain's rules; returns the drift entries.
fn compare_rules(chain: &str, kind_prefix: Option<&'static str>, expected: &[Rule], actual: &[KernelRule]) -> Vec<Drift> {
    let want: Vec<String> = expected.iter().map(render::rule).collect();
    let have: Vec<String> = actual.iter().map(shown).collect();
    diff(&want, &have)
        .into_iter()
        .filter_map(|op| match op {
            (Some(i), None) => Some(Drift {
                kind: kind_prefix.unwrap_or("missing-rule"),
                position: Some(i + 1),
                chain: chain.to_string(),
                expected: Some(want[i].clone()),
                actual: None,
                detail: format!("rule {} of {chain} is missing in the kernel", i + 1),
            }),
            (None, Some(j)) => Some(Drift {
                kind: kind_prefix.unwrap_or("unexpected-rule"),
                position: Some(j + 1),
                chain: chain.to_string(),
                expected: None,
                actual: Some(have[j].clone()),
                detail: format!("the kernel's rule {} of {chain} (handle {}) is not expected", j + 1, actual[j].handle),
            }),
            _ => None,
        })
        .collect()
}

/// The expected rules of every fixed chain in `cmds` (`flush` resets a chain).
fn layout_rules(cmds: &[Cmd]) -> Vec<(Table, Ident, Vec<Rule>)> {
    let mut out: Vec<(Table, Ident, Vec<Rule>)> = Vec::new();
    for c in cmds {
        match c {
            Cmd::FlushChain(t, name) if !out.iter().any(|(tt, n, _)| tt == t && n == name) => {
                out.push((*t, name.clone(), vec![]));
            }
            Cmd::AddRule(t, name, r) => {
                if let Some(entry) = out.iter_mut().find(|(tt, n, _)| tt == t && n == name) {
                    entry.2.push(r.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// Verifies one VM. `expected` is the caller's plan, if any.
pub async fn verify(vm_id: &str, expected: Option<VmFirewall>, source: &'static str) -> Result<VerifyReport, NftablesError> {
    let chain = ruleset::vm_chain(vm_id);
    let mut drift = Vec::new();
    let owner_drift = |detail: String| Drift { kind: "owner", position: None, chain: chain.to_string(), expected: None, actual: None, detail };

    // A chain another VM owns is that VM's: nothing of it is this VM's to compare.
    let owner = super::service::owner_of_chain(&chain).await?;
    if let Err(e) = super::service::check_owner(&owner, vm_id, &chain) {
        return Ok(VerifyReport {
            vm_id: vm_id.to_string(),
            chain_name: chain.to_string(),
            tap_device_name: expected.as_ref().map(|fw| fw.tap.as_str().to_string()),
            expected_source: source,
            in_sync: false,
            chain_exists: false,
            expected_rules: expected.as_ref().map_or(0, |fw| fw.rules.len()),
            kernel_rules: 0,
            drift: vec![owner_drift(e.to_string())],
        });
    }
    if owner == super::service::Owner::Unrecorded {
        drift.push(owner_drift(format!("chain {chain} has no owner record; the next applyRules of VM {vm_id} records it")));
    }

    let kernel = readback::chain_rules(BRIDGE_TABLE, chain.as_str()).await?;
    let chain_exists = kernel.is_some();
    let kernel = kernel.unwrap_or_default();
    match (&expected, chain_exists) {
        (_, false) => drift.push(Drift {
            kind: "missing-chain",
            position: None,
            chain: chain.to_string(),
            expected: None,
            actual: None,
            detail: format!("chain {chain} does not exist in table bridge infinivirt"),
        }),
        (Some(fw), true) => drift.extend(compare_rules(chain.as_str(), None, &fw.rules, &kernel)),
        (None, true) => {}
    }
    if expected.is_none() {
        drift.push(Drift {
            kind: "no-expectation",
            position: None,
            chain: chain.to_string(),
            expected: None,
            actual: None,
            detail: "no expected rules are known for this VM: pass its rules, or apply them through this service first".into(),
        });
    }

    // Dispatch: the tap goes to this chain in both maps and is a VM port; no other
    // port is still sent here.
    let to_vm = readback::map_elements(BRIDGE_TABLE, ruleset::TO_VM_MAP).await?.unwrap_or_default();
    let from_vm = readback::map_elements(BRIDGE_TABLE, ruleset::FROM_VM_MAP).await?.unwrap_or_default();
    let ports = readback::set_elements(BRIDGE_TABLE, ruleset::VM_PORTS_SET).await?.unwrap_or_default();
    let tap = expected.as_ref().map(|fw| fw.tap.as_str().to_string());
    let dispatch = |what: String| Drift { kind: "dispatch", position: None, chain: chain.to_string(), expected: None, actual: None, detail: what };
    for (map, elems) in [(ruleset::TO_VM_MAP, &to_vm), (ruleset::FROM_VM_MAP, &from_vm)] {
        if let Some(tap) = &tap {
            match elems.iter().find(|(k, _)| k == tap) {
                None => drift.push(dispatch(format!("{tap} is missing from map {map}: its traffic bypasses {chain}"))),
                Some((_, t)) if t.as_deref() != Some(chain.as_str()) => {
                    drift.push(dispatch(format!("{tap} in map {map} goes to {} instead of {chain}", t.as_deref().unwrap_or("a non-jump verdict"))))
                }
                _ => {}
            }
        }
        for (k, _) in elems.iter().filter(|(k, t)| t.as_deref() == Some(chain.as_str()) && Some(k) != tap.as_ref()) {
            if tap.is_some() {
                drift.push(dispatch(format!("{k} in map {map} still goes to {chain}")));
            }
        }
    }
    if let Some(tap) = &tap {
        if !ports.contains(tap) {
            drift.push(dispatch(format!("{tap} is missing from set {}: its DHCP exceptions do not apply", ruleset::VM_PORTS_SET)));
        }
    }

    // The fixed layout: base chain and fallback chains hold exactly what we write.
    let caps = probe::capabilities().await;
    for (t, name, rules) in layout_rules(&ruleset::infra(&caps)) {
        match readback::chain_rules(t, name.as_str()).await? {
            None => drift.push(Drift {
                kind: "layout",
                position: None,
                chain: format!("{t} {name}"),
                expected: None,
                actual: None,
                detail: format!("chain {name} of table {t} is missing"),
            }),
            Some(k) => drift.extend(compare_rules(&format!("{t} {name}"), Some("layout"), &rules, &k)),
        }
    }

    let in_sync = drift.is_empty();
    Ok(VerifyReport {
        vm_id: vm_id.to_string(),
        chain_name: chain.to_string(),
        tap_device_name: tap,
        expected_source: source,
        in_sync,
        chain_exists,
        expected_rules: expected.as_ref().map_or(0, |fw| fw.rules.len()),
        kernel_rules: kernel.len(),
        drift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn diff_finds_missing_and_extra() {
        let d = diff(&s(&["a", "b", "c"]), &s(&["a", "c", "d"]));
        assert_eq!(d, vec![(Some(0), Some(0)), (Some(1), None), (Some(2), Some(1)), (None, Some(2))]);
        assert_eq!(diff(&s(&[]), &s(&["x"])), vec![(None, Some(0))]);
        assert_eq!(diff(&s(&["x"]), &s(&["x"])), vec![(Some(0), Some(0))]);
    }

    #[test]
    fn changed_rule_is_one_missing_and_one_unexpected() {
        let want = vec![Rule { verdict: Some(Verdict::Accept), ..Default::default() }];
        let have = vec![KernelRule { handle: 9, rule: Ok(Rule { verdict: Some(Verdict::Drop), ..Default::default() }) }];
        let d = compare_rules("vm_a", None, &want, &have);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kind, "missing-rule");
        assert_eq!(d[0].expected.as_deref(), Some("accept"));
        assert_eq!(d[1].kind, "unexpected-rule");
        assert_eq!(d[1].actual.as_deref(), Some("drop"));
        assert!(d[1].detail.contains("handle 9"));
    }

    #[test]
    fn layout_groups_rules_by_chain() {
        let l = layout_rules(&ruleset::infra(&probe::Capabilities::FALLBACK));
        let names: Vec<String> = l.iter().map(|(t, n, _)| format!("{t} {n}")).collect();
        assert_eq!(
            names,
            [
                "bridge infinivirt prerouting",
                "bridge infinivirt input",
                "bridge infinivirt reject_fallback",
                "inet infinivirt prerouting",
                "inet infinivirt forward",
                "bridge infinivirt forward"
            ]
        );
        assert_eq!(l.last().unwrap().2, ruleset::base_rules());
    }
}
