//! TAP names derived from VM ids, who owns a TAP, and what `create` may do with a
//! name that is already taken.
//!
//! The name is the spec's `vnet-` + the first 10 letters and digits of the VM id,
//! so devices made by the original library are found under the same names. Ten
//! characters are not unique: `abcdefghij-1` and `abcdefghij-2` share
//! `vnet-abcdefghij`. Each TAP we create therefore carries its owner's VM id in
//! its kernel alias (`ip link show` prints it as `alias infinivirt vm=<id>`), which
//! survives a manager restart, and the decision below refuses to hand one VM's
//! TAP to another.

use super::codec::LinkInfo;
use crate::network::error::{Holder, NetworkError};
use crate::network::ifname::IfName;
use crate::network::names::tap_name;

/// Prefix of the owner tag kept in a TAP's alias.
pub const OWNER_TAG: &str = "infinivirt vm=";
/// The kernel's alias limit is 255 bytes; VM ids are database ids (UUIDs, cuids).
pub const MAX_VM_ID_LEN: usize = 200;

/// The TAP name of `vm_id`, refusing ids no sensible name comes from.
pub fn tap_for_vm(vm_id: &str) -> Result<IfName, NetworkError> {
    let bad = |reason| NetworkError::InvalidVmId { vm_id: vm_id.to_string(), reason };
    if vm_id.len() > MAX_VM_ID_LEN {
        return Err(bad("it is longer than 200 bytes"));
    }
    if vm_id.chars().any(char::is_control) {
        return Err(bad("it contains control characters"));
    }
    if !vm_id.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("it has no letters or digits to derive a TAP name from"));
    }
    IfName::new(tap_name(vm_id))
}

/// The alias that marks a TAP as `vm_id`'s.
pub fn owner_tag(vm_id: &str) -> String {
    format!("{OWNER_TAG}{vm_id}")
}

/// The VM id in a TAP's alias, if it carries our tag.
pub fn owner_of(link: &LinkInfo) -> Option<&str> {
    link.alias.as_deref()?.strip_prefix(OWNER_TAG).filter(|id| !id.is_empty())
}

/// Who holds a TAP name inside this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimant {
    Vm(String),
    /// Attached to a bridge by this process without a known VM (a TAP made by the
    /// original library, which carries no owner tag).
    Unattributed,
}

/// What `create(vm_id)` does about the name it derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatePlan {
    /// Nothing of that name exists: create it.
    Create,
    /// A carrier-less TAP of this VM, or an untagged one (the original library's):
    /// delete it and create a fresh one, as the spec does.
    Replace,
    /// Someone else holds the name.
    Refuse(Holder),
    /// The name belongs to a device that is not a TAP (a bridge, a veth, …).
    NotATap { kind: String },
}

