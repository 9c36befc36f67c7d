//! The installation monitor's state machine (spec §14.2), with the completion rule of
//! issue 8: the installer's *final* shutdown completes an installation, not the first
//! `SHUTDOWN` QEMU reports.
//!
//! The machine is pure: it is fed QMP events and clock readings (milliseconds since
//! `start`) and answers with [`Output`]s. Timers, the QMP client and the screenshot
//! live in the caller (`lib/unattended-monitor.js`), which turns outputs into events.
//!
//! Differences from the original monitor (COMPATIBILITY.md, "Installation monitor"):
//! * A guest `SHUTDOWN` completes the installation only when the completion rule holds
//!   (`minInstallTime` elapsed, or `expectedReboots` reboots seen); an earlier one fails
//!   with `INSTALLATION_FAILED`. With neither set, the first guest shutdown completes,
//!   as in the spec.
//! * `POWERDOWN` (the host pressed the ACPI button) is not completion; a guest shutdown
//!   after it fails the installation. A host-initiated `SHUTDOWN` (`guest: false`,
//!   e.g. `host-signal`) and a guest panic fail it too.
//! * Two `RESET`s closer than [`RESET_COALESCE_MS`] are one reboot: SeaBIOS answers a
//!   guest's warm reboot with a second reset of its own.

use crate::unattended::error::UnattendedError;

/// Spec `DEFAULT_INSTALLATION_TIMEOUT`.
pub const DEFAULT_INSTALLATION_TIMEOUT_MS: u64 = 3_600_000;
/// Spec `DEFAULT_MAX_RESETS`.
pub const DEFAULT_MAX_RESETS: u32 = 5;
/// Spec `DEFAULT_CHECK_INTERVAL`.
pub const DEFAULT_CHECK_INTERVAL_MS: u64 = 5_000;
/// Spec `CDROM_DEVICE_NAME`: the drive `-cdrom` becomes on QEMU's `pc` machine.
pub const CDROM_DEVICE_NAME: &str = "ide1-cd0";
/// `RESET`s this close to the previous counted one belong to the same reboot.
pub const RESET_COALESCE_MS: u64 = 1_000;
/// The longest delay Node's `setTimeout` honours (larger values fire after 1 ms).
pub const MAX_TIMER_MS: u64 = 2_147_483_647;
/// An upper bound for counts (resets, reboots) that keeps them meaningful.
const MAX_COUNT: u32 = 1_000_000;

/// The spec's `InstallationPhase` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    GeneratingIso,
    MountingMedia,
    Installing,
    Completing,
    Cleanup,
    Completed,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::GeneratingIso => "generating_iso",
            Phase::MountingMedia => "mounting_media",
            Phase::Installing => "installing",
            Phase::Completing => "completing",
            Phase::Cleanup => "cleanup",
            Phase::Completed => "completed",
            Phase::Failed => "failed",
        }
    }
}

/// The options as they arrive from JavaScript: any field may be missing (the default
/// applies; an explicit `undefined` counts as missing).
#[derive(Debug, Clone, Default)]
pub struct RawMonitorConfig {
    pub timeout: Option<f64>,
    pub max_resets: Option<f64>,
    pub check_interval: Option<f64>,
    pub min_install_time: Option<f64>,
    pub expected_reboots: Option<f64>,
    pub eject_after_resets: Option<f64>,
    pub eject_device: Option<String>,
}

/// Ejecting the install media over QMP once the installer has rebooted `after_resets`
/// times, so the next boot goes to the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EjectPlan {
    pub device: String,
    pub after_resets: u32,
}

/// Validated monitor options. Invariants: `timeout_ms` and `check_interval_ms` are in
/// `1..=MAX_TIMER_MS`; `expected_reboots <= max_resets` (otherwise completion could
/// never be reached); an [`EjectPlan`] has a non-empty device and `after_resets >= 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorConfig {
    timeout_ms: u64,
    max_resets: u32,
    check_interval_ms: u64,
    min_install_time_ms: u64,
    expected_reboots: u32,
    eject: Option<EjectPlan>,
}

fn bad(field: &'static str, reason: impl Into<String>) -> UnattendedError {
    UnattendedError::InvalidMonitorConfig { field, reason: reason.into() }
}

