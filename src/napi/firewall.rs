//! Bindings of `FirewallRuleTranslator`, `NftablesService`, its persistence and
//! `DepartmentNatService`: conversion only.

use std::path::PathBuf;
use std::sync::Arc;

use napi_derive::napi;
use serde_json::Value;

use super::error::{guarded, IntoNapi};
use crate::network::firewall::error::{NftablesError, NftablesErrorCode};
use crate::network::firewall::explain::{self, Explanation, PacketInput, Step};
use crate::network::firewall::model::Policy;
use crate::network::firewall::persistence::{NftablesPersistence, PersistenceConfig, PersistenceResult, PersistenceStatus, RestoreResult};
use crate::network::firewall::probe::Capabilities;
use crate::network::firewall::rule::{self, FirewallRuleInput};
use crate::network::firewall::service::{self, ApplyResult, NftablesService, ServiceConfig};
use crate::network::firewall::translate;
use crate::network::firewall::verify::{self, VerifyReport};
use crate::network::nat::DepartmentNatService;

#[allow(clippy::cast_precision_loss)] // rule counts are small
fn num(n: usize) -> f64 {
    n as f64
}

/// Rules as JS passed them (typed `Partial<FirewallRuleRecord>`, read leniently
/// here so a bad field is reported by rule name); one that cannot be read fails validation when planned
/// (left out and reported, or rejecting the call in strict mode).
fn rules(v: Option<Vec<Value>>) -> Vec<FirewallRuleInput> {
    v.unwrap_or_default().into_iter().map(FirewallRuleInput::from_json_lenient).collect()
}

// ---------------------------------------------------------------- translator

#[napi(catch_unwind)]
pub fn fw_translate_to_tokens(#[napi(ts_arg_type = "Partial<FirewallRuleRecord>")] rule: Value, tap: Option<String>) -> napi::Result<Vec<String>> {
    let r = FirewallRuleInput::from_json(rule).napi()?;
    translate::translate(&r, tap.as_deref().unwrap_or("")).napi()
}

#[napi(catch_unwind)]
pub fn fw_translate_direction(direction: Option<String>, tap: Option<String>) -> napi::Result<Vec<String>> {
    translate::direction_tokens(direction.as_deref().unwrap_or("undefined"), tap.as_deref().unwrap_or("")).napi()
}

#[napi(catch_unwind)]
pub fn fw_translate_protocol(protocol: Option<String>) -> napi::Result<Vec<String>> {
    translate::protocol_tokens(protocol.as_deref().unwrap_or("undefined")).napi()
}

#[napi]
pub fn fw_translate_ports(protocol: Option<String>, src_start: Option<f64>, src_end: Option<f64>, dst_start: Option<f64>, dst_end: Option<f64>) -> Vec<String> {
    translate::ports_tokens(protocol.as_deref().unwrap_or(""), (src_start, src_end), (dst_start, dst_end))
}

#[napi]
pub fn fw_translate_addresses(src: Option<String>, src_mask: Option<String>, dst: Option<String>, dst_mask: Option<String>) -> Vec<String> {
    translate::address_tokens(src.as_deref(), src_mask.as_deref(), dst.as_deref(), dst_mask.as_deref())
}

#[napi(catch_unwind)]
pub fn fw_translate_states(
    #[napi(ts_arg_type = "FirewallRuleRecord['connectionState'] | undefined")] connection_state: Option<Value>,
) -> napi::Result<Vec<String>> {
    let r = FirewallRuleInput::from_json(serde_json::json!({ "connectionState": connection_state })).napi()?;
    Ok(translate::state_tokens(&r.states()))
}

#[napi(catch_unwind)]
pub fn fw_validate_rule(#[napi(ts_arg_type = "unknown")] rule: Value) -> napi::Result<()> {
    FirewallRuleInput::from_json(rule).and_then(|r| r.validate()).napi()
}

#[napi]
pub fn fw_is_valid_ip_address(ip: String) -> bool {
    rule::is_valid_ip_address(&ip)
}

