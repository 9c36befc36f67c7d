//! Binding of the guest agent client (`GuestAgentClient` in the facade): conversion only.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;
use serde_json::Value;

use super::error::{guarded, IntoNapi};
use crate::agent::client::{pass_through_timeout, AgentOptions, GuestAgent};
use crate::agent::commands::ShutdownMode;
use crate::agent::error::GuestAgentError;
use crate::agent::files::DEFAULT_FILE_LIMIT;
use crate::secret::Secret;

#[napi(object)]
pub struct JsGuestAgentOptions {
    /// Milliseconds for dialling plus the first `guest-sync-delimited` (default 5000).
    pub connect_timeout: Option<f64>,
    /// Default deadline of one command in milliseconds (default 30000).
    pub command_timeout: Option<f64>,
    /// Most bytes kept of each of a `guestExec`'s stdout and stderr (default 16 MiB).
    pub max_output_bytes: Option<f64>,
}

#[napi(object)]
pub struct JsExecOutput {
    pub stdout: Buffer,
    pub stderr: Buffer,
    pub exit_code: i64,
    pub signal: Option<i64>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

fn options(o: Option<JsGuestAgentOptions>) -> Result<AgentOptions, GuestAgentError> {
    let mut a = AgentOptions::default();
    let Some(o) = o else { return Ok(a) };
    if let Some(v) = o.connect_timeout {
        a.connect_timeout = AgentOptions::millis("connectTimeout", v)?;
    }
    if let Some(v) = o.command_timeout {
        a.command_timeout = AgentOptions::millis("commandTimeout", v)?;
    }
    if let Some(v) = o.max_output_bytes {
        a.max_output_bytes = AgentOptions::bytes("maxOutputBytes", v)?;
    }
    Ok(a)
}

fn deadline(field: &str, ms: Option<f64>) -> Result<Option<Duration>, GuestAgentError> {
    ms.map(|v| AgentOptions::millis(field, v)).transpose()
}

fn limit(ms: Option<f64>) -> Result<usize, GuestAgentError> {
    ms.map_or(Ok(DEFAULT_FILE_LIMIT), |v| AgentOptions::bytes("maxBytes", v))
}

#[napi(js_name = "NativeGuestAgent")]
pub struct NativeGuestAgent {
    inner: Arc<GuestAgent>,
}

#[napi]
impl NativeGuestAgent {
    #[napi(constructor)]
    pub fn new(socket_path: String, options_: Option<JsGuestAgentOptions>) -> napi::Result<Self> {
        if socket_path.is_empty() || socket_path.contains('\0') {
            return Err(GuestAgentError::invalid("socketPath", "must be a non-empty path")).napi();
        }
        Ok(NativeGuestAgent { inner: Arc::new(GuestAgent::new(socket_path, options(options_).napi()?)) })
    }

    #[napi]
    pub async fn connect(&self) -> napi::Result<()> {
        let a = self.inner.clone();
        guarded(async move { a.connect().await.napi() }).await
    }

    #[napi]
    pub fn disconnect(&self) {
        self.inner.disconnect();
    }

    #[napi]
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// Any agent command: `args` go to the agent as they are, its reply comes back as it is.
    #[napi(ts_return_type = "Promise<unknown>")]
    pub async fn execute(
        &self,
        command: String,
        #[napi(ts_arg_type = "Record<string, unknown> | undefined | null")] args: Option<Value>,
        timeout_ms: Option<f64>,
    ) -> napi::Result<Value> {
        let a = self.inner.clone();
        guarded(async move {
            let t = deadline("timeout", timeout_ms).napi()?;
            a.execute(&command, args.as_ref(), t).await.napi()
        })
        .await
    }

    /// `qemuAgentCommand`: JSON text in, `{"return": …}` JSON text out.
    #[napi]
    pub async fn command_json(&self, json: String, timeout_seconds: Option<f64>) -> napi::Result<String> {
        let a = self.inner.clone();
        guarded(async move {
            let t = pass_through_timeout(timeout_seconds).napi()?;
            a.command_json(&json, t).await.napi()
        })
        .await
    }

