//! Bindings of `QemuImgService` and `SnapshotManager`: conversion only.
//!
//! Progress reaches JS through a weak threadsafe function. Reports go through a
//! `watch` channel to one forwarding task that awaits each JS call, so a slow JS
//! thread sees the latest percentage instead of a backlog, and the last report
//! (100) has run before the operation's promise resolves.

use std::sync::Arc;

use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde_json::Value;

use super::error::{guarded, IntoNapi};
use napi::bindgen_prelude::{ClassInstance, PromiseRaw};
use napi::Env;

use super::qmp::NativeQmpClient;
use crate::storage::error::{Op, StorageError};
use crate::storage::info::{ImageCheckResult, ImageInfo, SnapshotInfo};
use crate::storage::progress::Progress;
use crate::storage::{backing, live, qemu_img, snapshot};

// Spelled out in the #[napi] signatures: an alias would leak into binding.d.ts.
type ProgressCallback = ThreadsafeFunction<f64, (), f64, napi::Status, false, true>;

// Missing strings and numbers arrive as `None` and are validated by the core like
// empty or non-finite values, so they get the same typed errors.

#[napi(object)]
pub struct JsCreateImageOptions {
    pub path: Option<String>,
    #[napi(js_name = "sizeGB")]
    pub size_gb: Option<f64>,
    pub format: Option<String>,
    pub cluster_size: Option<f64>,
    pub preallocation: Option<String>,
    pub backing_file: Option<String>,
    pub backing_format: Option<String>,
}

#[napi(object)]
pub struct JsConvertImageOptions {
    pub source_path: Option<String>,
    pub dest_path: Option<String>,
    pub dest_format: Option<String>,
    pub compress: Option<bool>,
}

#[napi(object)]
pub struct JsSnapshotInfo {
    pub id: String,
    pub name: String,
    pub vm_size: f64,
    pub date: String,
    pub vm_clock: String,
}

#[napi(object)]
pub struct JsImageInfo {
    pub filename: String,
    pub format: String,
    pub virtual_size: f64,
    pub actual_size: f64,
    pub cluster_size: Option<f64>,
    pub encrypted: bool,
    pub backing_file: Option<String>,
    pub snapshots: Option<Vec<JsSnapshotInfo>>,
}

#[napi(object)]
pub struct JsImageCheckResult {
    pub errors: f64,
    pub leaks: f64,
    pub corruptions: f64,
    pub total_clusters: f64,
    pub allocated_clusters: f64,
}

#[napi(object)]
pub struct JsLiveSnapshotTarget {
    pub device: String,
    pub name: String,
}

#[napi(object)]
pub struct JsLiveResizeTarget {
    pub device: String,
    /// Bytes (at most 2^50, exact in a JS number).
    pub size: f64,
}

#[allow(clippy::cast_precision_loss)] // image sizes and counters are far below 2^53
fn num(v: u64) -> f64 {
    v as f64
}

impl From<SnapshotInfo> for JsSnapshotInfo {
    fn from(s: SnapshotInfo) -> Self {
        JsSnapshotInfo { id: s.id, name: s.name, vm_size: s.vm_size, date: s.date, vm_clock: s.vm_clock }
    }
}

impl From<ImageInfo> for JsImageInfo {
    fn from(i: ImageInfo) -> Self {
        JsImageInfo {
            filename: i.filename,
            format: i.format,
            virtual_size: num(i.virtual_size),
            actual_size: num(i.actual_size),
            cluster_size: i.cluster_size.map(num),
            encrypted: i.encrypted,
            backing_file: i.backing_file,
            snapshots: i.snapshots.map(|s| s.into_iter().map(Into::into).collect()),
        }
    }
}

impl From<ImageCheckResult> for JsImageCheckResult {
    fn from(c: ImageCheckResult) -> Self {
        JsImageCheckResult {
            errors: num(c.errors),
            leaks: num(c.leaks),
            corruptions: num(c.corruptions),
            total_clusters: num(c.total_clusters),
            allocated_clusters: num(c.allocated_clusters),
        }
    }
}

