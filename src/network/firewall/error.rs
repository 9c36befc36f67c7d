//! Firewall errors: the spec's `NftablesError` interface (a plain `Error` with `code`
//! and optional `context`), codes from `NftablesErrorCode`.

use serde_json::{json, Map, Value};

use crate::error::{code_enum, ErrorShape, JsClass};

code_enum! {
    /// Spec §17.4 `NftablesErrorCode`.
    pub enum NftablesErrorCode {
        TABLE_NOT_FOUND = "TABLE_NOT_FOUND",
        TABLE_EXISTS = "TABLE_EXISTS",
        CHAIN_NOT_FOUND = "CHAIN_NOT_FOUND",
        CHAIN_EXISTS = "CHAIN_EXISTS",
        RULE_INVALID = "RULE_INVALID",
        COMMAND_FAILED = "COMMAND_FAILED",
        PERMISSION_DENIED = "PERMISSION_DENIED",
        INVALID_IP_ADDRESS = "INVALID_IP_ADDRESS",
        INVALID_SUBNET_MASK = "INVALID_SUBNET_MASK",
        INVALID_PORT_RANGE = "INVALID_PORT_RANGE",
        UNSUPPORTED_PROTOCOL = "UNSUPPORTED_PROTOCOL",
    }
}

code_enum! {
    /// Spec §17.4 `NftablesFamily`.
    pub enum NftablesFamily { BRIDGE = "bridge", INET = "inet", IP = "ip", IP6 = "ip6" }
}

code_enum! {
    /// Spec §17.4 `NftablesHookType`.
    pub enum NftablesHookType {
        PREROUTING = "prerouting", INPUT = "input", FORWARD = "forward", OUTPUT = "output", POSTROUTING = "postrouting",
    }
}

code_enum! {
    /// Spec §17.4 `NftablesChainPolicy`.
    pub enum NftablesChainPolicy { ACCEPT = "accept", DROP = "drop" }
}

#[derive(Debug, thiserror::Error)]
pub enum NftablesError {
    /// A rule that fails validation or translation; the message is the spec's, already
    /// carrying the `[Rule <id>] ` prefix where the spec has one.
    #[error("{message}")]
    Rule { code: NftablesErrorCode, message: String },
    /// The VM's chain name (`vm_` + the first 8 alphanumerics of its id) belongs to
    /// another VM whose id starts the same way; nothing of that VM is touched.
    #[error("Firewall chain {chain} belongs to VM {owner}; VM {vm_id} maps to the same chain name (only the first 8 alphanumerics of a VM id name its chain), so its firewall is refused")]
    ChainOwned { chain: String, vm_id: String, owner: String },
    /// `nft` itself failed.
    #[error("{message}")]
    Command { message: String, command: String, args: Vec<String>, stderr: Option<String>, exit_code: Option<i32> },
}

impl ErrorShape for NftablesError {
    fn code(&self) -> &'static str {
        match self {
            NftablesError::Rule { code, .. } => code.as_str(),
            NftablesError::Command { .. } => NftablesErrorCode::COMMAND_FAILED.as_str(),
            NftablesError::ChainOwned { .. } => NftablesErrorCode::CHAIN_EXISTS.as_str(),
        }
    }

    fn class(&self) -> JsClass {
        JsClass::NftablesError
    }

    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let NftablesError::Command { command, args, stderr, exit_code, .. } = self {
            // The context repeats a host command: masked like every other one.
            let args = crate::redact::Redactor::for_argv(args).argv(args);
            let mut ctx = json!({ "command": crate::redact::text(command), "args": args });
            if let Some(s) = stderr {
                ctx["stderr"] = Value::from(s.clone());
            }
            if let Some(c) = exit_code {
                ctx["exitCode"] = Value::from(*c);
            }
            m.insert("context".into(), ctx);
        }
        if let NftablesError::ChainOwned { chain, vm_id, owner } = self {
            m.insert("chainName".into(), Value::from(chain.clone()));
            m.insert("vmId".into(), Value::from(vm_id.clone()));
            m.insert("ownerVmId".into(), Value::from(owner.clone()));
        }
        m
    }
}
