//! Unattended guest OS installation: answer files for Windows 10/11 (autounattend.xml),
//! Ubuntu (autoinstall via cloud-init NoCloud) and Fedora/RHEL (kickstart), and the
//! small answer ISO each installer finds by itself.
//!
//! Flow: [`validate::parse`] (the JS constructor: every `INVALID_CONFIG` at once) →
//! [`prepare`] (target known or `UNSUPPORTED_OS`; script files read and expanded;
//! Linux password hashed) → [`render`] (pure) → [`media::build`] (xorriso, temp dir
//! always removed). [`build_install_media`] and [`answer_files`] run the whole chain.

pub mod answer;
pub mod config;
pub mod crypt;
pub mod error;
pub mod escape;
pub mod kickstart;
pub mod media;
pub mod monitor;
pub mod remaster;
pub mod template;
pub mod ubuntu;
pub mod validate;
pub mod windows;

use std::path::{Path, PathBuf};

use answer::{AnswerFiles, Prepared, ResolvedScript};
use config::{Family, InstallRequest, ScriptSource, Target};
use error::{MediaStage, UnattendedError};
pub use media::MediaOptions;

/// Resolves what rendering needs: the target (else `UNSUPPORTED_OS`), each script's
/// text (`content`, or `fileName` under `scripts_dir`) with its inputs substituted,
/// and for Linux targets the password's SHA-512 crypt hash.
pub async fn prepare(req: &InstallRequest, scripts_dir: Option<&Path>) -> Result<(Target, Prepared), UnattendedError> {
    let target = validate::target_of(req)?;
    let mut scripts = Vec::with_capacity(req.scripts.len());
    for run in &req.scripts {
        let text = match &run.source {
            ScriptSource::Inline(t) => t.clone(),
            ScriptSource::File(name) => read_script(req, name, scripts_dir).await?,
        };
        let text = validate::expand_script(&text, run.shell, &run.inputs).map_err(|e| validate::script_template_error(&req.vm_id, run, e))?;
        scripts.push(ResolvedScript { name: run.name.clone(), shell: run.shell, text });
    }
    let password_hash = if target.family() == Family::Windows {
        String::new()
    } else {
        let pw = req.password.clone();
        tokio::task::spawn_blocking(move || crypt::sha512_crypt(pw.expose()))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|source| UnattendedError::MediaIo { vm_id: Some(req.vm_id.clone()), stage: MediaStage::WriteFiles, path: "/dev/urandom".into(), source })?
    };
    Ok((target, Prepared { scripts, password_hash }))
}

async fn read_script(req: &InstallRequest, name: &str, dir: Option<&Path>) -> Result<String, UnattendedError> {
    let Some(dir) = dir else {
        return Err(UnattendedError::invalid(
            Some(&req.vm_id),
            format!("Script file {} needs the scriptsDir option (or pass script.content)", validate::shown(name)),
        ));
    };
    let path = dir.join(name);
    let io = |source| UnattendedError::MediaIo { vm_id: Some(req.vm_id.clone()), stage: MediaStage::ReadScript, path: path.display().to_string(), source };
    let meta = tokio::fs::metadata(&path).await.map_err(io)?;
    if meta.len() > validate::MAX_SCRIPT_BYTES as u64 {
        return Err(UnattendedError::invalid(Some(&req.vm_id), format!("Script file {} is larger than 1 MiB", validate::shown(name))));
    }
    let bytes = tokio::fs::read(&path).await.map_err(io)?;
    String::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| UnattendedError::invalid(Some(&req.vm_id), format!("Script file {} is not UTF-8 text", validate::shown(name))))
}

/// The answer files of `target` (pure; cannot fail for a parsed request).
pub fn render(req: &InstallRequest, target: Target, prep: &Prepared) -> AnswerFiles {
    match target.family() {
        Family::Windows => windows::render(req, target, prep),
        Family::Ubuntu => ubuntu::render(req, prep),
        Family::Fedora => kickstart::render(req, prep),
    }
}

/// Parse-checked request → answer files (what `generateAnswerFiles()` returns).
pub async fn answer_files(req: &InstallRequest, scripts_dir: Option<&Path>) -> Result<AnswerFiles, UnattendedError> {
    let (target, prep) = prepare(req, scripts_dir).await?;
    Ok(render(req, target, &prep))
}

/// Parse-checked request → answer ISO in `opts.output_dir`; returns its path. The
/// caller owns the file and removes it with [`media::remove`] when the install ends.
pub async fn build_install_media(req: &InstallRequest, scripts_dir: Option<&Path>, opts: &MediaOptions) -> Result<PathBuf, UnattendedError> {
    let (target, prep) = prepare(req, scripts_dir).await?;
    let files = render(req, target, &prep);
    media::build(&files, &req.vm_id, target.name(), opts).await
}

/// The installer ISO the VM boots for an unattended install of `os`: for Ubuntu a
/// remastered copy in `opts.output_dir` whose casper GRUB entries carry `autoinstall`
/// (else subiquity asks before installing; the caller removes it with
/// [`media::remove`] like the answer medium); for every other target `installer_iso`
/// itself (Windows Setup and anaconda find their answer media unprompted).
pub async fn prepare_installer_iso(os: &str, installer_iso: &Path, vm_id: &str, opts: &MediaOptions) -> Result<PathBuf, UnattendedError> {
    let target = Target::parse(os).ok_or_else(|| UnattendedError::UnsupportedOs { vm_id: Some(vm_id.to_string()), os: os.to_string() })?;
    if target.family() != Family::Ubuntu {
        return Ok(installer_iso.to_path_buf());
    }
    remaster::remaster_ubuntu_installer(installer_iso, &opts.output_dir, vm_id, &opts.xorriso).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn file_scripts_are_read_and_expanded() {
        let dir = std::env::temp_dir().join(format!("iv-ua-scripts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello.sh"), "echo {{who}}\n").unwrap();
        let req = validate::parse(&json!({
            "vmId": "v1", "os": "fedora", "username": "alice", "password": "pw",
            "scripts": [{ "script": { "id": "1", "name": "hello", "fileName": "hello.sh", "shell": "SH" }, "inputValues": { "who": "it's me" }, "executionId": "e" }]
        }))
        .unwrap();
        let (_, prep) = prepare(&req, Some(&dir)).await.unwrap();
        assert_eq!(prep.scripts[0].text, "echo 'it'\\''s me'\n");
        assert!(prep.password_hash.starts_with("$6$"));
        let e = prepare(&req, None).await.unwrap_err();
        assert!(e.to_string().contains("needs the scriptsDir option"));
        std::fs::write(dir.join("hello.sh"), "echo {{nobody}}\n").unwrap();
        let e = prepare(&req, Some(&dir)).await.unwrap_err();
        assert!(e.to_string().contains("undefined placeholder '{{nobody}}'"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
