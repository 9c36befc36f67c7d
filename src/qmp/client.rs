//! The QMP client (spec §4): one connection per QMP socket, shared by every client.
//!
//! QEMU's `-qmp unix:…,server,nowait` serves one peer at a time, so a second
//! connection would hang until the first closes. Clients for the same socket path
//! therefore share one [`Connection`]: commands carry connection-wide request ids,
//! replies are matched by id (events in between are fanned out to every client), and
//! the socket closes when its last client disconnects.
//!
//! A command costs no task of its own: [`QmpClient::execute_with`] registers a
//! [`Reply`] and writes the line on the caller's thread (a non-blocking write that
//! a flush task finishes only if the socket is full); the connection's reader settles
//! the reply, and one sweeper task per connection enforces every command's deadline.
//! A caller on another thread (the Node event loop) therefore waits for exactly one
//! wake-up, the reply's, instead of a hop into the runtime and back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::error::{connect_error, QmpError};
use super::line::Line;
use super::wire::{self, Incoming, HANDSHAKE_ID};

/// Longest line accepted from QEMU; a longer one is a protocol error.
const MAX_LINE: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct QmpOptions {
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub reconnect: bool,
    pub reconnect_delay: Duration,
    pub max_reconnect_attempts: u32,
    /// Per-command overrides of [`QmpOptions::command_timeout`].
    pub command_timeouts: HashMap<String, Duration>,
}

impl Default for QmpOptions {
    fn default() -> Self {
        QmpOptions {
            connect_timeout: Duration::from_millis(5000),
            command_timeout: Duration::from_millis(30000),
            reconnect: false,
            reconnect_delay: Duration::from_millis(1000),
            max_reconnect_attempts: 3,
            command_timeouts: HashMap::new(),
        }
    }
}

/// Commands that legitimately take longer than a status query.
const SLOW_COMMANDS: [(&str, u64); 6] = [
    ("screendump", 60_000),
    ("human-monitor-command", 60_000),
    ("block_resize", 120_000),
    ("blockdev-change-medium", 60_000),
    ("blockdev-snapshot-internal-sync", 600_000),
    ("blockdev-snapshot-delete-internal-sync", 600_000),
];

/// Longest deadline or delay accepted from a caller (one day).
const MAX_MS: f64 = 86_400_000.0;

impl QmpOptions {
    /// A millisecond option from JS: finite, ≥ 0 and at most a day.
    pub fn millis(field: &str, v: f64) -> Result<Duration, QmpError> {
        if v.is_finite() && (0.0..=MAX_MS).contains(&v) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // range-checked above
            return Ok(Duration::from_millis(v as u64));
        }
        Err(QmpError::InvalidOption { field: field.to_string(), reason: format!("must be a number of milliseconds between 0 and {MAX_MS}, got {v}") })
    }

    /// The deadline for `command`: an explicit override, else the built-in table for
    /// slow commands (never shorter than `command_timeout`), else `command_timeout`.
    pub fn timeout_for(&self, command: &str) -> Duration {
        if let Some(t) = self.command_timeouts.get(command) {
            return *t;
        }
        SLOW_COMMANDS.iter().find(|(c, _)| *c == command).map_or(self.command_timeout, |(_, ms)| self.command_timeout.max(Duration::from_millis(*ms)))
    }
}

/// What a client reports to its owner (the JS `EventEmitter` facade).
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Connected,
    Disconnected,
    Reconnected,
    ReconnectFailed,
    Event { name: String, data: Option<Value>, seconds: i64, microseconds: i64, raw: Value },
}

pub type Sink = Arc<dyn Fn(Notice) + Send + Sync>;

type Settle = Box<dyn FnOnce(Result<Value, QmpError>) + Send>;

/// Receives one command's outcome, exactly once, on whichever thread settles it
/// (the caller's, the reader's or the sweeper's). Dropped unsettled, it reports
/// `Connection closed`, so no caller is ever left waiting.
pub struct Reply(Option<Settle>);

impl Reply {
    pub fn new(settle: impl FnOnce(Result<Value, QmpError>) + Send + 'static) -> Self {
        Reply(Some(Box::new(settle)))
    }

