//! Namespaced logging compatible with the `debug` package's `DEBUG` variable.
//!
//! `DEBUG=infinivirt:*` enables every namespace; patterns are separated by commas or
//! spaces, `*` matches anything and a leading `-` excludes. Warnings are printed even
//! when their namespace is not enabled (they flag insecure or degraded setups), unless
//! `INFINIVIRT_WARNINGS=off`.

use std::io::Write;

/// True when `namespace` is enabled by the `DEBUG` environment variable.
pub fn enabled(namespace: &str) -> bool {
    std::env::var("DEBUG").is_ok_and(|d| matches_debug(&d, namespace))
}

/// The `debug` package's rule: the last matching pattern wins, exclusions override.
pub fn matches_debug(spec: &str, namespace: &str) -> bool {
    let mut on = false;
    for pat in spec.split([',', ' ']).filter(|p| !p.is_empty()) {
        if let Some(neg) = pat.strip_prefix('-') {
            if glob(neg, namespace) {
                return false;
            }
        } else if glob(pat, namespace) {
            on = true;
        }
    }
    on
}

fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|i| tail.is_char_boundary(*i)).any(|i| glob(rest, &tail[i..]))
        }
    }
}

/// Writes `<ISO time> <namespace> <message>` to stderr when the namespace is enabled.
pub fn log(namespace: &str, message: &str) {
    if enabled(namespace) {
        emit(namespace, message);
    }
}

/// A warning about `module`: always shown unless warnings are switched off.
pub fn warn(module: &str, message: &str) {
    let ns = warn_namespace(module);
    if enabled(&ns) || std::env::var("INFINIVIRT_WARNINGS").map_or(true, |v| v != "off") {
        emit(&ns, message);
    }
}

/// Every line is masked ([`crate::redact::text`]): a message may quote a command
/// line, a tool's output or a URL with credentials.
fn emit(namespace: &str, message: &str) {
    let line = format!("{} {namespace} {}\n", iso_now(), crate::redact::text(message));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ`, like `new Date().toISOString()`.
pub fn iso_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    iso_from_millis(now.as_millis())
}

fn iso_from_millis(ms: u128) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm) for the proleptic Gregorian calendar.
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, ms % 1000)
}

/// `infinivirt:<module>:warn`, for a module given with or without its `infinivirt:`
/// prefix (callers pass their log namespace).
fn warn_namespace(module: &str) -> String {
    format!("infinivirt:{}:warn", module.strip_prefix("infinivirt:").unwrap_or(module))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_have_one_prefix() {
        assert_eq!(warn_namespace("vm-lifecycle"), "infinivirt:vm-lifecycle:warn");
        assert_eq!(warn_namespace("infinivirt:vm-lifecycle"), "infinivirt:vm-lifecycle:warn");
    }

    #[test]
    fn debug_patterns() {
        assert!(matches_debug("infinivirt:*", "infinivirt:qmp-client"));
        assert!(matches_debug("infinivirt:*", "infinivirt:qmp-client:error"));
        assert!(!matches_debug("infinivirt:*,-infinivirt:qmp-client", "infinivirt:qmp-client"));
        assert!(matches_debug("other, infinivirt:qmp-*", "infinivirt:qmp-client"));
        assert!(!matches_debug("infinivirt:qemu", "infinivirt:qemu-process"));
        assert!(matches_debug("*", "anything"));
        assert!(!matches_debug("", "infinivirt:x"));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_from_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_from_millis(1_700_000_000_500), "2023-11-14T22:13:20.500Z");
        assert_eq!(iso_from_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
