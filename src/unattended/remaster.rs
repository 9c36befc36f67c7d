//! Remastering an Ubuntu live-server installer ISO so that subiquity starts the
//! autoinstall without asking "Continue with autoinstall? (yes|no)": the ISO's GRUB
//! configuration (`/boot/grub/grub.cfg`, and `/boot/grub/loopback.cfg` when present)
//! is extracted with xorriso, every casper kernel line gets ` autoinstall` on its
//! command line, and a new ISO is written with the patched files mapped over the old
//! ones and the original boot setup (El Torito, MBR/GPT, EFI partition) replayed.
//!
//! The original ISO is only read. The private work directory (under the output
//! directory, so the final rename stays on one filesystem) is removed on every path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::{MediaStage, UnattendedError};
use super::media::{self, WorkDir};
use crate::exec::HostCommand;

/// Listing or extracting a few files from the ISO.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Writing the new image copies the whole installer (a few GiB).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

const GRUB_CFG: &str = "/boot/grub/grub.cfg";
const LOOPBACK_CFG: &str = "/boot/grub/loopback.cfg";
const KERNEL_ARG: &str = "autoinstall";

/// The name of the remastered ISO of `vm_id` in the output directory.
pub fn output_name(vm_id: &str) -> String {
    format!("{vm_id}-ubuntu-autoinstall.iso")
}

/// Adds `autoinstall` to every `linux`/`linuxefi` line that loads a casper kernel
/// (`/casper/…vmlinuz…`): before the ` ---` separator, or at the end of the line when
/// there is none; lines that already have it are left alone. Everything else (other
/// entries, indentation, line endings) is kept byte for byte. `None` when the text
/// has no casper kernel line at all (not an Ubuntu live-server configuration).
pub fn patch_grub_cfg(cfg: &str) -> Option<String> {
    let mut out = String::with_capacity(cfg.len() + 64);
    let mut found = false;
    for line in cfg.split_inclusive('\n') {
        match patch_line(line) {
            Some(patched) => {
                found = true;
                out.push_str(&patched);
            }
            None => out.push_str(line),
        }
    }
    found.then_some(out)
}

/// `Some(line)` (patched, or unchanged when it already has the argument) for a casper
/// kernel line; `None` for any other line.
fn patch_line(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let cmd = words.next()?;
    if cmd != "linux" && cmd != "linuxefi" {
        return None;
    }
    let kernel = words.next()?;
    if !(kernel.starts_with("/casper/") && kernel.contains("vmlinuz")) {
        return None;
    }
    let args: Vec<&str> = words.collect();
    if args.contains(&KERNEL_ARG) {
        return Some(line.to_string());
    }
    // The content ends before the line terminator and trailing blanks.
    let body_end = line.trim_end().len();
    let at = match args.iter().position(|w| *w == "---") {
        Some(_) => {
            // Byte offset of the first standalone `---`, then back over the blanks.
            let sep = separator_offset(&line[..body_end])?;
            line[..sep].trim_end().len()
        }
        None => body_end,
    };
    let mut s = String::with_capacity(line.len() + KERNEL_ARG.len() + 1);
    s.push_str(&line[..at]);
    s.push(' ');
    s.push_str(KERNEL_ARG);
    s.push_str(&line[at..]);
    Some(s)
}

