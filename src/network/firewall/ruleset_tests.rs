//! Policy and rendering goldens: merge by priority, override knock-out, INOUT
//! expansion, the default rule, dispatch maps, DHCP scoping, fallbacks, and that
//! every rule renders exactly as the spec's translator tokens say.

use serde_json::json;

use super::*;
use crate::error::ErrorShape;
use crate::network::firewall::golden::assert_golden;
use crate::network::firewall::render;
use crate::network::firewall::translate;

fn r(v: serde_json::Value) -> FirewallRuleInput {
    serde_json::from_value(v).unwrap()
}

fn rules(v: serde_json::Value) -> Vec<FirewallRuleInput> {
    v.as_array().unwrap().iter().cloned().map(r).collect()
}

const VM: &str = "550e8400-e29b-41d4-a716-446655440000";
const TAP: &str = "vnet-550e8400e2";

fn body(fw: &VmFirewall) -> Vec<String> {
    fw.rules.iter().map(render::rule).collect()
}

fn ssh() -> serde_json::Value {
    json!({"id":"ssh","name":"SSH","action":"ACCEPT","direction":"IN","priority":100,"protocol":"tcp","dstPortStart":22,"connectionState":{"new":true,"established":true,"related":true}})
}

fn both() -> serde_json::Value {
    json!({"id":"both","name":"Both","action":"DROP","direction":"INOUT","priority":50,"protocol":"icmp"})
}

#[test]
fn spec_68_order_and_counts() {
    let fw = plan_vm(VM, TAP, &rules(json!([ssh(), both()])), &[], &Capabilities::FULL, Policy::Accept, true).unwrap();
    assert_eq!(fw.total_rules, 3);
    assert_eq!(fw.chain.as_str(), "vm_550e8400");
    assert_eq!(
        body(&fw),
        [
            "oifname \"vnet-550e8400e2\" ip protocol icmp drop comment \"Both\"",
            "iifname \"vnet-550e8400e2\" ip protocol icmp drop comment \"Both\"",
            "oifname \"vnet-550e8400e2\" ip protocol tcp tcp dport 22 ct state { established, new, related } accept comment \"SSH\"",
            "oifname \"vnet-550e8400e2\" ct state { established, related } accept comment \"Allow Established/Related (Auto)\"",
            "iifname \"vnet-550e8400e2\" ct state { established, related } accept comment \"Allow Established/Related (Auto)\"",
        ]
    );
    assert!(fw.fallbacks.is_empty());
}

#[test]
fn spec_69_override_knocks_out_department_rules() {
    let dept = rules(json!([
        {"id":"d1","name":"DeptTCP","action":"DROP","direction":"IN","priority":10,"protocol":"TCP"},
        {"id":"d2","name":"DeptUDP","action":"DROP","direction":"IN","priority":20,"protocol":"udp"},
        {"id":"d3","name":"DeptTCPout","action":"DROP","direction":"OUT","priority":5,"protocol":"tcp"}
    ]));
    let vm = rules(json!([{"id":"v1","name":"VmTCP","action":"ACCEPT","direction":"IN","priority":30,"protocol":"tcp","overridesDept":true}]));
    let merged = merge(&dept, &vm);
    let names: Vec<&str> = merged.iter().map(|m| m.name.as_deref().unwrap()).collect();
    // Only the same direction and protocol is knocked out (case-insensitive).
    assert_eq!(names, ["DeptTCPout", "DeptUDP", "VmTCP", "Allow Established/Related (Auto)"]);
    let fw = plan_vm(VM, TAP, &dept[..2], &vm, &Capabilities::FULL, Policy::Accept, true).unwrap();
    assert_eq!(fw.total_rules, 3);
    let b = body(&fw);
    assert_eq!(b.len(), 4);
    assert!(b[0].contains("DeptUDP") && b[1].contains("VmTCP") && b[2].contains("Auto") && b[3].contains("Auto"));
}

#[test]
fn priorities_sort_stably_and_department_first_on_ties() {
    let dept = rules(json!([{"id":"d","name":"Dept","action":"DROP","direction":"IN","priority":10,"protocol":"all"}]));
    let vm = rules(json!([
        {"id":"v1","name":"VmLate","action":"ACCEPT","direction":"IN","priority":20000,"protocol":"all"},
        {"id":"v2","name":"VmTie","action":"ACCEPT","direction":"IN","priority":10,"protocol":"all"}
    ]));
    let names: Vec<String> = merge(&dept, &vm).iter().map(|m| m.name.clone().unwrap()).collect();
    assert_eq!(names, ["Dept", "VmTie", "Allow Established/Related (Auto)", "VmLate"]);
}

