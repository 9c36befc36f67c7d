//! VM status vocabulary and the transitions the sync layer makes (spec §10.1, §10.2).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A VM's status as the store holds it (spec §17.7 `DBVMStatus`, plus `starting`).
///
/// The backend's column is a free string, so values this crate does not know are kept
/// verbatim in `Other` and written back unchanged. Equality, hashing, `Display` and
/// serde all go through [`VmStatus::as_str`]: `Other("off")` equals `Off`, and the
/// serialized form is the plain string.
#[derive(Debug, Clone)]
pub enum VmStatus {
    Off,
    Starting,
    Running,
    Suspended,
    Paused,
    Building,
    UpdatingHardware,
    PoweringOffUpdate,
    Error,
    /// Anything else the database holds (including `""`), preserved as is.
    Other(String),
}

impl VmStatus {
    /// Every known status, in declaration order.
    pub const KNOWN: [VmStatus; 9] = [
        VmStatus::Off,
        VmStatus::Starting,
        VmStatus::Running,
        VmStatus::Suspended,
        VmStatus::Paused,
        VmStatus::Building,
        VmStatus::UpdatingHardware,
        VmStatus::PoweringOffUpdate,
        VmStatus::Error,
    ];

    /// The database string.
    pub fn as_str(&self) -> &str {
        match self {
            VmStatus::Off => "off",
            VmStatus::Starting => "starting",
            VmStatus::Running => "running",
            VmStatus::Suspended => "suspended",
            VmStatus::Paused => "paused",
            VmStatus::Building => "building",
            VmStatus::UpdatingHardware => "updating_hardware",
            VmStatus::PoweringOffUpdate => "powering_off_update",
            VmStatus::Error => "error",
            VmStatus::Other(s) => s,
        }
    }

    /// Parses a database string; unknown values become `Other` unchanged.
    pub fn parse(s: &str) -> VmStatus {
        match s {
            "off" => VmStatus::Off,
            "starting" => VmStatus::Starting,
            "running" => VmStatus::Running,
            "suspended" => VmStatus::Suspended,
            "paused" => VmStatus::Paused,
            "building" => VmStatus::Building,
            "updating_hardware" => VmStatus::UpdatingHardware,
            "powering_off_update" => VmStatus::PoweringOffUpdate,
            "error" => VmStatus::Error,
            other => VmStatus::Other(other.to_string()),
        }
    }

    /// A status whose VM may have a QEMU process: running, starting, suspended or
    /// paused (what a restarted manager must reconcile, rule 8).
    pub fn may_have_process(&self) -> bool {
        matches!(self, VmStatus::Running | VmStatus::Starting | VmStatus::Suspended | VmStatus::Paused)
    }

    /// A status a VM can be started from: off or error.
    pub fn is_startable(&self) -> bool {
        matches!(self, VmStatus::Off | VmStatus::Error)
    }

    /// A status an automatic write demotes a VM to: off, suspended or paused.
    pub fn is_demotion(&self) -> bool {
        matches!(self, VmStatus::Off | VmStatus::Suspended | VmStatus::Paused)
    }

    /// True for `Other` (a value this crate does not know).
    pub fn is_other(&self) -> bool {
        matches!(self, VmStatus::Other(_))
    }
}