    pub fn send(mut self, result: Result<Value, QmpError>) {
        if let Some(settle) = self.0.take() {
            settle(result);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(settle) = self.0.take() {
            settle(Err(QmpError::CONNECTION_CLOSED));
        }
    }
}

/// A command waiting for its reply.
struct Waiter {
    client: u64,
    command: String,
    limit: Duration,
    deadline: Instant,
    reply: Reply,
}

#[derive(Default)]
struct Waiters {
    by_id: HashMap<u64, Waiter>,
    /// When the sweeper wakes next; no waiter's deadline is earlier, or the sweeper
    /// has been notified. `None`: it sleeps until notified.
    armed: Option<Instant>,
}

/// The write side: lines go straight to the socket unless a flush task is already
/// writing queued bytes, in which case they queue behind them (order is kept).
#[derive(Default)]
struct Outbox {
    half: Option<Arc<OwnedWriteHalf>>,
    queued: Vec<u8>,
    flusher: Option<JoinHandle<()>>,
}

/// One live socket to a QEMU QMP server.
struct Connection {
    path: PathBuf,
    outbox: Mutex<Outbox>,
    waiters: Mutex<Waiters>,
    sweep: Arc<Notify>,
    runtime: tokio::runtime::Handle,
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Weak<QmpClient>>>,
    greeting: Value,
    alive: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The sweeper holds only a weak reference: wake it so it sees we are gone.
        self.sweep.notify_one();
    }
}

