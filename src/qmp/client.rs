//! The QMP client (spec §4): one connection per QMP socket, shared by every client.
//!
//! QEMU's `-qmp unix:…,server,nowait` serves one peer at a time, so a second
//! connection would hang until the first closes. Clients for the same socket path
//! therefore share one [`Connection`]: commands carry connection-wide request ids,
//! replies are matched by id (events in between are fanned out to every client), and
//! the socket closes when its last client disconnects.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::error::{connect_error, QmpError};
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
        SLOW_COMMANDS
            .iter()
            .find(|(c, _)| *c == command)
            .map_or(self.command_timeout, |(_, ms)| self.command_timeout.max(Duration::from_millis(*ms)))
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

type Reply = oneshot::Sender<Result<Value, QmpError>>;

/// One live socket to a QEMU QMP server.
struct Connection {
    path: PathBuf,
    writer: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    pending: Mutex<HashMap<u64, (u64, Reply)>>,
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, Weak<QmpClient>>>,
    greeting: Value,
    alive: AtomicBool,
    reader: Mutex<Option<JoinHandle<()>>>,
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
        wr.write_all(wire::encode("qmp_capabilities", HANDSHAKE_ID, None).as_bytes())
            .await
            .map_err(|e| connect_error(&shown, &e))?;
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
            writer: tokio::sync::Mutex::new(Some(wr)),
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            clients: Mutex::new(HashMap::new()),
            greeting,
            alive: AtomicBool::new(true),
            reader: Mutex::new(None),
        });
        let task = tokio::spawn(read_loop(Arc::downgrade(&conn), rd));
        *lock(&conn.reader) = Some(task);
        Ok(conn)
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    async fn request(&self, client: u64, command: &str, args: Option<&Value>, limit: Duration) -> Result<Value, QmpError> {
        if !self.is_alive() {
            return Err(QmpError::NotConnected);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, (client, tx));
        let line = wire::encode(command, &id.to_string(), args);
        let written = match self.writer.lock().await.as_mut() {
            Some(w) => w.write_all(line.as_bytes()).await.is_ok(),
            None => false,
        };
        if !written {
            lock(&self.pending).remove(&id);
            return Err(QmpError::CONNECTION_CLOSED);
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(QmpError::CONNECTION_CLOSED),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(QmpError::Timeout { command: command.to_string(), ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX) })
            }
        }
    }

    /// Rejects the pending commands of one client (it disconnected).
    fn fail_pending_of(&self, client: u64, err: &QmpError) {
        let mut pending = lock(&self.pending);
        let ids: Vec<u64> = pending.iter().filter(|(_, (c, _))| *c == client).map(|(id, _)| *id).collect();
        for id in ids {
            if let Some((_, tx)) = pending.remove(&id) {
                let _ = tx.send(Err(err.clone()));
            }
        }
    }

    /// Marks the connection dead, rejects everything pending and tells the clients.
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
        for (_, (_, tx)) in lock(&self.pending).drain() {
            let _ = tx.send(Err(QmpError::CONNECTION_CLOSED));
        }
        let clients: Vec<Arc<QmpClient>> = lock(&self.clients).drain().filter_map(|(_, w)| w.upgrade()).collect();
        for c in clients {
            c.connection_lost(self);
        }
    }

    /// Closes the socket (last client gone).
    async fn shutdown(&self) {
        if let Some(task) = lock(&self.reader).take() {
            task.abort();
        }
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
        self.closed();
    }

    fn dispatch(&self, incoming: Incoming) {
        match incoming {
            Incoming::Response { id, result } => {
                let Some(id) = id.and_then(|i| i.parse::<u64>().ok()) else { return };
                if let Some((_, tx)) = lock(&self.pending).remove(&id) {
                    let _ = tx.send(result.map_err(|(class, desc)| QmpError::Command { class, desc }));
                }
            }
            Incoming::Event { name, data, seconds, microseconds, raw } => {
                let clients: Vec<Arc<QmpClient>> = lock(&self.clients).values().filter_map(Weak::upgrade).collect();
                for c in clients {
                    c.notify(Notice::Event {
                        name: name.clone(),
                        data: data.clone(),
                        seconds,
                        microseconds,
                        raw: raw.clone(),
                    });
                }
            }
            Incoming::Greeting(_) | Incoming::Other(_) => {
                crate::log::log("infinivirt:qmp-client", "ignoring an unexpected QMP message");
            }
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
    let mut buf = Vec::new();
    loop {
        let chunk = rd.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(None);
        }
        let (used, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        buf.extend_from_slice(&chunk[..used]);
        rd.consume(used);
        if buf.len() > MAX_LINE {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "QMP line too long"));
        }
        if done {
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
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
            conn.shutdown().await;
        }
        self.notify(Notice::Disconnected);
    }

    pub async fn execute(&self, command: &str, args: Option<Value>) -> Result<Value, QmpError> {
        let conn = self.current().ok_or(QmpError::NotConnected)?;
        conn.request(self.id, command, args.as_ref(), self.opts.timeout_for(command)).await
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
