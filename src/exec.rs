//! The one way Infinivirt runs a host command.
//!
//! argv only (never a shell), `LC_ALL=C` so tool output is stable to classify, a
//! deadline with SIGTERM then SIGKILL, and captured output capped so a chatty tool
//! cannot grow the manager's memory without bound.
//!
//! A failed run's error keeps its output (masked, up to the capture cap) for the
//! callers that classify it, but its message, its JS fields and the logs show only the
//! command line with secrets masked and a bounded tail of each stream
//! ([`crate::redact`]).

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::redact::Redactor;

/// Default deadline for short host tools (`ip`, `nft`, `qemu-img info`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on each captured stream.
pub const DEFAULT_OUTPUT_CAP: usize = 4 * 1024 * 1024;
/// Grace period between SIGTERM and SIGKILL when the deadline passes.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How much of stderr an error message repeats.
const MESSAGE_TAIL: usize = 2048;

/// A host command to run: program, arguments and limits.
#[derive(Debug, Clone)]
pub struct HostCommand {
    program: String,
    args: Vec<String>,
    /// `None`: no deadline (long qemu-img conversions report progress instead).
    timeout: Option<Duration>,
    output_cap: usize,
    stdin: Option<Vec<u8>>,
    /// Sees each chunk of stdout as it arrives (progress reports of long runs).
    stdout_observer: Option<OutputObserver>,
}

/// A callback that sees stdout chunks while the command runs. The captured output
/// (and its cap) is unchanged by observing it.
#[derive(Clone)]
pub struct OutputObserver(Arc<ObserverFn>);

type ObserverFn = dyn Fn(&[u8]) + Send + Sync;

impl OutputObserver {
    pub fn new(f: impl Fn(&[u8]) + Send + Sync + 'static) -> Self {
        OutputObserver(Arc::new(f))
    }
}

impl std::fmt::Debug for OutputObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputObserver")
    }
}

/// What a successful (exit 0) command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// True when either stream exceeded the cap and was cut.
    pub truncated: bool,
}

/// Why a host command failed. Classified once here; callers match variants, not text.
///
/// `command` is the masked, bounded command line ([`HostCommand::display`]); `stdout`
/// and `stderr` are masked in full (up to the capture cap) so callers can classify
/// them, and shown only as a bounded tail.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("Error occurred while executing command: {command}: spawn {} {}", program_of(command), errno_name(source))]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Command failed with exit code {}: {command}\nstdout: {}\nstderr: {}", exit_label(*.code, *.signal), shown(.stdout), shown(.stderr))]
    Exit { command: String, code: Option<i32>, signal: Option<i32>, stdout: String, stderr: String },
    #[error("Command timed out after {}ms: {command}", .after.as_millis())]
    Timeout { command: String, after: Duration, stdout: String, stderr: String },
    #[error("Invalid command argument for {command}: {reason}")]
    InvalidArgument { command: String, reason: String },
}

/// A stream as messages and fields show it: its last [`crate::redact::SHOWN_TAIL`] bytes.
fn shown(s: &str) -> String {
    crate::redact::tail(s, crate::redact::SHOWN_TAIL)
}

fn program_of(command: &str) -> &str {
    command.split(' ').next().unwrap_or(command)
}

/// `ENOENT`, `EACCES`, … as Node prints them for a failed spawn.
pub fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{:?}", nix::errno::Errno::from_raw(code)),
        None => e.to_string(),
    }
}

fn exit_label(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => c.to_string(),
        (None, Some(s)) => format!("null (signal {s})"),
        (None, None) => "null".to_string(),
    }
}

impl crate::error::ErrorShape for ExecError {
    fn code(&self) -> &'static str {
        match self {
            ExecError::Spawn { .. } => "SPAWN_FAILED",
            ExecError::Exit { .. } => "COMMAND_FAILED",
            ExecError::Timeout { .. } => "COMMAND_TIMEOUT",
            ExecError::InvalidArgument { .. } => "INVALID_ARGUMENT",
        }
    }

    fn class(&self) -> crate::error::JsClass {
        crate::error::JsClass::Error
    }

    fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        crate::error::fields([
            ("exitCode", self.exit_code().map(Value::from)),
            ("stdout", Some(Value::from(shown(self.stdout())))),
            ("stderr", Some(Value::from(shown(self.stderr())))),
        ])
    }
}