/// Runs `job` with a progress reporter wired to `callback`, and resolves only after
/// the last report has been delivered to JS.
async fn with_progress<T, F, Fut>(callback: Option<ProgressCallback>, job: F) -> napi::Result<T>
where
    T: Send + 'static,
    F: FnOnce(Option<Arc<Progress>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = napi::Result<T>> + Send + 'static,
{
    let Some(callback) = callback else { return guarded(job(None)).await };
    let (tx, mut rx) = tokio::sync::watch::channel(None::<f64>);
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel::<()>();
    let forwarder = tokio::spawn(async move {
        let mut sent = None;
        loop {
            tokio::select! {
                biased;
                changed = rx.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                _ = &mut done_rx => break,
            }
            let latest = *rx.borrow_and_update();
            if latest.is_some() && latest != sent {
                sent = latest;
                if let Some(p) = latest {
                    // The facade's wrapper never throws; a failed call only loses a report.
                    let _ = callback.call_async_catch(p).await;
                }
            }
        }
        let latest = *rx.borrow();
        if let (Some(p), true) = (latest, latest != sent) {
            let _ = callback.call_async_catch(p).await;
        }
    });
    let progress = Progress::new(Arc::new(move |p| {
        let _ = tx.send(Some(p));
    }));
    let result = guarded(job(Some(progress))).await;
    let _ = done_tx.send(());
    let _ = forwarder.await;
    result
}

#[napi]
pub async fn qemu_img_create(
    options: JsCreateImageOptions,
    on_progress: Option<ThreadsafeFunction<f64, (), f64, napi::Status, false, true>>,
) -> napi::Result<()> {
    let req = qemu_img::CreateImageRequest {
        path: options.path.unwrap_or_default(),
        size_gb: options.size_gb,
        format: options.format.unwrap_or_default(),
        cluster_size: options.cluster_size,
        preallocation: options.preallocation,
        backing_file: options.backing_file,
        backing_format: options.backing_format,
    };
    with_progress(on_progress, move |p| async move {
        let req = qemu_img::CreateImage::parse(&req).napi()?;
        qemu_img::create_image(&req, p).await.napi()
    })
    .await
}

#[napi]
pub async fn qemu_img_delete(path: Option<String>) -> napi::Result<()> {
    let path = path.unwrap_or_default();
    guarded(async move { qemu_img::delete_image(&path).await.napi() }).await
}

#[napi]
pub async fn qemu_img_list_clones(path: Option<String>) -> napi::Result<Vec<String>> {
    let path = path.unwrap_or_default();
    guarded(async move { backing::list_clones(&path).await.napi() }).await
}

#[napi]
pub async fn qemu_img_flatten(path: Option<String>, on_progress: Option<ThreadsafeFunction<f64, (), f64, napi::Status, false, true>>) -> napi::Result<bool> {
    let path = path.unwrap_or_default();
    with_progress(on_progress, move |p| async move { backing::flatten_image(&path, p).await.napi() }).await
}

/// Flattens a running VM's clone through `qmp` (`block-stream`); `timeoutMs`
/// defaults to an hour.
#[napi(ts_return_type = "Promise<boolean>")]
pub fn qemu_img_flatten_live<'e>(
    env: &'e Env,
    qmp: ClassInstance<'e, NativeQmpClient>,
    device: Option<String>,
    timeout_ms: Option<f64>,
    on_progress: Option<ThreadsafeFunction<f64, (), f64, napi::Status, false, true>>,
) -> napi::Result<PromiseRaw<'e, bool>> {
    let client = qmp.core();
    let device = device.unwrap_or_default();
    let timeout = match timeout_ms {
        None => Ok(live::DEFAULT_FLATTEN_TIMEOUT),
        Some(ms) if ms.is_finite() && ms > 0.0 && ms <= 1e10 => Ok(std::time::Duration::from_secs_f64(ms / 1000.0)),
        Some(ms) => Err(StorageError::CommandFailed {
            op: Op::LiveFlatten,
            path: device.clone(),
            target: None,
            detail: format!("timeoutMs must be a positive number of milliseconds (got {ms})"),
        }),
    };
    env.spawn_future(async move {
        let timeout = timeout.napi()?;
        with_progress(on_progress, move |p| async move { live::flatten(&client, &device, timeout, p).await.napi() }).await
    })
}

#[napi]
pub async fn snapshot_materialize(
    image_path: Option<String>,
    name: Option<String>,
    dest_path: Option<String>,
    on_progress: Option<ThreadsafeFunction<f64, (), f64, napi::Status, false, true>>,
) -> napi::Result<()> {
    let (image_path, name, dest_path) = (image_path.unwrap_or_default(), name.unwrap_or_default(), dest_path.unwrap_or_default());
    with_progress(on_progress, move |p| async move { snapshot::materialize_snapshot(&image_path, &name, &dest_path, p).await.napi() }).await
}

#[napi]
pub async fn qemu_img_info(path: Option<String>) -> napi::Result<JsImageInfo> {
    let path = path.unwrap_or_default();
    guarded(async move { qemu_img::image_info(&path).await.map(Into::into).napi() }).await
}

#[napi]
pub async fn qemu_img_resize(path: Option<String>, new_size_gb: Option<f64>, allow_shrink: Option<bool>) -> napi::Result<()> {
    let (path, new_size_gb) = (path.unwrap_or_default(), new_size_gb.unwrap_or(f64::NAN));
    guarded(async move {
        let req = qemu_img::ResizeImage::parse(&path, new_size_gb, allow_shrink.unwrap_or(false)).napi()?;
        qemu_img::resize_image(&req).await.napi()
    })
    .await
}