/// A JS number that must be an integer in `min..=max`.
fn integer(field: &'static str, v: Option<f64>, default: u64, min: u64, max: u64) -> Result<u64, UnattendedError> {
    let Some(v) = v else { return Ok(default) };
    #[allow(clippy::cast_precision_loss)] // bounds are far below 2^53
    let in_range = v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= max as f64;
    if !in_range {
        return Err(bad(field, format!("must be an integer from {min} to {max}, got {v}")));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // integral and in range, checked
    Ok(v as u64)
}

fn count(field: &'static str, v: Option<f64>, default: u32, min: u32) -> Result<u32, UnattendedError> {
    let n = integer(field, v, u64::from(default), u64::from(min), u64::from(MAX_COUNT))?;
    u32::try_from(n).map_err(|_| bad(field, "is too large"))
}

impl MonitorConfig {
    /// Applies the spec's defaults and checks every value.
    pub fn new(raw: &RawMonitorConfig) -> Result<Self, UnattendedError> {
        let timeout_ms = integer("timeout", raw.timeout, DEFAULT_INSTALLATION_TIMEOUT_MS, 1, MAX_TIMER_MS)?;
        let max_resets = count("maxResets", raw.max_resets, DEFAULT_MAX_RESETS, 0)?;
        let check_interval_ms = integer("checkInterval", raw.check_interval, DEFAULT_CHECK_INTERVAL_MS, 1, MAX_TIMER_MS)?;
        let min_install_time_ms = integer("minInstallTime", raw.min_install_time, 0, 0, MAX_TIMER_MS)?;
        let expected_reboots = count("expectedReboots", raw.expected_reboots, 0, 0)?;
        if expected_reboots > max_resets {
            return Err(bad("expectedReboots", format!("({expected_reboots}) must not exceed maxResets ({max_resets})")));
        }
        let eject = match (raw.eject_after_resets, raw.eject_device.as_deref()) {
            (None, None) => None,
            (after, device) => {
                let after_resets = count("ejectAfterResets", after, 1, 1)?;
                let device = device.unwrap_or(CDROM_DEVICE_NAME);
                if device.is_empty() || device.chars().any(char::is_control) {
                    return Err(bad("ejectDevice", format!("must be a QEMU drive id, got {device:?}")));
                }
                Some(EjectPlan { device: device.to_string(), after_resets })
            }
        };
        Ok(MonitorConfig { timeout_ms, max_resets, check_interval_ms, min_install_time_ms, expected_reboots, eject })
    }

    pub fn timeout_ms(&self) -> u64 {
        self.timeout_ms
    }
    pub fn max_resets(&self) -> u32 {
        self.max_resets
    }
    pub fn check_interval_ms(&self) -> u64 {
        self.check_interval_ms
    }
    pub fn min_install_time_ms(&self) -> u64 {
        self.min_install_time_ms
    }
    pub fn expected_reboots(&self) -> u32 {
        self.expected_reboots
    }
    pub fn eject(&self) -> Option<&EjectPlan> {
        self.eject.as_ref()
    }

    /// True when neither completion condition is configured, so the first guest
    /// shutdown completes the installation (the spec's behaviour).
    pub fn completes_on_first_shutdown(&self) -> bool {
        self.min_install_time_ms == 0 && self.expected_reboots == 0
    }

    fn completion_reached(&self, elapsed_ms: u64, reset_count: u32) -> bool {
        if self.completes_on_first_shutdown() {
            return true;
        }
        (self.min_install_time_ms > 0 && elapsed_ms >= self.min_install_time_ms) || (self.expected_reboots > 0 && reset_count >= self.expected_reboots)
    }
}

/// Suggested completion rule per spec `OSType` (`minInstallTime` ms, `expectedReboots`),
/// for callers that know the OS but not how its answer file ends. Windows Setup reboots
/// at least twice (after copying files, after specialize) before the answer file's final
/// shutdown; the Linux installers power off at the end of one boot, so only time counts.
pub fn completion_defaults(os: &str) -> (u64, u32) {
    match os {
        "windows10" | "windows11" => (600_000, 2),
        "ubuntu" | "fedora" => (300_000, 0),
        _ => (0, 0),
    }
}

/// What the monitor is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// QMP `SHUTDOWN` with its `guest` and `reason` data (absent on QEMU < 3.0).
    Shutdown { guest: Option<bool>, reason: Option<String> },
    /// QMP `RESET`.
    Reset { guest: Option<bool>, reason: Option<String> },
    /// QMP `POWERDOWN`: the host pressed the ACPI power button.
    Powerdown,
    /// The QMP connection closed.
    Disconnect,
    /// The periodic check (`checkInterval`).
    Tick,
    /// The `timeout` timer fired.
    Deadline,
    /// `stop()` was called.
    Stop,
}

