//! Binding of the QMP client. Notices reach JS as JSON strings through a weak
//! threadsafe function (it never keeps Node alive); the facade re-emits them.

use std::collections::HashMap;
use std::sync::Arc;

use napi::bindgen_prelude::{Function, Object};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Env;
use napi_derive::napi;
use serde_json::{json, Value};

use super::error::{guarded, to_napi, IntoNapi};
use crate::qmp::client::{Notice, QmpClient, QmpOptions, Reply, Sink};

#[napi(object)]
pub struct JsQmpOptions {
    pub connect_timeout: Option<f64>,
    pub command_timeout: Option<f64>,
    pub reconnect: Option<bool>,
    pub reconnect_delay: Option<f64>,
    pub max_reconnect_attempts: Option<f64>,
    pub command_timeouts: Option<HashMap<String, f64>>,
}

fn options(o: Option<JsQmpOptions>) -> Result<QmpOptions, crate::qmp::error::QmpError> {
    let mut q = QmpOptions::default();
    let Some(o) = o else { return Ok(q) };
    if let Some(v) = o.connect_timeout {
        q.connect_timeout = QmpOptions::millis("connectTimeout", v)?;
    }
    if let Some(v) = o.command_timeout {
        q.command_timeout = QmpOptions::millis("commandTimeout", v)?;
    }
    if let Some(v) = o.reconnect_delay {
        q.reconnect_delay = QmpOptions::millis("reconnectDelay", v)?;
    }
    if let Some(v) = o.max_reconnect_attempts {
        let d = QmpOptions::millis("maxReconnectAttempts", v)?;
        q.max_reconnect_attempts = u32::try_from(d.as_millis().min(1000)).unwrap_or(1000);
    }
    q.reconnect = o.reconnect.unwrap_or(false);
    for (cmd, v) in o.command_timeouts.unwrap_or_default() {
        let d = QmpOptions::millis(&format!("commandTimeouts.{cmd}"), v)?;
        q.command_timeouts.insert(cmd, d);
    }
    Ok(q)
}

/// A notice as the JSON the facade understands.
pub(crate) fn notice_json(n: &Notice) -> String {
    match n {
        Notice::Connected => json!({ "type": "connected" }),
        Notice::Disconnected => json!({ "type": "disconnect" }),
        Notice::Reconnected => json!({ "type": "reconnect" }),
        Notice::ReconnectFailed => json!({ "type": "reconnect_failed" }),
        Notice::Event { raw, .. } => json!({ "type": "event", "event": raw }),
    }
    .to_string()
}

#[napi(js_name = "NativeQmpClient")]
pub struct NativeQmpClient {
    inner: Arc<QmpClient>,
}

impl NativeQmpClient {
    /// The client itself, for bindings of other domains that drive QMP (live storage).
    pub(crate) fn core(&self) -> Arc<QmpClient> {
        self.inner.clone()
    }
}

#[napi]
impl NativeQmpClient {
    #[napi(constructor)]
    pub fn new(socket_path: String, opts: Option<JsQmpOptions>, on_notice: Function<String, ()>) -> napi::Result<Self> {
        let opts = options(opts).napi()?;
        let tsfn = on_notice.build_threadsafe_function::<String>().callee_handled::<false>().weak::<true>().build()?;
        let sink: Sink = Arc::new(move |n: Notice| {
            let _ = tsfn.call(notice_json(&n), ThreadsafeFunctionCallMode::NonBlocking);
        });
        Ok(NativeQmpClient { inner: QmpClient::new(socket_path, opts, sink) })
    }

    #[napi]
    pub async fn connect(&self) -> napi::Result<()> {
        let c = self.inner.clone();
        guarded(async move { c.connect().await.napi() }).await
    }

    #[napi]
    pub async fn disconnect(&self) -> napi::Result<()> {
        let c = self.inner.clone();
        guarded(async move {
            c.disconnect().await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    #[napi(ts_return_type = "{ QMP: { version: { qemu: { micro: number; minor: number; major: number }; package: string }; capabilities: string[] } } | null")]
    pub fn get_greeting(&self) -> Option<Value> {
        self.inner.greeting()
    }

    /// Sends the command on the calling (JS) thread and returns a promise that the
    /// connection's reader settles directly: no task per call, one wake-up per reply.
    #[napi(ts_return_type = "Promise<unknown>", catch_unwind)]
    pub fn execute<'e>(
        &self,
        env: &'e Env,
        command: String,
        #[napi(ts_arg_type = "Record<string, unknown> | undefined | null")] args: Option<Value>,
    ) -> napi::Result<Object<'e>> {
        let (deferred, promise) = env.create_deferred()?;
        self.inner.execute_with(
            &command,
            args.as_ref(),
            Reply::new(move |r| match r {
                Ok(v) => deferred.resolve(move |_| Ok(v)),
                Err(e) => deferred.reject(to_napi(&e)),
            }),
        );
        Ok(promise)
    }
}
