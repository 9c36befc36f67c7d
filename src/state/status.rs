//! VM status vocabulary and the transitions the sync layer makes (spec §10.1, §10.2).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

/// The QMP events `EventHandler` listens to: the seven of spec §10.2 and
/// `GUEST_PANICKED` (an addition: a panicked guest is an `error`, not `off`).
pub const HANDLED_EVENTS: [&str; 8] = ["SHUTDOWN", "POWERDOWN", "RESET", "STOP", "RESUME", "SUSPEND", "WAKEUP", "GUEST_PANICKED"];

/// The status change a QMP event implies, with its reason; `None` when the event
/// changes nothing.
///
/// Spec §10.2 with two deliberate differences: `POWERDOWN` only reports that an ACPI
/// power-button press was requested (the guest may ignore it), so the status changes
/// on the `SHUTDOWN` that follows; and a `SHUTDOWN` caused by a guest panic or a host
/// error is a failure (`error`), not `off`.
pub fn transition_for_event(event: &str, data: Option<&Value>) -> Option<(&'static str, Reason)> {
    let ev = || Reason::Event { event: event.to_string() };
    match event {
        "SHUTDOWN" => {
            let guest = data.and_then(|d| d.get("guest")).and_then(Value::as_bool).unwrap_or(false);
            let cause = data.and_then(|d| d.get("reason")).and_then(Value::as_str).unwrap_or("");
            let reason = Reason::from_shutdown(guest, cause);
            let status = if matches!(reason, Reason::Crash { .. }) { "error" } else { "off" };
            Some((status, reason))
        }
        "STOP" | "SUSPEND" => Some(("suspended", ev())),
        "RESUME" | "WAKEUP" => Some(("running", ev())),
        "GUEST_PANICKED" => Some(("error", Reason::Crash { detail: "guest kernel panic".into() })),
        // POWERDOWN, RESET and anything else
        _ => None,
    }
}

/// Why a VM changed state, carried in events, logs and (where a column exists) the store.
/// Serializable so queued writes can be journaled (`queue::WriteQueue::with_journal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// The guest powered itself off (`SHUTDOWN` with `guest: true`).
    GuestShutdown,
    /// The host asked (QMP `quit`, a signal, the UI).
    HostShutdown { detail: String },
    /// The guest kernel panicked, a watchdog fired or an I/O error stopped it.
    Crash { detail: String },
    /// The QEMU process vanished without a shutdown (SIGKILL, OOM killer).
    Killed,
    /// QEMU failed with the given stderr tail.
    QemuError { stderr: String },
    /// A deliberate operation of the manager (start, stop, suspend, …).
    Operation { name: String },
    /// A QMP event that carries no cause (`STOP`, `RESUME`, …).
    Event { event: String },
    /// A `query-status` answer (`StateSync.syncState`).
    QmpStatus { status: String },
}

impl Reason {
    /// Classifies a `SHUTDOWN` event's `reason` field (QEMU's `ShutdownCause`).
    pub fn from_shutdown(guest: bool, cause: &str) -> Reason {
        match cause {
            "guest-panic" => Reason::Crash { detail: "guest kernel panic".into() },
            "host-error" => Reason::Crash { detail: "QEMU reported a host error".into() },
            _ if guest => Reason::GuestShutdown,
            other => Reason::HostShutdown { detail: if other.is_empty() { "unspecified".into() } else { other.to_string() } },
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
            Reason::Event { .. } => "qmp-event",
            Reason::QmpStatus { .. } => "qmp-status",
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
            Reason::Event { event } => format!("QMP event {event}"),
            Reason::QmpStatus { status } => format!("QMP status {status}"),
        }
    }

    /// `{ code, message }` as events carry it.
    pub fn to_json(&self) -> Value {
        json!({ "code": self.code(), "message": self.describe() })
    }
}

/// Statuses an automatic write demotes a VM to.
fn is_demotion(status: &str) -> bool {
    matches!(status, "off" | "suspended" | "paused")
}

/// An automatic demotion (process gone, QMP says off or paused) must not overwrite a
/// status someone set on purpose to `error`. Writing `error` itself, or `running`
/// (QEMU proves the VM runs), is always allowed.
pub fn automatic_write_allowed(current: &str, new: &str) -> bool {
    !(current == "error" && is_demotion(new))
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
        let t = |e: &str, d: Value| transition_for_event(e, Some(&d)).map(|(s, r)| (s, r.code()));
        assert_eq!(t("SHUTDOWN", json!({"guest": true, "reason": "guest-shutdown"})), Some(("off", "guest-shutdown")));
        assert_eq!(t("SHUTDOWN", json!({"guest": false, "reason": "host-qmp-quit"})), Some(("off", "host-shutdown")));
        assert_eq!(t("SHUTDOWN", json!({"guest": true, "reason": "guest-panic"})), Some(("error", "crash")));
        assert_eq!(t("SHUTDOWN", json!({"guest": false, "reason": "host-error"})), Some(("error", "crash")));
        assert_eq!(transition_for_event("SHUTDOWN", None).map(|(s, _)| s), Some("off"));
        assert_eq!(t("STOP", Value::Null), Some(("suspended", "qmp-event")));
        assert_eq!(t("SUSPEND", Value::Null), Some(("suspended", "qmp-event")));
        assert_eq!(t("RESUME", Value::Null), Some(("running", "qmp-event")));
        assert_eq!(t("WAKEUP", Value::Null), Some(("running", "qmp-event")));
        assert_eq!(t("GUEST_PANICKED", json!({"action": "pause"})), Some(("error", "crash")));
        assert_eq!(t("RESET", Value::Null), None);
        assert_eq!(t("POWERDOWN", Value::Null), None);
        assert_eq!(Reason::from_shutdown(false, "").describe(), "host shutdown (unspecified)");
    }

    #[test]
    fn demotions_never_overwrite_error() {
        assert!(!automatic_write_allowed("error", "off"));
        assert!(!automatic_write_allowed("error", "suspended"));
        assert!(automatic_write_allowed("error", "running"));
        assert!(automatic_write_allowed("error", "error"));
        assert!(automatic_write_allowed("running", "off"));
        assert!(automatic_write_allowed("suspended", "error"));
    }
}
