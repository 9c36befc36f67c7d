//! Progress of long `qemu-img` runs, delivered as a percentage.
//!
//! `qemu-img convert -p` writes `    (12.34/100%)` followed by `\r` to stdout, also
//! into a pipe. [`ProgressParser`] reads those tokens from arbitrary chunks;
//! [`Progress`] passes on values that only ever go up, ending at 100 on success.

use std::sync::{Arc, Mutex};

/// Receives percentages (0–100).
pub type ProgressFn = Arc<dyn Fn(f64) + Send + Sync>;

/// Forwards rising percentages to a callback, at most once per value.
pub struct Progress {
    sink: ProgressFn,
    last: Mutex<f64>,
}

impl Progress {
    pub fn new(sink: ProgressFn) -> Arc<Self> {
        Arc::new(Progress { sink, last: Mutex::new(-1.0) })
    }

    /// Reports `percent` (clamped to 0–100) if it is above everything reported so far.
    pub fn report(&self, percent: f64) {
        if !percent.is_finite() {
            return;
        }
        let p = percent.clamp(0.0, 100.0);
        {
            let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if p <= *last {
                return;
            }
            *last = p;
        }
        (self.sink)(p);
    }

    /// The run succeeded.
    pub fn finish(&self) {
        self.report(100.0);
    }
}

/// Incremental parser of qemu-img's `(n/100%)` progress tokens.
#[derive(Debug, Default)]
pub struct ProgressParser {
    pending: Vec<u8>,
}

/// A token longer than this is not a progress report; it is dropped.
const MAX_TOKEN: usize = 128;

impl ProgressParser {
    /// Feeds a chunk of stdout; returns the percentages it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<f64> {
        let mut out = Vec::new();
        for &b in chunk {
            if b == b'\r' || b == b'\n' {
                if let Some(p) = parse_token(&self.pending) {
                    out.push(p);
                }
                self.pending.clear();
            } else if self.pending.len() < MAX_TOKEN {
                self.pending.push(b);
            }
        }
        out
    }
}

fn parse_token(t: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(t).ok()?.trim();
    let inner = s.strip_prefix('(')?.strip_suffix("/100%)")?;
    inner.trim().parse::<f64>().ok().filter(|p| p.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tokens_split_across_chunks() {
        let mut p = ProgressParser::default();
        assert_eq!(p.feed(b"    (0.00/100%)\r    (12."), vec![0.0]);
        assert_eq!(p.feed(b"34/100%)\r"), vec![12.34]);
        assert_eq!(p.feed(b"    (100.00/100%)\r\n"), vec![100.0]);
        assert!(p.feed(b"Formatting 'x', fmt=qcow2\n(garbage)\r").is_empty());
    }

    #[test]
    fn long_junk_does_not_grow_the_buffer() {
        let mut p = ProgressParser::default();
        assert!(p.feed(&[b'x'; 10_000]).is_empty());
        assert!(p.pending.len() <= MAX_TOKEN);
        assert_eq!(p.feed(b"\r (5.00/100%)\r"), vec![5.0]);
    }

    #[test]
    fn progress_only_rises_and_ends_at_100() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let pr = Progress::new(Arc::new(move |p| s.lock().unwrap().push(p)));
        for v in [0.0, 10.0, 10.0, 5.0, 150.0, f64::NAN] {
            pr.report(v);
        }
        pr.finish();
        assert_eq!(*seen.lock().unwrap(), vec![0.0, 10.0, 100.0]);
    }
}
