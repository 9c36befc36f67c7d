//! Client tests against a scripted QMP peer on a Unix socket (the other end of the
//! wire; the client itself is the real one). Real QEMU is exercised by the Jest suite.

use super::*;
use serde_json::json;
use std::sync::Mutex as StdMutex;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn sock(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iv-qmp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("qmp.sock")
}

fn recorder() -> (Sink, Arc<StdMutex<Vec<Notice>>>) {
    let seen = Arc::new(StdMutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |n| s.lock().unwrap().push(n)), seen)
}

const GREETING: &str = "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":2,\"minor\":0,\"major\":10},\"package\":\"\"},\"capabilities\":[\"oob\"]}}\n";

/// Accepts one peer, greets it, answers the handshake, then hands each later line to
/// `reply`, writing back whatever it returns. Returns every line received.
async fn serve_one<F>(l: &UnixListener, mut reply: F) -> Vec<String>
where
    F: FnMut(&Value) -> Vec<String>,
{
    let (s, _) = l.accept().await.unwrap();
    let (rd, mut wr) = s.into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(GREETING.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut line = String::new();
    while rd.read_line(&mut line).await.unwrap_or(0) > 0 {
        seen.push(line.clone());
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == HANDSHAKE_ID {
            wr.write_all(b"{\"return\":{},\"id\":\"_handshake\"}\n").await.unwrap();
        } else {
            for out in reply(&v) {
                if out == "CLOSE" {
                    return seen;
                }
                wr.write_all(out.as_bytes()).await.unwrap();
                wr.write_all(b"\n").await.unwrap();
            }
        }
        line.clear();
    }
    seen
}

fn ok_reply(v: &Value, ret: Value) -> String {
    json!({"return": ret, "id": v["id"]}).to_string()
}

#[test]
fn handshake_wire_and_event_demux() {
    rt().block_on(async {
        let p = sock("demux");
        let l = UnixListener::bind(&p).unwrap();
        let server = tokio::spawn(async move {
            serve_one(&l, |v| match v["execute"].as_str().unwrap() {
                // An event between the command and its reply must not be taken for the reply.
                "query-status" => vec![
                    "{\"event\":\"STOP\",\"timestamp\":{\"seconds\":1700000000,\"microseconds\":500000}}".into(),
                    ok_reply(v, json!({"running": false, "singlestep": false, "status": "paused"})),
                ],
                "eject" => vec![json!({"error": {"class": "GenericError", "desc": "Device 'x' not found"}, "id": v["id"]}).to_string()],
                _ => vec![ok_reply(v, json!({}))],
            })
            .await
        });
        let (sink, seen) = recorder();
        let c = QmpClient::new(&p, QmpOptions::default(), sink);
        assert!(matches!(c.execute("query-status", None).await, Err(QmpError::NotConnected)));
        c.connect().await.unwrap();
        assert_eq!(c.greeting().unwrap()["QMP"]["version"]["qemu"]["major"], 10);
        let st = c.execute("query-status", None).await.unwrap();
        assert_eq!(st["status"], "paused");
        let e = c.execute("eject", Some(json!({"device": "x", "force": true}))).await.unwrap_err();
        assert_eq!(e.to_string(), "QMP error: Device 'x' not found (GenericError)");
        c.execute("x", Some(json!({}))).await.unwrap();
        c.disconnect().await;
        let lines = server.await.unwrap();
        assert_eq!(lines[0], "{\"execute\":\"qmp_capabilities\",\"id\":\"_handshake\"}\n");
        assert_eq!(lines[1], "{\"execute\":\"query-status\",\"id\":\"1\"}\n");
        assert_eq!(lines[2], "{\"execute\":\"eject\",\"id\":\"2\",\"arguments\":{\"device\":\"x\",\"force\":true}}\n");
        assert_eq!(lines[3], "{\"execute\":\"x\",\"id\":\"3\"}\n");
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0], Notice::Connected);
        assert!(matches!(&seen[1], Notice::Event { name, data: None, seconds: 1_700_000_000, microseconds: 500_000, .. } if name == "STOP"));
        assert_eq!(*seen.last().unwrap(), Notice::Disconnected);
    });
}

