//! VM status vocabulary and the transitions the sync layer makes (spec §10.1, §10.2).

/// What QEMU's `query-status` says, mapped to the database status (spec §10.1).
/// Guest panics, watchdog fires and I/O errors are failures (`error`), never `off`.
pub fn db_status_for_qmp(qmp_status: &str) -> &'static str {
    match qmp_status {
        "running" | "colo" => "running",
        "paused" | "suspended" => "suspended",
        "shutdown" => "off",
        "inmigrate" | "postmigrate" | "prelaunch" | "finish-migrate" | "restore-vm" => "building",
        // watchdog, guest-panicked, io-error and anything unknown
        _ => "error",
    }
}

/// The database status a QMP event implies (spec §10.2); `None` for RESET and
/// events that do not change the status.
pub fn db_status_for_event(event: &str) -> Option<&'static str> {
    match event {
        "SHUTDOWN" | "POWERDOWN" => Some("off"),
        "STOP" | "SUSPEND" => Some("suspended"),
        "RESUME" | "WAKEUP" => Some("running"),
        "GUEST_PANICKED" => Some("error"),
        _ => None,
    }
}

/// Why a VM changed state, carried in events, logs and the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The guest powered itself off (`SHUTDOWN` with `guest: true`).
    GuestShutdown,
    /// The host asked (QMP `quit`, a signal, the UI).
    HostShutdown { detail: String },
    /// The guest kernel panicked, a watchdog fired or an I/O error paused it.
    Crash { detail: String },
    /// The QEMU process vanished without a shutdown (SIGKILL, OOM killer).
    Killed,
    /// QEMU failed with the given stderr tail.
    QemuError { stderr: String },
    /// A deliberate operation of the manager (start, stop, suspend, …).
    Operation { name: String },
}

impl Reason {
    /// Classifies a `SHUTDOWN` event's `reason` field (QEMU's `ShutdownCause`).
    pub fn from_shutdown(guest: bool, cause: &str) -> Reason {
        match cause {
            "guest-panic" => Reason::Crash { detail: "guest kernel panic".into() },
            _ if guest => Reason::GuestShutdown,
            other => Reason::HostShutdown { detail: other.to_string() },
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Reason::GuestShutdown => "guest-shutdown",
            Reason::HostShutdown { .. } => "host-shutdown",
            Reason::Crash { .. } => "crash",
            Reason::Killed => "killed",
            Reason::QemuError { .. } => "qemu-error",
            Reason::Operation { .. } => "operation",
        }
    }

    /// One line for logs and the store.
    pub fn describe(&self) -> String {
        match self {
            Reason::GuestShutdown => "the guest shut down".into(),
            Reason::HostShutdown { detail } => format!("host shutdown ({detail})"),
            Reason::Crash { detail } => format!("crash: {detail}"),
            Reason::Killed => "the QEMU process was killed".into(),
            Reason::QemuError { stderr } => format!("QEMU error: {}", crate::exec::tail(stderr, 512).trim()),
            Reason::Operation { name } => format!("operation {name}"),
        }
    }
}

/// An automatic demotion (process gone, QMP says off) must not overwrite a status
/// someone set on purpose to `error`.
pub fn automatic_write_allowed(current: &str, new: &str) -> bool {
    !(current == "error" && new != "error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_88_qmp_mapping() {
        let cases = [
            ("running", "running"),
            ("paused", "suspended"),
            ("shutdown", "off"),
            ("inmigrate", "building"),
            ("postmigrate", "building"),
            ("prelaunch", "building"),
            ("finish-migrate", "building"),
            ("restore-vm", "building"),
            ("suspended", "suspended"),
            ("watchdog", "error"),
            ("guest-panicked", "error"),
            ("io-error", "error"),
            ("colo", "running"),
            ("bogus", "error"),
        ];
        for (q, d) in cases {
            assert_eq!(db_status_for_qmp(q), d, "{q}");
        }
    }

    #[test]
    fn event_mapping_and_reasons() {
        assert_eq!(db_status_for_event("SHUTDOWN"), Some("off"));
        assert_eq!(db_status_for_event("STOP"), Some("suspended"));
        assert_eq!(db_status_for_event("WAKEUP"), Some("running"));
        assert_eq!(db_status_for_event("RESET"), None);
        assert_eq!(Reason::from_shutdown(true, "guest-shutdown"), Reason::GuestShutdown);
        assert_eq!(Reason::from_shutdown(false, "host-qmp-quit").code(), "host-shutdown");
        assert_eq!(Reason::from_shutdown(true, "guest-panic").code(), "crash");
        assert!(!automatic_write_allowed("error", "off"));
        assert!(automatic_write_allowed("running", "off"));
        assert!(automatic_write_allowed("error", "error"));
    }
}