impl ExecError {
    /// Exit code when the process ran and exited non-zero.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ExecError::Exit { code, .. } => *code,
            _ => None,
        }
    }

    /// Captured stdout of a failed run, secrets masked (empty for spawn failures).
    pub fn stdout(&self) -> &str {
        match self {
            ExecError::Exit { stdout, .. } | ExecError::Timeout { stdout, .. } => stdout,
            _ => "",
        }
    }

    /// Captured stderr of a failed run, secrets masked (empty for spawn failures).
    pub fn stderr(&self) -> &str {
        match self {
            ExecError::Exit { stderr, .. } | ExecError::Timeout { stderr, .. } => stderr,
            _ => "",
        }
    }

    /// The last `MESSAGE_TAIL` bytes of stderr, for messages that must stay short.
    pub fn stderr_tail(&self) -> &str {
        tail(self.stderr(), MESSAGE_TAIL)
    }

    /// True when the program itself was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ExecError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// The last `max` bytes of `s`, cut at a char boundary.
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

impl HostCommand {
    pub fn new(program: impl Into<String>) -> Self {
        HostCommand {
            program: program.into(),
            args: Vec::new(),
            timeout: Some(DEFAULT_TIMEOUT),
            output_cap: DEFAULT_OUTPUT_CAP,
            stdin: None,
            stdout_observer: None,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    /// `None` removes the deadline.
    pub fn timeout(mut self, t: Option<Duration>) -> Self {
        self.timeout = t;
        self
    }

    pub fn output_cap(mut self, bytes: usize) -> Self {
        self.output_cap = bytes;
        self
    }

    /// Bytes written to the child's stdin (then closed), e.g. an `nft -f -` batch.
    pub fn stdin(mut self, data: Vec<u8>) -> Self {
        self.stdin = Some(data);
        self
    }

    /// Calls `observer` with each stdout chunk as it is read.
    pub fn observe_stdout(mut self, observer: OutputObserver) -> Self {
        self.stdout_observer = Some(observer);
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn argv(&self) -> &[String] {
        &self.args
    }

    /// `program arg1 arg2`, as used in messages and logs (never passed to a shell): like
    /// the original's `${command} ${args.join(' ')}` (a bare program keeps a trailing
    /// space), with secrets masked and cut to [`crate::redact::SHOWN_COMMAND`] bytes.
    pub fn display(&self) -> String {
        self.redactor().command_line(&self.program, &self.args)
    }

    fn redactor(&self) -> Redactor {
        Redactor::for_argv(&self.args)
    }

    /// Runs the command; `Ok` only for exit status 0.
    pub async fn run(&self) -> Result<Output, ExecError> {
        let redactor = self.redactor();
        let command = redactor.command_line(&self.program, &self.args);
        if self.program.is_empty() || self.program.contains('\0') || self.args.iter().any(|a| a.contains('\0')) {
            return Err(ExecError::InvalidArgument { command, reason: "program and arguments must be non-empty and contain no NUL byte".into() });
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env("LC_ALL", "C")
            .stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| ExecError::Spawn { command: command.clone(), source })?;

        if let (Some(data), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            // A child that exits without reading stdin closes the pipe; its exit
            // status then tells the real story, so a write error is not fatal here.
            tokio::spawn(async move {
                let _ = pipe.write_all(&data).await;
                let _ = pipe.shutdown().await;
            });
        }

        let cap = self.output_cap;
        let observer = self.stdout_observer.clone();
        let out = child.stdout.take().map(|s| tokio::spawn(read_capped(s, cap, observer)));
        let err = child.stderr.take().map(|s| tokio::spawn(read_capped(s, cap, None)));

        let status = match self.timeout {
            None => child.wait().await,
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    terminate(&mut child).await;
                    let (stdout, _) = join(out).await;
                    let (stderr, _) = join(err).await;
                    let (stdout, stderr) = (redactor.text(&stdout), redactor.text(&stderr));
                    return Err(ExecError::Timeout { command, after: limit, stdout, stderr });
                }
            },
        }
        .map_err(|source| ExecError::Spawn { command: command.clone(), source })?;

        let (stdout, t1) = join(out).await;
        let (stderr, t2) = join(err).await;
        if status.success() {
            Ok(Output { stdout, stderr, truncated: t1 || t2 })
        } else {
            use std::os::unix::process::ExitStatusExt;
            let (stdout, stderr) = (redactor.text(&stdout), redactor.text(&stderr));
            Err(ExecError::Exit { command, code: status.code(), signal: status.signal(), stdout, stderr })
        }
    }
}

/// SIGTERM, a grace period, then SIGKILL. The child is ours (we hold its handle).
async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

async fn join(h: Option<tokio::task::JoinHandle<(String, bool)>>) -> (String, bool) {
    match h {
        Some(h) => h.await.unwrap_or_default(),
        None => (String::new(), false),
    }
}

/// Reads a stream to the end, keeping at most `cap` bytes (the rest is drained) and
/// showing every chunk to `observer`.
async fn read_capped<R: AsyncRead + Unpin>(mut r: R, cap: usize, observer: Option<OutputObserver>) -> (String, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(o) = &observer {
                    (o.0)(&buf[..n]);
                }
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn captures_stdout_and_runs_without_shell() {
        let out = rt().block_on(HostCommand::new("echo").args(["a;b", "$(x)"]).run()).unwrap();
        assert_eq!(out.stdout, "a;b $(x)\n");
    }

    #[test]
    fn sets_c_locale() {
        let out = rt().block_on(HostCommand::new("printenv").arg("LC_ALL").run()).unwrap();
        assert_eq!(out.stdout.trim(), "C");
    }

    #[test]
    fn nonzero_exit_is_structured() {
        let e = rt().block_on(HostCommand::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).run()).unwrap_err();
        assert_eq!(e.exit_code(), Some(3));
        assert_eq!(e.stdout(), "out\n");
        assert_eq!(e.stderr(), "err\n");
        assert_eq!(e.to_string(), "Command failed with exit code 3: sh -c echo out; echo err >&2; exit 3\nstdout: out\n\nstderr: err\n");
    }

