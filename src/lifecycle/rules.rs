//! The VM's stored firewall rules as create and start read them (spec §5.5 step 7,
//! §5.6 step 12).
//!
//! A machine the store does not know (`MACHINE_NOT_FOUND`) has no rules: the spec's
//! `fetchFirewallRules` treats it so, and a VM created before its row exists must not
//! fail on it. Every other database error still fails the operation. Each rule is
//! read on its own, so one unreadable record is left out and reported by the firewall
//! (or rejects the apply in strict mode) like any other invalid rule.

use serde_json::Value;

use super::error::{LifecycleError, LifecycleErrorCode as C};
use super::vm::{wrap, VmLifecycle, NS};
use crate::network::firewall::rule::FirewallRuleInput;
use crate::state::error::DatabaseError;
use crate::state::records::FirewallRuleRecord;

/// The records a rule lookup stands for: none when the machine is unknown.
pub(super) fn records_or_none(vm_id: &str, r: Result<Vec<FirewallRuleRecord>, DatabaseError>) -> Result<Vec<FirewallRuleRecord>, LifecycleError> {
    match r {
        Ok(records) => Ok(records),
        Err(e) if e.is_machine_not_found() => {
            crate::log::log(NS, &format!("VM {vm_id}: no machine row for its firewall rules; it runs without rules"));
            Ok(Vec::new())
        }
        Err(e) => Err(wrap(C::DATABASE_ERROR, vm_id)(e)),
    }
}

impl VmLifecycle {
    /// The VM's rules from the store, each read leniently (see the module doc).
    pub(super) async fn stored_rules(&self, vm_id: &str) -> Result<Vec<FirewallRuleInput>, LifecycleError> {
        let records = records_or_none(vm_id, self.store.get_firewall_rules(vm_id).await)?;
        Ok(records.iter().map(|r| FirewallRuleInput::from_json_lenient(serde_json::to_value(r).unwrap_or(Value::Null))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;
    use crate::state::error::{ForeignError, Retry};

    #[test]
    fn an_unknown_machine_has_no_rules_and_other_errors_fail() {
        let none = records_or_none("vm1", Err(DatabaseError::MachineNotFound { vm_id: "vm1".into() })).unwrap();
        assert!(none.is_empty());
        let foreign =
            ForeignError { message: "Machine not found: vm1".into(), code: Some("MACHINE_NOT_FOUND".into()), reference: None, retry: Retry::Permanent };
        assert!(records_or_none("vm1", Err(DatabaseError::Foreign(foreign))).unwrap().is_empty());
        let down = DatabaseError::Query {
            action: "get firewall rules",
            vm_id: Some("vm1".into()),
            cause: "connection refused".into(),
            sql_state: None,
            retry: Retry::Transient,
        };
        let e = records_or_none("vm1", Err(down)).unwrap_err();
        assert_eq!(e.code(), "DATABASE_ERROR");
    }
}