#[napi]
pub fn fw_is_valid_cidr(cidr: String) -> bool {
    rule::is_valid_cidr(&cidr)
}

#[napi]
pub fn fw_is_valid_subnet_mask(mask: String) -> bool {
    rule::is_valid_subnet_mask(&mask)
}

// ---------------------------------------------------------------- results

#[napi(object)]
pub struct JsRuleFailure {
    pub rule_name: String,
    pub error: String,
}

#[napi(object)]
pub struct JsFirewallFallback {
    pub rule_name: String,
    pub feature: String,
    pub mode: String,
}

#[napi(object)]
pub struct JsFirewallApplyResult {
    pub total_rules: f64,
    pub applied_rules: f64,
    pub failed_rules: f64,
    pub chain_name: String,
    pub failures: Vec<JsRuleFailure>,
    pub fallbacks: Vec<JsFirewallFallback>,
}

impl From<ApplyResult> for JsFirewallApplyResult {
    fn from(r: ApplyResult) -> Self {
        JsFirewallApplyResult {
            total_rules: num(r.total_rules),
            applied_rules: num(r.applied_rules),
            failed_rules: num(r.failed_rules),
            chain_name: r.chain_name,
            failures: r.failures.into_iter().map(|(rule_name, error)| JsRuleFailure { rule_name, error }).collect(),
            fallbacks: r.fallbacks.into_iter().map(|f| JsFirewallFallback { rule_name: f.rule_name, feature: f.feature.into(), mode: f.mode.into() }).collect(),
        }
    }
}

#[napi(object)]
pub struct JsChangedResult {
    pub changed: bool,
    pub result: Option<JsFirewallApplyResult>,
}

#[napi(object)]
pub struct JsFirewallCapabilities {
    pub bridge_conntrack: bool,
    pub bridge_reject: bool,
    pub bridge_meta_ibrname: bool,
    pub inet_conntrack: bool,
    pub inet_reject: bool,
    pub br_netfilter: bool,
    /// `native`, `mark` or `unavailable`.
    pub connection_state_mode: String,
    /// `native`, `inet` or `unavailable`.
    pub reject_mode: String,
    pub summary: String,
}

impl From<Capabilities> for JsFirewallCapabilities {
    fn from(c: Capabilities) -> Self {
        JsFirewallCapabilities {
            bridge_conntrack: c.bridge_conntrack,
            bridge_reject: c.bridge_reject,
            bridge_meta_ibrname: c.bridge_meta_ibrname,
            inet_conntrack: c.inet_conntrack,
            inet_reject: c.inet_reject,
            br_netfilter: c.br_netfilter,
            connection_state_mode: c.ct_mode().as_str().into(),
            reject_mode: c.reject_mode().as_str().into(),
            summary: c.summary(),
        }
    }
}

#[napi(object)]
pub struct JsFirewallDrift {
    pub kind: String,
    pub position: Option<f64>,
    pub chain: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub detail: String,
}

#[napi(object)]
pub struct JsFirewallVerifyResult {
    pub vm_id: String,
    pub chain_name: String,
    pub tap_device_name: Option<String>,
    pub expected_source: String,
    pub in_sync: bool,
    pub chain_exists: bool,
    pub expected_rules: f64,
    pub kernel_rules: f64,
    pub drift: Vec<JsFirewallDrift>,
}

impl From<VerifyReport> for JsFirewallVerifyResult {
    fn from(r: VerifyReport) -> Self {
        JsFirewallVerifyResult {
            vm_id: r.vm_id,
            chain_name: r.chain_name,
            tap_device_name: r.tap_device_name,
            expected_source: r.expected_source.into(),
            in_sync: r.in_sync,
            chain_exists: r.chain_exists,
            expected_rules: num(r.expected_rules),
            kernel_rules: num(r.kernel_rules),
            drift: r
                .drift
                .into_iter()
                .map(|d| JsFirewallDrift {
                    kind: d.kind.into(),
                    position: d.position.map(num),
                    chain: d.chain,
                    expected: d.expected,
                    actual: d.actual,
                    detail: d.detail,
                })
                .collect(),
        }
    }
}