static REGISTRY: LazyLock<Mutex<HashMap<PathBuf, Weak<Connection>>>> = LazyLock::new(Default::default);
/// Serialises dialling so two clients of one socket never race to open two connections.
static DIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);
static NEXT_CLIENT: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these short locks cannot leave the maps
    // inconsistent (every critical section is a single insert/remove), so recover.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Connection {
    /// The live connection to `path`, dialling (and handshaking) a new one if needed.
    async fn obtain(path: &Path, connect_timeout: Duration) -> Result<Arc<Connection>, QmpError> {
        let _dial = DIAL.lock().await;
        if let Some(c) = lock(&REGISTRY).get(path).and_then(Weak::upgrade) {
            if c.alive.load(Ordering::Acquire) {
                return Ok(c);
            }
        }
        let conn = Self::dial(path, connect_timeout).await?;
        lock(&REGISTRY).insert(path.to_path_buf(), Arc::downgrade(&conn));
        Ok(conn)
    }

    async fn dial(path: &Path, connect_timeout: Duration) -> Result<Arc<Connection>, QmpError> {
        let shown = path.display().to_string();
        let ms = u64::try_from(connect_timeout.as_millis()).unwrap_or(u64::MAX);
        let timed_out = || QmpError::Connect { path: shown.clone(), message: format!("Connection timeout after {ms}ms"), errno: None };
        let stream = match tokio::time::timeout(connect_timeout, UnixStream::connect(path)).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(e)) => return Err(connect_error(&shown, &e)),
            Ok(Ok(s)) => s,
        };
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        let greeting = match tokio::time::timeout(connect_timeout, read_line(&mut rd)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(Some(line))) => match wire::parse(&line) {
                Some(Incoming::Greeting(g)) => g,
                _ => return Err(QmpError::Protocol { message: format!("expected a QMP greeting, got {}", crate::exec::tail(&line, 200)) }),
            },
            Ok(_) => return Err(QmpError::CONNECTION_CLOSED),
        };
        wr.write_all(wire::encode("qmp_capabilities", HANDSHAKE_ID, None).as_bytes()).await.map_err(|e| connect_error(&shown, &e))?;
        let handshake = async {
            loop {
                match read_line(&mut rd).await {
                    Ok(Some(line)) => {
                        if let Some(Incoming::Response { id: Some(id), result }) = wire::parse(&line) {
                            if id == HANDSHAKE_ID {
                                return result.map(drop).map_err(|(_, desc)| QmpError::Handshake { message: format!("Handshake failed: {desc}") });
                            }
                        }
                    }
                    _ => return Err(QmpError::CONNECTION_CLOSED),
                }
            }
        };
        match tokio::time::timeout(connect_timeout, handshake).await {
            Err(_) => return Err(QmpError::Handshake { message: "Handshake timeout".into() }),
            Ok(r) => r?,
        }
        let conn = Arc::new(Connection {
            path: path.to_path_buf(),
            outbox: Mutex::new(Outbox { half: Some(Arc::new(wr)), ..Outbox::default() }),
            waiters: Mutex::new(Waiters::default()),
            sweep: Arc::new(Notify::new()),
            runtime: tokio::runtime::Handle::current(),
            next_id: AtomicU64::new(1),
            clients: Mutex::new(HashMap::new()),
            greeting,
            alive: AtomicBool::new(true),
            reader: Mutex::new(None),
        });
        tokio::spawn(sweep_loop(Arc::downgrade(&conn), conn.sweep.clone()));
        let task = tokio::spawn(read_loop(Arc::downgrade(&conn), rd));
        *lock(&conn.reader) = Some(task);
        Ok(conn)
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Registers `reply` and sends the command; never blocks. Runs on any thread.
    fn request(self: &Arc<Self>, client: u64, command: &str, args: Option<&Value>, limit: Duration, reply: Reply) {
        if !self.is_alive() {
            return reply.send(Err(QmpError::NotConnected));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        // A limit is at most a day (QmpOptions::millis); the fallback only guards overflow.
        let deadline = now.checked_add(limit).unwrap_or(now + Duration::from_secs(86_400));
        let wake = {
            let mut w = lock(&self.waiters);
            w.by_id.insert(id, Waiter { client, command: command.to_string(), limit, deadline, reply });
            let earlier = w.armed.is_none_or(|a| deadline < a);
            if earlier {
                w.armed = Some(deadline);
            }
            earlier
        };
        if wake {
            self.sweep.notify_one();
        }
        // closed() may have drained the table just before our insert: settle it here.
        if !self.is_alive() || !self.send(wire::encode(command, &id.to_string(), args).as_bytes()) {
            self.settle(id, Err(QmpError::CONNECTION_CLOSED));
        }
    }

    fn settle(&self, id: u64, result: Result<Value, QmpError>) {
        let waiter = lock(&self.waiters).by_id.remove(&id);
        if let Some(w) = waiter {
            w.reply.send(result);
        }
    }

    /// Writes `line` now if the socket takes it, else queues the rest for a flush task.
    /// False when the socket is closed or broken.
    fn send(self: &Arc<Self>, line: &[u8]) -> bool {
        let mut ob = lock(&self.outbox);
        let Some(half) = ob.half.clone() else { return false };
        if ob.flusher.is_some() {
            ob.queued.extend_from_slice(line);
            return true;
        }
        let written = match half.try_write(line) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(_) => return false,
        };
        if written < line.len() {
            ob.queued.extend_from_slice(&line[written..]);
            ob.flusher = Some(self.runtime.spawn(flush(Arc::downgrade(self), half)));
        }
        true
    }

    /// Times out every waiter whose deadline has passed and re-arms the sweeper.
    fn expire(&self, now: Instant) -> Option<Instant> {
        let (expired, next) = {
            let mut w = lock(&self.waiters);
            let ids: Vec<u64> = w.by_id.iter().filter(|(_, x)| x.deadline <= now).map(|(id, _)| *id).collect();
            let expired: Vec<Waiter> = ids.iter().filter_map(|id| w.by_id.remove(id)).collect();
            w.armed = w.by_id.values().map(|x| x.deadline).min();
            (expired, w.armed)
        };
        for x in expired {
            let ms = u64::try_from(x.limit.as_millis()).unwrap_or(u64::MAX);
            x.reply.send(Err(QmpError::Timeout { command: x.command, ms }));
        }
        next
    }

    /// Rejects the pending commands of one client (it disconnected).
    fn fail_pending_of(&self, client: u64, err: &QmpError) {
        let gone: Vec<Waiter> = {
            let mut w = lock(&self.waiters);
            let ids: Vec<u64> = w.by_id.iter().filter(|(_, x)| x.client == client).map(|(id, _)| *id).collect();
            ids.iter().filter_map(|id| w.by_id.remove(id)).collect()
        };
        for x in gone {
            x.reply.send(Err(err.clone()));
        }
    }

    /// Marks the connection dead, tells the clients and rejects everything pending.
    fn closed(&self) {
        if !self.alive.swap(false, Ordering::AcqRel) {
            return;
        }
        {
            let mut reg = lock(&REGISTRY);
            if reg.get(&self.path).is_some_and(|w| w.upgrade().is_none_or(|c| std::ptr::eq(Arc::as_ptr(&c), self))) {
                reg.remove(&self.path);
            }
        }
        {
            // Dropping the write half shuts the socket's write side down.
            let mut ob = lock(&self.outbox);
            ob.half = None;
            ob.queued = Vec::new();
            if let Some(f) = ob.flusher.take() {
                f.abort();
            }
        }
        self.sweep.notify_one();
        let clients: Vec<Arc<QmpClient>> = lock(&self.clients).drain().filter_map(|(_, w)| w.upgrade()).collect();
        for c in clients {
            c.connection_lost(self);
        }
        // After the clients heard of the loss, so a rejected caller finds it reported.
        let waiting: Vec<Waiter> = lock(&self.waiters).by_id.drain().map(|(_, x)| x).collect();
        for x in waiting {
            x.reply.send(Err(QmpError::CONNECTION_CLOSED));
        }
    }

    /// Closes the socket (last client gone).
    fn shutdown(&self) {
        if let Some(task) = lock(&self.reader).take() {
            task.abort();
        }
        self.closed();
    }

    fn dispatch(&self, incoming: Incoming) {
        match incoming {
            Incoming::Response { id, result } => {
                let Some(id) = id.and_then(|i| i.parse::<u64>().ok()) else { return };
                self.settle(id, result.map_err(|(class, desc)| QmpError::Command { class, desc }));
            }
            Incoming::Event { name, data, seconds, microseconds, raw } => {
                let clients: Vec<Arc<QmpClient>> = lock(&self.clients).values().filter_map(Weak::upgrade).collect();
                for c in clients {
                    c.notify(Notice::Event { name: name.clone(), data: data.clone(), seconds, microseconds, raw: raw.clone() });
                }
            }
            Incoming::Greeting(_) | Incoming::Other(_) => {
                crate::log::log("infinivirt:qmp-client", "ignoring an unexpected QMP message");
            }
        }
    }
}

