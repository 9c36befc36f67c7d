//! Client tests against a scripted agent on a Unix socket (the other end of the wire;
//! the client is the real one). The real qemu-ga is exercised by the Jest suite in a
//! booted test guest (__test__/net/guest-agent.test.js).

use super::*;
use crate::error::ErrorShape;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn sock(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iv-qga-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("qga.sock")
}

/// What the scripted agent does for one request.
enum Out {
    Line(String),
    Raw(Vec<u8>),
    Sleep(u64),
    Close,
}

fn ok(v: &Value, ret: Value) -> Out {
    Out::Line(json!({"return": ret, "id": v["id"]}).to_string())
}

type Script = Box<dyn FnMut(usize, &Value) -> Vec<Out> + Send>;

/// A scripted qemu-ga: answers `guest-sync-delimited` like the real one (0xFF, then
/// the id) and hands every other request to `script` (with the connection's index).
/// `on_accept` bytes are written as soon as a connection is accepted (what a chardev
/// holds from an earlier client). Records every request per connection.
struct Peer {
    seen: Arc<StdMutex<Vec<(usize, Value)>>>,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn peer(path: &Path, on_accept: Vec<Vec<u8>>, answer_sync: bool, mut script: Script) -> Peer {
    let l = UnixListener::bind(path).unwrap();
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (s2, a2) = (seen.clone(), accepted.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { return };
            let n = a2.fetch_add(1, Ordering::SeqCst);
            let (rd, mut wr) = s.into_split();
            if let Some(b) = on_accept.get(n) {
                wr.write_all(b).await.unwrap();
            }
            let mut rd = BufReader::new(rd);
            let mut buf = Vec::new();
            'conn: loop {
                buf.clear();
                if rd.read_until(b'\n', &mut buf).await.unwrap_or(0) == 0 {
                    break;
                }
                let text: Vec<u8> = buf.iter().copied().filter(|b| *b != 0xFF).collect();
                let Ok(v) = serde_json::from_slice::<Value>(&text) else { continue };
                if v["execute"] == "guest-sync-delimited" {
                    s2.lock().unwrap().push((n, v.clone()));
                    if answer_sync {
                        let mut out = vec![0xFFu8];
                        out.extend_from_slice(json!({"return": v["arguments"]["id"]}).to_string().as_bytes());
                        out.push(b'\n');
                        wr.write_all(&out).await.unwrap();
                    }
                    continue;
                }
                s2.lock().unwrap().push((n, v.clone()));
                for o in script(n, &v) {
                    match o {
                        Out::Line(l) => {
                            wr.write_all(l.as_bytes()).await.unwrap();
                            wr.write_all(b"\n").await.unwrap();
                        }
                        Out::Raw(b) => wr.write_all(&b).await.unwrap(),
                        Out::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                        Out::Close => break 'conn,
                    }
                }
            }
        }
    });
    Peer { seen, accepted, task }
}

fn fast() -> AgentOptions {
    AgentOptions { connect_timeout: Duration::from_millis(500), command_timeout: Duration::from_millis(1000), max_output_bytes: 1024 }
}

fn commands(p: &Peer) -> Vec<String> {
    p.seen.lock().unwrap().iter().map(|(_, v)| v["execute"].as_str().unwrap_or("").to_string()).collect()
}

#[test]
fn syncs_on_connect_and_matches_ids() {
    rt().block_on(async {
        let p = sock("wire");
        let peer = peer(&p, vec![], true, Box::new(|_, v| vec![ok(v, json!({}))]));
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        assert!(a.is_connected());
        a.ping(None).await.unwrap();
        assert_eq!(a.execute("guest-ping", Some(&json!({})), None).await.unwrap(), json!({}));
        let seen = peer.seen.lock().unwrap().clone();
        assert_eq!(seen[0].1["execute"], "guest-sync-delimited");
        assert!(seen[0].1["arguments"]["id"].as_u64().unwrap() < (1 << 53));
        // No `arguments` for an empty object (API-next §5.11 item 1).
        assert_eq!(seen[1].1, json!({"execute": "guest-ping", "id": "1"}));
        assert_eq!(seen[2].1, json!({"execute": "guest-ping", "id": "2"}));
    });
}