/// Decides before anything is created. `claimed` is this process's claim on the
/// name, `existing` the kernel's device of that name.
pub fn plan_create(vm_id: &str, claimed: Option<&Claimant>, existing: Option<&LinkInfo>) -> CreatePlan {
    match claimed {
        Some(Claimant::Vm(other)) if other != vm_id => return CreatePlan::Refuse(Holder::Vm(other.clone())),
        Some(Claimant::Unattributed) => return CreatePlan::Refuse(Holder::Unattributed),
        _ => {}
    }
    let Some(link) = existing else { return CreatePlan::Create };
    if !link.tun.is_some_and(|t| t.tap) {
        let kind = match (&link.kind, link.tun) {
            (Some(k), Some(_)) if k == "tun" => "tun (layer 3)".to_string(),
            (Some(k), _) => k.clone(),
            (None, _) => "physical".to_string(),
        };
        return CreatePlan::NotATap { kind };
    }
    let owner = owner_of(link);
    if let Some(o) = owner.filter(|o| *o != vm_id) {
        return CreatePlan::Refuse(Holder::Vm(o.to_string()));
    }
    if link.has_carrier() {
        return CreatePlan::Refuse(Holder::RunningQemu { owner: owner.map(str::to_string) });
    }
    CreatePlan::Replace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::link::codec::TunInfo;

    fn tap(alias: Option<&str>, carrier: bool) -> LinkInfo {
        LinkInfo {
            index: 7,
            name: "vnet-abcdefghij".into(),
            kind: Some("tun".into()),
            tun: Some(TunInfo { tap: true, persist: true, ..TunInfo::default() }),
            alias: alias.map(str::to_string),
            carrier: Some(carrier),
            ..LinkInfo::default()
        }
    }

    #[test]
    fn names_follow_the_spec() {
        assert_eq!(tap_for_vm("550e8400-e29b-41d4-a716-446655440000").unwrap().as_str(), "vnet-550e8400e2");
        assert_eq!(tap_for_vm("vm-1").unwrap().as_str(), "vnet-vm1");
        for bad in ["", "---", "\u{e4}\u{f6}", "a\nb", &"x".repeat(201)] {
            let e = tap_for_vm(bad).unwrap_err();
            assert!(matches!(e, NetworkError::InvalidVmId { .. }), "{bad:?}");
        }
    }

    #[test]
    fn owner_tag_round_trips() {
        let mut l = tap(Some(&owner_tag("abcdefghij-1")), false);
        assert_eq!(owner_of(&l), Some("abcdefghij-1"));
        l.alias = Some("something else".into());
        assert_eq!(owner_of(&l), None);
        l.alias = Some(OWNER_TAG.into());
        assert_eq!(owner_of(&l), None);
    }

    #[test]
    fn two_vms_with_one_name_are_refused_before_anything_is_created() {
        let a = "abcdefghij-1";
        let b = "abcdefghij-2";
        assert_eq!(tap_for_vm(a).unwrap(), tap_for_vm(b).unwrap());
        // Claimed in this process by A (A is starting: its QEMU has not opened it yet).
        assert_eq!(plan_create(b, Some(&Claimant::Vm(a.into())), Some(&tap(Some(&owner_tag(a)), false))), CreatePlan::Refuse(Holder::Vm(a.into())));
        // Made by another process (or before a restart) for A: its tag says so.
        assert_eq!(plan_create(b, None, Some(&tap(Some(&owner_tag(a)), false))), CreatePlan::Refuse(Holder::Vm(a.into())));
        // The claim alone is enough, even before the device exists.
        assert_eq!(plan_create(b, Some(&Claimant::Vm(a.into())), None), CreatePlan::Refuse(Holder::Vm(a.into())));
    }

    #[test]
    fn a_running_qemu_keeps_its_tap() {
        assert_eq!(plan_create("x", None, Some(&tap(None, true))), CreatePlan::Refuse(Holder::RunningQemu { owner: None }));
        assert_eq!(
            plan_create("abcdefghij-1", None, Some(&tap(Some(&owner_tag("abcdefghij-1")), true))),
            CreatePlan::Refuse(Holder::RunningQemu { owner: Some("abcdefghij-1".into()) })
        );
        assert_eq!(plan_create("x", Some(&Claimant::Unattributed), None), CreatePlan::Refuse(Holder::Unattributed));
    }

    #[test]
    fn own_or_untagged_idle_taps_are_replaced() {
        let a = "abcdefghij-1";
        assert_eq!(plan_create(a, None, None), CreatePlan::Create);
        assert_eq!(plan_create(a, Some(&Claimant::Vm(a.into())), None), CreatePlan::Create);
        assert_eq!(plan_create(a, None, Some(&tap(Some(&owner_tag(a)), false))), CreatePlan::Replace);
        assert_eq!(plan_create(a, None, Some(&tap(None, false))), CreatePlan::Replace);
    }

    #[test]
    fn other_devices_are_never_replaced() {
        let bridge = LinkInfo { name: "vnet-abcdefghij".into(), kind: Some("bridge".into()), ..LinkInfo::default() };
        assert_eq!(plan_create("a", None, Some(&bridge)), CreatePlan::NotATap { kind: "bridge".into() });
        let tun = LinkInfo { kind: Some("tun".into()), tun: Some(TunInfo { tap: false, ..TunInfo::default() }), ..bridge.clone() };
        assert_eq!(plan_create("a", None, Some(&tun)), CreatePlan::NotATap { kind: "tun (layer 3)".into() });
        let phys = LinkInfo { kind: None, ..bridge };
        assert_eq!(plan_create("a", None, Some(&phys)), CreatePlan::NotATap { kind: "physical".into() });
    }
}
