//! The evaluator against a kernel state built from our own rendering (what
//! `readback` would return), in both conntrack modes.

use super::*;
use crate::network::firewall::probe::Capabilities;
use crate::network::firewall::ruleset::{self, plan_vm};
use serde_json::json;

fn kernel_for(fw: &ruleset::VmFirewall, caps: &Capabilities) -> Kernel {
    let wrap =
        |rules: Vec<Rule>| -> Vec<KernelRule> { rules.into_iter().enumerate().map(|(i, r)| KernelRule { handle: (i + 1) as u64, rule: Ok(r) }).collect() };
    let mut chains = HashMap::new();
    chains.insert("forward".to_string(), wrap(ruleset::base_rules()));
    chains.insert(fw.chain.to_string(), wrap(fw.rules.clone()));
    for c in ruleset::fallback_infra(caps) {
        if let Cmd::AddRule(t, name, r) = c {
            if t == BRIDGE_TABLE && name.as_str() == ruleset::REJECT_CHAIN {
                chains.entry(name.to_string()).or_insert_with(Vec::new).push(KernelRule { handle: 99, rule: Ok(r) });
            }
        }
    }
    let tap = fw.tap.as_str().to_string();
    let mut maps = HashMap::new();
    maps.insert("to_vm".to_string(), vec![(tap.clone(), Some(fw.chain.to_string()))]);
    maps.insert("from_vm".to_string(), vec![(tap.clone(), Some(fw.chain.to_string()))]);
    let mut sets = HashMap::new();
    sets.insert("vm_ports".to_string(), vec![tap]);
    Kernel { chains, base_policy: Policy::Accept, sets, maps, ct_mode: caps.ct_mode() }
}

fn pkt(proto: &str, dport: Option<u16>, inbound: bool, state: &str) -> Packet {
    Packet {
        protocol: proto.into(),
        src: "10.0.0.9".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        sport: Some(40000),
        dport,
        inbound,
        state: CtStates::from_names([state]).unwrap(),
        peer: None,
    }
}

fn plan(caps: &Capabilities, policy: Policy) -> ruleset::VmFirewall {
    let rules: Vec<crate::network::firewall::rule::FirewallRuleInput> = serde_json::from_value(json!([
        {"id":"ssh","name":"SSH","action":"ACCEPT","direction":"IN","priority":100,"protocol":"tcp","dstPortStart":22,"connectionState":{"new":true}},
        {"id":"web","name":"No web","action":"REJECT","direction":"IN","priority":10,"protocol":"tcp","dstPortStart":80},
        {"id":"ping","name":"No ping","action":"DROP","direction":"INOUT","priority":20,"protocol":"icmp"}
    ]))
    .unwrap();
    plan_vm("vm-1", "vnet-vm1", &rules, &[], caps, policy, true).unwrap()
}

#[test]
fn the_deciding_rule_is_named_in_both_modes() {
    for caps in [Capabilities::FULL, Capabilities::FALLBACK] {
        let fw = plan(&caps, Policy::Drop);
        let k = kernel_for(&fw, &caps);
        let tap = Some(&fw.tap);

        let e = evaluate(&pkt("tcp", Some(22), true, "new"), tap, &k);
        assert_eq!(e.verdict, "accept", "{caps:?}");
        assert_eq!(e.decided_by.as_ref().unwrap().rule_name.as_deref(), Some("SSH"));
        assert!(e.reason.starts_with("rule \"SSH\" (position 4 of vm_vm1) decides: accept"), "{}", e.reason);

        let e = evaluate(&pkt("tcp", Some(80), true, "new"), tap, &k);
        assert_eq!(e.verdict, "reject", "{caps:?}");
        assert_eq!(e.decided_by.as_ref().unwrap().rule_name.as_deref(), Some("No web"));

        let e = evaluate(&pkt("icmp", None, false, "new"), tap, &k);
        assert_eq!(e.verdict, "drop");
        assert_eq!(e.decided_by.as_ref().unwrap().position, 3, "the OUT half of the INOUT rule");

        // Established traffic is accepted by the default rule; other new traffic hits
        // the terminal drop.
        let e = evaluate(&pkt("tcp", Some(5000), false, "established"), tap, &k);
        assert_eq!(e.decided_by.as_ref().unwrap().rule_name.as_deref(), Some("Allow Established/Related (Auto)"));
        let e = evaluate(&pkt("tcp", Some(5000), true, "new"), tap, &k);
        assert_eq!(e.verdict, "drop");
        assert_eq!(e.decided_by.as_ref().unwrap().rule_name.as_deref(), Some("Infinivirt default policy: drop"));
        // The trace says why the SSH rule did not match.
        assert!(e.trace.iter().any(|s| s.rule_name.as_deref() == Some("SSH") && s.note == "destination port 5000 is not 22"), "{:?}", e.trace);
    }
}

#[test]
fn dhcp_and_undispatched_vms() {
    let caps = Capabilities::FALLBACK;
    let fw = plan(&caps, Policy::Drop);
    let k = kernel_for(&fw, &caps);
    let mut p = pkt("udp", Some(67), false, "new");
    p.sport = Some(68);
    let e = evaluate(&p, Some(&fw.tap), &k);
    assert_eq!(e.verdict, "accept");
    assert_eq!(e.decided_by.as_ref().unwrap().rule_name.as_deref(), Some("Allow DHCP client to server"));
    // A VM answering DHCP is stopped in the base chain.
    let mut p = pkt("udp", Some(68), false, "new");
    p.sport = Some(67);
    assert_eq!(evaluate(&p, Some(&fw.tap), &k).verdict, "drop");
    // No dispatched port: the base policy decides.
    let e = evaluate(&pkt("tcp", Some(22), true, "new"), None, &k);
    assert_eq!(e.verdict, "accept");
    assert!(e.decided_by.is_none());
    assert!(e.reason.contains("no dispatched port"));
}

#[test]
fn unreadable_rules_make_the_answer_unknown() {
    let caps = Capabilities::FULL;
    let fw = plan(&caps, Policy::Accept);
    let mut k = kernel_for(&fw, &caps);
    k.chains.get_mut("vm_vm1").unwrap().insert(0, KernelRule { handle: 7, rule: Err("unrecognised expression: {\"log\":{}}".into()) });
    let e = evaluate(&pkt("tcp", Some(22), true, "new"), Some(&fw.tap), &k);
    assert_eq!(e.verdict, "unknown");
    assert!(e.reason.contains("rule 1 of vm_vm1 cannot be evaluated"));
}

#[test]
fn packets_are_validated() {
    let ok = PacketInput {
        protocol: Some("TCP".into()),
        src_ip: Some("10.0.0.1".into()),
        dst_ip: Some("10.0.0.2".into()),
        dst_port: Some(22.0),
        direction: Some("IN".into()),
        ..Default::default()
    };
    let p = Packet::parse(&ok).unwrap();
    assert_eq!(p.protocol, "tcp");
    assert_eq!(p.state, CtStates::NEW);
    for bad in [
        PacketInput { src_ip: Some("1.2.3".into()), ..ok.clone() },
        PacketInput { dst_port: Some(70000.0), ..ok.clone() },
        PacketInput { direction: Some("INOUT".into()), ..ok.clone() },
        PacketInput { state: Some("bogus".into()), ..ok.clone() },
        PacketInput { protocol: Some("tcp; drop".into()), ..ok.clone() },
        PacketInput { peer_interface: Some("a b".into()), ..ok.clone() },
    ] {
        assert!(Packet::parse(&bad).is_err(), "{bad:?}");
    }
}
