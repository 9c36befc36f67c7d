//! Binding of `QemuProcess`. Exit is pushed to JS through a weak threadsafe function.

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::Function;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use super::error::{guarded, IntoNapi};
use crate::qemu::process::{LaunchSpec, QemuProcess};

#[napi(object)]
pub struct JsLaunchSpec {
    pub binary: String,
    pub args: Vec<String>,
    pub wrapper_command: Option<String>,
    pub wrapper_args: Option<Vec<String>>,
    pub daemonize: bool,
    pub pidfile: Option<String>,
}

type ExitFn = ThreadsafeFunction<i32, (), i32, napi::Status, false, true>;

#[napi(js_name = "NativeQemuProcess")]
pub struct NativeQemuProcess {
    inner: Arc<QemuProcess>,
    on_exit: Arc<ExitFn>,
}

impl NativeQemuProcess {
    /// The core process (the state layer watches its pidfd).
    pub(crate) fn core(&self) -> Arc<QemuProcess> {
        self.inner.clone()
    }

    /// Reports the exit of the adopted PID to JS as soon as the pidfd fires.
    fn watch(&self, pid: i32) {
        let p = self.inner.clone();
        let f = self.on_exit.clone();
        tokio::spawn(async move {
            p.wait_exit().await;
            let _ = f.call(pid, ThreadsafeFunctionCallMode::NonBlocking);
        });
    }
}

#[napi]
impl NativeQemuProcess {
    #[napi(constructor)]
    pub fn new(vm_id: String, on_exit: Function<i32, ()>) -> napi::Result<Self> {
        let f = on_exit.build_threadsafe_function::<i32>().callee_handled::<false>().weak::<true>().build()?;
        Ok(NativeQemuProcess { inner: Arc::new(QemuProcess::new(vm_id)), on_exit: Arc::new(f) })
    }

    #[napi]
    pub fn set_qmp_socket_path(&self, path: String) {
        self.inner.set_qmp_socket(path);
    }

    #[napi]
    pub fn set_pid_file_path(&self, path: String) {
        self.inner.set_pidfile(path);
    }

    #[napi]
    pub async fn start(&self, spec: JsLaunchSpec, vm_id: String) -> napi::Result<i32> {
        let p = self.inner.clone();
        let launch = LaunchSpec {
            vm_id,
            wrapper: spec.wrapper_command.map(|w| (w, spec.wrapper_args.unwrap_or_default())),
            binary: spec.binary,
            args: spec.args,
            daemonize: spec.daemonize,
            pidfile: spec.pidfile.map(Into::into),
            qmp_socket: None,
        };
        let pid = guarded(async move { p.start(launch).await.napi() }).await?;
        self.watch(pid);
        Ok(pid)
    }

    /// Re-attaches from the pidfile; resolves the PID, or null when nothing of ours runs.
    #[napi]
    pub async fn attach(&self) -> napi::Result<Option<i32>> {
        let p = self.inner.clone();
        let pid = guarded(async move { p.attach(None).await.napi() }).await?;
        if let Some(pid) = pid {
            self.watch(pid);
        }
        Ok(pid)
    }

    #[napi]
    pub async fn stop(&self, timeout_ms: f64) -> napi::Result<()> {
        let p = self.inner.clone();
        let limit = if timeout_ms.is_finite() && timeout_ms >= 0.0 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // finite, non-negative, clamped
            Duration::from_millis(timeout_ms.min(86_400_000.0) as u64)
        } else {
            Duration::from_millis(30_000)
        };
        guarded(async move {
            p.stop(limit).await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub async fn force_kill(&self) -> napi::Result<()> {
        let p = self.inner.clone();
        guarded(async move {
            p.force_kill().await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub async fn wait_for_exit(&self) -> napi::Result<()> {
        let p = self.inner.clone();
        guarded(async move {
            p.wait_exit().await;
            Ok(())
        })
        .await
    }

    #[napi]
    pub fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }

    #[napi]
    pub fn get_pid(&self) -> Option<i32> {
        self.inner.pid()
    }
}