#[napi(object)]
pub struct JsFirewallPacket {
    pub protocol: Option<String>,
    pub src_ip: Option<String>,
    pub dst_ip: Option<String>,
    pub src_port: Option<f64>,
    pub dst_port: Option<f64>,
    pub direction: Option<String>,
    pub state: Option<String>,
    pub peer_interface: Option<String>,
}

#[napi(object)]
pub struct JsFirewallStep {
    pub chain: String,
    pub position: f64,
    pub handle: f64,
    pub rule: String,
    pub rule_name: Option<String>,
    pub matched: bool,
    pub note: String,
}

#[allow(clippy::cast_precision_loss)] // nft handles are small counters
fn js_step(s: Step) -> JsFirewallStep {
    JsFirewallStep {
        chain: s.chain,
        position: num(s.position),
        handle: s.handle as f64,
        rule: s.rule,
        rule_name: s.rule_name,
        matched: s.matched,
        note: s.note,
    }
}

#[napi(object)]
pub struct JsFirewallExplanation {
    pub verdict: String,
    pub decided_by: Option<JsFirewallStep>,
    pub reason: String,
    pub trace: Vec<JsFirewallStep>,
}

impl From<Explanation> for JsFirewallExplanation {
    fn from(e: Explanation) -> Self {
        JsFirewallExplanation { verdict: e.verdict, decided_by: e.decided_by.map(js_step), reason: e.reason, trace: e.trace.into_iter().map(js_step).collect() }
    }
}

#[napi(object)]
pub struct JsPersistenceResult {
    pub success: bool,
    pub file_path: String,
    /// Milliseconds since the epoch (the facade makes a `Date`).
    pub timestamp: f64,
    pub error: Option<String>,
}

impl From<PersistenceResult> for JsPersistenceResult {
    fn from(r: PersistenceResult) -> Self {
        JsPersistenceResult { success: r.success, file_path: r.file_path, timestamp: r.timestamp, error: r.error }
    }
}

#[napi(object)]
pub struct JsRestoreResult {
    pub success: bool,
    pub rules_loaded: bool,
    pub timestamp: f64,
    pub error: Option<String>,
}

impl From<RestoreResult> for JsRestoreResult {
    fn from(r: RestoreResult) -> Self {
        JsRestoreResult { success: r.success, rules_loaded: r.rules_loaded, timestamp: r.timestamp, error: r.error }
    }
}

#[napi(object)]
pub struct JsPersistenceStatus {
    pub persistence_dir: String,
    pub main_file_exists: bool,
    pub backup_file_exists: bool,
    pub main_file_modified: Option<f64>,
    pub table_exists: bool,
}

impl From<PersistenceStatus> for JsPersistenceStatus {
    fn from(s: PersistenceStatus) -> Self {
        JsPersistenceStatus {
            persistence_dir: s.persistence_dir,
            main_file_exists: s.main_file_exists,
            backup_file_exists: s.backup_file_exists,
            main_file_modified: s.main_file_modified,
            table_exists: s.table_exists,
        }
    }
}

// ---------------------------------------------------------------- configs

#[napi(object)]
pub struct JsPersistenceConfig {
    pub persistence_dir: Option<String>,
    pub create_backup: Option<bool>,
    pub use_locking: Option<bool>,
}

#[napi(object)]
pub struct JsNftablesServiceConfig {
    pub enable_persistence: Option<bool>,
    pub persistence_dir: Option<String>,
    pub create_backup: Option<bool>,
    pub use_locking: Option<bool>,
    pub default_policy: Option<String>,
    /// All-or-nothing `applyRules` (default: env `INFINIVIRT_FIREWALL_STRICT`, else false).
    pub strict_rules: Option<bool>,
}

fn config_error(message: String) -> NftablesError {
    NftablesError::Rule { code: NftablesErrorCode::RULE_INVALID, message }
}