    #[napi]
    pub async fn exec(&self, command: String, args: Option<Vec<String>>, timeout_ms: Option<f64>) -> napi::Result<JsExecOutput> {
        let a = self.inner.clone();
        guarded(async move {
            let t = deadline("timeout", timeout_ms).napi()?;
            let o = a.exec(&command, &args.unwrap_or_default(), t).await.napi()?;
            Ok(JsExecOutput {
                stdout: o.stdout.into(),
                stderr: o.stderr.into(),
                exit_code: o.exit_code,
                signal: o.signal,
                stdout_truncated: o.stdout_truncated,
                stderr_truncated: o.stderr_truncated,
            })
        })
        .await
    }

    #[napi]
    pub async fn ping(&self, timeout_ms: Option<f64>) -> napi::Result<()> {
        let a = self.inner.clone();
        guarded(async move { a.ping(deadline("timeout", timeout_ms).napi()?).await.napi() }).await
    }

    /// `guest-info`, as the agent sent it.
    #[napi(ts_return_type = "Promise<{ version: string; supported_commands: Array<{ name: string; enabled: boolean; 'success-response': boolean }> }>")]
    pub async fn info(&self) -> napi::Result<Value> {
        let a = self.inner.clone();
        guarded(async move { a.info().await.napi() }).await
    }

    /// `guest-get-osinfo`, as the agent sent it.
    #[napi(ts_return_type = "Promise<Record<string, string>>")]
    pub async fn os_info(&self) -> napi::Result<Value> {
        let a = self.inner.clone();
        guarded(async move { a.os_info().await.napi() }).await
    }

    #[napi]
    pub async fn host_name(&self) -> napi::Result<String> {
        let a = self.inner.clone();
        guarded(async move { a.host_name().await.napi() }).await
    }

    /// `guest-network-get-interfaces`, as the agent sent it.
    #[napi(
        ts_return_type = "Promise<Array<{ name: string; 'hardware-address'?: string; 'ip-addresses'?: Array<{ 'ip-address-type': 'ipv4' | 'ipv6'; 'ip-address': string; prefix: number }>; statistics?: Record<string, number> }>>"
    )]
    pub async fn network_interfaces(&self, timeout_ms: Option<f64>) -> napi::Result<Value> {
        let a = self.inner.clone();
        guarded(async move { a.network_interfaces(deadline("timeout", timeout_ms).napi()?).await.napi() }).await
    }

    /// `guest-get-fsinfo`, as the agent sent it.
    #[napi(ts_return_type = "Promise<Array<Record<string, unknown>>>")]
    pub async fn fs_info(&self) -> napi::Result<Value> {
        let a = self.inner.clone();
        guarded(async move { a.fs_info().await.napi() }).await
    }

    #[napi]
    pub async fn fsfreeze_status(&self) -> napi::Result<String> {
        let a = self.inner.clone();
        guarded(async move { a.fsfreeze_status().await.napi() }).await
    }

    #[napi]
    pub async fn fs_freeze(&self) -> napi::Result<i64> {
        let a = self.inner.clone();
        guarded(async move { a.fsfreeze().await.napi() }).await
    }

    #[napi]
    pub async fn fs_thaw(&self) -> napi::Result<i64> {
        let a = self.inner.clone();
        guarded(async move { a.fsthaw().await.napi() }).await
    }

    #[napi]
    pub async fn shutdown(&self, mode: Option<String>, timeout_ms: Option<f64>) -> napi::Result<()> {
        let a = self.inner.clone();
        guarded(async move {
            let m: ShutdownMode = mode.as_deref().unwrap_or("powerdown").parse().napi()?;
            a.shutdown(m, deadline("timeout", timeout_ms).napi()?).await.napi()
        })
        .await
    }

    #[napi]
    pub async fn set_user_password(&self, username: String, password: String, crypted: Option<bool>) -> napi::Result<()> {
        let a = self.inner.clone();
        let password = Secret::new(password);
        guarded(async move { a.set_user_password(&username, &password, crypted.unwrap_or(false)).await.napi() }).await
    }

    #[napi]
    pub async fn file_read(&self, path: String, max_bytes: Option<f64>) -> napi::Result<Buffer> {
        let a = self.inner.clone();
        guarded(async move { Ok(a.file_read(&path, limit(max_bytes).napi()?).await.napi()?.into()) }).await
    }

    #[napi]
    pub async fn file_write(&self, path: String, data: Buffer, max_bytes: Option<f64>) -> napi::Result<u32> {
        let a = self.inner.clone();
        let data = data.to_vec();
        guarded(async move {
            let n = a.file_write(&path, &data, limit(max_bytes).napi()?).await.napi()?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }
}