#[test]
fn a_stale_reply_left_in_the_channel_never_answers_a_new_request() {
    rt().block_on(async {
        let p = sock("stale");
        // The first connection's ping is answered too late; the chardev keeps that
        // reply (id "1") and hands it to the next connection, whose own first
        // request also has id "1".
        let stale = json!({"return": {"stale": true}, "id": "1"}).to_string() + "\n";
        let peer = peer(
            &p,
            vec![vec![], stale.into_bytes()],
            true,
            Box::new(|n, v| if n == 0 { vec![Out::Sleep(400)] } else { vec![ok(v, json!({"host-name": "fresh"}))] }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let e = a.execute("guest-get-host-name", None, Some(Duration::from_millis(100))).await.unwrap_err();
        assert_eq!(e.code(), "AGENT_TIMEOUT");
        a.disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let b = GuestAgent::new(&p, fast());
        b.connect().await.unwrap();
        assert_eq!(b.host_name().await.unwrap(), "fresh");
        assert_eq!(peer.accepted.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_late_reply_on_the_same_connection_is_skipped_after_resync() {
    rt().block_on(async {
        let p = sock("late");
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let peer = peer(
            &p,
            vec![],
            true,
            Box::new(
                move |_, v| {
                    if c2.fetch_add(1, Ordering::SeqCst) == 0 {
                        vec![Out::Sleep(300), ok(v, json!("late"))]
                    } else {
                        vec![ok(v, json!("on time"))]
                    }
                },
            ),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let e = a.execute("guest-x", None, Some(Duration::from_millis(100))).await.unwrap_err();
        assert_eq!(e.code(), "AGENT_TIMEOUT");
        assert_eq!(a.execute("guest-x", None, None).await.unwrap(), json!("on time"));
        // A resync ran between the two requests.
        assert_eq!(commands(&peer), ["guest-sync-delimited", "guest-x", "guest-sync-delimited", "guest-x"]);
    });
}

#[test]
fn garbage_and_oversized_replies_are_typed_errors_and_the_link_recovers() {
    rt().block_on(async {
        let p = sock("garbage");
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let _peer = peer(
            &p,
            vec![],
            true,
            Box::new(move |_, v| match c2.fetch_add(1, Ordering::SeqCst) {
                0 => vec![Out::Line("this is not json".into())],
                1 => vec![Out::Raw(vec![b'x'; 5 * 1024 * 1024]), Out::Raw(b"\n".to_vec())],
                2 => vec![Out::Line("[1,2]".into())],
                _ => vec![ok(v, json!({}))],
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        assert_eq!(a.execute("guest-ping", None, None).await.unwrap_err().code(), "AGENT_INVALID_REPLY");
        let e = a.execute("guest-ping", None, None).await.unwrap_err();
        assert_eq!(e.code(), "AGENT_REPLY_TOO_LARGE", "{e}");
        assert_eq!(a.execute("guest-ping", None, None).await.unwrap_err().code(), "AGENT_INVALID_REPLY");
        a.ping(None).await.unwrap();
    });
}

#[test]
fn no_agent_behind_the_socket_is_agent_not_running() {
    rt().block_on(async {
        let p = sock("silent");
        let _peer = peer(&p, vec![], false, Box::new(|_, _| vec![]));
        let a = GuestAgent::new(&p, fast());
        let t = std::time::Instant::now();
        let e = a.connect().await.unwrap_err();
        assert_eq!(e.code(), "AGENT_NOT_RUNNING");
        assert!(t.elapsed() < Duration::from_millis(1500));
        assert!(!a.is_connected());
        assert_eq!(a.execute("guest-ping", None, None).await.unwrap_err().code(), "AGENT_NOT_CONNECTED");
        assert_eq!(a.execute("guest-ping", None, None).await.unwrap_err().to_string(), "Not connected to QGA socket");
    });
}

#[test]
fn a_missing_socket_is_a_connect_error() {
    rt().block_on(async {
        let a = GuestAgent::new(sock("missing"), fast());
        let e = a.connect().await.unwrap_err();
        assert_eq!(e.code(), "AGENT_CONNECT_FAILED");
        assert!(e.to_string().starts_with("QGA socket error: connect ENOENT"), "{e}");
    });
}

#[test]
fn error_replies_are_classified() {
    rt().block_on(async {
        let p = sock("errors");
        let _peer = peer(
            &p,
            vec![],
            true,
            Box::new(|_, v| {
                let (class, desc) = match v["execute"].as_str().unwrap() {
                    "guest-exec" => ("CommandNotFound", "Command guest-exec has been disabled"),
                    "guest-nope" => ("CommandNotFound", "The command guest-nope has not been found"),
                    _ => ("GenericError", "boom"),
                };
                vec![Out::Line(json!({"error": {"class": class, "desc": desc}, "id": v["id"]}).to_string())]
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        assert_eq!(a.exec("/bin/true", &[], None).await.unwrap_err().code(), "AGENT_COMMAND_DISABLED");
        assert_eq!(a.execute("guest-nope", None, None).await.unwrap_err().code(), "AGENT_COMMAND_NOT_FOUND");
        let e = a.execute("guest-info", None, None).await.unwrap_err();
        assert_eq!((e.code(), e.to_string()), ("AGENT_COMMAND_FAILED", "QGA error: boom (GenericError)".to_string()));
        assert_eq!(a.execute("guest-sync", None, None).await.unwrap_err().code(), "AGENT_INVALID_ARGUMENT");
        // An error reply leaves the stream clean: no resync before the next request.
        a.execute("guest-info", None, None).await.unwrap_err();
    });
}

#[test]
fn shutdown_succeeds_without_a_reply_and_fails_with_one() {
    rt().block_on(async {
        let p = sock("shutdown");
        let peer = peer(
            &p,
            vec![],
            true,
            Box::new(|_, v| {
                if v["arguments"]["mode"] == "reboot" {
                    vec![Out::Line(json!({"error": {"class": "GenericError", "desc": "no reboot here"}, "id": v["id"]}).to_string())]
                } else {
                    vec![]
                }
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        a.shutdown(commands::ShutdownMode::Powerdown, None).await.unwrap();
        assert_eq!(a.shutdown(commands::ShutdownMode::Reboot, None).await.unwrap_err().code(), "AGENT_COMMAND_FAILED");
        a.ping(Some(Duration::from_millis(300))).await.unwrap_err(); // the script answers nothing else
        let seen = commands(&peer);
        assert_eq!(&seen[..5], ["guest-sync-delimited", "guest-shutdown", "guest-sync-delimited", "guest-shutdown", "guest-sync-delimited"]);
    });
}

use super::super::commands;

#[test]
fn exec_decodes_output_and_reports_no_pid() {
    rt().block_on(async {
        let p = sock("exec");
        let peer = peer(
            &p,
            vec![],
            true,
            Box::new(|_, v| match v["execute"].as_str().unwrap() {
                "guest-exec" if v["arguments"]["path"] == "none" => vec![ok(v, json!({"pid": -1}))],
                "guest-exec" => vec![ok(v, json!({"pid": 42}))],
                "guest-exec-status" => vec![ok(v, json!({"exited": true, "exitcode": 3, "out-data": "w6k=", "err-data": "aGk="}))],
                _ => vec![],
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let out = a.exec("ls", &["-la".into()], None).await.unwrap();
        assert_eq!((out.stdout, out.stderr, out.exit_code), (vec![0xc3, 0xa9], b"hi".to_vec(), 3));
        let seen = peer.seen.lock().unwrap().clone();
        assert_eq!(seen[1].1, json!({"execute": "guest-exec", "id": "1", "arguments": {"path": "ls", "capture-output": true, "arg": ["-la"]}}));
        assert_eq!(seen[2].1, json!({"execute": "guest-exec-status", "id": "2", "arguments": {"pid": 42}}));
        assert_eq!(seen.len(), 3);
        let e = a.exec("none", &[], None).await.unwrap_err();
        assert_eq!(e.to_string(), "Guest agent returned no pid (guest-exec not supported?)");
        assert_eq!(peer.seen.lock().unwrap().len(), 4, "no guest-exec-status after a missing pid");
    });
}

#[test]
fn exec_output_is_capped() {
    rt().block_on(async {
        let p = sock("cap");
        let big = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![b'a'; 4000]);
        let _peer = peer(
            &p,
            vec![],
            true,
            Box::new(move |_, v| match v["execute"].as_str().unwrap() {
                "guest-exec" => vec![ok(v, json!({"pid": 7}))],
                _ => vec![ok(v, json!({"exited": true, "exitcode": 0, "out-data": big}))],
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let out = a.exec("cat", &[], None).await.unwrap();
        assert_eq!((out.stdout.len(), out.stdout_truncated, out.stderr_truncated), (1024, true, false));
    });
}

#[test]
fn exec_deadline_covers_the_whole_run() {
    rt().block_on(async {
        let p = sock("exec-timeout");
        let peer = peer(
            &p,
            vec![],
            true,
            Box::new(|_, v| match v["execute"].as_str().unwrap() {
                "guest-exec" => vec![ok(v, json!({"pid": 9}))],
                _ => vec![ok(v, json!({"exited": false}))],
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let t = std::time::Instant::now();
        let e = a.exec("sleep", &["100".into()], Some(Duration::from_millis(300))).await.unwrap_err();
        assert_eq!(e.code(), "AGENT_TIMEOUT");
        assert_eq!(e.to_string(), "guest-exec timed out for command \"sleep\" (pid 9) after 300ms");
        assert!(t.elapsed() < Duration::from_millis(1500));
        a.ping(Some(Duration::from_millis(300))).await.unwrap();
        assert!(commands(&peer).contains(&"guest-exec-status".to_string()));
    });
}

#[test]
fn clients_of_one_socket_share_one_connection() {
    rt().block_on(async {
        let p = sock("shared");
        let peer = peer(&p, vec![], true, Box::new(|_, v| vec![ok(v, json!({}))]));
        let a = GuestAgent::new(&p, fast());
        let b = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        b.connect().await.unwrap();
        let (x, y) = tokio::join!(a.ping(None), b.ping(None));
        x.unwrap();
        y.unwrap();
        a.disconnect();
        b.ping(None).await.unwrap();
        assert_eq!(peer.accepted.load(Ordering::SeqCst), 1);
        b.disconnect();
        // The last client gone, the socket is closed; a new client dials again.
        let c = GuestAgent::new(&p, fast());
        c.connect().await.unwrap();
        c.ping(None).await.unwrap();
        assert_eq!(peer.accepted.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn disconnect_rejects_a_waiting_request_at_once() {
    rt().block_on(async {
        let p = sock("cancel");
        let _peer = peer(&p, vec![], true, Box::new(|_, _| vec![Out::Sleep(5000)]));
        let a = Arc::new(GuestAgent::new(&p, fast()));
        a.connect().await.unwrap();
        let a2 = a.clone();
        let pending = tokio::spawn(async move { a2.execute("guest-info", None, Some(Duration::from_secs(5))).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = std::time::Instant::now();
        a.disconnect();
        let e = pending.await.unwrap().unwrap_err();
        assert_eq!(e.to_string(), "QGA client disconnected");
        assert!(t.elapsed() < Duration::from_millis(200));
    });
}

#[test]
fn the_agent_going_away_mid_command_is_connection_closed() {
    rt().block_on(async {
        let p = sock("eof");
        let _peer = peer(&p, vec![], true, Box::new(|_, _| vec![Out::Close]));
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let e = a.execute("guest-info", None, None).await.unwrap_err();
        assert_eq!((e.code(), e.to_string()), ("AGENT_CONNECTION_CLOSED", "QGA connection closed".to_string()));
        assert!(!a.is_connected());
    });
}

#[test]
fn set_user_password_never_echoes_the_password() {
    rt().block_on(async {
        let p = sock("password");
        let peer = peer(
            &p,
            vec![],
            true,
            Box::new(|_, v| {
                let b64 = v["arguments"]["password"].as_str().unwrap().to_string();
                vec![Out::Line(json!({"error": {"class": "GenericError", "desc": format!("bad password {b64} / hunter2")}, "id": v["id"]}).to_string())]
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let e = a.set_user_password("root", &crate::secret::Secret::new("hunter2"), false).await.unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("aHVudGVyMg=="), "{shown}");
        assert_eq!(peer.seen.lock().unwrap()[1].1["arguments"]["password"], "aHVudGVyMg==");
    });
}

#[test]
fn file_read_and_write_respect_limits_and_close_handles() {
    rt().block_on(async {
        let p = sock("files");
        let store = Arc::new(StdMutex::new(Vec::<u8>::new()));
        let s2 = store.clone();
        let peer = peer(
            &p,
            vec![],
            true,
            Box::new(move |_, v| {
                let b64 = &base64::engine::general_purpose::STANDARD;
                match v["execute"].as_str().unwrap() {
                    "guest-file-open" => vec![ok(v, json!(5))],
                    "guest-file-write" => {
                        let data = base64::Engine::decode(b64, v["arguments"]["buf-b64"].as_str().unwrap()).unwrap();
                        s2.lock().unwrap().extend_from_slice(&data);
                        vec![ok(v, json!({"count": data.len(), "eof": false}))]
                    }
                    "guest-file-read" => {
                        let data = s2.lock().unwrap().clone();
                        vec![ok(v, json!({"count": data.len(), "buf-b64": base64::Engine::encode(b64, &data), "eof": true}))]
                    }
                    _ => vec![ok(v, json!({}))],
                }
            }),
        );
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        assert_eq!(a.file_write("/tmp/x", b"hello", 10).await.unwrap(), 5);
        assert_eq!(a.file_read("/tmp/x", 10).await.unwrap(), b"hello");
        assert_eq!(a.file_read("/tmp/x", 4).await.unwrap_err().code(), "AGENT_FILE_TOO_LARGE");
        assert_eq!(a.file_write("/tmp/x", b"hello", 4).await.unwrap_err().code(), "AGENT_FILE_TOO_LARGE");
        let closes = commands(&peer).iter().filter(|c| *c == "guest-file-close").count();
        assert_eq!(closes, 3, "every opened handle is closed, the failed read's too");
    });
}

#[test]
fn json_pass_through() {
    assert_eq!(pass_through_timeout(Some(-1.0)).unwrap(), None);
    assert_eq!(pass_through_timeout(Some(2.5)).unwrap(), Some(Duration::from_millis(2500)));
    assert_eq!(pass_through_timeout(Some(0.0)).unwrap_err().code(), "AGENT_INVALID_ARGUMENT");
    rt().block_on(async {
        let p = sock("json");
        let peer = peer(&p, vec![], true, Box::new(|_, v| vec![ok(v, json!({"version": "7.2"}))]));
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        let r = a.command_json(r#"{"execute":"guest-info","arguments":{},"id":"mine"}"#, None).await.unwrap();
        assert_eq!(serde_json::from_str::<Value>(&r).unwrap(), json!({"return": {"version": "7.2"}}));
        assert_eq!(peer.seen.lock().unwrap()[1].1, json!({"execute": "guest-info", "id": "1"}));
        for bad in ["nope", "[]", r#"{"execute":1}"#, r#"{"execute":"guest-info","x":1}"#, r#"{"execute":"guest-sync-delimited"}"#] {
            assert_eq!(a.command_json(bad, None).await.unwrap_err().code(), "AGENT_INVALID_ARGUMENT", "{bad}");
        }
    });
}

#[test]
fn a_socket_that_died_while_idle_is_redialled_once() {
    rt().block_on(async {
        let p = sock("redial");
        let l = UnixListener::bind(&p).unwrap();
        let server = tokio::spawn(async move {
            for round in 0..2 {
                let (s, _) = l.accept().await.unwrap();
                let (rd, mut wr) = s.into_split();
                let mut rd = BufReader::new(rd);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    if rd.read_until(b'\n', &mut buf).await.unwrap_or(0) == 0 {
                        break;
                    }
                    let text: Vec<u8> = buf.iter().copied().filter(|b| *b != 0xFF).collect();
                    let v: Value = serde_json::from_slice(&text).unwrap();
                    let out = if v["execute"] == "guest-sync-delimited" {
                        format!("\u{FF}{}\n", json!({"return": v["arguments"]["id"]}))
                    } else {
                        json!({"return": round, "id": v["id"]}).to_string() + "\n"
                    };
                    let mut bytes = out.into_bytes();
                    if bytes.starts_with("\u{FF}".as_bytes()) {
                        bytes.splice(0..2, [0xFFu8]);
                    }
                    wr.write_all(&bytes).await.unwrap();
                    if round == 0 {
                        break; // the first QEMU goes away right after the sync
                    }
                }
            }
        });
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(a.execute("guest-info", None, None).await.unwrap(), json!(1));
        a.disconnect();
        server.await.unwrap();
    });
}

#[test]
fn joining_a_connection_whose_agent_went_silent_fails_like_a_dial() {
    rt().block_on(async {
        let p = sock("join-silent");
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        // Answers the first sync and nothing after the first request.
        let l = UnixListener::bind(&p).unwrap();
        let _server = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (rd, mut wr) = s.into_split();
            let mut rd = BufReader::new(rd);
            let mut buf = Vec::new();
            while rd.read_until(b'\n', &mut buf).await.unwrap_or(0) > 0 {
                let text: Vec<u8> = buf.iter().copied().filter(|b| *b != 0xFF).collect();
                let v: Value = serde_json::from_slice(&text).unwrap();
                if v["execute"] == "guest-sync-delimited" && c2.fetch_add(1, Ordering::SeqCst) == 0 {
                    let mut out = vec![0xFFu8];
                    out.extend_from_slice(format!("{}\n", json!({"return": v["arguments"]["id"]})).as_bytes());
                    wr.write_all(&out).await.unwrap();
                }
                buf.clear();
            }
        });
        let a = GuestAgent::new(&p, fast());
        a.connect().await.unwrap();
        assert_eq!(a.ping(Some(Duration::from_millis(200))).await.unwrap_err().code(), "AGENT_TIMEOUT");
        let b = GuestAgent::new(&p, fast());
        assert_eq!(b.connect().await.unwrap_err().code(), "AGENT_NOT_RUNNING");
    });
}