fn persistence_config(dir: Option<String>, backup: Option<bool>, locking: Option<bool>) -> Result<PersistenceConfig, NftablesError> {
    let mut c = PersistenceConfig::default();
    if let Some(d) = dir {
        if d.is_empty() || d.contains('\0') {
            return Err(config_error(format!("Invalid persistenceDir: {d:?}")));
        }
        c.dir = PathBuf::from(d);
    }
    c.create_backup = backup.unwrap_or(true);
    c.use_locking = locking.unwrap_or(true);
    Ok(c)
}

fn service_config(c: Option<JsNftablesServiceConfig>) -> Result<ServiceConfig, NftablesError> {
    let Some(c) = c else { return Ok(ServiceConfig::default()) };
    let default_policy = match c.default_policy.as_deref() {
        None | Some("accept") => Policy::Accept,
        Some("drop") => Policy::Drop,
        Some(other) => return Err(config_error(format!("Invalid defaultPolicy: {other}. Must be 'accept' or 'drop'"))),
    };
    Ok(ServiceConfig {
        enable_persistence: c.enable_persistence.unwrap_or(true),
        persistence: persistence_config(c.persistence_dir, c.create_backup, c.use_locking)?,
        default_policy,
        strict_rules: c.strict_rules.unwrap_or_else(service::strict_rules_from_env),
    })
}

// ---------------------------------------------------------------- NftablesService

#[napi(js_name = "NativeNftablesService")]
pub struct NativeNftablesService {
    inner: Arc<NftablesService>,
}

impl NativeNftablesService {
    /// A JS handle on a service the lifecycle owns (`Infinivirt.getNftablesService()`).
    pub(crate) fn from_inner(inner: Arc<NftablesService>) -> Self {
        NativeNftablesService { inner }
    }
}

#[napi]
impl NativeNftablesService {
    #[napi(constructor)]
    pub fn new(config: Option<JsNftablesServiceConfig>) -> napi::Result<Self> {
        Ok(NativeNftablesService { inner: Arc::new(NftablesService::new(service_config(config).napi()?)) })
    }

    /// The persistence settings, for the facade's `NftablesPersistence`.
    #[napi]
    pub fn persistence_config(&self) -> JsPersistenceConfig {
        let c = &self.inner.config().persistence;
        JsPersistenceConfig {
            persistence_dir: Some(c.dir.to_string_lossy().into_owned()),
            create_backup: Some(c.create_backup),
            use_locking: Some(c.use_locking),
        }
    }

    #[napi]
    pub fn default_policy(&self) -> String {
        self.inner.config().default_policy.as_str().into()
    }

    #[napi]
    pub fn strict_rules(&self) -> bool {
        self.inner.config().strict_rules
    }