/// Writes the queued bytes as the socket drains, then hands writing back to callers.
async fn flush(conn: Weak<Connection>, half: Arc<OwnedWriteHalf>) {
    loop {
        let ready = half.writable().await;
        let Some(c) = conn.upgrade() else { return };
        let broken = {
            let mut ob = lock(&c.outbox);
            let r = match ready {
                Ok(()) => half.try_write(&ob.queued),
                Err(e) => Err(e),
            };
            match r {
                Ok(n) => {
                    ob.queued.drain(..n);
                    if ob.queued.is_empty() {
                        ob.flusher = None;
                        return;
                    }
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
                Err(_) => true,
            }
        };
        if broken {
            // The peer is gone; the reader sees EOF too, closed() is idempotent.
            c.closed();
            return;
        }
    }
}

/// Enforces the deadlines of one connection's commands with a single timer.
async fn sweep_loop(conn: Weak<Connection>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(c) = conn.upgrade() else { return };
            if !c.is_alive() {
                return;
            }
            c.expire(Instant::now())
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    () = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

async fn read_loop(conn: Weak<Connection>, mut rd: BufReader<OwnedReadHalf>) {
    loop {
        let line = read_line(&mut rd).await;
        let Some(c) = conn.upgrade() else { return };
        match line {
            Ok(Some(l)) => {
                if let Some(incoming) = wire::parse(&l) {
                    c.dispatch(incoming);
                }
            }
            Ok(None) | Err(_) => {
                c.closed();
                return;
            }
        }
    }
}

/// One `\n`-terminated line, at most [`MAX_LINE`] bytes; `None` at end of stream.
async fn read_line(rd: &mut BufReader<OwnedReadHalf>) -> std::io::Result<Option<String>> {
    match super::line::read_capped(rd, MAX_LINE).await? {
        Line::Whole(buf) => Ok(Some(String::from_utf8_lossy(&buf).into_owned())),
        Line::TooLong(_) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "QMP line too long")),
        Line::Eof => Ok(None),
    }
}

#[derive(Default)]
struct ClientState {
    conn: Option<Arc<Connection>>,
    reconnect: Option<JoinHandle<()>>,
    /// Set by an explicit `disconnect()`: no automatic reconnect afterwards.
    closed_by_user: bool,
}

/// One QMP client as the JS API sees it.
pub struct QmpClient {
    id: u64,
    path: PathBuf,
    opts: QmpOptions,
    sink: Sink,
    state: Mutex<ClientState>,
    me: Weak<QmpClient>,
}

