//! `NftablesService` (spec §8.5): per-VM chains in `table bridge infinivirt`, each
//! change one nft transaction.
//!
//! Every mutating call builds one [`Batch`] (the table layout of `ruleset.rs`, the
//! VM's chain replaced whole, its map elements) and runs it with `nft -f -`. If the
//! transaction fails nothing changed and the call rejects with `NftablesError`. All
//! calls in the process are serialised on one lock, because they share one table.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::apply::{run_batch, Label};
use super::error::NftablesError;
use super::model::*;
use super::persistence::{NftablesPersistence, PersistenceConfig, PersistenceResult};
use super::probe::{self, Capabilities};
use super::readback;
use super::rule::FirewallRuleInput;
use super::ruleset::{self, Fallback, VmFirewall};
use crate::qemu::options::IfName;

/// One lock for the process: the kernel table is shared by every service instance.
static TABLE_LOCK: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);

/// Spec `NftablesServiceConfig` plus Infinivirt's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Spec default true: export the tables after each change.
    pub enable_persistence: bool,
    pub persistence: PersistenceConfig,
    /// What a VM chain does with traffic no rule decided: `Accept` (spec; the base
    /// chain's accept policy applies) or `Drop` (an explicit last rule in every VM chain).
    pub default_policy: Policy,
    /// `applyRules` all or nothing: one invalid rule rejects the call and nothing
    /// changes. Off by default (the spec's behaviour: the rule is left out and reported
    /// in `failures`); on with [`STRICT_RULES_ENV`].
    pub strict_rules: bool,
}

/// Set to `1` (or `true`, `yes`, `on`) to make strict rules the default.
pub const STRICT_RULES_ENV: &str = "INFINIVIRT_FIREWALL_STRICT";

/// The strict-rules default from [`STRICT_RULES_ENV`].
pub fn strict_rules_from_env() -> bool {
    std::env::var(STRICT_RULES_ENV).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            enable_persistence: true,
            persistence: PersistenceConfig::default(),
            default_policy: Policy::Accept,
            strict_rules: strict_rules_from_env(),
        }
    }
}

/// Spec `FirewallApplyResult` plus the fallbacks used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyResult {
    pub total_rules: usize,
    pub applied_rules: usize,
    pub failed_rules: usize,
    pub chain_name: String,
    pub failures: Vec<(String, String)>,
    pub fallbacks: Vec<Fallback>,
}

#[derive(Default)]
struct State {
    /// Rendered VM section per VM id (`applyRulesIfChanged`).
    cache: HashMap<String, String>,
    /// What was last applied per VM id (`verifyVM` without arguments).
    applied: HashMap<String, VmFirewall>,
    initialized: bool,
    /// The table layout is known to be in the kernel (see `run_with_dispatch`).
    layout_applied: bool,
}

pub struct NftablesService {
    config: ServiceConfig,
    persistence: NftablesPersistence,
    state: Mutex<State>,
    persister: Arc<Mutex<Persister>>,
}

