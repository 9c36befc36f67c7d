//! Bindings of the unattended installer's core (`src/unattended/`): the config is
//! taken as JSON and parsed by the core, so JS and Rust share one validation.

use std::path::PathBuf;

use napi_derive::napi;
use serde_json::Value;

use super::error::{guarded, IntoNapi};
use crate::unattended::{self, validate, MediaOptions};

#[napi(object)]
pub struct JsUnattendedBuildOptions {
    /// Directory of the finished ISO (default `/var/lib/infinivirt/unattended`).
    pub output_dir: Option<String>,
    /// Base of the temporary work directory (default: the output directory).
    pub work_dir: Option<String>,
    /// Directory `script.fileName` is read from when a script has no `content`.
    pub scripts_dir: Option<String>,
    /// xorriso program (default `xorriso` from PATH).
    pub xorriso_path: Option<String>,
}

#[napi(object)]
pub struct JsAnswerFile {
    pub path: String,
    pub content: String,
}

#[napi(object)]
pub struct JsAnswerFiles {
    pub os: String,
    pub volume_id: String,
    pub files: Vec<JsAnswerFile>,
}

/// Throws `UnattendedError(INVALID_CONFIG)` listing every problem; an unknown OS passes.
#[napi(catch_unwind)]
pub fn unattended_validate(#[napi(ts_arg_type = "unknown")] config: Value) -> napi::Result<()> {
    validate::parse(&config).map(|_| ()).napi()
}

#[napi]
pub async fn unattended_answer_files(
    #[napi(ts_arg_type = "import('./index').UnattendedInstallConfig")] config: Value,
    scripts_dir: Option<String>,
) -> napi::Result<JsAnswerFiles> {
    guarded(async move {
        let req = validate::parse(&config).napi()?;
        let dir = scripts_dir.map(PathBuf::from);
        let files = unattended::answer_files(&req, dir.as_deref()).await.napi()?;
        Ok(JsAnswerFiles {
            os: req.target.map(|t| t.name().to_string()).unwrap_or_default(),
            volume_id: files.volume_id.to_string(),
            files: files.files.into_iter().map(|f| JsAnswerFile { path: f.path, content: f.content }).collect(),
        })
    })
    .await
}

#[napi]
pub async fn unattended_build_media(
    #[napi(ts_arg_type = "import('./index').UnattendedInstallConfig")] config: Value,
    options: Option<JsUnattendedBuildOptions>,
) -> napi::Result<String> {
    guarded(async move {
        let req = validate::parse(&config).napi()?;
        let o = options.unwrap_or(JsUnattendedBuildOptions { output_dir: None, work_dir: None, scripts_dir: None, xorriso_path: None });
        let mut opts = MediaOptions::default();
        if let Some(d) = o.output_dir {
            opts.output_dir = PathBuf::from(d);
        }
        opts.work_dir = o.work_dir.map(PathBuf::from);
        if let Some(x) = o.xorriso_path {
            opts.xorriso = x;
        }
        let scripts = o.scripts_dir.map(PathBuf::from);
        let iso = unattended::build_install_media(&req, scripts.as_deref(), &opts).await.napi()?;
        Ok(iso.display().to_string())
    })
    .await
}

/// Removes a built medium; `false` when it was already gone.
#[napi]
pub async fn unattended_remove_media(path: String) -> napi::Result<bool> {
    guarded(async move {
        unattended::media::remove(std::path::Path::new(&path)).await.map_err(|source| crate::error::IoError { action: "remove", path, source }).napi()
    })
    .await
}

#[napi(object)]
pub struct JsUnattendedRemasterOptions {
    /// Target OS of the install (`ubuntu`, `windows10`, `windows11`, `fedora`, or an alias).
    pub os: String,
    /// Names the remastered ISO (`<vmId>-ubuntu-autoinstall.iso`; `[A-Za-z0-9_-]{1,64}`).
    pub vm_id: String,
    /// Directory of the remastered ISO and its work directory (default `/var/lib/infinivirt/unattended`).
    pub output_dir: Option<String>,
    /// xorriso program (default `xorriso` from PATH).
    pub xorriso_path: Option<String>,
}

/// The installer ISO to boot: for Ubuntu a remastered copy whose GRUB entries pass
/// `autoinstall` (the caller removes it with `unattendedRemoveMedia`), else `isoPath`.
#[napi]
pub async fn unattended_remaster_installer(iso_path: String, options: JsUnattendedRemasterOptions) -> napi::Result<String> {
    guarded(async move {
        let mut opts = MediaOptions::default();
        if let Some(d) = options.output_dir {
            opts.output_dir = PathBuf::from(d);
        }
        if let Some(x) = options.xorriso_path {
            opts.xorriso = x;
        }
        let iso = unattended::prepare_installer_iso(&options.os, std::path::Path::new(&iso_path), &options.vm_id, &opts).await.napi()?;
        Ok(iso.display().to_string())
    })
    .await
}