impl QmpClient {
    pub fn new(path: impl Into<PathBuf>, opts: QmpOptions, sink: Sink) -> Arc<Self> {
        Arc::new_cyclic(|me| QmpClient {
            id: NEXT_CLIENT.fetch_add(1, Ordering::Relaxed),
            path: path.into(),
            opts,
            sink,
            state: Mutex::new(ClientState::default()),
            me: me.clone(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn current(&self) -> Option<Arc<Connection>> {
        lock(&self.state).conn.clone().filter(|c| c.is_alive())
    }

    pub fn is_connected(&self) -> bool {
        self.current().is_some()
    }

    pub fn greeting(&self) -> Option<Value> {
        self.current().map(|c| c.greeting.clone())
    }

    fn notify(&self, n: Notice) {
        (self.sink)(n);
    }

    /// Connects (or joins the existing connection to the same socket).
    pub async fn connect(&self) -> Result<(), QmpError> {
        if self.is_connected() {
            return Ok(());
        }
        lock(&self.state).closed_by_user = false;
        let conn = Connection::obtain(&self.path, self.opts.connect_timeout).await?;
        lock(&conn.clients).insert(self.id, self.me.clone());
        if !conn.is_alive() {
            // Closed between obtain and registration: report it like any loss.
            lock(&conn.clients).remove(&self.id);
            return Err(QmpError::CONNECTION_CLOSED);
        }
        lock(&self.state).conn = Some(conn);
        self.notify(Notice::Connected);
        Ok(())
    }

    /// Leaves the connection (closing the socket if this was its last client),
    /// rejects this client's pending commands and cancels any reconnect.
    pub async fn disconnect(&self) {
        let (conn, task) = {
            let mut st = lock(&self.state);
            st.closed_by_user = true;
            (st.conn.take(), st.reconnect.take())
        };
        if let Some(t) = task {
            t.abort();
        }
        let Some(conn) = conn else { return };
        let last = {
            let mut clients = lock(&conn.clients);
            clients.remove(&self.id);
            clients.is_empty()
        };
        conn.fail_pending_of(self.id, &QmpError::CLIENT_DISCONNECTED);
        if last {
            conn.shutdown();
        }
        self.notify(Notice::Disconnected);
    }

    pub async fn execute(&self, command: &str, args: Option<Value>) -> Result<Value, QmpError> {
        let (tx, rx) = oneshot::channel();
        self.execute_with(command, args.as_ref(), Reply::new(move |r| drop(tx.send(r))));
        rx.await.unwrap_or(Err(QmpError::CONNECTION_CLOSED))
    }

    /// Sends `command` and returns at once; `reply` is settled with the outcome
    /// (reply, QMP error, timeout, disconnect), possibly before this returns.
    /// Never blocks, so it may be called from a thread outside the runtime.
    pub fn execute_with(&self, command: &str, args: Option<&Value>, reply: Reply) {
        match self.current() {
            Some(conn) => conn.request(self.id, command, args, self.opts.timeout_for(command), reply),
            None => reply.send(Err(QmpError::NotConnected)),
        }
    }

    /// Called by the connection when the socket went away under us.
    fn connection_lost(&self, conn: &Connection) {
        let reconnect = {
            let mut st = lock(&self.state);
            if !st.conn.as_ref().is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), conn)) {
                return;
            }
            st.conn = None;
            self.opts.reconnect && !st.closed_by_user
        };
        self.notify(Notice::Disconnected);
        if reconnect {
            let me = self.me.clone();
            let task = tokio::spawn(async move {
                let Some(c) = me.upgrade() else { return };
                c.reconnect_loop().await;
            });
            lock(&self.state).reconnect = Some(task);
        }
    }

    async fn reconnect_loop(&self) {
        for _ in 0..self.opts.max_reconnect_attempts {
            tokio::time::sleep(self.opts.reconnect_delay).await;
            if lock(&self.state).closed_by_user {
                return;
            }
            if self.connect().await.is_ok() {
                self.notify(Notice::Reconnected);
                return;
            }
        }
        self.notify(Notice::ReconnectFailed);
    }
}

impl Drop for QmpClient {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = st.reconnect.take() {
            t.abort();
        }
        if let Some(conn) = st.conn.take() {
            let last = {
                let mut clients = lock(&conn.clients);
                clients.remove(&self.id);
                clients.is_empty()
            };
            conn.fail_pending_of(self.id, &QmpError::CLIENT_DISCONNECTED);
            if last {
                // No runtime may be at hand in Drop: abort the reader and let the
                // write half close with the connection.
                if let Some(task) = lock(&conn.reader).take() {
                    task.abort();
                }
                conn.closed();
            }
        }
    }
}

#[cfg(test)]
mod tests;