/// Offset of the first whitespace-delimited `---` word in `body`.
fn separator_offset(body: &str) -> Option<usize> {
    let mut start = None;
    for (i, c) in body.char_indices().chain(std::iter::once((body.len(), ' '))) {
        if c.is_whitespace() {
            if let Some(s) = start.take() {
                if &body[s..i] == "---" {
                    return Some(s);
                }
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    None
}

/// Writes `<out_dir>/<vm_id>-ubuntu-autoinstall.iso` (mode 0600): `installer_iso` with
/// `autoinstall` on the kernel command line of its casper GRUB entries. A previous
/// file of that name is replaced. Nothing is left behind on failure.
pub async fn remaster_ubuntu_installer(installer_iso: &Path, out_dir: &Path, vm_id: &str, xorriso: &str) -> Result<PathBuf, UnattendedError> {
    if vm_id.is_empty() || media::safe_name(vm_id) != vm_id {
        return Err(UnattendedError::invalid(Some(vm_id), "vmId must be 1-64 characters of A-Z, a-z, 0-9, '-' and '_' to name the remastered installer ISO"));
    }
    if !installer_iso.is_absolute() {
        return Err(UnattendedError::invalid(Some(vm_id), "the installer ISO path must be absolute"));
    }
    let work = WorkDir::create(out_dir, vm_id)?;
    let result = remaster_in(&work, installer_iso, out_dir, vm_id, xorriso).await;
    work.remove().await;
    result
}

async fn remaster_in(work: &WorkDir, iso: &Path, out_dir: &Path, vm_id: &str, xorriso: &str) -> Result<PathBuf, UnattendedError> {
    let iso_s = iso.display().to_string();
    let remaster_err = |reason: &str| UnattendedError::Remaster { vm_id: Some(vm_id.to_string()), iso: iso_s.clone(), reason: reason.to_string() };
    // xorriso takes a missing path for a blank medium: check it is a readable file.
    match tokio::fs::File::open(iso).await {
        Ok(f) => match f.metadata().await {
            Ok(m) if m.is_file() && m.len() > 0 => {}
            Ok(_) => return Err(remaster_err("the installer ISO is not a non-empty regular file")),
            Err(e) => return Err(remaster_err(&format!("cannot read the installer ISO: {e}"))),
        },
        Err(e) => return Err(remaster_err(&format!("cannot read the installer ISO: {e}"))),
    }
    let xorriso_err = |source| UnattendedError::Xorriso { vm_id: Some(vm_id.to_string()), source };
    let io = |stage, path: &Path, source| UnattendedError::MediaIo { vm_id: Some(vm_id.to_string()), stage, path: path.display().to_string(), source };
    // An unreadable or missing ISO is reported by xorriso itself (exit code, stderr).
    let listing = HostCommand::new(xorriso)
        .args(["-indev"])
        .arg(iso_s.clone())
        .args(["-find", "/", "-type", "f", "-name", "*.cfg"])
        .timeout(Some(READ_TIMEOUT))
        .run()
        .await
        .map_err(xorriso_err)?;
    let listed: Vec<&str> = listing.stdout.lines().map(|l| l.trim().trim_matches('\'')).collect();
    if !listed.contains(&GRUB_CFG) {
        return Err(remaster_err(&format!("the installer ISO has no {GRUB_CFG} (not an Ubuntu live-server ISO)")));
    }
    let mut targets = vec![GRUB_CFG];
    if listed.contains(&LOOPBACK_CFG) {
        targets.push(LOOPBACK_CFG);
    }

    // Extract all of them in one run.
    let mut extract = HostCommand::new(xorriso).args(["-osirrox", "on", "-indev"]).arg(iso_s.clone());
    let mut pairs = Vec::new();
    for t in &targets {
        let name = t.rsplit('/').next().unwrap_or("grub.cfg");
        let local = work.path().join(name);
        extract = extract.arg("-extract").arg(*t).arg(local.display().to_string());
        pairs.push((*t, local));
    }
    extract.timeout(Some(READ_TIMEOUT)).run().await.map_err(xorriso_err)?;

    let mut maps = Vec::new();
    for (iso_path, local) in &pairs {
        let bytes = tokio::fs::read(local).await.map_err(|e| io(MediaStage::WriteFiles, local, e))?;
        let text = String::from_utf8(bytes).map_err(|_| remaster_err(&format!("{iso_path} of the installer ISO is not UTF-8 text")))?;
        let patched = match patch_grub_cfg(&text) {
            Some(p) => p,
            // loopback.cfg without a casper entry is left as it is.
            None if *iso_path != GRUB_CFG => continue,
            None => return Err(remaster_err(&format!("the installer ISO has no casper kernel entry in {GRUB_CFG} (not an Ubuntu live-server ISO)"))),
        };
        let mut out = local.clone().into_os_string();
        out.push(".patched");
        let out = PathBuf::from(out);
        media::write_private(&out, patched.as_bytes()).map_err(|e| io(MediaStage::WriteFiles, &out, e))?;
        maps.push((out, *iso_path));
    }

    let new_iso = work.path().join("installer.iso");
    let mut write = HostCommand::new(xorriso).args(["-indev"]).arg(iso_s.clone()).arg("-outdev").arg(new_iso.display().to_string());
    for (local, iso_path) in &maps {
        write = write.arg("-map").arg(local.display().to_string()).arg(*iso_path);
    }
    let write = write.args(["-boot_image", "any", "replay"]).timeout(Some(WRITE_TIMEOUT));
    crate::log::log("infinivirt:unattended-installer", &format!("running {}", write.display()));
    write.run().await.map_err(xorriso_err)?;

    let out = out_dir.join(output_name(vm_id));
    media::move_file(&new_iso, &out).await.map_err(|e| io(MediaStage::Output, &out, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/boot/grub/grub.cfg` of ubuntu-22.04.x-live-server-amd64.iso.
    const JAMMY: &str = "set timeout=30\n\nloadfont unicode\n\nset menu_color_normal=white/black\nset menu_color_highlight=black/light-gray\n\nmenuentry \"Try or Install Ubuntu Server\" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\nmenuentry \"Ubuntu Server with the HWE kernel\" {\n\tset gfxpayload=keep\n\tlinux\t/casper/hwe-vmlinuz  ---\n\tinitrd\t/casper/hwe-initrd\n}\ngrub_platform\nif [ \"$grub_platform\" = \"efi\" ]; then\nmenuentry 'Boot from next volume' {\n\texit 1\n}\nmenuentry 'UEFI Firmware Settings' {\n\tfwsetup\n}\nelse\nmenuentry 'Test memory' {\n\tlinux16 /boot/memtest86+.bin\n}\nfi\n";

    /// `/boot/grub/grub.cfg` of ubuntu-24.04-live-server-amd64.iso (memtest on both
    /// platforms, `linux` for the EFI memtest too).
    const NOBLE: &str = "set timeout=30\n\nloadfont unicode\n\nset menu_color_normal=white/black\nset menu_color_highlight=black/light-gray\n\nmenuentry \"Try or Install Ubuntu Server\" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  ---\n\tinitrd\t/casper/initrd\n}\nmenuentry \"Ubuntu Server with the HWE kernel\" {\n\tset gfxpayload=keep\n\tlinux\t/casper/hwe-vmlinuz  ---\n\tinitrd\t/casper/hwe-initrd\n}\ngrub_platform\nif [ \"$grub_platform\" = \"efi\" ]; then\nmenuentry 'Test memory' {\n\tlinux /boot/memtest86+x64.bin\n}\nmenuentry 'Boot from next volume' {\n\texit 1\n}\nmenuentry 'UEFI Firmware Settings' {\n\tfwsetup\n}\nelse\nmenuentry 'Test memory' {\n\tlinux16 /boot/memtest86+ia32.bin\n}\nfi\n";

    /// `/boot/grub/loopback.cfg` of the same ISOs.
    const LOOPBACK: &str = "menuentry \"Try or Install Ubuntu Server\" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} ---\n\tinitrd\t/casper/initrd\n}\nmenuentry \"Ubuntu Server with the HWE kernel\" {\n\tset gfxpayload=keep\n\tlinux\t/casper/hwe-vmlinuz  iso-scan/filename=${iso_path} ---\n\tinitrd\t/casper/hwe-initrd\n}\n";

    fn kernel_lines(cfg: &str) -> Vec<&str> {
        cfg.lines().filter(|l| l.trim_start().starts_with("linux")).collect()
    }

    #[test]
    fn jammy_and_noble_entries_get_autoinstall_before_the_separator() {
        for cfg in [JAMMY, NOBLE] {
            let p = patch_grub_cfg(cfg).unwrap();
            assert!(p.contains("\tlinux\t/casper/vmlinuz autoinstall  ---\n"), "{p}");
            assert!(p.contains("\tlinux\t/casper/hwe-vmlinuz autoinstall  ---\n"), "{p}");
            assert_eq!(p.matches("autoinstall").count(), 2);
            // Memtest entries and everything else untouched.
            assert_eq!(p.replace(" autoinstall", ""), cfg);
            for l in kernel_lines(&p) {
                assert_eq!(l.contains("autoinstall"), l.contains("/casper/"), "{l}");
            }
        }
    }

    #[test]
    fn loopback_entries_keep_their_arguments() {
        let p = patch_grub_cfg(LOOPBACK).unwrap();
        assert!(p.contains("\tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} autoinstall ---\n"), "{p}");
        assert!(p.contains("/casper/hwe-vmlinuz  iso-scan/filename=${iso_path} autoinstall ---\n"));
    }

    #[test]
    fn patching_is_idempotent() {
        let once = patch_grub_cfg(JAMMY).unwrap();
        assert_eq!(patch_grub_cfg(&once).unwrap(), once);
        let manual = "menuentry x {\n linux /casper/vmlinuz quiet autoinstall ---\n}\n";
        assert_eq!(patch_grub_cfg(manual).unwrap(), manual);
    }

    #[test]
    fn no_separator_appends_at_the_end_and_keeps_crlf() {
        assert_eq!(
            patch_grub_cfg("  linuxefi /casper/vmlinuz.efi quiet splash  \r\n").unwrap(),
            "  linuxefi /casper/vmlinuz.efi quiet splash autoinstall  \r\n"
        );
        assert_eq!(patch_grub_cfg("linux /casper/vmlinuz").unwrap(), "linux /casper/vmlinuz autoinstall");
        // `---` glued to another word is not the separator.
        assert_eq!(patch_grub_cfg("linux /casper/vmlinuz a=--- x\n").unwrap(), "linux /casper/vmlinuz a=--- x autoinstall\n");
    }

    #[test]
    fn configurations_without_a_casper_kernel_are_refused() {
        for cfg in [
            "",
            "menuentry 'Test memory' {\n\tlinux16 /boot/memtest86+.bin\n}\n",
            // Fedora/anaconda layout.
            "menuentry 'Install Fedora' {\n\tlinux /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=F quiet\n}\n",
            // Mentions casper, but not as a linux command's kernel.
            "# linux /casper/vmlinuz ---\ninitrd /casper/initrd\nlinux /boot/vmlinuz /casper/vmlinuz\n",
        ] {
            assert_eq!(patch_grub_cfg(cfg), None, "{cfg:?}");
        }
        // The desktop ISO's kernel is casper too: accepted.
        assert!(patch_grub_cfg("linux /casper/vmlinuz layerfs-path=minimal.standard.live.squashfs --- quiet splash\n")
            .unwrap()
            .contains("squashfs autoinstall --- quiet splash"));
    }

    #[tokio::test]
    async fn rejects_unsafe_ids_and_relative_paths_before_touching_anything() {
        let out = std::env::temp_dir().join(format!("iv-ua-rem-args-{}", std::process::id()));
        let e = remaster_ubuntu_installer(Path::new("/x.iso"), &out, "a/../b", "xorriso").await.unwrap_err();
        assert_eq!(crate::error::ErrorShape::code(&e), "INVALID_CONFIG");
        let e = remaster_ubuntu_installer(Path::new("x.iso"), &out, "vm1", "xorriso").await.unwrap_err();
        assert_eq!(crate::error::ErrorShape::code(&e), "INVALID_CONFIG");
        assert!(!out.exists());
    }
}