/// Every §20.4 rule shape renders as the translator's tokens (with the interface
/// name quoted and addresses normalised as the kernel stores them).
#[test]
fn rules_render_as_the_spec_tokens() {
    let shapes = [
        json!({"id":"r1","name":"Allow HTTPS","action":"ACCEPT","direction":"IN","priority":100,"protocol":"tcp","dstPortStart":443,"dstPortEnd":443}),
        ssh(),
        json!({"id":"r3","name":"DNS","direction":"OUT","protocol":"UDP","srcPortStart":1000,"srcPortEnd":2000,"dstPortStart":53,"dstPortEnd":54,"action":"ACCEPT","priority":1}),
        json!({"id":"r4","name":"Block ping","action":"DROP","direction":"IN","protocol":"icmp","priority":1}),
        json!({"id":"r5","name":"Net","action":"REJECT","direction":"IN","protocol":"all","priority":1,"srcIpAddr":"10.0.0.0","srcIpMask":"255.255.255.0","dstIpAddr":"192.168.1.5","dstIpMask":"16"}),
        json!({"id":"r6","name":"States","action":"ACCEPT","direction":"OUT","protocol":"all","priority":1,"connectionState":{"invalid":true,"related":true,"new":true,"established":true}}),
        json!({"id":"r7","name":"  He said \"hi\"\\path\tx  ","action":"DROP","direction":"IN","protocol":"udp","priority":1,"srcPortStart":5,"srcIpAddr":"1.2.3.4"}),
        json!({"id":"r8","name":"Nulls","action":"DROP","direction":"OUT","protocol":"","priority":5,"srcPortStart":null,"srcIpAddr":null,"srcIpMask":null,"connectionState":null,"description":null}),
    ];
    let tap = parse_tap("vnet-x").unwrap();
    for s in shapes {
        let input = r(s);
        let mut fb = vec![];
        let rendered = translate_rule(&input, &tap, &Capabilities::FULL, Policy::Accept, &mut fb).unwrap();
        let tokens = translate::translate(&input, "vnet-x").unwrap();
        let want = tokens.join(" ").replacen("name vnet-x", "name \"vnet-x\"", 1).replace("192.168.1.5/16", "192.168.0.0/16");
        assert_eq!(render::rule(&rendered[0]), want, "{input:?}");
    }
}

#[test]
fn invalid_rules_reject_the_whole_plan() {
    let bad = rules(json!([ssh(), {"id":"bad","name":"Bad","action":"ACCEPT","direction":"IN","priority":1,"protocol":"tcp","srcIpAddr":"300.1.1.1"}]));
    let e = plan_vm(VM, TAP, &bad, &[], &Capabilities::FULL, Policy::Accept, true).unwrap_err();
    assert_eq!(e.code(), "INVALID_IP_ADDRESS");
    assert_eq!(e.to_string(), "[Rule bad] Invalid source IP address: 300.1.1.1");
    let e = plan_vm(VM, "vnet a\"; flush ruleset", &[], &[], &Capabilities::FULL, Policy::Accept, false).unwrap_err();
    assert_eq!(e.code(), "RULE_INVALID");
}

#[test]
fn by_default_a_bad_rule_is_left_out_and_reported_and_the_rest_applies() {
    let input = json!([
        ssh(),
        {"id":"bad","name":"Bad","action":"DROP","direction":"IN","priority":1,"protocol":"tcp","srcIpAddr":"300.1.1.1"},
        {"id":"gre","name":"No GRE","action":"DROP","direction":"IN","priority":2,"protocol":"gre"},
        {"id":"n","name":"Num","action":"DROP","direction":"OUT","priority":3,"protocol":"132"}
    ]);
    let mut list: Vec<FirewallRuleInput> = input.as_array().unwrap().iter().cloned().map(FirewallRuleInput::from_json_lenient).collect();
    list.push(FirewallRuleInput::from_json_lenient(json!({"id":"t","name":"Typed","action":"REJECT","priority":"high"})));
    let fw = plan_vm(VM, TAP, &list, &[], &Capabilities::FULL, Policy::Accept, false).unwrap();
    assert_eq!(fw.total_rules, 6);
    assert_eq!(fw.failures.len(), 2, "{:?}", fw.failures);
    // In rule order: the unreadable rule has no numeric priority, so it sorts first.
    assert_eq!(fw.failures[0].0, "Typed");
    assert!(fw.failures[0].1.starts_with("[Rule t] Invalid rule: "), "{:?}", fw.failures[0]);
    assert_eq!(fw.failures[1], ("Bad".to_string(), "[Rule bad] Invalid source IP address: 300.1.1.1".to_string()));
    let b = body(&fw);
    assert!(b.contains(&"oifname \"vnet-550e8400e2\" ip protocol 47 drop comment \"No GRE\"".to_string()), "{b:?}");
    assert!(b.contains(&"iifname \"vnet-550e8400e2\" ip protocol 132 drop comment \"Num\"".to_string()), "{b:?}");
    assert!(b.iter().any(|r| r.contains("SSH")) && !b.iter().any(|r| r.contains("Bad")));
    // Strict mode keeps the all-or-nothing plan.
    let e = plan_vm(VM, TAP, &list, &[], &Capabilities::FULL, Policy::Accept, true).unwrap_err();
    assert!(e.to_string().starts_with("[Rule t] Invalid rule: "), "{e}");
    let e = plan_vm(VM, TAP, &list[..4], &[], &Capabilities::FULL, Policy::Accept, true).unwrap_err();
    assert_eq!(e.to_string(), "[Rule bad] Invalid source IP address: 300.1.1.1");
}

