//! The only code that talks to `nft`: one batch per change through `nft -f -` (one
//! kernel transaction), and JSON listings (`nft -j list …`) to read state back.
//! Failures are classified here, once.

use std::time::Duration;

use serde_json::Value;

use super::error::NftablesError;
use super::model::Batch;
use super::render;
use crate::exec::{ExecError, HostCommand};

/// Deadline for one nft run (a batch of thousands of rules takes well under a second).
pub const NFT_TIMEOUT: Duration = Duration::from_secs(30);

/// What failed, for the error's `context.command` (the spec's operation labels where
/// it has them: `add chain`, `attach jump rules`, …).
#[derive(Debug, Clone)]
pub struct Label {
    pub command: String,
    pub args: Vec<String>,
}

impl Label {
    pub fn new(command: impl Into<String>, args: impl IntoIterator<Item = impl Into<String>>) -> Label {
        Label { command: command.into(), args: args.into_iter().map(Into::into).collect() }
    }
}

/// Turns a failed nft run into the spec's `NftablesError` (`COMMAND_FAILED` with
/// `context { command, args, stderr, exitCode }`); the message is the runner's, as the
/// original reported the executor's message.
pub fn command_error(op: &Label, e: &ExecError) -> NftablesError {
    let stderr = e.stderr_tail().to_string();
    NftablesError::Command {
        message: e.to_string(),
        command: op.command.clone(),
        args: op.args.clone(),
        stderr: (!stderr.is_empty()).then_some(stderr),
        exit_code: e.exit_code(),
    }
}

/// Runs a whole batch as one transaction. Either every command takes effect or none.
pub async fn run_batch(batch: &Batch, op: &Label) -> Result<(), NftablesError> {
    if batch.is_empty() {
        return Ok(());
    }
    run_text(render::batch(batch), op).await
}

/// Runs nft text on stdin (`nft -f -`).
pub async fn run_text(text: String, op: &Label) -> Result<(), NftablesError> {
    crate::log::log("infinivirt:nftables", &format!("{}: applying {} command(s)", op.command, text.lines().count()));
    HostCommand::new("nft").args(["-f", "-"]).stdin(text.into_bytes()).timeout(Some(NFT_TIMEOUT)).run().await.map(|_| ()).map_err(|e| command_error(op, &e))
}

/// Runs `nft -f <file>`.
pub async fn run_file(path: &str, op: &Label) -> Result<(), NftablesError> {
    HostCommand::new("nft").args(["-f", path]).timeout(Some(NFT_TIMEOUT)).run().await.map(|_| ()).map_err(|e| command_error(op, &e))
}

/// True when nft failed because the object it was asked about does not exist
/// (`ENOENT`, printed as "No such file or directory" under `LC_ALL=C`).
fn is_missing(e: &ExecError) -> bool {
    matches!(e, ExecError::Exit { .. }) && e.stderr().contains("No such file or directory")
}

/// `nft -j <args>`: the listed objects (the `metainfo` entry dropped), or `None` when
/// the table or chain does not exist.
pub async fn list_json(args: &[&str]) -> Result<Option<Vec<Value>>, NftablesError> {
    let mut argv = vec!["-j"];
    argv.extend_from_slice(args);
    let op = Label::new("nft", argv.iter().copied());
    match HostCommand::new("nft").args(argv.iter().copied()).timeout(Some(NFT_TIMEOUT)).run().await {
        Ok(out) => {
            let v: Value = serde_json::from_str(&out.stdout).map_err(|e| NftablesError::Command {
                message: format!("Cannot parse the JSON of nft {}: {e}", args.join(" ")),
                command: op.command.clone(),
                args: op.args.clone(),
                stderr: None,
                exit_code: Some(0),
            })?;
            let items =
                v.get("nftables").and_then(Value::as_array).map(|a| a.iter().filter(|i| i.get("metainfo").is_none()).cloned().collect()).unwrap_or_default();
            Ok(Some(items))
        }
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(command_error(&op, &e)),
    }
}

/// `nft list <args>` as text (for the persistence file), or `None` when missing.
pub async fn list_text(args: &[&str]) -> Result<Option<String>, NftablesError> {
    let op = Label::new("nft", args.iter().copied());
    match HostCommand::new("nft").args(args.iter().copied()).timeout(Some(NFT_TIMEOUT)).run().await {
        Ok(out) => Ok(Some(out.stdout)),
        Err(e) if is_missing(&e) => Ok(None),
        Err(e) => Err(command_error(&op, &e)),
    }
}
