//! One socket to a guest agent and the exchanges on it.
//!
//! The agent's chardev outlives any host connection, and the guest side may hold a
//! half-read request or an unread reply from an earlier client (or from a request of
//! ours that timed out). So the stream is trusted only after a `guest-sync-delimited`
//! round: a 0xFF byte first (it resets the agent's JSON parser), then the sync with a
//! fresh random nonce; everything the agent sent before its own 0xFF sentinel and a
//! sync reply carrying our nonce is discarded. That round runs on connect and before
//! the first request after any exchange that did not finish cleanly (timeout,
//! cancellation, garbage), so a late reply is never matched to a new request.
//!
//! Requests are serialised: the agent handles one at a time, and holding the link for
//! a whole request/reply exchange makes the reply order trivial. Replies are still
//! matched by the `id` the agent echoes; anything else in between is skipped.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::error::GuestAgentError;
use crate::qmp::line::{read_capped, Line};
use crate::qmp::wire::{self, Incoming};

const NS: &str = "infinivirt:qga-client";
/// The sync reply is tiny; a longer line after a sentinel is not ours.
const SYNC_LINE_CAP: usize = 4096;
const SENTINEL: u8 = 0xFF;

/// What a request expects back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// A `return` or `error` object with our id.
    Reply,
    /// Commands whose success sends nothing (`guest-shutdown`, `guest-suspend-*`):
    /// a sync follows the command, and its answer arriving first means no error.
    NoReplyOnSuccess,
}

/// The commands qemu-ga answers only on failure.
pub(crate) fn expect_for(command: &str) -> Expect {
    match command {
        "guest-shutdown" | "guest-suspend-disk" | "guest-suspend-ram" | "guest-suspend-hybrid" => Expect::NoReplyOnSuccess,
        _ => Expect::Reply,
    }
}

pub(crate) struct Request<'a> {
    pub command: &'a str,
    pub args: Option<&'a Value>,
    pub expect: Expect,
    /// Longest reply line kept in memory.
    pub reply_cap: usize,
    /// How long a resync may take before the agent counts as not running.
    pub sync_limit: Duration,
}

struct Link {
    io: BufReader<UnixStream>,
    in_sync: bool,
}

/// A live socket to one agent, shared by every client of that socket path.
pub(crate) struct Connection {
    path: PathBuf,
    link: tokio::sync::Mutex<Option<Link>>,
    alive: AtomicBool,
    next_id: AtomicU64,
}