/// What the caller must do or report.
#[derive(Debug)]
pub enum Output {
    /// A phase change: emit `'progress'` and record it.
    Progress { phase: Phase, message: String },
    /// Emit `'timeout-check'`.
    TimeoutCheck { elapsed_ms: u64, remaining_ms: u64, percent_complete: u64 },
    /// Send QMP `eject` (force) for this drive; failures are only logged.
    EjectMedia { device: String },
    /// Debug log only.
    Note(String),
    /// Worth a warning in the log (a questionable configuration or input).
    Warning(String),
    /// Success; phases `completing` then `completed` were reported just before.
    Completed,
    /// Failure: record phase `failed` with the error's message and the error itself.
    Failed(UnattendedError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    /// Decided (success or failure) but not yet reported: the caller may still be taking
    /// a screenshot. Input is ignored; `start` is refused until [`InstallMonitor::finish`].
    Settling,
    Finished,
}

/// The monitor of one installation. After `Completed` or `Failed` it ignores input; once
/// the caller has reported the result ([`InstallMonitor::finish`]) it may start again.
#[derive(Debug)]
pub struct InstallMonitor {
    config: MonitorConfig,
    state: State,
    phase: Phase,
    reset_count: u32,
    last_reset_ms: Option<u64>,
    powerdown_requested: bool,
    ejected: bool,
}

impl InstallMonitor {
    pub fn new(config: MonitorConfig) -> Self {
        InstallMonitor { config, state: State::Idle, phase: Phase::Installing, reset_count: 0, last_reset_ms: None, powerdown_requested: false, ejected: false }
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }
    /// Running, or decided but not yet reported.
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running | State::Settling)
    }

    /// The caller has reported the outcome; the monitor may be started again.
    pub fn finish(&mut self) {
        if self.state == State::Settling {
            self.state = State::Finished;
        }
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn reset_count(&self) -> u32 {
        self.reset_count
    }
    pub fn media_ejected(&self) -> bool {
        self.ejected
    }

    /// Starts watching (spec order of checks: already running, then not connected).
    pub fn start(&mut self, client_connected: bool) -> Result<Vec<Output>, UnattendedError> {
        if self.is_running() {
            return Err(UnattendedError::MonitorAlreadyRunning);
        }
        if !client_connected {
            return Err(UnattendedError::QmpNotConnected);
        }
        self.state = State::Running;
        self.reset_count = 0;
        self.last_reset_ms = None;
        self.powerdown_requested = false;
        self.ejected = false;
        let mut out = vec![self.progress(Phase::Installing, "Installation in progress".into())];
        if self.config.completes_on_first_shutdown() {
            out.push(Output::Warning("neither minInstallTime nor expectedReboots is set: the first guest shutdown completes the installation".into()));
        }
        Ok(out)
    }

    /// Feeds one input observed `elapsed_ms` after `start`.
    pub fn handle(&mut self, input: Input, elapsed_ms: u64) -> Vec<Output> {
        if self.state != State::Running {
            return Vec::new();
        }
        match input {
            Input::Shutdown { guest, reason } => self.on_shutdown(guest, reason, elapsed_ms),
            Input::Reset { guest, reason } => self.on_reset(guest, reason, elapsed_ms),
            Input::Powerdown => {
                self.powerdown_requested = true;
                vec![Output::Warning("POWERDOWN: the host requested an ACPI power-down; a guest shutdown now fails the installation".into())]
            }
            Input::Disconnect => vec![self.fail(UnattendedError::QmpConnectionLost)],
            Input::Tick if elapsed_ms >= self.config.timeout_ms => {
                vec![self.fail(UnattendedError::InstallationTimeout { timeout_ms: self.config.timeout_ms })]
            }
            Input::Tick => {
                let timeout = self.config.timeout_ms;
                vec![Output::TimeoutCheck {
                    elapsed_ms,
                    remaining_ms: timeout - elapsed_ms,
                    // elapsed < timeout here, so this is below 100.
                    percent_complete: elapsed_ms.saturating_mul(100) / timeout,
                }]
            }
            Input::Deadline => {
                vec![self.fail(UnattendedError::InstallationTimeout { timeout_ms: self.config.timeout_ms })]
            }
            Input::Stop => vec![self.fail(UnattendedError::MonitoringStopped)],
        }
    }

    fn on_reset(&mut self, guest: Option<bool>, reason: Option<String>, elapsed_ms: u64) -> Vec<Output> {
        let why = describe(guest, reason.as_deref());
        if let Some(last) = self.last_reset_ms {
            if elapsed_ms.saturating_sub(last) < RESET_COALESCE_MS {
                return vec![Output::Note(format!("RESET ({why}) {}ms after the previous one: same reboot, not counted", elapsed_ms.saturating_sub(last)))];
            }
        }
        self.last_reset_ms = Some(elapsed_ms);
        self.reset_count = self.reset_count.saturating_add(1);
        if self.reset_count > self.config.max_resets {
            return vec![self.fail(UnattendedError::ResetLimitExceeded { max_resets: self.config.max_resets, reset_count: self.reset_count })];
        }
        let mut out = vec![
            Output::Note(format!("RESET ({why}): reboot {} of at most {}", self.reset_count, self.config.max_resets)),
            self.progress(Phase::Installing, format!("Installation in progress (reset {})", self.reset_count)),
        ];
        if let Some(plan) = &self.config.eject {
            if !self.ejected && self.reset_count >= plan.after_resets {
                self.ejected = true;
                out.push(Output::EjectMedia { device: plan.device.clone() });
            }
        }
        out
    }

    fn on_shutdown(&mut self, guest: Option<bool>, reason: Option<String>, elapsed_ms: u64) -> Vec<Output> {
        let reason_text = reason.as_deref().unwrap_or("unknown");
        if reason.as_deref() == Some("guest-panic") {
            return vec![self.fail(UnattendedError::Interrupted { cause: "a guest panic (guest-panic)".into() })];
        }
        // QEMU before 3.0 sends no data: take it as the guest's own shutdown, as the spec does.
        if guest == Some(false) {
            return vec![self.fail(UnattendedError::Interrupted { cause: format!("the host ({reason_text})") })];
        }
        if self.powerdown_requested {
            return vec![self.fail(UnattendedError::Interrupted { cause: "a host power-down request (POWERDOWN)".into() })];
        }
        if !self.config.completion_reached(elapsed_ms, self.reset_count) {
            return vec![self.fail(UnattendedError::PoweredOffEarly {
                elapsed_ms,
                reset_count: self.reset_count,
                min_install_time_ms: self.config.min_install_time_ms,
                expected_reboots: self.config.expected_reboots,
            })];
        }
        self.state = State::Settling;
        vec![
            Output::Note(format!("SHUTDOWN ({}) after {elapsed_ms}ms and {} reboot(s)", describe(guest, reason.as_deref()), self.reset_count)),
            self.progress(Phase::Completing, "Installation completing, system shutting down".into()),
            self.progress(Phase::Completed, "Installation completed successfully".into()),
            Output::Completed,
        ]
    }

    fn progress(&mut self, phase: Phase, message: String) -> Output {
        self.phase = phase;
        Output::Progress { phase, message }
    }

    fn fail(&mut self, error: UnattendedError) -> Output {
        self.state = State::Settling;
        self.phase = Phase::Failed;
        Output::Failed(error)
    }
}

