//! The floor for `bench/qmp.js`: the least a QMP client can do per round trip.
//!
//! One unix socket, one tokio current-thread runtime, no request table, no timeouts:
//! connect, read the greeting, negotiate capabilities, send `warmup` untimed
//! `query-status` commands, then `count` more in sequence, timing each
//! write-to-parsed-reply with `Instant`. Prints
//! `{"n":…,"p50_us":…,"p99_us":…,"samples_us":[…]}` on stdout (the bench pools the
//! samples of several runs).
//!
//! Build: `cargo build --release --example qmp_floor`
//! Run:   `target/release/examples/qmp_floor <qmp-socket> [count] [warmup]`

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

type Failure = Box<dyn std::error::Error>;

/// Reads lines until one carries `id`, skipping events; errors on EOF or a QMP error.
async fn reply_to<R: AsyncBufReadExt + Unpin>(rd: &mut R, line: &mut String, id: &str) -> Result<Value, Failure> {
    loop {
        line.clear();
        if rd.read_line(line).await? == 0 {
            return Err("QMP socket closed".into());
        }
        let v: Value = serde_json::from_str(line)?;
        if v.get("id").and_then(Value::as_str) == Some(id) {
            if let Some(e) = v.get("error") {
                return Err(format!("QMP error: {e}").into());
            }
            return Ok(v);
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest-rank, the same rule bench/qmp.js and bench/qmp_peer.py use.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let mut argv = std::env::args().skip(1);
    let path = argv.next().ok_or("usage: qmp_floor <qmp-socket> [count] [warmup]")?;
    let count: usize = argv.next().map_or(Ok(10_000), |s| s.parse())?;
    let warmup: usize = argv.next().map_or(Ok(0), |s| s.parse())?;

    let (rd, mut wr) = UnixStream::connect(&path).await?.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = String::new();
    rd.read_line(&mut line).await?;
    let greeting: Value = serde_json::from_str(&line)?;
    if greeting.get("QMP").is_none() {
        return Err("expected a QMP greeting".into());
    }
    wr.write_all(b"{\"execute\":\"qmp_capabilities\",\"id\":\"hs\"}\n").await?;
    reply_to(&mut rd, &mut line, "hs").await?;

    let mut samples = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let id = i.to_string();
        let req = format!("{{\"execute\":\"query-status\",\"id\":\"{id}\"}}\n");
        let t0 = Instant::now();
        wr.write_all(req.as_bytes()).await?;
        let v = reply_to(&mut rd, &mut line, &id).await?;
        if i >= warmup {
            samples.push(t0.elapsed());
        }
        if v.get("return").and_then(|r| r.get("status")).is_none() {
            return Err("query-status reply without a status".into());
        }
    }
    wr.shutdown().await?;
    let raw: Vec<String> = samples.iter().map(|d| format!("{:.1}", d.as_secs_f64() * 1e6)).collect();
    samples.sort_unstable();
    println!(
        "{{\"n\":{},\"p50_us\":{:.1},\"p99_us\":{:.1},\"samples_us\":[{}]}}",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        raw.join(",")
    );
    Ok(())
}