/// Background persistence: at most one export runs; changes made meanwhile ask for
/// one more, so a burst of changes costs two exports, not one each.
#[derive(Default)]
struct Persister {
    running: bool,
    again: bool,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the maps half-updated in a way
    // that matters (they are caches), so a poisoned lock is taken over.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The text `applyRulesIfChanged` compares: the VM's chain and its dispatch.
fn fingerprint(fw: &VmFirewall) -> String {
    let mut b = Batch(ruleset::vm_chain_cmds(fw));
    b.extend(ruleset::dispatch_add(&fw.tap, &fw.chain));
    super::render::batch(&b)
}

impl NftablesService {
    pub fn new(config: ServiceConfig) -> Self {
        let persistence = NftablesPersistence::new(config.persistence.clone());
        NftablesService { config, persistence, state: Mutex::new(State::default()), persister: Arc::default() }
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn persistence(&self) -> &NftablesPersistence {
        &self.persistence
    }

    pub async fn capabilities(&self) -> Capabilities {
        probe::capabilities().await
    }

    /// Creates the table layout (idempotent, no duplicates however often it runs) and
    /// takes over the per-VM jump rules an earlier version left in `forward`, in one
    /// transaction, so no VM loses its filtering across an upgrade.
    pub async fn initialize(&self) -> Result<(), NftablesError> {
        let _g = TABLE_LOCK.lock().await;
        self.initialize_locked().await
    }

    async fn initialize_locked(&self) -> Result<(), NftablesError> {
        let caps = probe::capabilities().await;
        let mut batch = Batch(ruleset::infra(&caps));
        let existing = readback::chain_rules(BRIDGE_TABLE, ruleset::BASE_CHAIN).await?.unwrap_or_default();
        let mut migrated = Vec::new();
        for kr in existing {
            let Ok(rule) = kr.rule else { continue };
            if let ([Match::IfName { op: Op::Eq, name, .. }], Some(Verdict::Jump(chain))) = (rule.matches.as_slice(), &rule.verdict) {
                if chain.as_str().starts_with(crate::network::names::VM_CHAIN_PREFIX) && !migrated.contains(&(name.clone(), chain.clone())) {
                    migrated.push((name.clone(), chain.clone()));
                }
            }
        }
        for (tap, chain) in &migrated {
            crate::log::log("infinivirt:nftables", &format!("migrating jump rules of {} → {chain} into the dispatch maps", tap.as_str()));
            batch.extend(ruleset::dispatch_add(tap, chain));
        }
        run_batch(&batch, &Label::new("initialize", ["bridge", "infinivirt"])).await?;
        let mut st = locked(&self.state);
        st.initialized = true;
        st.layout_applied = true;
        Ok(())
    }

    async fn ensure_initialized(&self) -> Result<(), NftablesError> {
        if !locked(&self.state).initialized {
            self.initialize_locked().await?;
        }
        Ok(())
    }

    pub async fn chain_exists(&self, chain: &str) -> bool {
        let _g = TABLE_LOCK.lock().await;
        chain_exists(chain).await
    }

    /// The chain if missing (holding only the terminal policy, so a new VM is never
    /// open), plus its dispatch elements. Resolves the chain name.
    pub async fn create_vm_chain(&self, vm_id: &str, tap: &str) -> Result<String, NftablesError> {
        let chain = ruleset::vm_chain(vm_id);
        let op = Label::new("add chain", [chain.to_string()]);
        let tap = ruleset::parse_tap(tap)?;
        let _g = TABLE_LOCK.lock().await;
        self.ensure_initialized().await?;
        let caps = probe::capabilities().await;
        let owner = owner_of_chain(&chain).await?;
        check_owner(&owner, vm_id, &chain)?;
        let mut batch = Batch(Vec::new());
        if owner == Owner::Missing {
            batch.extend(self.empty_chain(&chain, vm_id));
        }
        self.run_with_dispatch(batch, &caps, &tap, &chain, &op).await?;
        self.persist_in_background();
        Ok(chain.to_string())
    }

    pub async fn ensure_vm_chain(&self, vm_id: &str) -> Result<String, NftablesError> {
        let chain = ruleset::vm_chain(vm_id);
        let op = Label::new("add chain", [chain.to_string()]);
        let _g = TABLE_LOCK.lock().await;
        self.ensure_initialized().await.map_err(|e| relabel(e, &op))?;
        let owner = owner_of_chain(&chain).await?;
        check_owner(&owner, vm_id, &chain)?;
        if owner == Owner::Missing {
            let caps = probe::capabilities().await;
            let mut batch = Batch(ruleset::infra(&caps));
            batch.extend(self.empty_chain(&chain, vm_id));
            run_batch(&batch, &op).await?;
        }
        Ok(chain.to_string())
    }

    fn empty_chain(&self, chain: &Ident, vm_id: &str) -> Vec<Cmd> {
        let mut v = vec![Cmd::AddChainWithComment(BRIDGE_TABLE, chain.clone(), ruleset::owner_comment(vm_id))];
        v.extend(ruleset::terminal(self.config.default_policy).map(|r| Cmd::AddRule(BRIDGE_TABLE, chain.clone(), r)));
        v
    }

    /// Runs `body` with the tap's dispatch, preceded by the table layout unless this
    /// instance has applied the layout and no batch failed since (the layout is some
    /// 35 commands; leaving them out halves a VM's firewall transaction). A lean batch
    /// that fails is retried once with the layout, so a table removed behind our back
    /// is recreated as before.
    async fn run_with_dispatch(&self, body: Batch, caps: &Capabilities, tap: &IfName, chain: &Ident, op: &Label) -> Result<(), NftablesError> {
        let with_layout = || {
            let mut full = Batch(ruleset::infra(caps));
            full.extend(body.0.clone());
            full
        };
        let lean = locked(&self.state).layout_applied;
        let first = if lean { body.clone() } else { with_layout() };
        let mut r = self.run_dispatch_once(first, tap, chain, op).await;
        if r.is_err() && lean {
            r = self.run_dispatch_once(with_layout(), tap, chain, op).await;
        }
        locked(&self.state).layout_applied = r.is_ok();
        r
    }

    /// Adds the tap's dispatch to `batch` and runs it. If the tap is still mapped to
    /// another chain (a re-used TAP name), the stale elements are replaced and the
    /// batch runs once more; any other failure is returned as is.
    async fn run_dispatch_once(&self, batch: Batch, tap: &IfName, chain: &Ident, op: &Label) -> Result<(), NftablesError> {
        let mut first = batch.clone();
        first.extend(ruleset::dispatch_add(tap, chain));
        let Err(err) = run_batch(&first, op).await else { return Ok(()) };
        let (to_vm, from_vm, _) = dispatch_state().await?;
        let stale = |elems: &[(String, Option<String>)]| -> Vec<IfName> {
            elems
                .iter()
                .filter(|(k, target)| k == tap.as_str() && target.as_deref() != Some(chain.as_str()))
                .filter_map(|(k, _)| IfName::parse(k).ok())
                .collect()
        };
        let (stale_to, stale_from) = (stale(&to_vm), stale(&from_vm));
        if stale_to.is_empty() && stale_from.is_empty() {
            return Err(err);
        }
        crate::log::warn("nftables", &format!("{} was dispatched to another chain; it now goes to {chain}", tap.as_str()));
        let mut second = batch;
        second.extend(ruleset::dispatch_delete(&[], &stale_to, &stale_from));
        second.extend(ruleset::dispatch_add(tap, chain));
        run_batch(&second, op).await
    }

    /// Spec `applyRules`: merge, validate and translate every rule first (a bad rule is
    /// left out and reported in `failures`, or with `strict_rules` rejects the call and
    /// changes nothing), then replace the VM chain and its dispatch in one transaction.
    /// A chain another VM owns is refused (`CHAIN_EXISTS`) and left as it is.
    pub async fn apply_rules(&self, vm_id: &str, tap: &str, dept: &[FirewallRuleInput], vm: &[FirewallRuleInput]) -> Result<ApplyResult, NftablesError> {
        let caps = probe::capabilities().await;
        let fw = self.plan_with(vm_id, tap, dept, vm, &caps)?;
        let _g = TABLE_LOCK.lock().await;
        self.apply_locked(vm_id, fw, &caps).await
    }

    async fn apply_locked(&self, vm_id: &str, fw: VmFirewall, caps: &Capabilities) -> Result<ApplyResult, NftablesError> {
        self.ensure_initialized().await?;
        let op = Label::new("apply rules", [vm_id.to_string(), fw.tap.as_str().to_string()]);
        let owner = owner_of_chain(&fw.chain).await?;
        check_owner(&owner, vm_id, &fw.chain)?;
        let mut batch = Batch(Vec::new());
        let mut kept = Vec::new();
        if owner == Owner::Unrecorded {
            // The kernel keeps an existing chain's comment, so the owner is recorded by
            // re-creating the chain in this transaction; the ports it served stay on it.
            crate::log::log("infinivirt:nftables", &format!("{} has no owner record; VM {vm_id} takes it over", fw.chain));
            let (to_vm, from_vm, _) = dispatch_state().await?;
            let to = pointing_to(&to_vm, &fw.chain);
            let from = pointing_to(&from_vm, &fw.chain);
            batch.extend(ruleset::dispatch_delete(&[], &to, &from));
            batch.push(Cmd::FlushChain(BRIDGE_TABLE, fw.chain.clone()));
            batch.push(Cmd::DeleteChain(BRIDGE_TABLE, fw.chain.clone()));
            kept = [(ruleset::TO_VM_MAP, to), (ruleset::FROM_VM_MAP, from)]
                .into_iter()
                .filter(|(_, keys)| !keys.is_empty())
                .map(|(map, keys)| Cmd::AddElements(BRIDGE_TABLE, ruleset::ident(map), keys.into_iter().map(|k| Element::Jump(k, fw.chain.clone())).collect()))
                .collect();
        }
        batch.extend(ruleset::vm_chain_cmds(&fw));
        batch.extend(kept);
        self.run_with_dispatch(batch, caps, &fw.tap, &fw.chain, &op).await?;
        let failed = fw.failures.len();
        let result = ApplyResult {
            total_rules: fw.total_rules,
            applied_rules: fw.total_rules.saturating_sub(failed),
            failed_rules: failed,
            chain_name: fw.chain.to_string(),
            failures: fw.failures.clone(),
            fallbacks: fw.fallbacks.clone(),
        };
        {
            let mut st = locked(&self.state);
            // Spec: the cache only remembers a fully applied rule set.
            if failed == 0 {
                st.cache.insert(vm_id.to_string(), fingerprint(&fw));
            } else {
                st.cache.remove(vm_id);
            }
            st.applied.insert(vm_id.to_string(), fw);
        }
        self.persist_in_background();
        Ok(result)
    }

    /// Spec `applyRulesIfChanged`: nothing runs when the VM's chain and dispatch would
    /// come out identical to what this instance last applied.
    pub async fn apply_rules_if_changed(
        &self,
        vm_id: &str,
        tap: &str,
        dept: &[FirewallRuleInput],
        vm: &[FirewallRuleInput],
    ) -> Result<Option<ApplyResult>, NftablesError> {
        let caps = probe::capabilities().await;
        let fw = self.plan_with(vm_id, tap, dept, vm, &caps)?;
        let _g = TABLE_LOCK.lock().await;
        if fw.failures.is_empty() && locked(&self.state).cache.get(vm_id) == Some(&fingerprint(&fw)) {
            return Ok(None);
        }
        self.apply_locked(vm_id, fw, &caps).await.map(Some)
    }

    pub fn clear_rules_cache(&self, vm_id: &str) {
        locked(&self.state).cache.remove(vm_id);
    }

    /// Spec `flushVMRules` (never fails): the chain keeps only its terminal policy.
    /// A chain another VM owns is left alone.
    pub async fn flush_vm_rules(&self, vm_id: &str) {
        let chain = ruleset::vm_chain(vm_id);
        let _g = TABLE_LOCK.lock().await;
        if !owned_or_unrecorded(vm_id, &chain, "flush").await {
            return;
        }
        self.clear_rules_cache(vm_id);
        locked(&self.state).applied.remove(vm_id);
        let mut batch = Batch(vec![Cmd::FlushChain(BRIDGE_TABLE, chain.clone())]);
        batch.extend(ruleset::terminal(self.config.default_policy).map(|r| Cmd::AddRule(BRIDGE_TABLE, chain.clone(), r)));
        if let Err(e) = run_batch(&batch, &Label::new("flush chain", [chain.to_string()])).await {
            crate::log::log("infinivirt:nftables", &format!("flush of {chain} failed: {e}"));
        }
    }

    /// Spec `detachJumpRules` (never fails): removes the VM's dispatch elements; the
    /// elements of a chain another VM owns are that VM's and stay.
    pub async fn detach_jump_rules(&self, vm_id: &str) {
        let chain = ruleset::vm_chain(vm_id);
        let _g = TABLE_LOCK.lock().await;
        if !owned_or_unrecorded(vm_id, &chain, "detach").await {
            return;
        }
        if let Err(e) = self.detach_locked(&chain, false).await {
            crate::log::log("infinivirt:nftables", &format!("detaching {chain} failed: {e}"));
        }
    }

    /// One transaction: the dispatch elements pointing at `chain`, and with
    /// `delete_chain` the chain itself.
    async fn detach_locked(&self, chain: &Ident, delete_chain: bool) -> Result<(), NftablesError> {
        let (to_vm, from_vm, ports) = dispatch_state().await?;
        let (to, from) = (pointing_to(&to_vm, chain), pointing_to(&from_vm, chain));
        let mut taps: Vec<IfName> = to.iter().chain(from.iter()).cloned().collect();
        taps.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        taps.dedup();
        taps.retain(|t| ports.iter().any(|p| p == t.as_str()));
        let mut batch = Batch(ruleset::dispatch_delete(&taps, &to, &from));
        if delete_chain && chain_exists(chain.as_str()).await {
            batch.push(Cmd::FlushChain(BRIDGE_TABLE, chain.clone()));
            batch.push(Cmd::DeleteChain(BRIDGE_TABLE, chain.clone()));
        }
        run_batch(&batch, &Label::new("detach jump rules", [chain.to_string()])).await
    }

    /// Spec `attachJumpRules`: idempotent (adding an element twice changes nothing).
    pub async fn attach_jump_rules(&self, vm_id: &str, tap: &str) -> Result<(), NftablesError> {
        let chain = ruleset::vm_chain(vm_id);
        let op = Label::new("attach jump rules", [vm_id.to_string(), tap.to_string()]);
        let tap = ruleset::parse_tap(tap)?;
        let _g = TABLE_LOCK.lock().await;
        self.ensure_initialized().await.map_err(|e| relabel(e, &op))?;
        check_owner(&owner_of_chain(&chain).await?, vm_id, &chain)?;
        let caps = probe::capabilities().await;
        self.run_with_dispatch(Batch(Vec::new()), &caps, &tap, &chain, &op).await
    }

    /// Spec `removeVMChain` (never fails): dispatch elements, rules and chain go in one
    /// transaction, so the chain is unreferenced when it is deleted (no retries, no sleeps).
    pub async fn remove_vm_chain(&self, vm_id: &str) {
        let chain = ruleset::vm_chain(vm_id);
        let _g = TABLE_LOCK.lock().await;
        if !owned_or_unrecorded(vm_id, &chain, "remove").await {
            locked(&self.state).cache.remove(vm_id);
            locked(&self.state).applied.remove(vm_id);
            return;
        }
        if let Err(e) = self.detach_locked(&chain, true).await {
            crate::log::log("infinivirt:nftables", &format!("removing {chain} failed: {e}"));
        }
        {
            let mut st = locked(&self.state);
            st.cache.remove(vm_id);
            st.applied.remove(vm_id);
        }
        self.persist_in_background();
    }

    /// Spec `listChains`: every chain of the table (empty when it does not exist).
    pub async fn list_chains(&self) -> Result<Vec<String>, NftablesError> {
        readback::chain_names(BRIDGE_TABLE).await
    }

    /// What this instance last applied for a VM.
    pub fn last_applied(&self, vm_id: &str) -> Option<VmFirewall> {
        locked(&self.state).applied.get(vm_id).cloned()
    }

    /// The plan for explicit rules (for verification against the database's rules).
    pub async fn plan(&self, vm_id: &str, tap: &str, dept: &[FirewallRuleInput], vm: &[FirewallRuleInput]) -> Result<VmFirewall, NftablesError> {
        let caps = probe::capabilities().await;
        self.plan_with(vm_id, tap, dept, vm, &caps)
    }

    fn plan_with(
        &self,
        vm_id: &str,
        tap: &str,
        dept: &[FirewallRuleInput],
        vm: &[FirewallRuleInput],
        caps: &Capabilities,
    ) -> Result<VmFirewall, NftablesError> {
        ruleset::plan_vm(vm_id, tap, dept, vm, caps, self.config.default_policy, self.config.strict_rules)
    }

    /// Saves the tables after a change, in the background: listing a large table takes
    /// nft a while (about 0.4 s for 500 VMs of 20 rules), which a change should not
    /// wait for. The spec only logged persistence failures; so does this.
    fn persist_in_background(&self) {
        if !self.config.enable_persistence {
            return;
        }
        {
            let mut p = locked(&self.persister);
            if p.running {
                p.again = true;
                return;
            }
            p.running = true;
        }
        let (persistence, persister) = (self.persistence.clone(), self.persister.clone());
        tokio::spawn(async move {
            loop {
                let r = persistence.export().await;
                if !r.success {
                    crate::log::warn("nftables", &format!("persisting the firewall failed: {}", r.error.unwrap_or_default()));
                }
                let mut p = locked(&persister);
                if !p.again {
                    p.running = false;
                    break;
                }
                p.again = false;
            }
        });
    }

    /// `exportToDisk` of this service's persistence (awaited, unlike the automatic one).
    pub async fn export(&self) -> PersistenceResult {
        self.persistence.export().await
    }

    /// Spec `forcePersist`.
    pub async fn force_persist(&self) -> (bool, Option<String>) {
        let r = self.export().await;
        (r.success, r.error.filter(|_| !r.success))
    }
}

/// Runs `f` while no ruleset change can interleave (restore, rollback).
pub async fn with_table_lock<T, F: std::future::Future<Output = T>>(f: F) -> T {
    let _g = TABLE_LOCK.lock().await;
    f.await
}

/// Spec `chainExists`: a name that cannot be a chain of ours is simply absent (it is
/// never passed to nft, where a crafted name could parse as more commands).
async fn chain_exists(chain: &str) -> bool {
    if Ident::new(chain).is_none() {
        return false;
    }
    matches!(readback::chain_rules(BRIDGE_TABLE, chain).await, Ok(Some(_)))
}

/// Who a VM chain belongs to, as the kernel records it (the chain's comment, so a
/// restarted manager and a restored ruleset know it too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Missing,
    /// A chain without an owner comment (made by the original library or an earlier
    /// version): the next VM that applies rules to it records itself.
    Unrecorded,
    /// The owner comment (`ruleset::owner_comment`).
    Vm(String),
}

/// The owner of a chain, from its comment.
pub async fn owner_of_chain(chain: &Ident) -> Result<Owner, NftablesError> {
    Ok(match readback::chain_comment(BRIDGE_TABLE, chain).await? {
        None => Owner::Missing,
        Some(Some(c)) if ruleset::owner_of(&c).is_some() => Owner::Vm(c),
        Some(_) => Owner::Unrecorded,
    })
}

/// `CHAIN_EXISTS` when the chain records another VM as its owner.
pub fn check_owner(owner: &Owner, vm_id: &str, chain: &Ident) -> Result<(), NftablesError> {
    match owner {
        Owner::Vm(c) if c != ruleset::owner_comment(vm_id).as_str() => {
            Err(NftablesError::ChainOwned { chain: chain.to_string(), vm_id: vm_id.to_string(), owner: ruleset::owner_of(c).unwrap_or_default() })
        }
        _ => Ok(()),
    }
}

/// For the calls that never fail: true when `vm_id` may change the chain (it owns it,
/// no one has recorded owning it, or it does not exist). Logs why not otherwise.
async fn owned_or_unrecorded(vm_id: &str, chain: &Ident, what: &str) -> bool {
    let r = match owner_of_chain(chain).await {
        Ok(o) => check_owner(&o, vm_id, chain),
        Err(e) => Err(e),
    };
    match r {
        Ok(()) => true,
        Err(e) => {
            crate::log::log("infinivirt:nftables", &format!("{what} of {chain} for VM {vm_id} skipped: {e}"));
            false
        }
    }
}

/// The ports a map sends to `chain`.
fn pointing_to(elems: &[(String, Option<String>)], chain: &Ident) -> Vec<IfName> {
    elems.iter().filter(|(_, t)| t.as_deref() == Some(chain.as_str())).filter_map(|(k, _)| IfName::parse(k).ok()).collect()
}

type Elems = Vec<(String, Option<String>)>;

/// The two dispatch maps and the port set (empty when missing).
async fn dispatch_state() -> Result<(Elems, Elems, Vec<String>), NftablesError> {
    let to_vm = readback::map_elements(BRIDGE_TABLE, ruleset::TO_VM_MAP).await?.unwrap_or_default();
    let from_vm = readback::map_elements(BRIDGE_TABLE, ruleset::FROM_VM_MAP).await?.unwrap_or_default();
    let ports = readback::set_elements(BRIDGE_TABLE, ruleset::VM_PORTS_SET).await?.unwrap_or_default();
    Ok((to_vm, from_vm, ports))
}

/// Gives an initialisation failure the label of the operation that triggered it.
fn relabel(e: NftablesError, op: &Label) -> NftablesError {
    match e {
        NftablesError::Command { message, stderr, exit_code, .. } => {
            NftablesError::Command { message, command: op.command.clone(), args: op.args.clone(), stderr, exit_code }
        }
        other => other,
    }
}