#[napi]
pub async fn qemu_img_convert(
    options: JsConvertImageOptions,
    on_progress: Option<ThreadsafeFunction<f64, (), f64, napi::Status, false, true>>,
) -> napi::Result<()> {
    let req = qemu_img::ConvertImageRequest {
        source_path: options.source_path.unwrap_or_default(),
        dest_path: options.dest_path.unwrap_or_default(),
        dest_format: options.dest_format.unwrap_or_default(),
        compress: options.compress.unwrap_or(false),
    };
    with_progress(on_progress, move |p| async move {
        let req = qemu_img::ConvertImage::parse(&req).napi()?;
        qemu_img::convert_image(&req, p).await.napi()
    })
    .await
}

#[napi]
pub async fn qemu_img_check(path: Option<String>) -> napi::Result<JsImageCheckResult> {
    let path = path.unwrap_or_default();
    guarded(async move { qemu_img::check_image(&path).await.map(Into::into).napi() }).await
}

#[napi]
pub async fn snapshot_create(image_path: Option<String>, name: Option<String>) -> napi::Result<()> {
    let (image_path, name) = (image_path.unwrap_or_default(), name.unwrap_or_default());
    guarded(async move { snapshot::create_snapshot(&image_path, &name).await.napi() }).await
}

#[napi]
pub async fn snapshot_list(image_path: Option<String>) -> napi::Result<Vec<JsSnapshotInfo>> {
    let image_path = image_path.unwrap_or_default();
    guarded(async move { snapshot::list_snapshots(&image_path).await.map(|l| l.into_iter().map(Into::into).collect()).napi() }).await
}

#[napi]
pub async fn snapshot_revert(image_path: Option<String>, name: Option<String>) -> napi::Result<()> {
    let (image_path, name) = (image_path.unwrap_or_default(), name.unwrap_or_default());
    guarded(async move { snapshot::revert_snapshot(&image_path, &name).await.napi() }).await
}

#[napi]
pub async fn snapshot_delete(image_path: Option<String>, name: Option<String>) -> napi::Result<()> {
    let (image_path, name) = (image_path.unwrap_or_default(), name.unwrap_or_default());
    guarded(async move { snapshot::delete_snapshot(&image_path, &name).await.napi() }).await
}

#[napi]
pub async fn snapshot_exists(image_path: Option<String>, name: Option<String>) -> napi::Result<bool> {
    let (image_path, name) = (image_path.unwrap_or_default(), name.unwrap_or_default());
    guarded(async move { snapshot::snapshot_exists(&image_path, &name).await.napi() }).await
}

fn live_op(op: &str) -> napi::Result<Op> {
    match op {
        "snapshot" => Ok(Op::LiveSnapshotCreate),
        "delete" => Ok(Op::LiveSnapshotDelete),
        "resize" => Ok(Op::LiveResize),
        other => Err(napi::Error::from_reason(format!("unknown live storage operation {other:?}"))),
    }
}

/// Validates a live snapshot request (`op`: "snapshot" or "delete").
#[napi(catch_unwind)]
pub fn storage_live_snapshot_target(op: String, device: Option<String>, name: Option<String>) -> napi::Result<JsLiveSnapshotTarget> {
    let (device, name) = (device.unwrap_or_default(), name.unwrap_or_default());
    let (d, n) = live::snapshot_target(live_op(&op)?, &device, &name).napi()?;
    Ok(JsLiveSnapshotTarget { device: d.as_str().to_string(), name: n.as_str().to_string() })
}

/// Validates a live resize; with `queryBlock` (QEMU's `query-block` reply) also
/// checks the device exists and is not shrunk without `allowShrink`.
#[napi(catch_unwind)]
pub fn storage_live_resize_target(
    device: Option<String>,
    new_size_gb: Option<f64>,
    allow_shrink: bool,
    #[napi(ts_arg_type = "unknown")] query_block: Option<Value>,
) -> napi::Result<JsLiveResizeTarget> {
    let (device, new_size_gb) = (device.unwrap_or_default(), new_size_gb.unwrap_or(f64::NAN));
    let (d, bytes) = live::resize_target(&device, new_size_gb).napi()?;
    if let Some(blocks) = query_block {
        live::check_resize(&d, bytes, new_size_gb, allow_shrink, &blocks).napi()?;
    }
    Ok(JsLiveResizeTarget { device: d.as_str().to_string(), size: num(bytes) })
}

/// Turns a failed live command (the QMP client's error `code` and `message`) into
/// the storage error it means; returns normally when there is nothing to report.
#[napi(catch_unwind)]
pub fn storage_live_failure(op: String, device: Option<String>, name: Option<String>, code: Option<String>, message: String) -> napi::Result<()> {
    live::classify_failure(live_op(&op)?, device.as_deref().unwrap_or(""), name.as_deref(), code.as_deref().unwrap_or(""), &message).napi()
}
