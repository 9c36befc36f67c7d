//! How the sync layer talks to its owner: events out (`Emitter`), QMP status in
//! (`StatusSource`), and dates in payloads.
//!
//! Payloads are JSON; a date is `{"$date": <ms since the epoch>}` so the JS facade can
//! turn it into a `Date` wherever it appears.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Receives the events of one `EventHandler` or `HealthMonitor`.
pub trait Emitter: Send + Sync {
    /// Emits `name` with `payload` and resolves once the listeners ran; `Err` carries
    /// the message of a listener that threw. (An `'error'` event nobody listens to is
    /// logged by the facade instead of thrown: spec §19 #9.)
    fn emit<'a>(&'a self, name: &'a str, payload: Value) -> BoxFuture<'a, Result<(), String>>;
}

/// Answers "what does QEMU say the run state is" (`query-status`), for `syncState`.
pub trait StatusSource: Send + Sync {
    /// `Err` when the client is not connected or the command failed.
    fn query_status(&self) -> BoxFuture<'_, Result<String, String>>;
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0).floor()
}

/// A millisecond option from JS: finite, ≥ 0 and at most a day.
pub fn option_millis(field: &str, v: f64) -> Result<std::time::Duration, super::error::StateError> {
    if v.is_finite() && (0.0..=86_400_000.0).contains(&v) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // range-checked above
        return Ok(std::time::Duration::from_millis(v as u64));
    }
    Err(super::error::StateError::InvalidOption { field: field.into(), reason: format!("must be a number of milliseconds between 0 and 86400000, got {v}") })
}

/// A date in a payload.
pub fn date(ms: f64) -> Value {
    json!({ "$date": ms })
}

/// An emitter that records what it was given (tests, and owners without listeners).
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<(String, Value)>>,
}

impl Recorder {
    pub fn names(&self) -> Vec<String> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().map(|(n, _)| n.clone()).collect()
    }

    pub fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Emitter for Recorder {
    fn emit<'a>(&'a self, name: &'a str, payload: Value) -> BoxFuture<'a, Result<(), String>> {
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((name.to_string(), payload));
        Box::pin(async { Ok(()) })
    }
}