    #[napi]
    pub async fn initialize(&self) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.initialize().await.napi() }).await
    }

    #[napi]
    pub async fn create_vm_chain(&self, vm_id: String, tap: Option<String>) -> napi::Result<String> {
        let s = self.inner.clone();
        guarded(async move { s.create_vm_chain(&vm_id, tap.as_deref().unwrap_or("")).await.napi() }).await
    }

    #[napi]
    pub async fn apply_rules(
        &self,
        vm_id: String,
        tap: Option<String>,
        #[napi(ts_arg_type = "Array<Partial<FirewallRuleRecord>> | undefined | null")] department_rules: Option<Vec<Value>>,
        #[napi(ts_arg_type = "Array<Partial<FirewallRuleRecord>> | undefined | null")] vm_rules: Option<Vec<Value>>,
    ) -> napi::Result<JsFirewallApplyResult> {
        let s = self.inner.clone();
        guarded(async move {
            let (d, v) = (rules(department_rules), rules(vm_rules));
            s.apply_rules(&vm_id, tap.as_deref().unwrap_or(""), &d, &v).await.map(Into::into).napi()
        })
        .await
    }

    #[napi]
    pub async fn apply_rules_if_changed(
        &self,
        vm_id: String,
        tap: Option<String>,
        #[napi(ts_arg_type = "Array<Partial<FirewallRuleRecord>> | undefined | null")] department_rules: Option<Vec<Value>>,
        #[napi(ts_arg_type = "Array<Partial<FirewallRuleRecord>> | undefined | null")] vm_rules: Option<Vec<Value>>,
    ) -> napi::Result<JsChangedResult> {
        let s = self.inner.clone();
        guarded(async move {
            let (d, v) = (rules(department_rules), rules(vm_rules));
            let r = s.apply_rules_if_changed(&vm_id, tap.as_deref().unwrap_or(""), &d, &v).await.napi()?;
            Ok(JsChangedResult { changed: r.is_some(), result: r.map(Into::into) })
        })
        .await
    }

    #[napi]
    pub async fn remove_vm_chain(&self, vm_id: String) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move {
            s.remove_vm_chain(&vm_id).await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub async fn flush_vm_rules(&self, vm_id: String) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move {
            s.flush_vm_rules(&vm_id).await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub async fn list_chains(&self) -> napi::Result<Vec<String>> {
        let s = self.inner.clone();
        guarded(async move { s.list_chains().await.napi() }).await
    }

    #[napi]
    pub async fn chain_exists(&self, chain: Option<String>) -> napi::Result<bool> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.chain_exists(chain.as_deref().unwrap_or("")).await) }).await
    }

    #[napi]
    pub async fn ensure_vm_chain(&self, vm_id: String) -> napi::Result<String> {
        let s = self.inner.clone();
        guarded(async move { s.ensure_vm_chain(&vm_id).await.napi() }).await
    }

    #[napi]
    pub async fn attach_jump_rules(&self, vm_id: String, tap: Option<String>) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.attach_jump_rules(&vm_id, tap.as_deref().unwrap_or("")).await.napi() }).await
    }

    #[napi]
    pub async fn detach_jump_rules(&self, vm_id: String) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move {
            s.detach_jump_rules(&vm_id).await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub fn clear_rules_cache(&self, vm_id: String) {
        self.inner.clear_rules_cache(&vm_id);
    }

    #[napi]
    pub async fn export_to_disk(&self) -> napi::Result<JsPersistenceResult> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.export().await.into()) }).await
    }

    #[napi]
    pub async fn capabilities(&self) -> napi::Result<JsFirewallCapabilities> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.capabilities().await.into()) }).await
    }

    /// `verifyVM(vmId, tap?, dept?, vm?)`: with rules, against their plan; else
    /// against what this instance last applied.
    #[napi]
    pub async fn verify_vm(
        &self,
        vm_id: String,
        tap: Option<String>,
        #[napi(ts_arg_type = "Array<Partial<FirewallRuleRecord>> | undefined | null")] department_rules: Option<Vec<Value>>,
        #[napi(ts_arg_type = "Array<Partial<FirewallRuleRecord>> | undefined | null")] vm_rules: Option<Vec<Value>>,
    ) -> napi::Result<JsFirewallVerifyResult> {
        let s = self.inner.clone();
        guarded(async move {
            let (expected, source) = match tap {
                Some(tap) => {
                    let (d, v) = (rules(department_rules), rules(vm_rules));
                    (Some(s.plan(&vm_id, &tap, &d, &v).await.napi()?), "arguments")
                }
                None => match s.last_applied(&vm_id) {
                    Some(fw) => (Some(fw), "last-applied"),
                    None => (None, "none"),
                },
            };
            verify::verify(&vm_id, expected, source).await.map(Into::into).napi()
        })
        .await
    }

    #[napi]
    pub async fn explain(&self, vm_id: String, packet: JsFirewallPacket) -> napi::Result<JsFirewallExplanation> {
        guarded(async move {
            let input = PacketInput {
                protocol: packet.protocol,
                src_ip: packet.src_ip,
                dst_ip: packet.dst_ip,
                src_port: packet.src_port,
                dst_port: packet.dst_port,
                direction: packet.direction,
                state: packet.state,
                peer_interface: packet.peer_interface,
            };
            let pkt = explain::Packet::parse(&input).napi()?;
            explain::explain(&vm_id, &pkt).await.map(Into::into).napi()
        })
        .await
    }
}