#[test]
fn owners_are_recorded_in_a_comment_nft_can_hold() {
    assert_eq!(owner_comment("550e8400-e29b-41d4-a716-446655440000").as_str(), "infinivirt-vm:550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(owner_of("infinivirt-vm:abc-1").as_deref(), Some("abc-1"));
    let odd = owner_comment("a \"b\"; c");
    assert!(odd.as_str().starts_with("infinivirt-vm-sha256:") && odd.as_str().len() == 21 + 32, "{}", odd.as_str());
    assert_ne!(owner_comment("a b"), owner_comment("a c"));
    assert!(owner_comment(&"x".repeat(51)).as_str().starts_with("infinivirt-vm-sha256:"));
    assert_eq!(owner_comment(&"x".repeat(50)).as_str(), format!("infinivirt-vm:{}", "x".repeat(50)));
    assert_eq!(owner_of("something else"), None);
    let fw = plan_vm(VM, TAP, &[], &[], &Capabilities::FULL, Policy::Accept, false).unwrap();
    assert_eq!(render::cmd(&vm_chain_cmds(&fw)[0]), format!("add chain bridge infinivirt vm_550e8400 {{ comment \"infinivirt-vm:{VM}\"; }}"));
}

#[test]
fn fallback_rendering_keeps_the_meaning() {
    let dept = rules(json!([ssh(), {"id":"rej","name":"Reject web","action":"REJECT","direction":"IN","priority":10,"protocol":"tcp","dstPortStart":80}]));
    let fw = plan_vm(VM, TAP, &dept, &[], &Capabilities::FALLBACK, Policy::Accept, true).unwrap();
    assert_eq!(
        body(&fw),
        [
            "oifname \"vnet-550e8400e2\" ip protocol tcp tcp dport 80 jump reject_fallback comment \"Reject web\"",
            "oifname \"vnet-550e8400e2\" ip protocol tcp tcp dport 22 meta mark & 0x70000000 != 0x00000000 accept comment \"SSH\"",
            "oifname \"vnet-550e8400e2\" meta mark & 0x50000000 != 0x00000000 accept comment \"Allow Established/Related (Auto)\"",
            "iifname \"vnet-550e8400e2\" meta mark & 0x50000000 != 0x00000000 accept comment \"Allow Established/Related (Auto)\"",
        ]
    );
    let features: Vec<(&str, &str)> = fw.fallbacks.iter().map(|f| (f.feature, f.mode)).collect();
    assert_eq!(features, [("reject", "inet"), ("ct state", "mark"), ("ct state", "mark")]);
    assert_eq!(state_bits(CtStates::from_names(["established", "related"]).unwrap()), 0x5000_0000);
    assert_eq!(states_of_bits(0x5000_0000), CtStates::from_names(["established", "related"]));
    assert_eq!(states_of_bits(0x0800_0000), None);
}

#[test]
fn unavailable_features_are_refused_never_dropped() {
    let caps = Capabilities::NONE;
    let e = plan_vm(VM, TAP, &rules(json!([ssh()])), &[], &caps, Policy::Accept, true).unwrap_err();
    assert_eq!(e.code(), "RULE_INVALID");
    assert!(e.to_string().starts_with("[Rule ssh] Connection-state matching is not available on this host"), "{e}");
    let rej = rules(json!([{"id":"r","name":"R","action":"REJECT","direction":"IN","priority":1,"protocol":"all"}]));
    let e = plan_vm(VM, TAP, &rej, &[], &caps, Policy::Accept, true).unwrap_err();
    assert!(e.to_string().starts_with("[Rule r] REJECT is not available on this host"), "{e}");
    // The default rule is left out under an accept policy (it could only accept what
    // the policy accepts) and reported; under a drop policy the plan is refused.
    let fw = plan_vm(VM, TAP, &[], &[], &caps, Policy::Accept, true).unwrap();
    assert!(fw.rules.is_empty());
    assert_eq!(fw.total_rules, 1);
    assert_eq!(fw.fallbacks[0].mode, "omitted");
    let e = plan_vm(VM, TAP, &[], &[], &caps, Policy::Drop, true).unwrap_err();
    assert!(e.to_string().starts_with("[Rule __default_established] Connection-state"), "{e}");
}

#[test]
fn drop_policy_ends_every_chain() {
    let fw = plan_vm(VM, TAP, &[], &[], &Capabilities::FULL, Policy::Drop, true).unwrap();
    assert_eq!(body(&fw).last().unwrap(), "ether type != arp drop comment \"Infinivirt default policy: drop\"");
    assert_eq!(terminal(Policy::Accept), None);
}

fn apply_batch(fw: &VmFirewall, caps: &Capabilities) -> String {
    let mut b = Batch(infra(caps));
    b.extend(vm_chain_cmds(fw));
    b.extend(dispatch_add(&fw.tap, &fw.chain));
    render::batch(&b)
}

#[test]
fn golden_apply_native() {
    let fw = plan_vm(VM, TAP, &rules(json!([ssh(), both()])), &[], &Capabilities::FULL, Policy::Accept, true).unwrap();
    assert_golden("apply-native.nft", &apply_batch(&fw, &Capabilities::FULL));
}

#[test]
fn golden_apply_fallback_drop_policy() {
    let dept =
        rules(json!([ssh(), both(), {"id":"rej","name":"Reject web","action":"REJECT","direction":"IN","priority":10,"protocol":"tcp","dstPortStart":80}]));
    let vm = rules(
        json!([{"id":"v","name":"Out DNS","action":"ACCEPT","direction":"OUT","priority":60,"protocol":"udp","dstPortStart":53,"dstIpAddr":"10.0.0.1","dstIpMask":"32"}]),
    );
    let fw = plan_vm(VM, TAP, &dept, &vm, &Capabilities::FALLBACK, Policy::Drop, true).unwrap();
    assert_golden("apply-fallback-drop.nft", &apply_batch(&fw, &Capabilities::FALLBACK));
}

#[test]
fn golden_remove_and_layout() {
    let tap = parse_tap(TAP).unwrap();
    let chain = vm_chain(VM);
    let mut b = Batch(dispatch_delete(std::slice::from_ref(&tap), std::slice::from_ref(&tap), std::slice::from_ref(&tap)));
    b.push(Cmd::FlushChain(BRIDGE_TABLE, chain.clone()));
    b.push(Cmd::DeleteChain(BRIDGE_TABLE, chain));
    assert_golden("remove.nft", &render::batch(&b));
    // The base chain: scoped DHCP, then two map lookups whatever the number of VMs.
    let base: Vec<String> = base_rules().iter().map(render::rule).collect();
    assert_eq!(
        base,
        [
            "iifname @vm_ports udp sport 67 udp dport 68 drop comment \"Block DHCP server replies from VMs\"",
            "iifname @vm_ports udp sport 68 udp dport 67 accept comment \"Allow DHCP client to server\"",
            "oifname @vm_ports udp sport 67 udp dport 68 accept comment \"Allow DHCP server to client\"",
            "oifname vmap @to_vm",
            "iifname vmap @from_vm",
        ]
    );
    // Native kernels need no fallback helpers at all.
    assert!(fallback_infra(&Capabilities::FULL).is_empty());
}

#[test]
fn infra_is_idempotent_text() {
    // Re-running the layout twice renders the same, and never duplicates base rules:
    // the base chain is flushed and rewritten in the same transaction.
    let once = render::batch(&Batch(infra(&Capabilities::FALLBACK)));
    assert_eq!(once.matches("flush chain bridge infinivirt forward").count(), 1);
    assert_eq!(once.matches("Allow DHCP client to server").count(), 1);
    assert_eq!(once, render::batch(&Batch(infra(&Capabilities::FALLBACK))));
}

#[test]
fn fixed_names_are_identifiers() {
    for n in [BASE_CHAIN, VM_PORTS_SET, TO_VM_MAP, FROM_VM_MAP, REJECT_CHAIN, FLAG_CHAIN, CLEAR_CHAIN, INET_CT_CHAIN, INET_REJECT_CHAIN] {
        assert!(Ident::new(n).is_some(), "{n}");
    }
    assert_eq!(vm_chain("UPPER-case-ID").as_str(), "vm_uppercas");
    assert_eq!(vm_chain("").as_str(), "vm_");
}