impl Connection {
    /// Dials `path` and syncs, both within `connect_timeout`.
    pub async fn dial(path: &Path, connect_timeout: Duration) -> Result<Connection, GuestAgentError> {
        let shown = path.display().to_string();
        let ms = millis(connect_timeout);
        let stream = match tokio::time::timeout(connect_timeout, UnixStream::connect(path)).await {
            Err(_) => return Err(GuestAgentError::ConnectTimeout { path: shown, ms }),
            Ok(Err(e)) => return Err(GuestAgentError::Connect { path: shown, errno: crate::exec::errno_name(&e) }),
            Ok(Ok(s)) => s,
        };
        let mut link = Link { io: BufReader::new(stream), in_sync: false };
        sync(&mut link, path, connect_timeout).await?;
        Ok(Connection { path: path.to_path_buf(), link: tokio::sync::Mutex::new(Some(link)), alive: AtomicBool::new(true), next_id: AtomicU64::new(1) })
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// A client joining this connection: if the link is idle and out of sync (an
    /// earlier exchange timed out), resync now, so joining a connection whose agent
    /// went away fails like a fresh dial would. A busy link is left to its user.
    pub async fn resync_if_idle(&self, limit: Duration) -> Result<(), GuestAgentError> {
        let Ok(mut guard) = self.link.try_lock() else { return Ok(()) };
        let Some(link) = guard.as_mut() else { return Err(GuestAgentError::CONNECTION_CLOSED) };
        if link.in_sync {
            return Ok(());
        }
        let r = sync(link, &self.path, limit).await;
        if matches!(r, Err(GuestAgentError::Closed { .. })) {
            *guard = None;
            self.alive.store(false, Ordering::Release);
        }
        r
    }

    /// One request/reply exchange, waiting for the link first. Unbounded by itself:
    /// the caller applies the deadline. Dropped midway (deadline, cancellation), it
    /// leaves the link marked out of sync, so the next exchange resyncs first.
    /// `sent` tells whether the command may have reached the agent (false: it surely
    /// did not, so a closed socket can be redialled and the command sent again).
    pub async fn exchange(&self, req: &Request<'_>, sent: &mut bool) -> Result<Value, GuestAgentError> {
        let mut guard = self.link.lock().await;
        let Some(link) = guard.as_mut() else { return Err(GuestAgentError::CONNECTION_CLOSED) };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let r = run(link, &self.path, req, &id, sent).await;
        if matches!(r, Err(GuestAgentError::Closed { .. })) {
            // The socket is gone (QEMU exited, the chardev was closed): drop it.
            *guard = None;
            self.alive.store(false, Ordering::Release);
        }
        r
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A nonce no earlier sync on this channel used: 53 random bits (a JSON-safe integer).
fn nonce() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish() & ((1 << 53) - 1)
}

async fn run(link: &mut Link, path: &Path, req: &Request<'_>, id: &str, sent: &mut bool) -> Result<Value, GuestAgentError> {
    if !link.in_sync {
        sync(link, path, req.sync_limit).await?;
    }
    link.in_sync = false;
    let line = wire::encode(req.command, id, req.args);
    // A write that fails at once (EPIPE: the QEMU behind this socket is gone) sent
    // nothing; one that fails later may have sent part of the line.
    *sent = true;
    let s = link.io.get_mut();
    match s.try_write(line.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {
            *sent = false;
            return Err(GuestAgentError::CONNECTION_CLOSED);
        }
        Err(_) => write(link, line.as_bytes()).await?,
        Ok(n) if n < line.len() => write(link, &line.as_bytes()[n..]).await?,
        Ok(_) => {}
    }
    let r = match req.expect {
        Expect::Reply => read_reply(link, req, id).await,
        Expect::NoReplyOnSuccess => confirm(link, req, id).await,
    };
    if r.as_ref().err().is_none_or(|e| !e.leaves_stream_dirty()) {
        link.in_sync = true;
    }
    r
}

async fn write(link: &mut Link, bytes: &[u8]) -> Result<(), GuestAgentError> {
    let s = link.io.get_mut();
    s.write_all(bytes).await.map_err(|_| GuestAgentError::CONNECTION_CLOSED)?;
    s.flush().await.map_err(|_| GuestAgentError::CONNECTION_CLOSED)
}

/// Flushes the agent's parser, asks for a sync with a fresh nonce and discards
/// everything up to the sentinel that precedes the matching answer.
async fn sync(link: &mut Link, path: &Path, limit: Duration) -> Result<(), GuestAgentError> {
    let n = nonce();
    let mut bytes = vec![SENTINEL];
    bytes.extend_from_slice(wire::encode("guest-sync-delimited", "sync", Some(&json!({ "id": n }))).as_bytes());
    let round = async {
        write(link, &bytes).await?;
        loop {
            skip_to_sentinel(&mut link.io).await?;
            match read_capped(&mut link.io, SYNC_LINE_CAP).await {
                Ok(Line::Whole(l)) => {
                    if let Some(Incoming::Response { result: Ok(v), .. }) = std::str::from_utf8(&l).ok().and_then(wire::parse) {
                        if v.as_u64() == Some(n) {
                            return Ok(());
                        }
                    }
                    crate::log::log(NS, "skipping a stale guest-sync-delimited answer");
                }
                Ok(Line::TooLong(_)) => {}
                Ok(Line::Eof) | Err(_) => return Err(GuestAgentError::CONNECTION_CLOSED),
            }
        }
    };
    match tokio::time::timeout(limit, round).await {
        Ok(Ok(())) => {
            link.in_sync = true;
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(GuestAgentError::NotRunning { path: path.display().to_string(), ms: millis(limit) }),
    }
}

/// Consumes bytes up to and including the next 0xFF, keeping none of them.
async fn skip_to_sentinel(io: &mut BufReader<UnixStream>) -> Result<(), GuestAgentError> {
    loop {
        let buf = io.fill_buf().await.map_err(|_| GuestAgentError::CONNECTION_CLOSED)?;
        if buf.is_empty() {
            return Err(GuestAgentError::CONNECTION_CLOSED);
        }
        if let Some(i) = buf.iter().position(|b| *b == SENTINEL) {
            io.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        io.consume(n);
    }
}

/// One parsed line: `None` for a blank line or a late sync answer (skipped).
fn classify(line: &[u8], command: &str) -> Result<Option<Incoming>, GuestAgentError> {
    if line.first() == Some(&SENTINEL) {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|_| GuestAgentError::InvalidReply { command: command.into(), why: "the reply is not UTF-8".into() })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    match wire::parse(text) {
        Some(i @ Incoming::Response { .. }) => Ok(Some(i)),
        Some(_) => Err(GuestAgentError::InvalidReply { command: command.into(), why: "a JSON object with neither return nor error".into() }),
        None => Err(GuestAgentError::InvalidReply { command: command.into(), why: format!("not a JSON object: {}", crate::exec::tail(text.trim(), 120)) }),
    }
}

async fn next_line(link: &mut Link, req: &Request<'_>) -> Result<Vec<u8>, GuestAgentError> {
    match read_capped(&mut link.io, req.reply_cap).await {
        Ok(Line::Whole(l)) => Ok(l),
        Ok(Line::TooLong(_)) => Err(GuestAgentError::ReplyTooLarge { command: req.command.into(), limit: req.reply_cap }),
        Ok(Line::Eof) | Err(_) => Err(GuestAgentError::CONNECTION_CLOSED),
    }
}

async fn read_reply(link: &mut Link, req: &Request<'_>, id: &str) -> Result<Value, GuestAgentError> {
    loop {
        let line = next_line(link, req).await?;
        match classify(&line, req.command)? {
            Some(Incoming::Response { id: Some(rid), result }) if rid == id => {
                return result.map_err(|(class, desc)| GuestAgentError::command(req.command, class, desc));
            }
            Some(_) => crate::log::log(NS, &format!("skipping a reply that is not for '{}' (id {id})", req.command)),
            None => {}
        }
    }
}

/// For commands that answer only on failure: a sync after the command; its answer
/// (after the sentinel) arriving means the command was taken. An answer for our id
/// before it (an error, or an agent that does reply) is the result; the sync's
/// answer is still read so the stream stays clean.
async fn confirm(link: &mut Link, req: &Request<'_>, id: &str) -> Result<Value, GuestAgentError> {
    let n = nonce();
    write(link, wire::encode("guest-sync-delimited", "confirm", Some(&json!({ "id": n }))).as_bytes()).await?;
    let mut answer: Option<Result<Value, GuestAgentError>> = None;
    loop {
        let line = next_line(link, req).await?;
        if line.first() == Some(&SENTINEL) {
            let v = std::str::from_utf8(&line[1..]).ok().and_then(wire::parse);
            if let Some(Incoming::Response { result: Ok(v), .. }) = v {
                if v.as_u64() == Some(n) {
                    return answer.unwrap_or(Ok(Value::Null));
                }
            }
            continue;
        }
        if let Some(Incoming::Response { id: Some(rid), result }) = classify(&line, req.command)? {
            if rid == id {
                answer = Some(result.map_err(|(class, desc)| GuestAgentError::command(req.command, class, desc)));
            }
        }
    }
}
