//! Reading and writing guest files through `guest-file-*`, with size limits and a
//! handle that is always closed.

use base64::Engine;
use serde_json::{json, Value};

use super::client::GuestAgent;
use super::error::GuestAgentError;

/// Bytes per `guest-file-read`/`-write` round (the agent's own default is 4 KiB).
const CHUNK: usize = 1024 * 1024;
/// The default and the largest size accepted for one file.
pub const DEFAULT_FILE_LIMIT: usize = 16 * 1024 * 1024;

fn check_path(path: &str) -> Result<(), GuestAgentError> {
    if path.is_empty() || path.contains('\0') {
        return Err(GuestAgentError::invalid("path", "must be a non-empty path without NUL characters"));
    }
    Ok(())
}

fn bad(command: &str, why: &str) -> GuestAgentError {
    GuestAgentError::InvalidReply { command: command.into(), why: why.into() }
}

impl GuestAgent {
    async fn open(&self, path: &str, mode: &str) -> Result<i64, GuestAgentError> {
        let v = self.call("guest-file-open", Some(&json!({ "path": path, "mode": mode }))).await?;
        v.as_i64().ok_or_else(|| bad("guest-file-open", "expected a handle"))
    }

    /// Closes `handle` whatever happened before; a failure is only logged (the
    /// caller's own error matters more).
    async fn close(&self, handle: i64) {
        if let Err(e) = self.call("guest-file-close", Some(&json!({ "handle": handle }))).await {
            crate::log::log("infinivirt:qga-client", &format!("guest-file-close of handle {handle}: {e}"));
        }
    }

    /// The whole file at `path`; more than `limit` bytes is an error.
    pub async fn file_read(&self, path: &str, limit: usize) -> Result<Vec<u8>, GuestAgentError> {
        check_path(path)?;
        let handle = self.open(path, "r").await?;
        let r = self.read_all(handle, path, limit).await;
        self.close(handle).await;
        r
    }

    async fn read_all(&self, handle: i64, path: &str, limit: usize) -> Result<Vec<u8>, GuestAgentError> {
        let mut data = Vec::new();
        loop {
            // One byte past the limit tells "exactly the limit" from "too large".
            let want = CHUNK.min(limit + 1 - data.len());
            let v = self.call("guest-file-read", Some(&json!({ "handle": handle, "count": want }))).await?;
            let b64 = v.get("buf-b64").and_then(Value::as_str).ok_or_else(|| bad("guest-file-read", "no buf-b64"))?;
            let chunk = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| bad("guest-file-read", "buf-b64 is not base64"))?;
            data.extend_from_slice(&chunk);
            if data.len() > limit {
                return Err(GuestAgentError::FileTooLarge { path: path.into(), limit });
            }
            if v.get("eof").and_then(Value::as_bool).unwrap_or(chunk.is_empty()) || chunk.is_empty() {
                return Ok(data);
            }
        }
    }

    /// Writes `data` to `path` (created or truncated); more than `limit` bytes is
    /// refused before anything is opened. Returns the bytes written.
    pub async fn file_write(&self, path: &str, data: &[u8], limit: usize) -> Result<usize, GuestAgentError> {
        check_path(path)?;
        if data.len() > limit {
            return Err(GuestAgentError::FileTooLarge { path: path.into(), limit });
        }
        let handle = self.open(path, "w").await?;
        let r = self.write_all(handle, data).await;
        self.close(handle).await;
        r
    }

    async fn write_all(&self, handle: i64, data: &[u8]) -> Result<usize, GuestAgentError> {
        let mut written = 0usize;
        for chunk in data.chunks(CHUNK) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(chunk);
            let v = self.call("guest-file-write", Some(&json!({ "handle": handle, "buf-b64": b64 }))).await?;
            let n = v.get("count").and_then(Value::as_u64).ok_or_else(|| bad("guest-file-write", "no count"))?;
            if usize::try_from(n).ok() != Some(chunk.len()) {
                return Err(bad("guest-file-write", &format!("wrote {n} of {} bytes", chunk.len())));
            }
            written += chunk.len();
        }
        Ok(written)
    }
}
