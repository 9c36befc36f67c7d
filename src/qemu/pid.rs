//! Proving a PID is ours before signalling it, and watching it exit.
//!
//! A PID read from a pidfile may have been reused by an unrelated process. We only
//! signal after `/proc/<pid>/cmdline` shows a QEMU binary and the VM-unique argument
//! we started it with, and once proven we hold a pidfd: signals go through the pidfd,
//! which can never reach a different process, and its readability reports the exit
//! the moment it happens.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::sys::signal::Signal;

/// What `/proc` says about a PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// A QEMU process carrying our unique argument.
    Ours,
    /// Some other process (or a zombie, or no process at all).
    NotOurs,
    /// `/proc` could not be read: never act on it.
    Unknown,
}

/// Checks `/proc/<pid>/cmdline` for `qemu-system` and an argv element equal to `marker`.
pub fn identity(pid: i32, marker: &str) -> Identity {
    if pid <= 0 {
        return Identity::NotOurs;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => {
            if raw.is_empty() {
                // Kernel threads and zombies have an empty cmdline.
                return Identity::NotOurs;
            }
            let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            let qemu = args.iter().any(|a| a.windows(11).any(|w| w == b"qemu-system"));
            let marked = args.contains(&marker.as_bytes());
            if qemu && marked {
                Identity::Ours
            } else {
                Identity::NotOurs
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Identity::NotOurs,
        Err(_) => Identity::Unknown,
    }
}

/// `Some(true)` for a zombie, `Some(false)` for any other state, `None` if unreadable.
pub fn is_zombie(pid: i32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state is the first field after the last ')' (the command name may contain ')').
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().next().map(|s| s == "Z")
}

/// `kill(pid, 0)` liveness with zombies counted as dead and EPERM as alive.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => is_zombie(pid) != Some(true),
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// A pidfd: a handle on one process that survives PID reuse.
#[derive(Debug)]
pub struct PidFd {
    fd: OwnedFd,
    pid: i32,
}

impl PidFd {
    /// `pidfd_open(pid)`; `None` on kernels without pidfds or if the process is gone.
    pub fn open(pid: i32) -> Option<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; it does
        // not touch memory we own.
        let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return None;
        }
        let fd = i32::try_from(fd).ok()?;
        // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
        Some(PidFd { fd: unsafe { OwnedFd::from_raw_fd(fd) }, pid })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `pidfd_send_signal`: cannot reach another process even if the PID was reused.
    pub fn signal(&self, sig: Signal) -> Result<(), nix::errno::Errno> {
        // SAFETY: the fd is a valid pidfd we own; info is NULL and flags 0 as documented.
        let r = unsafe {
            nix::libc::syscall(nix::libc::SYS_pidfd_send_signal, self.fd.as_raw_fd(), sig as nix::libc::c_int, std::ptr::null::<nix::libc::siginfo_t>(), 0)
        };
        if r < 0 {
            Err(nix::errno::Errno::last())
        } else {
            Ok(())
        }
    }

    /// True once the process has exited (the pidfd polls readable).
    pub fn exited(&self) -> bool {
        let mut p = nix::libc::pollfd { fd: self.fd.as_raw_fd(), events: nix::libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { nix::libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & nix::libc::POLLIN != 0
    }

    /// Resolves when the process exits (pushed by the kernel, not polled).
    pub async fn wait_exit(&self) {
        // SAFETY: the raw fd belongs to `self.fd`, which outlives this borrow of `self`
        // and therefore the AsyncFd, and is never replaced while registered.
        let registered = unsafe { tokio::io::unix::AsyncFd::register_with_interest(self.fd.as_raw_fd(), tokio::io::Interest::READABLE) };
        match registered {
            Ok(afd) => {
                let _ = afd.readable().await;
            }
            // Could not register with the reactor: fall back to a short poll.
            Err(_) => {
                while !self.exited() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// Waits for `pid` to exit without a pidfd (old kernels): polls `/proc` every 20 ms.
pub async fn wait_exit_polling(pid: i32) {
    while pid_alive(pid) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_of_processes() {
        assert_eq!(identity(std::process::id() as i32, "x"), Identity::NotOurs);
        assert_eq!(identity(0, "x"), Identity::NotOurs);
        assert_eq!(identity(i32::MAX, "x"), Identity::NotOurs);
    }

    #[test]
    fn pidfd_sees_exit_and_signals_only_its_process() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut child = tokio::process::Command::new("sleep").arg("30").spawn().unwrap();
            let pid = child.id().unwrap() as i32;
            let fd = PidFd::open(pid).expect("pidfd_open");
            assert!(pid_alive(pid));
            assert!(!fd.exited());
            fd.signal(Signal::SIGKILL).unwrap();
            let t = std::time::Instant::now();
            tokio::time::timeout(Duration::from_secs(5), fd.wait_exit()).await.unwrap();
            assert!(t.elapsed() < Duration::from_millis(500));
            assert!(fd.exited());
            // Not yet reaped: a zombie counts as dead.
            assert!(!pid_alive(pid));
            child.wait().await.unwrap();
            // Reaped: the pidfd refuses to signal whatever may reuse the PID.
            assert_eq!(fd.signal(Signal::SIGTERM), Err(nix::errno::Errno::ESRCH));
        });
    }
}