    #[test]
    fn missing_program_is_spawn_error() {
        let e = rt().block_on(HostCommand::new("no-such-program-xyz").run()).unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "Error occurred while executing command: no-such-program-xyz : spawn no-such-program-xyz ENOENT");
    }

    #[test]
    fn timeout_kills_the_child() {
        let started = std::time::Instant::now();
        let e = rt().block_on(HostCommand::new("sleep").arg("30").timeout(Some(Duration::from_millis(200))).run()).unwrap_err();
        assert!(matches!(e, ExecError::Timeout { .. }));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_is_capped() {
        let out = rt().block_on(HostCommand::new("head").args(["-c", "100000", "/dev/zero"]).output_cap(1000).run()).unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.truncated);
    }

    #[test]
    fn stdin_is_fed() {
        let out = rt().block_on(HostCommand::new("cat").stdin(b"hello".to_vec()).run()).unwrap();
        assert_eq!(out.stdout, "hello");
    }

    #[test]
    fn nul_in_argument_is_rejected() {
        let e = rt().block_on(HostCommand::new("echo").arg("a\0b").run()).unwrap_err();
        assert!(matches!(e, ExecError::InvalidArgument { .. }));
    }

    #[test]
    fn stdout_can_be_observed_while_captured() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let out = rt()
            .block_on(
                HostCommand::new("sh")
                    .args(["-c", "printf 'a\\r'; sleep 0.1; printf 'b\\r'"])
                    .observe_stdout(OutputObserver::new(move |c| s.lock().unwrap().extend_from_slice(c)))
                    .run(),
            )
            .unwrap();
        assert_eq!(out.stdout, "a\rb\r");
        assert_eq!(&*seen.lock().unwrap(), b"a\rb\r");
    }

    #[test]
    fn failure_shows_a_bounded_tail_and_no_secret() {
        // 300 KB on each stream, the secret in the argv and echoed on stderr.
        let script = "head -c 300000 /dev/zero | tr '\\0' o; head -c 300000 /dev/zero | tr '\\0' e >&2; echo \" $1 $3\" >&2; exit 2";
        let cmd = HostCommand::new("sh").args(["-c", script, "x", "port=1,password=hunter2", "-object", "secret,id=s0,data=s3cr3tdata"]);
        assert!(!cmd.display().contains("hunter2") && !cmd.display().contains("s3cr3tdata"));
        let e = rt().block_on(cmd.run()).unwrap_err();
        let msg = e.to_string();
        let fields = serde_json::Value::Object(crate::error::ErrorShape::fields(&e)).to_string();
        for shown in [&msg, &fields] {
            assert!(!shown.contains("hunter2") && !shown.contains("s3cr3tdata"), "secret shown");
            assert!(shown.len() < 3 * crate::redact::SHOWN_TAIL + crate::redact::SHOWN_COMMAND, "{} bytes", shown.len());
        }
        assert!(msg.contains("password=***") && msg.contains("data=***") && msg.contains("bytes omitted]"));
        // The full (masked) output stays available to classifiers.
        assert!(e.stdout().len() >= 300_000 && !e.stderr().contains("hunter2"));
    }

    #[test]
    fn tail_respects_char_boundaries() {
        assert_eq!(tail("héllo", 4), "llo");
        assert_eq!(tail("abc", 10), "abc");
    }
}