// ---------------------------------------------------------------- NftablesPersistence

#[napi(js_name = "NativeNftablesPersistence")]
pub struct NativeNftablesPersistence {
    inner: Arc<NftablesPersistence>,
}

#[napi]
impl NativeNftablesPersistence {
    #[napi(constructor)]
    pub fn new(config: Option<JsPersistenceConfig>) -> napi::Result<Self> {
        let c = match config {
            Some(c) => persistence_config(c.persistence_dir, c.create_backup, c.use_locking).napi()?,
            None => PersistenceConfig::default(),
        };
        Ok(NativeNftablesPersistence { inner: Arc::new(NftablesPersistence::new(c)) })
    }

    #[napi]
    pub async fn export_to_disk(&self) -> napi::Result<JsPersistenceResult> {
        let p = self.inner.clone();
        guarded(async move { Ok(p.export().await.into()) }).await
    }

    #[napi]
    pub async fn restore_from_disk(&self) -> napi::Result<JsRestoreResult> {
        let p = self.inner.clone();
        guarded(async move { Ok(service::with_table_lock(p.restore()).await.into()) }).await
    }

    #[napi]
    pub async fn rollback_to_backup(&self) -> napi::Result<JsRestoreResult> {
        let p = self.inner.clone();
        guarded(async move { Ok(service::with_table_lock(p.rollback()).await.into()) }).await
    }

    #[napi]
    pub async fn has_persistence_file(&self) -> napi::Result<bool> {
        let p = self.inner.clone();
        guarded(async move { Ok(p.has_file().await) }).await
    }

    #[napi]
    pub async fn remove_persistence_file(&self) -> napi::Result<bool> {
        let p = self.inner.clone();
        guarded(async move { Ok(p.remove_file().await) }).await
    }

    #[napi]
    pub async fn get_status(&self) -> napi::Result<JsPersistenceStatus> {
        let p = self.inner.clone();
        guarded(async move { Ok(p.status().await.into()) }).await
    }
}

// ---------------------------------------------------------------- DepartmentNatService

#[napi(js_name = "NativeDepartmentNat")]
pub struct NativeDepartmentNat {
    inner: Arc<DepartmentNatService>,
}

#[napi]
impl NativeDepartmentNat {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeDepartmentNat { inner: Arc::new(DepartmentNatService::new()) }
    }

    #[napi]
    pub async fn initialize(&self) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.initialize().await.napi() }).await
    }

    #[napi]
    pub async fn add_masquerade(&self, subnet: Option<String>, bridge: Option<String>) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.add_masquerade(subnet.as_deref().unwrap_or(""), bridge.as_deref().unwrap_or("")).await.napi() }).await
    }

    #[napi]
    pub async fn remove_masquerade(&self, bridge: Option<String>) -> napi::Result<()> {
        let s = self.inner.clone();
        guarded(async move { s.remove_masquerade(bridge.as_deref().unwrap_or("")).await.napi() }).await
    }

    #[napi]
    pub async fn has_masquerade(&self, bridge: Option<String>) -> napi::Result<bool> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.has_masquerade(bridge.as_deref().unwrap_or("")).await) }).await
    }

    #[napi]
    pub async fn list_masquerade_rules(&self) -> napi::Result<Vec<String>> {
        let s = self.inner.clone();
        guarded(async move { Ok(s.list_masquerade_rules().await) }).await
    }

    #[napi]
    pub async fn rules_text(&self) -> napi::Result<Vec<String>> {
        let s = self.inner.clone();
        guarded(async move { s.rules_text().await.napi() }).await
    }
}

impl Default for NativeDepartmentNat {
    fn default() -> Self {
        Self::new()
    }
}
