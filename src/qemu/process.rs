//! `QemuProcess` (spec §3): start QEMU without a shell, adopt its PID, watch its exit,
//! and signal it only once proven ours.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::pid::{identity, pid_alive, wait_exit_polling, Identity, PidFd};
use crate::error::{fields, ErrorShape, JsClass};

/// Readiness waits (QMP socket, pidfile) of the spec.
pub const READY_TIMEOUT: Duration = Duration::from_millis(5000);
/// How long a daemonizing QEMU may take to finish initialising.
pub const DAEMONIZE_TIMEOUT: Duration = Duration::from_secs(60);
pub const FORCE_KILL_WAIT: Duration = Duration::from_millis(5000);
const STDERR_CAP: usize = 64 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    pub vm_id: String,
    /// `numactl` (with its arguments) when pinning applies.
    pub wrapper: Option<(String, Vec<String>)>,
    pub binary: String,
    pub args: Vec<String>,
    pub daemonize: bool,
    pub pidfile: Option<PathBuf>,
    pub qmp_socket: Option<PathBuf>,
}

impl LaunchSpec {
    /// The argv element that makes this QEMU ours: the pidfile path, else the QMP
    /// argument, else the `-name` value.
    pub fn marker(&self) -> Option<String> {
        if let Some(p) = &self.pidfile {
            return Some(p.display().to_string());
        }
        let after = |flag: &str| self.args.iter().position(|a| a == flag).and_then(|i| self.args.get(i + 1)).cloned();
        after("-qmp").or_else(|| after("-name"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("Error occurred while starting QEMU for VM {vm_id}: spawn {program} {errno}")]
    Spawn { vm_id: String, program: String, errno: String },
    /// QEMU exited before it was ready; carries its own stderr, masked with its
    /// command line's secrets (QEMU echoes a rejected option whole), shown as a tail.
    #[error("VM {vm_id} exited during startup with code {code}, signal {signal}{}", stderr_suffix(.stderr))]
    ExitedDuringStartup { vm_id: String, code: String, signal: String, stderr: String },
    #[error("PID file {path} not available after {ms}ms")]
    PidfileTimeout { path: String, ms: u64 },
    #[error("QMP socket {path} not available after {ms}ms")]
    SocketTimeout { path: String, ms: u64 },
    #[error("Failed to start VM {vm_id}: process not alive after 1000ms")]
    NotAlive { vm_id: String },
    /// The PID in the pidfile is not this VM's QEMU (or `/proc` could not prove it).
    #[error("Refusing to adopt PID {pid} for VM {vm_id}: {reason}")]
    NotOurs { vm_id: String, pid: i32, reason: &'static str },
    #[error("VM {vm_id} has no identifying argument (pidfile, -qmp or -name); its PID could never be proven")]
    NoMarker { vm_id: String },
}

fn stderr_suffix(s: &str) -> String {
    let shown = crate::redact::tail(s, crate::redact::SHOWN_TAIL);
    let t = shown.trim();
    if t.is_empty() {
        String::new()
    } else {
        format!(": {t}")
    }
}

impl ErrorShape for ProcessError {
    fn code(&self) -> &'static str {
        match self {
            ProcessError::Spawn { .. } => "SPAWN_FAILED",
            ProcessError::ExitedDuringStartup { .. } => "PROCESS_EXITED",
            ProcessError::PidfileTimeout { .. } | ProcessError::SocketTimeout { .. } => "TIMEOUT",
            ProcessError::NotAlive { .. } => "PROCESS_ERROR",
            ProcessError::NotOurs { .. } | ProcessError::NoMarker { .. } => "PROCESS_NOT_OURS",
        }
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            ProcessError::ExitedDuringStartup { stderr, .. } => fields([("stderr", Some(Value::from(crate::redact::tail(stderr, crate::redact::SHOWN_TAIL))))]),
            ProcessError::NotOurs { pid, .. } => fields([("pid", Some(Value::from(*pid)))]),
            _ => Map::new(),
        }
    }
}

/// The tracked QEMU: PID, a pidfd held since adoption, and an exit signal.
#[derive(Debug)]
struct Tracked {
    pid: i32,
    pidfd: Option<Arc<PidFd>>,
    marker: String,
    exited: watch::Receiver<bool>,
}

#[derive(Debug, Default)]
pub struct QemuProcess {
    vm_id: String,
    pidfile: Mutex<Option<PathBuf>>,
    qmp_socket: Mutex<Option<PathBuf>>,
    tracked: Mutex<Option<Tracked>>,
    stopping: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl QemuProcess {
    pub fn new(vm_id: impl Into<String>) -> Self {
        QemuProcess { vm_id: vm_id.into(), ..Default::default() }
    }

    pub fn set_pidfile(&self, p: impl Into<PathBuf>) {
        *lock(&self.pidfile) = Some(p.into());
    }

    pub fn set_qmp_socket(&self, p: impl Into<PathBuf>) {
        *lock(&self.qmp_socket) = Some(p.into());
    }

    pub fn pid(&self) -> Option<i32> {
        lock(&self.tracked).as_ref().map(|t| t.pid)
    }

    /// Starts QEMU and resolves once it is ready (spec §3.1).
    pub async fn start(&self, mut spec: LaunchSpec) -> Result<i32, ProcessError> {
        if let Some(p) = lock(&self.pidfile).clone() {
            spec.pidfile = Some(p);
        }
        if let Some(s) = lock(&self.qmp_socket).clone() {
            spec.qmp_socket = Some(s);
        }
        let marker = spec.marker().ok_or_else(|| ProcessError::NoMarker { vm_id: self.vm_id.clone() })?;
        let (program, argv): (String, Vec<String>) = match &spec.wrapper {
            Some((w, wargs)) => (w.clone(), wargs.iter().cloned().chain([spec.binary.clone()]).chain(spec.args.iter().cloned()).collect()),
            None => (spec.binary.clone(), spec.args.clone()),
        };
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&argv).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).process_group(0);
        let mut child =
            cmd.spawn().map_err(|e| ProcessError::Spawn { vm_id: self.vm_id.clone(), program: program.clone(), errno: crate::exec::errno_name(&e) })?;
        let stderr = child.stderr.take().map(|mut s| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = (&mut s).take(STDERR_CAP as u64).read_to_end(&mut buf).await;
                String::from_utf8_lossy(&buf).into_owned()
            })
        });
        let redactor = crate::redact::Redactor::for_argv(&argv);
        let collect_stderr = |h: Option<tokio::task::JoinHandle<String>>| async move {
            let raw = match h {
                // A daemonized QEMU may keep the pipe a moment after its parent exits.
                Some(h) => tokio::time::timeout(Duration::from_millis(300), h).await.ok().and_then(Result::ok).unwrap_or_default(),
                None => String::new(),
            };
            redactor.text(&raw)
        };
        let exited_early = |status: std::process::ExitStatus, stderr: String| {
            use std::os::unix::process::ExitStatusExt;
            ProcessError::ExitedDuringStartup {
                vm_id: self.vm_id.clone(),
                code: status.code().map_or("null".into(), |c| c.to_string()),
                signal: status.signal().map_or("null".into(), |s| Signal::try_from(s).map_or_else(|_| s.to_string(), |x| x.as_str().to_string())),
                stderr,
            }
        };

        let pid = if spec.daemonize {
            // The launcher exits once the daemon has initialised (QMP socket bound).
            let status = match tokio::time::timeout(DAEMONIZE_TIMEOUT, child.wait()).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(ProcessError::Spawn { vm_id: self.vm_id.clone(), program, errno: crate::exec::errno_name(&e) }),
                Err(_) => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    return Err(exited_early_timeout(&self.vm_id, collect_stderr(stderr).await));
                }
            };
            if !status.success() {
                return Err(exited_early(status, collect_stderr(stderr).await));
            }
            let pidfile = spec.pidfile.clone().ok_or_else(|| ProcessError::NoMarker { vm_id: self.vm_id.clone() })?;
            read_pidfile(&pidfile, READY_TIMEOUT).await?
        } else {
            let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
            let deadline = Instant::now();
            if let Some(sock) = spec.qmp_socket.clone() {
                loop {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(exited_early(status, collect_stderr(stderr).await));
                    }
                    if sock.exists() {
                        break;
                    }
                    if deadline.elapsed() > READY_TIMEOUT {
                        return Err(ProcessError::SocketTimeout { path: sock.display().to_string(), ms: 5000 });
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            } else {
                tokio::time::sleep(Duration::from_millis(1000)).await;
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(exited_early(status, collect_stderr(stderr).await));
                }
                if !pid_alive(pid) {
                    return Err(ProcessError::NotAlive { vm_id: self.vm_id.clone() });
                }
            }
            // The child stays ours; reap it in the background so it never lingers as a zombie.
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
            pid
        };
        self.adopt(pid, &marker)?;
        Ok(pid)
    }

    /// Adopts `pid` after proving it is this VM's QEMU, and starts watching its exit.
    fn adopt(&self, pid: i32, marker: &str) -> Result<(), ProcessError> {
        // Open the pidfd first, then prove identity: the fd then refers to the very
        // process we checked, whatever happens to the PID later.
        let pidfd = PidFd::open(pid).map(Arc::new);
        match identity(pid, marker) {
            Identity::Ours => {}
            Identity::NotOurs => return Err(ProcessError::NotOurs { vm_id: self.vm_id.clone(), pid, reason: "its command line is not this VM's QEMU" }),
            Identity::Unknown => {
                return Err(ProcessError::NotOurs { vm_id: self.vm_id.clone(), pid, reason: "/proc is unreadable, so it cannot be proven ours" })
            }
        }
        let (tx, rx) = watch::channel(false);
        let watcher = pidfd.clone();
        tokio::spawn(async move {
            match watcher {
                Some(fd) => fd.wait_exit().await,
                None => wait_exit_polling(pid).await,
            }
            let _ = tx.send(true);
        });
        *lock(&self.tracked) = Some(Tracked { pid, pidfd, marker: marker.to_string(), exited: rx });
        Ok(())
    }

    /// Re-attaches to a running QEMU from its pidfile (after a manager restart).
    /// `Ok(None)` when there is no live process of ours behind the pidfile.
    pub async fn attach(&self, spec_marker: Option<String>) -> Result<Option<i32>, ProcessError> {
        let Some(pidfile) = lock(&self.pidfile).clone() else { return Ok(None) };
        let marker = spec_marker.unwrap_or_else(|| pidfile.display().to_string());
        let pid = match std::fs::read_to_string(&pidfile).ok().and_then(|s| s.trim().parse::<i32>().ok()) {
            Some(p) if p > 0 => p,
            _ => return Ok(None),
        };
        if !pid_alive(pid) {
            return Ok(None);
        }
        match self.adopt(pid, &marker) {
            Ok(()) => Ok(Some(pid)),
            Err(ProcessError::NotOurs { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Alive: not exited per the pidfd, and `kill(pid, 0)` says so (zombie = dead, EPERM = alive).
    pub fn is_alive(&self) -> bool {
        match lock(&self.tracked).as_ref() {
            None => false,
            Some(t) => !*t.exited.borrow() && t.pidfd.as_ref().is_none_or(|f| !f.exited()) && pid_alive(t.pid),
        }
    }

    /// Resolves when the tracked process exits (immediately if none).
    pub async fn wait_exit(&self) {
        let rx = lock(&self.tracked).as_ref().map(|t| t.exited.clone());
        if let Some(mut rx) = rx {
            let _ = rx.wait_for(|e| *e).await;
        }
    }

    /// Sends `sig` only to our process: through the pidfd, or after re-proving the
    /// PID's identity. Returns false when nothing was signalled.
    fn signal(&self, sig: Signal) -> bool {
        let guard = lock(&self.tracked);
        let Some(t) = guard.as_ref() else { return false };
        if *t.exited.borrow() {
            return false;
        }
        match &t.pidfd {
            Some(fd) => fd.signal(sig).is_ok(),
            None => identity(t.pid, &t.marker) == Identity::Ours && nix::sys::signal::kill(nix::unistd::Pid::from_raw(t.pid), sig).is_ok(),
        }
    }

    async fn wait_exit_for(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.wait_exit()).await.is_ok()
    }

    fn forget(&self) {
        *lock(&self.tracked) = None;
        if let Some(p) = lock(&self.pidfile).clone() {
            let _ = std::fs::remove_file(p);
        }
    }

    /// SIGTERM, wait up to `limit`, then [`Self::force_kill`] (spec §3.2).
    pub async fn stop(&self, limit: Duration) {
        use std::sync::atomic::Ordering;
        if self.pid().is_none() || self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.signal(Signal::SIGTERM) && self.wait_exit_for(limit).await {
            self.forget();
        } else {
            self.force_kill().await;
        }
        self.stopping.store(false, Ordering::Release);
    }

    /// SIGKILL (identity re-checked), wait up to 5 s, remove the pidfile (spec §3.3).
    pub async fn force_kill(&self) {
        if self.pid().is_none() {
            return;
        }
        if self.signal(Signal::SIGKILL) {
            self.wait_exit_for(FORCE_KILL_WAIT).await;
        }
        self.forget();
    }
}

fn exited_early_timeout(vm_id: &str, stderr: String) -> ProcessError {
    ProcessError::ExitedDuringStartup { vm_id: vm_id.to_string(), code: "null".into(), signal: "SIGKILL".into(), stderr }
}

/// Polls the pidfile until it holds a positive integer.
async fn read_pidfile(path: &Path, limit: Duration) -> Result<i32, ProcessError> {
    let start = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<i32>().ok()).filter(|p| *p > 0) {
            return Ok(pid);
        }
        if start.elapsed() > limit {
            return Err(ProcessError::PidfileTimeout { path: path.display().to_string(), ms: u64::try_from(limit.as_millis()).unwrap_or(0) });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
