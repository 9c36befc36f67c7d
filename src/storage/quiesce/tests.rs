//! The sequencing against a scripted guest side that records what it was asked
//! (the real qemu-ga path runs in __test__/net/guest-agent.test.js).

use super::*;
use std::sync::Mutex;

#[derive(Clone, Copy)]
enum Freeze {
    Ok(i64),
    /// Never answers: the caller's deadline passes.
    Hang,
    Refused,
    Unreachable,
}

struct Script {
    freeze: Freeze,
    /// Thaw attempts that fail before one succeeds.
    thaw_failures: usize,
    log: Mutex<Vec<String>>,
}

impl Script {
    fn new(freeze: Freeze, thaw_failures: usize) -> Arc<Self> {
        Arc::new(Script { freeze, thaw_failures, log: Mutex::new(Vec::new()) })
    }
    fn push(&self, s: &str) {
        self.log.lock().unwrap().push(s.to_string());
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

struct Scripted(Arc<Script>);

impl Quiescer for Scripted {
    fn freeze(&self, limit: Duration) -> BoxFuture<'_, Result<i64, FreezeFailure>> {
        Box::pin(async move {
            self.0.push("freeze");
            match self.0.freeze {
                Freeze::Ok(n) => Ok(n),
                Freeze::Hang => {
                    tokio::time::sleep(limit).await;
                    Err(FreezeFailure { failure: GuestAgentError::Timeout { command: FREEZE.into(), ms: millis(limit) }.into(), maybe_frozen: true })
                }
                Freeze::Refused => {
                    Err(FreezeFailure { failure: GuestAgentError::command(FREEZE, "GenericError".into(), "no".into()).into(), maybe_frozen: false })
                }
                Freeze::Unreachable => {
                    Err(FreezeFailure { failure: GuestAgentError::Connect { path: "/x.sock".into(), errno: "ENOENT".into() }.into(), maybe_frozen: false })
                }
            }
        })
    }

    fn thaw(&self, _limit: Duration) -> BoxFuture<'_, Result<i64, AgentFailure>> {
        Box::pin(async move {
            let failed = self.0.log().iter().filter(|s| s.starts_with("thaw")).count();
            if failed < self.0.thaw_failures {
                self.0.push("thaw-failed");
                return Err(AgentFailure::Foreign { code: Some(GuestAgentErrorCode::AGENT_TIMEOUT), message: "late".into() });
            }
            self.0.push("thaw");
            Ok(1)
        })
    }