#[test]
fn missing_socket_and_timeouts() {
    rt().block_on(async {
        let (sink, _) = recorder();
        let c = QmpClient::new("/tmp/nonexistent-iv.sock", QmpOptions::default(), sink.clone());
        assert_eq!(c.connect().await.unwrap_err().to_string(), "Socket not found: /tmp/nonexistent-iv.sock does not exist");

        // A listener that never greets: the connect deadline applies.
        let p = sock("silent");
        let l = UnixListener::bind(&p).unwrap();
        let hold = tokio::spawn(async move {
            let s = l.accept().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(s);
        });
        let opts = QmpOptions { connect_timeout: Duration::from_millis(200), ..Default::default() };
        let c = QmpClient::new(&p, opts, sink.clone());
        assert_eq!(c.connect().await.unwrap_err().to_string(), "Connection timeout after 200ms");
        hold.abort();

        // A command QEMU never answers: the per-command deadline applies.
        let p = sock("slow");
        let l = UnixListener::bind(&p).unwrap();
        let server = tokio::spawn(async move { serve_one(&l, |_| vec![]).await });
        let mut opts = QmpOptions { command_timeout: Duration::from_millis(300), ..Default::default() };
        opts.command_timeouts.insert("query-block".into(), Duration::from_millis(100));
        let c = QmpClient::new(&p, opts, sink);
        c.connect().await.unwrap();
        assert_eq!(c.execute("query-status", None).await.unwrap_err().to_string(), "Command 'query-status' timed out after 300ms");
        assert_eq!(c.execute("query-block", None).await.unwrap_err().to_string(), "Command 'query-block' timed out after 100ms");
        c.disconnect().await;
        server.await.unwrap();
    });
}

#[test]
fn close_mid_command_rejects_pending() {
    rt().block_on(async {
        let p = sock("close");
        let l = UnixListener::bind(&p).unwrap();
        let server = tokio::spawn(async move { serve_one(&l, |_| vec!["CLOSE".into()]).await });
        let (sink, seen) = recorder();
        let c = QmpClient::new(&p, QmpOptions::default(), sink);
        c.connect().await.unwrap();
        let e = c.execute("query-status", None).await.unwrap_err();
        assert_eq!(e.to_string(), "Connection closed");
        server.await.unwrap();
        // The loss is pushed, not polled.
        for _ in 0..50 {
            if !c.is_connected() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!c.is_connected());
        assert_eq!(*seen.lock().unwrap().last().unwrap(), Notice::Disconnected);
        assert!(matches!(c.execute("query-status", None).await, Err(QmpError::NotConnected)));
    });
}

#[test]
fn clients_of_one_socket_share_the_connection() {
    rt().block_on(async {
        let p = sock("shared");
        let l = UnixListener::bind(&p).unwrap();
        // The peer accepts exactly one connection, like QEMU's QMP server.
        let server = tokio::spawn(async move { serve_one(&l, |v| vec![ok_reply(v, json!({"who": v["id"]}))]).await });
        let (s1, seen1) = recorder();
        let (s2, _) = recorder();
        let a = QmpClient::new(&p, QmpOptions::default(), s1);
        let b = QmpClient::new(&p, QmpOptions::default(), s2);
        a.connect().await.unwrap();
        b.connect().await.unwrap();
        let (ra, rb) = tokio::join!(a.execute("query-status", None), b.execute("query-status", None));
        assert_ne!(ra.unwrap()["who"], rb.unwrap()["who"]);
        b.disconnect().await;
        assert!(a.is_connected(), "another client's disconnect keeps the shared socket");
        a.execute("cont", None).await.unwrap();
        a.disconnect().await;
        assert_eq!(server.await.unwrap().len(), 4);
        assert_eq!(*seen1.lock().unwrap().last().unwrap(), Notice::Disconnected);
    });
}

#[test]
fn thousand_concurrent_commands() {
    rt().block_on(async {
        let p = sock("many");
        let l = UnixListener::bind(&p).unwrap();
        let server = tokio::spawn(async move { serve_one(&l, |v| vec![ok_reply(v, json!({"echo": v["arguments"]["n"]}))]).await });
        let (sink, _) = recorder();
        let c = QmpClient::new(&p, QmpOptions::default(), sink);
        c.connect().await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..1000 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move { (n, c.execute("echo", Some(json!({"n": n}))).await) }));
        }
        for t in tasks {
            let (n, r) = t.await.unwrap();
            assert_eq!(r.unwrap()["echo"], n);
        }
        c.disconnect().await;
        assert_eq!(server.await.unwrap().len(), 1001);
    });
}