fn describe(guest: Option<bool>, reason: Option<&str>) -> String {
    let who = match guest {
        Some(true) => "guest",
        Some(false) => "host",
        None => "unknown origin",
    };
    format!("{who}, {}", reason.unwrap_or("no reason given"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorShape;

    fn cfg(f: impl FnOnce(&mut RawMonitorConfig)) -> MonitorConfig {
        let mut raw = RawMonitorConfig::default();
        f(&mut raw);
        MonitorConfig::new(&raw).unwrap()
    }

    fn started(config: MonitorConfig) -> InstallMonitor {
        let mut m = InstallMonitor::new(config);
        m.start(true).unwrap();
        m
    }

    fn guest_shutdown() -> Input {
        Input::Shutdown { guest: Some(true), reason: Some("guest-shutdown".into()) }
    }

    fn guest_reset() -> Input {
        Input::Reset { guest: Some(true), reason: Some("guest-reset".into()) }
    }

    /// The phases reported, and the outcome: `ok` or the error code, with its message.
    type Summary = (Vec<(&'static str, String)>, Option<(String, String)>);

    fn summary(out: &[Output]) -> Summary {
        let mut phases = Vec::new();
        let mut end = None;
        for o in out {
            match o {
                Output::Progress { phase, message } => phases.push((phase.as_str(), message.clone())),
                Output::Completed => end = Some(("ok".to_string(), String::new())),
                Output::Failed(e) => end = Some((e.code().to_string(), e.to_string())),
                _ => {}
            }
        }
        (phases, end)
    }

    fn code(out: &[Output]) -> Option<String> {
        summary(out).1.map(|(c, _)| c)
    }

    #[test]
    fn defaults_are_the_specs() {
        let c = MonitorConfig::new(&RawMonitorConfig::default()).unwrap();
        assert_eq!((c.timeout_ms(), c.max_resets(), c.check_interval_ms()), (3_600_000, 5, 5_000));
        assert_eq!((c.min_install_time_ms(), c.expected_reboots(), c.eject()), (0, 0, None));
        assert!(c.completes_on_first_shutdown());
    }

    #[test]
    fn rejects_unusable_numbers() {
        let cases: Vec<(&str, RawMonitorConfig)> = vec![
            ("timeout", RawMonitorConfig { timeout: Some(0.0), ..Default::default() }),
            ("timeout", RawMonitorConfig { timeout: Some(f64::NAN), ..Default::default() }),
            ("timeout", RawMonitorConfig { timeout: Some(2_147_483_648.0), ..Default::default() }),
            ("checkInterval", RawMonitorConfig { check_interval: Some(1.5), ..Default::default() }),
            ("maxResets", RawMonitorConfig { max_resets: Some(-1.0), ..Default::default() }),
            ("minInstallTime", RawMonitorConfig { min_install_time: Some(f64::INFINITY), ..Default::default() }),
            ("expectedReboots", RawMonitorConfig { expected_reboots: Some(6.0), ..Default::default() }),
            ("ejectAfterResets", RawMonitorConfig { eject_after_resets: Some(0.0), ..Default::default() }),
            ("ejectDevice", RawMonitorConfig { eject_device: Some(String::new()), ..Default::default() }),
        ];
        for (field, raw) in cases {
            let e = MonitorConfig::new(&raw).unwrap_err();
            assert_eq!(e.code(), "INVALID_CONFIG");
            assert!(matches!(e, UnattendedError::InvalidMonitorConfig { field: f, .. } if f == field), "{field}: {e}");
        }
        let e = MonitorConfig::new(&RawMonitorConfig { expected_reboots: Some(6.0), ..Default::default() }).unwrap_err();
        assert_eq!(e.to_string(), "Invalid installation monitor configuration: expectedReboots (6) must not exceed maxResets (5)");
    }

    #[test]
    fn start_checks_in_spec_order_and_reports_installing() {
        let mut m = InstallMonitor::new(cfg(|_| {}));
        let e = m.start(false).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("QMP_ERROR", "QMP client is not connected"));
        assert!(!m.is_running());
        let out = m.start(true).unwrap();
        assert_eq!(summary(&out).0, vec![("installing", "Installation in progress".to_string())]);
        assert!(matches!(out.last(), Some(Output::Warning(w)) if w.starts_with("neither minInstallTime")));
        assert!(m.is_running());
        let e = m.start(true).unwrap_err();
        assert_eq!((e.code(), e.to_string().as_str()), ("INVALID_CONFIG", "Monitor is already running"));
    }

    #[test]
    fn no_warning_with_a_completion_rule() {
        let mut m = InstallMonitor::new(cfg(|r| r.expected_reboots = Some(1.0)));
        assert!(!m.start(true).unwrap().iter().any(|o| matches!(o, Output::Warning(_))));
    }

    #[test]
    fn without_a_completion_rule_the_first_guest_shutdown_completes() {
        let mut m = started(cfg(|_| {}));
        let (phases, end) = summary(&m.handle(guest_shutdown(), 10));
        assert_eq!(
            phases,
            vec![("completing", "Installation completing, system shutting down".to_string()), ("completed", "Installation completed successfully".to_string()),]
        );
        assert_eq!(end.unwrap().0, "ok");
        assert!(m.handle(guest_shutdown(), 11).is_empty(), "input after the end is ignored");
        assert!(m.is_running(), "running until the result is reported");
        assert_eq!(m.start(true).unwrap_err().code(), "INVALID_CONFIG");
        m.finish();
        assert!(!m.is_running());
    }

    #[test]
    fn completion_waits_for_the_expected_reboots() {
        let mut m = started(cfg(|r| r.expected_reboots = Some(2.0)));
        let out = m.handle(guest_reset(), 3_000);
        assert_eq!(summary(&out).0, vec![("installing", "Installation in progress (reset 1)".to_string())]);
        m.handle(guest_reset(), 6_000);
        assert_eq!(code(&m.handle(guest_shutdown(), 9_000)).as_deref(), Some("ok"));
        assert_eq!(m.reset_count(), 2);
    }

    #[test]
    fn a_shutdown_before_the_rule_holds_fails() {
        let mut m = started(cfg(|r| r.expected_reboots = Some(2.0)));
        m.handle(guest_reset(), 3_000);
        let (_, end) = summary(&m.handle(guest_shutdown(), 5_000));
        let (code, message) = end.unwrap();
        assert_eq!(code, "INSTALLATION_FAILED");
        assert_eq!(
            message,
            "Installation failed: the guest powered off after 5000ms and 1 reboot(s), before the installation could have finished (completion needs 2 reboot(s))"
        );
        assert_eq!(m.phase(), Phase::Failed);
    }

    #[test]
    fn either_condition_completes() {
        let rule = |r: &mut RawMonitorConfig| {
            r.expected_reboots = Some(2.0);
            r.min_install_time = Some(60_000.0);
        };
        let mut by_time = started(cfg(rule));
        assert_eq!(code(&by_time.handle(guest_shutdown(), 60_000)).as_deref(), Some("ok"));
        let mut too_soon = started(cfg(rule));
        let (_, end) = summary(&too_soon.handle(guest_shutdown(), 59_999));
        assert!(end.unwrap().1.ends_with("(completion needs 2 reboot(s) or at least 60000ms)"));
        let mut by_reboots = started(cfg(rule));
        by_reboots.handle(guest_reset(), 5_000);
        by_reboots.handle(guest_reset(), 10_000);
        assert_eq!(code(&by_reboots.handle(guest_shutdown(), 11_000)).as_deref(), Some("ok"));
    }

    #[test]
    fn resets_beyond_the_limit_fail_with_the_spec_message() {
        let mut m = started(cfg(|r| r.max_resets = Some(2.0)));
        assert!(code(&m.handle(guest_reset(), 2_000)).is_none());
        assert!(code(&m.handle(guest_reset(), 4_000)).is_none());
        let (_, end) = summary(&m.handle(guest_reset(), 6_000));
        assert_eq!(
            end.unwrap(),
            (
                "INSTALLATION_RESET_LIMIT_EXCEEDED".to_string(),
                "Installation failed: exceeded maximum reset count (2). The VM may be stuck in a boot loop or installation failure loop.".to_string()
            )
        );
        assert_eq!(m.reset_count(), 3);
    }

    #[test]
    fn a_firmware_reset_right_after_a_reboot_is_the_same_reboot() {
        let mut m = started(cfg(|r| r.max_resets = Some(1.0)));
        m.handle(guest_reset(), 2_000);
        let out = m.handle(guest_reset(), 2_040);
        assert!(matches!(out.as_slice(), [Output::Note(_)]));
        assert_eq!(m.reset_count(), 1);
        assert_eq!(code(&m.handle(guest_reset(), 5_000)).as_deref(), Some("INSTALLATION_RESET_LIMIT_EXCEEDED"));
    }

    #[test]
    fn ticks_report_progress_and_time_out() {
        let mut m = started(cfg(|r| r.timeout = Some(1_000.0)));
        match m.handle(Input::Tick, 250).as_slice() {
            [Output::TimeoutCheck { elapsed_ms: 250, remaining_ms: 750, percent_complete: 25 }] => {}
            other => panic!("{other:?}"),
        }
        let (_, end) = summary(&m.handle(Input::Tick, 1_000));
        assert_eq!(end.unwrap(), ("INSTALLATION_TIMEOUT".to_string(), "Installation timed out after 1000ms".to_string()));
        let mut d = started(cfg(|r| r.timeout = Some(1_000.0)));
        assert_eq!(code(&d.handle(Input::Deadline, 999)).as_deref(), Some("INSTALLATION_TIMEOUT"));
    }

    #[test]
    fn disconnect_fails_with_qmp_error() {
        let mut m = started(cfg(|_| {}));
        let (_, end) = summary(&m.handle(Input::Disconnect, 5));
        assert_eq!(end.unwrap(), ("QMP_ERROR".to_string(), "QMP connection lost during installation".to_string()));
    }

    #[test]
    fn powerdown_is_not_completion() {
        let mut m = started(cfg(|_| {}));
        let out = m.handle(Input::Powerdown, 5);
        assert!(matches!(out.as_slice(), [Output::Warning(_)]));
        assert!(m.is_running());
        let (_, end) = summary(&m.handle(guest_shutdown(), 10));
        assert_eq!(
            end.unwrap(),
            (
                "INSTALLATION_FAILED".to_string(),
                "Installation failed: the VM was shut down by a host power-down request (POWERDOWN) before the installation finished".to_string()
            )
        );
    }

    #[test]
    fn host_shutdowns_and_panics_fail() {
        let mut m = started(cfg(|_| {}));
        let (_, end) = summary(&m.handle(Input::Shutdown { guest: Some(false), reason: Some("host-signal".into()) }, 5));
        assert_eq!(end.unwrap().1, "Installation failed: the VM was shut down by the host (host-signal) before the installation finished");
        let mut p = started(cfg(|_| {}));
        let out = p.handle(Input::Shutdown { guest: Some(true), reason: Some("guest-panic".into()) }, 5);
        assert_eq!(code(&out).as_deref(), Some("INSTALLATION_FAILED"));
        // No data at all (QEMU < 3.0): the guest's own shutdown, as in the spec.
        let mut old = started(cfg(|_| {}));
        assert_eq!(code(&old.handle(Input::Shutdown { guest: None, reason: None }, 5)).as_deref(), Some("ok"));
    }

    #[test]
    fn the_media_is_ejected_once_after_the_planned_reboot() {
        let mut m = started(cfg(|r| {
            r.eject_after_resets = Some(2.0);
            r.max_resets = Some(5.0);
        }));
        let ejects = |out: &[Output]| {
            out.iter()
                .filter_map(|o| match o {
                    Output::EjectMedia { device } => Some(device.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert!(ejects(&m.handle(guest_reset(), 2_000)).is_empty());
        assert_eq!(ejects(&m.handle(guest_reset(), 4_000)), vec!["ide1-cd0".to_string()]);
        assert!(ejects(&m.handle(guest_reset(), 6_000)).is_empty());
        assert!(m.media_ejected());
    }

    #[test]
    fn stop_ends_a_running_monitor_and_it_can_start_again() {
        let mut m = started(cfg(|_| {}));
        m.handle(guest_reset(), 2_000);
        assert_eq!(code(&m.handle(Input::Stop, 3_000)).as_deref(), Some("MONITORING_ERROR"));
        assert!(m.handle(Input::Stop, 3_001).is_empty());
        m.finish();
        m.start(true).unwrap();
        assert_eq!((m.reset_count(), m.phase()), (0, Phase::Installing));
    }

    #[test]
    fn per_os_defaults() {
        assert_eq!(completion_defaults("windows11"), (600_000, 2));
        assert_eq!(completion_defaults("ubuntu"), (300_000, 0));
        assert_eq!(completion_defaults("plan9"), (0, 0));
    }
}