impl PartialEq for VmStatus {
    fn eq(&self, other: &VmStatus) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for VmStatus {}

impl std::hash::Hash for VmStatus {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for VmStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for VmStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for VmStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VmStatus {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<VmStatus, Self::Err> {
        Ok(VmStatus::parse(s))
    }
}

impl From<&str> for VmStatus {
    fn from(s: &str) -> VmStatus {
        VmStatus::parse(s)
    }
}

impl From<String> for VmStatus {
    fn from(s: String) -> VmStatus {
        match VmStatus::parse(&s) {
            VmStatus::Other(_) => VmStatus::Other(s),
            known => known,
        }
    }
}

impl From<VmStatus> for String {
    fn from(s: VmStatus) -> String {
        match s {
            VmStatus::Other(s) => s,
            known => known.as_str().to_string(),
        }
    }
}

impl Serialize for VmStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VmStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<VmStatus, D::Error> {
        String::deserialize(deserializer).map(VmStatus::from)
    }
}

/// What QEMU's `query-status` says, mapped to the database status (spec §10.1).
/// Guest panics, watchdog fires and I/O errors are failures (`error`), never `off`.
pub fn db_status_for_qmp(qmp_status: &str) -> VmStatus {
    match qmp_status {
        "running" | "colo" => VmStatus::Running,
        "paused" | "suspended" => VmStatus::Suspended,
        "shutdown" => VmStatus::Off,
        "inmigrate" | "postmigrate" | "prelaunch" | "finish-migrate" | "restore-vm" => VmStatus::Building,
        // watchdog, guest-panicked, io-error and anything unknown
        _ => VmStatus::Error,
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
pub fn transition_for_event(event: &str, data: Option<&Value>) -> Option<(VmStatus, Reason)> {
    let ev = || Reason::Event { event: event.to_string() };
    match event {
        "SHUTDOWN" => {
            let guest = data.and_then(|d| d.get("guest")).and_then(Value::as_bool).unwrap_or(false);
            let cause = data.and_then(|d| d.get("reason")).and_then(Value::as_str).unwrap_or("");
            let reason = Reason::from_shutdown(guest, cause);
            let status = if matches!(reason, Reason::Crash { .. }) { VmStatus::Error } else { VmStatus::Off };
            Some((status, reason))
        }
        "STOP" | "SUSPEND" => Some((VmStatus::Suspended, ev())),
        "RESUME" | "WAKEUP" => Some((VmStatus::Running, ev())),
        "GUEST_PANICKED" => Some((VmStatus::Error, Reason::Crash { detail: "guest kernel panic".into() })),
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

/// An automatic demotion (process gone, QMP says off or paused) must not overwrite a
/// status someone set on purpose to `error`. Writing `error` itself, or `running`
/// (QEMU proves the VM runs), is always allowed.
pub fn automatic_write_allowed(current: &VmStatus, new: &VmStatus) -> bool {
    !(*current == VmStatus::Error && new.is_demotion())
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
        let t = |e: &str, d: Value| transition_for_event(e, Some(&d)).map(|(s, r)| (s.to_string(), r.code()));
        assert_eq!(t("SHUTDOWN", json!({"guest": true, "reason": "guest-shutdown"})), Some(("off".to_string(), "guest-shutdown")));
        assert_eq!(t("SHUTDOWN", json!({"guest": false, "reason": "host-qmp-quit"})), Some(("off".to_string(), "host-shutdown")));
        assert_eq!(t("SHUTDOWN", json!({"guest": true, "reason": "guest-panic"})), Some(("error".to_string(), "crash")));
        assert_eq!(t("SHUTDOWN", json!({"guest": false, "reason": "host-error"})), Some(("error".to_string(), "crash")));
        assert_eq!(transition_for_event("SHUTDOWN", None).map(|(s, _)| s), Some(VmStatus::Off));
        assert_eq!(t("STOP", Value::Null), Some(("suspended".to_string(), "qmp-event")));
        assert_eq!(t("SUSPEND", Value::Null), Some(("suspended".to_string(), "qmp-event")));
        assert_eq!(t("RESUME", Value::Null), Some(("running".to_string(), "qmp-event")));
        assert_eq!(t("WAKEUP", Value::Null), Some(("running".to_string(), "qmp-event")));
        assert_eq!(t("GUEST_PANICKED", json!({"action": "pause"})), Some(("error".to_string(), "crash")));
        assert_eq!(t("RESET", Value::Null), None);
        assert_eq!(t("POWERDOWN", Value::Null), None);
        assert_eq!(Reason::from_shutdown(false, "").describe(), "host shutdown (unspecified)");
    }

    #[test]
    fn demotions_never_overwrite_error() {
        assert!(!automatic_write_allowed(&"error".into(), &"off".into()));
        assert!(!automatic_write_allowed(&"error".into(), &"suspended".into()));
        assert!(automatic_write_allowed(&"error".into(), &"running".into()));
        assert!(automatic_write_allowed(&"error".into(), &"error".into()));
        assert!(automatic_write_allowed(&"running".into(), &"off".into()));
        assert!(automatic_write_allowed(&"suspended".into(), &"error".into()));
    }

    #[test]
    fn known_statuses_round_trip() {
        let names = ["off", "starting", "running", "suspended", "paused", "building", "updating_hardware", "powering_off_update", "error"];
        assert_eq!(VmStatus::KNOWN.iter().map(VmStatus::as_str).collect::<Vec<_>>(), names);
        for (k, n) in VmStatus::KNOWN.iter().zip(names) {
            let parsed = VmStatus::from(n);
            assert!(!parsed.is_other(), "{n}");
            assert_eq!(&parsed, k);
            assert_eq!(n.parse::<VmStatus>(), Ok(k.clone()));
            assert_eq!(VmStatus::from(n.to_string()), *k);
            assert_eq!(k.to_string(), n);
            assert_eq!(String::from(k.clone()), n);
            assert_eq!(serde_json::to_value(k).unwrap(), json!(n));
            assert_eq!(serde_json::from_value::<VmStatus>(json!(n)).unwrap(), *k);
        }
        for n in crate::consts::DB_STATUSES {
            assert!(!VmStatus::from(n).is_other(), "{n}");
        }
    }

    #[test]
    fn unknown_statuses_are_preserved() {
        for n in ["", "undefined", "Running", "migrating", " off", "off "] {
            let s = VmStatus::from(n);
            assert_eq!(s, VmStatus::Other(n.to_string()));
            assert!(s.is_other());
            assert_eq!(s.as_str(), n);
            assert_eq!(s.to_string(), n);
            assert_eq!(String::from(s.clone()), n);
            assert_eq!(serde_json::to_string(&s).unwrap(), serde_json::to_string(n).unwrap());
            assert_eq!(serde_json::from_str::<VmStatus>(&serde_json::to_string(n).unwrap()).unwrap(), s);
        }
        // equality is by string: a hand-built Other of a known value is that value
        assert_eq!(VmStatus::Other("off".into()), VmStatus::Off);
        assert_ne!(VmStatus::Other("x".into()), VmStatus::Off);
        assert!(VmStatus::Running == "running");
        assert!(serde_json::from_value::<VmStatus>(json!(3)).is_err());
    }

    #[test]
    fn status_helpers() {
        let with = |f: fn(&VmStatus) -> bool| VmStatus::KNOWN.iter().filter(|s| f(s)).map(VmStatus::as_str).collect::<Vec<_>>();
        assert_eq!(with(VmStatus::may_have_process), ["starting", "running", "suspended", "paused"]);
        assert_eq!(with(VmStatus::is_startable), ["off", "error"]);
        assert_eq!(with(VmStatus::is_demotion), ["off", "suspended", "paused"]);
        let other = VmStatus::from("weird");
        assert!(!other.may_have_process() && !other.is_startable() && !other.is_demotion());
        assert!(automatic_write_allowed(&other, &VmStatus::Off));
        assert!(automatic_write_allowed(&VmStatus::Error, &other));
    }
}