    fn finish(&self) {
        self.0.push("finish");
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap()
}

fn target() -> (BlockDevice, SnapshotName) {
    snapshot_target(Op::LiveSnapshotCreate, "disk0", "s1").unwrap()
}

fn opts(required: bool) -> QuiesceOptions {
    QuiesceOptions { freeze_timeout: Duration::from_millis(50), thaw_timeout: Duration::from_millis(50), required }
}

/// Runs a quiesced snapshot whose snapshot step logs "snapshot" and then fails when `fail` is set.
fn run(s: &Arc<Script>, required: bool, fail: bool) -> Result<Quiesced, QuiesceError> {
    rt().block_on(async {
        let (d, n) = target();
        let (s2, d2, n2) = (s.clone(), d.clone(), n.clone());
        let r = quiesced_snapshot(Arc::new(Scripted(s.clone())), &d, &n, &opts(required), || async move {
            s2.push("snapshot");
            if fail {
                return Err(snapshot_failure(&d2, &n2, "GenericError", "Snapshot with name 's1' already exists on device 'disk0'"));
            }
            Ok(())
        })
        .await;
        tokio::task::yield_now().await;
        r
    })
}

#[test]
fn freeze_snapshot_thaw() {
    let s = Script::new(Freeze::Ok(2), 0);
    assert_eq!(run(&s, true, false).unwrap(), Quiesced { quiesced: true, frozen: Some(2) });
    assert_eq!(s.log(), ["freeze", "snapshot", "thaw", "finish"]);
}

#[test]
fn a_failed_snapshot_is_thawed_and_reported_as_itself() {
    let s = Script::new(Freeze::Ok(1), 0);
    let e = run(&s, true, true).unwrap_err();
    assert_eq!((e.code(), e.class()), ("SNAPSHOT_ALREADY_EXISTS", JsClass::StorageError));
    assert_eq!(s.log(), ["freeze", "snapshot", "thaw", "finish"]);
}

#[test]
fn a_freeze_that_times_out_is_thawed() {
    // Required: a typed error, no snapshot, and the late freeze thawed.
    let s = Script::new(Freeze::Hang, 0);
    let e = run(&s, true, false).unwrap_err();
    assert_eq!((e.code(), e.class()), ("AGENT_TIMEOUT", JsClass::Error));
    assert!(e.to_string().starts_with("Cannot quiesce the guest for live snapshot 's1' on device disk0: QGA command 'guest-fsfreeze-freeze' timed out"), "{e}");
    assert_eq!(e.fields()["command"], "guest-fsfreeze-freeze");
    assert_eq!(s.log(), ["freeze", "thaw", "finish"]);
    // Not required: thawed, then an unquiesced snapshot.
    let s = Script::new(Freeze::Hang, 0);
    assert_eq!(run(&s, false, false).unwrap(), Quiesced { quiesced: false, frozen: None });
    assert_eq!(s.log(), ["freeze", "thaw", "snapshot", "finish"]);
}

#[test]
fn nothing_to_thaw_when_the_freeze_never_happened() {
    for f in [Freeze::Refused, Freeze::Unreachable] {
        let s = Script::new(f, 0);
        assert!(matches!(run(&s, true, false).unwrap_err(), QuiesceError::Freeze { .. }));
        assert_eq!(s.log(), ["freeze", "finish"]);
        let s = Script::new(f, 0);
        assert_eq!(run(&s, false, false).unwrap(), Quiesced { quiesced: false, frozen: None });
        assert_eq!(s.log(), ["freeze", "snapshot", "finish"]);
    }
    let e = run(&Script::new(Freeze::Unreachable, 0), true, false).unwrap_err();
    assert_eq!(e.code(), "AGENT_CONNECT_FAILED");
}

#[test]
fn the_thaw_is_retried_once_then_reported() {
    let s = Script::new(Freeze::Ok(1), 1);
    assert!(run(&s, true, false).unwrap().quiesced);
    assert_eq!(s.log(), ["freeze", "snapshot", "thaw-failed", "thaw", "finish"]);
    let s = Script::new(Freeze::Ok(1), 2);
    let e = run(&s, true, false).unwrap_err();
    assert_eq!(e.code(), "AGENT_TIMEOUT");
    assert_eq!(e.fields()["snapshotTaken"], true);
    assert!(e.to_string().contains("(the snapshot was taken)"), "{e}");
    // A failed snapshot and a failed thaw: the thaw failure, naming the snapshot's.
    let s = Script::new(Freeze::Ok(1), 2);
    let e = run(&s, true, true).unwrap_err();
    assert_eq!(e.fields()["snapshotTaken"], false);
    assert!(e.to_string().contains("the snapshot failed too: Snapshot 's1' already exists"), "{e}");
}

#[test]
fn a_dropped_sequence_still_thaws() {
    let s = Script::new(Freeze::Ok(1), 0);
    rt().block_on(async {
        let (d, n) = target();
        let o = opts(true);
        let fut = quiesced_snapshot(Arc::new(Scripted(s.clone())), &d, &n, &o, std::future::pending::<Result<(), StorageError>>);
        // The snapshot never finishes; the caller gives up.
        assert!(tokio::time::timeout(Duration::from_secs(1), fut).await.is_err());
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(s.log(), ["freeze", "thaw", "finish"]);
}

#[test]
fn freeze_timeout_is_bounded() {
    assert_eq!(QuiesceOptions::freeze_millis(1500.0).unwrap(), Duration::from_millis(1500));
    for bad in [0.0, -1.0, f64::NAN, 120_001.0] {
        assert_eq!(QuiesceOptions::freeze_millis(bad).unwrap_err().code(), "AGENT_INVALID_ARGUMENT", "{bad}");
    }
}
