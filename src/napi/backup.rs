//! Binding of `BackupService` (the facade's `lib/backup.js`): conversion only.
//! Requests and results cross as JSON values shaped by the core's serde types.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;

use super::error::{guarded, IntoNapi};
use crate::backup::error::BackupError;
use crate::backup::job::Abort;
use crate::backup::restore::RestoreRequest;
use crate::backup::service::{BackupService, CreateRequest, ProgressFn};

fn parse<T: serde::de::DeserializeOwned>(what: &str, v: Value) -> Result<T, BackupError> {
    serde_json::from_value(v).map_err(|e| BackupError::invalid(format!("Invalid {what}: {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> Result<Value, BackupError> {
    serde_json::to_value(v).map_err(|e| BackupError::Parse { what: "result", detail: e.to_string() })
}

#[napi(js_name = "NativeBackupService")]
pub struct NativeBackupService {
    inner: Arc<BackupService>,
    /// The abort handle of each create in flight, by the facade's token.
    aborts: Arc<Mutex<HashMap<u32, Arc<Abort>>>>,
}

#[napi]
impl NativeBackupService {
    #[napi(constructor)]
    pub fn new(backup_root_dir: Option<String>) -> napi::Result<Self> {
        Ok(NativeBackupService { inner: Arc::new(BackupService::new(backup_root_dir.as_deref()).napi()?), aborts: Arc::default() })
    }

    #[napi(getter)]
    pub fn active_backup_count(&self) -> u32 {
        u32::try_from(self.inner.active_backup_count()).unwrap_or(u32::MAX)
    }

    #[napi(getter)]
    pub fn backup_root_dir(&self) -> String {
        self.inner.layout().root().display().to_string()
    }

    /// Resolves to the manifest (`BackupMetadata`) of the completed backup.
    #[napi(ts_return_type = "Promise<any>")]
    pub async fn create(
        &self,
        config: Value,
        on_progress: Option<ThreadsafeFunction<String, (), String, napi::Status, false, true>>,
        token: Option<u32>,
    ) -> napi::Result<Value> {
        let svc = self.inner.clone();
        let abort = Abort::new();
        if let Some(t) = token {
            self.aborts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(t, abort.clone());
        }
        let aborts = self.aborts.clone();
        let progress: Option<ProgressFn> = on_progress.map(|f| {
            let f = Arc::new(f);
            Arc::new(move |p: crate::backup::service::BackupProgress| {
                if let Ok(s) = serde_json::to_string(&p) {
                    // A lost report is only a missed progress event.
                    let _ = f.call(s, ThreadsafeFunctionCallMode::NonBlocking);
                }
            }) as ProgressFn
        });
        let r = guarded(async move {
            let req: CreateRequest = parse("BackupConfig", config).napi()?;
            let meta = svc.create(&req, progress, abort).await.napi()?;
            json(&meta).napi()
        })
        .await;
        if let Some(t) = token {
            aborts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&t);
        }
        r
    }

    /// Cancels the create started with `token` (no-op when it already ended).
    #[napi]
    pub fn abort(&self, token: u32) {
        if let Some(a) = self.aborts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&token) {
            a.abort();
        }
    }

    #[napi(ts_return_type = "Promise<any>")]
    pub async fn restore(&self, options: Value) -> napi::Result<Value> {
        let svc = self.inner.clone();
        guarded(async move {
            let req: RestoreRequest = parse("BackupRestoreOptions", options).napi()?;
            json(&svc.restore(&req, None).await.napi()?).napi()
        })
        .await
    }

    #[napi(ts_return_type = "Promise<any[]>")]
    pub async fn list(&self, vm_id: Option<String>) -> napi::Result<Value> {
        let svc = self.inner.clone();
        guarded(async move { json(&svc.list(&vm_id.unwrap_or_default()).await.napi()?).napi() }).await
    }

    #[napi(ts_return_type = "Promise<any>")]
    pub async fn get(&self, backup_id: Option<String>, vm_id_hint: Option<String>) -> napi::Result<Value> {
        let svc = self.inner.clone();
        guarded(async move { json(&svc.get(&backup_id.unwrap_or_default(), vm_id_hint.as_deref()).await.napi()?).napi() }).await
    }

    #[napi]
    pub async fn delete(&self, backup_id: Option<String>, vm_id: Option<String>) -> napi::Result<()> {
        let svc = self.inner.clone();
        guarded(async move { svc.delete(&backup_id.unwrap_or_default(), &vm_id.unwrap_or_default()).await.napi() }).await
    }

    #[napi(ts_return_type = "Promise<any>")]
    pub async fn verify(&self, backup_id: Option<String>, vm_id_hint: Option<String>) -> napi::Result<Value> {
        let svc = self.inner.clone();
        guarded(async move { json(&svc.verify(&backup_id.unwrap_or_default(), vm_id_hint.as_deref()).await.napi()?).napi() }).await
    }
}