#[test]
fn reconnects_after_loss_and_explicit_disconnect_does_not() {
    rt().block_on(async {
        let p = sock("reconnect");
        let l = Arc::new(UnixListener::bind(&p).unwrap());
        let l2 = l.clone();
        let server = tokio::spawn(async move {
            serve_one(&l2, |_| vec!["CLOSE".into()]).await;
            serve_one(&l2, |v| vec![ok_reply(v, json!({}))]).await
        });
        let (sink, seen) = recorder();
        let opts = QmpOptions { reconnect: true, reconnect_delay: Duration::from_millis(50), ..Default::default() };
        let c = QmpClient::new(&p, opts, sink);
        c.connect().await.unwrap();
        assert!(c.execute("query-status", None).await.is_err());
        for _ in 0..100 {
            if seen.lock().unwrap().contains(&Notice::Reconnected) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(seen.lock().unwrap().contains(&Notice::Reconnected));
        c.execute("query-status", None).await.unwrap();
        c.disconnect().await;
        server.await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let n = seen.lock().unwrap().iter().filter(|n| **n == Notice::Connected).count();
        assert_eq!(n, 2, "no reconnect after an explicit disconnect");
    });
}

#[test]
fn timeout_table() {
    let o = QmpOptions::default();
    assert_eq!(o.timeout_for("query-status"), Duration::from_millis(30000));
    assert_eq!(o.timeout_for("screendump"), Duration::from_millis(60000));
    let mut o = QmpOptions { command_timeout: Duration::from_millis(90000), ..Default::default() };
    assert_eq!(o.timeout_for("screendump"), Duration::from_millis(90000));
    o.command_timeouts.insert("screendump".into(), Duration::from_millis(5));
    assert_eq!(o.timeout_for("screendump"), Duration::from_millis(5));
}

#[test]
fn a_line_larger_than_the_socket_buffer_is_flushed_whole_and_in_order() {
    rt().block_on(async {
        let p = sock("flush");
        let l = UnixListener::bind(&p).unwrap();
        // The peer reads slowly at first, so the big line cannot go out in one write.
        let server = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            serve_one(&l, |v| vec![ok_reply(v, json!({"len": v["arguments"]["blob"].as_str().map_or(0, str::len)}))]).await
        });
        let (sink, _) = recorder();
        let c = QmpClient::new(&p, QmpOptions::default(), sink);
        c.connect().await.unwrap();
        let blob = "x".repeat(4 * 1024 * 1024);
        let big = c.execute("big", Some(json!({ "blob": blob })));
        let small = c.execute("small", None);
        let (big, small) = tokio::join!(big, small);
        assert_eq!(big.unwrap()["len"], 4 * 1024 * 1024);
        assert_eq!(small.unwrap()["len"], 0);
        c.execute("after", None).await.unwrap();
        c.disconnect().await;
        let lines = server.await.unwrap();
        let names: Vec<String> = lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["execute"].as_str().unwrap().to_string()).collect();
        assert_eq!(names, ["qmp_capabilities", "big", "small", "after"]);
    });
}

#[test]
fn execute_with_settles_a_caller_outside_the_runtime() {
    let rt = rt();
    let p = sock("foreign");
    let l = rt.block_on(async { UnixListener::bind(&p).unwrap() });
    let server = rt.spawn(async move { serve_one(&l, |v| vec![ok_reply(v, json!({"status": "paused"}))]).await });
    let (sink, _) = recorder();
    let c = QmpClient::new(&p, QmpOptions::default(), sink);
    rt.block_on(c.connect()).unwrap();
    // Like the Node event loop: a plain thread with no runtime context.
    let c2 = c.clone();
    let got = std::thread::spawn(move || {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..100 {
            let tx = tx.clone();
            c2.execute_with("query-status", None, Reply::new(move |r| tx.send(r).unwrap()));
        }
        (0..100).map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap()).collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    assert!(got.iter().all(|v| v["status"] == "paused"));
    rt.block_on(c.disconnect());
    assert_eq!(rt.block_on(server).unwrap().len(), 101);
}

#[test]
fn a_short_deadline_behind_a_long_one_fires_on_time_and_a_dropped_reply_reports_closed() {
    rt().block_on(async {
        let p = sock("deadlines");
        let l = UnixListener::bind(&p).unwrap();
        let server = tokio::spawn(async move { serve_one(&l, |_| vec![]).await });
        let (sink, _) = recorder();
        let mut opts = QmpOptions { command_timeout: Duration::from_millis(5000), ..Default::default() };
        opts.command_timeouts.insert("short".into(), Duration::from_millis(100));
        let c = QmpClient::new(&p, opts, sink);
        c.connect().await.unwrap();
        let long = tokio::spawn({
            let c = c.clone();
            async move { c.execute("long", None).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        let e = c.execute("short", None).await.unwrap_err();
        assert_eq!(e.to_string(), "Command 'short' timed out after 100ms");
        assert!(t0.elapsed() < Duration::from_millis(1000), "the sweeper re-armed for the earlier deadline");
        // Disconnecting rejects the long one at once instead of at its deadline.
        c.disconnect().await;
        assert_eq!(long.await.unwrap().unwrap_err().to_string(), "Client disconnected");
        server.await.unwrap();

        let (tx, rx) = oneshot::channel();
        drop(Reply::new(move |r| drop(tx.send(r))));
        assert_eq!(rx.await.unwrap().unwrap_err().to_string(), "Connection closed");
    });
}
