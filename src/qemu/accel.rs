//! Which accelerator QEMU can really use here.
//!
//! `/dev/kvm` alone proves nothing: on these hosts it exists but belongs to PVM,
//! which hangs stock guest kernels. KVM is chosen only when the CPU advertises
//! hardware virtualisation (`vmx`/`svm`), PVM is not loaded, and `/dev/kvm` opens.

use std::path::Path;

use super::options::Accel;

/// The decision and why, for logs and the README's main job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    pub accel: Accel,
    pub reason: String,
}

pub fn detect() -> AccelChoice {
    detect_in(Path::new("/proc/cpuinfo"), Path::new("/sys/module/kvm_pvm"), Path::new("/dev/kvm"))
}

fn detect_in(cpuinfo: &Path, pvm: &Path, dev: &Path) -> AccelChoice {
    let tcg = |reason: &str| AccelChoice { accel: Accel::Tcg, reason: reason.to_string() };
    let flags = std::fs::read_to_string(cpuinfo).unwrap_or_default();
    let hw = flags.lines().filter(|l| l.starts_with("flags")).any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    if !hw {
        return tcg("the CPU advertises no vmx/svm");
    }
    if pvm.exists() {
        return tcg("/dev/kvm is PVM (kvm_pvm loaded), which stock guest kernels cannot run on");
    }
    match std::fs::OpenOptions::new().read(true).write(true).open(dev) {
        Ok(_) => AccelChoice { accel: Accel::Kvm, reason: "vmx/svm present and /dev/kvm opens".into() },
        Err(e) => tcg(&format!("/dev/kvm cannot be opened: {e}")),
    }
}

/// The CPU model to pair with an accelerator: `host` needs KVM, TCG gets `max`.
pub fn cpu_model_for(accel: Accel) -> &'static str {
    match accel {
        Accel::Kvm | Accel::KvmTcg => "host",
        Accel::Tcg | Accel::TcgKvm => "max",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, content: Option<&str>) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("iv-accel-{}-{name}", std::process::id()));
        if let Some(c) = content {
            std::fs::write(&p, c).unwrap();
        }
        p
    }

    #[test]
    fn kvm_only_when_it_really_works() {
        let vmx = tmp("vmx", Some("processor : 0\nflags : fpu vmx sse\n"));
        let none = tmp("none", Some("processor : 0\nflags : fpu sse\n"));
        let pvm = tmp("pvm", Some(""));
        let missing = tmp("missing", None);
        let devnull = Path::new("/dev/null");
        assert_eq!(detect_in(&none, &missing, devnull).accel, Accel::Tcg);
        assert_eq!(detect_in(&vmx, &pvm, devnull).accel, Accel::Tcg);
        assert_eq!(detect_in(&vmx, &missing, &missing).accel, Accel::Tcg);
        assert_eq!(detect_in(&vmx, &missing, devnull).accel, Accel::Kvm);
        assert_eq!(cpu_model_for(Accel::Tcg), "max");
        for p in [vmx, none, pvm] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn this_machine_uses_tcg() {
        // These CI machines have a PVM /dev/kvm: never KVM here.
        if Path::new("/sys/module/kvm_pvm").exists() {
            assert_eq!(detect().accel, Accel::Tcg);
        }
    }
}
