//! Translating a Prisma PostgreSQL URL for sqlx.
//!
//! The backend's `DATABASE_URL` carries Prisma's own parameters (`schema`,
//! `connection_limit`, `pool_timeout`, `pgbouncer`, …). They are translated where
//! they have an equivalent (search path, pool size, acquire timeout, statement cache)
//! and dropped otherwise, never fatal; libpq parameters sqlx understands pass through.

use std::time::Duration;

/// Pool acquire timeout when the URL gives none: short, so a write to a database that
/// is down fails (and is queued) quickly instead of hanging its caller.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_CONNECTIONS: u32 = 5;
/// Longest acquire timeout accepted from `pool_timeout`.
const MAX_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);

/// Connection settings derived from one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// The URL with only the parameters sqlx understands.
    pub url: String,
    /// From `schema`: the search path to set on every connection.
    pub search_path: Option<String>,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// From `pgbouncer=true` (0) or `statement_cache_size`.
    pub statement_cache: Option<usize>,
    /// Parameters dropped, for one log line.
    pub ignored: Vec<String>,
}

/// Parameters sqlx's PostgreSQL URL parser understands (passed through unchanged).
const SQLX_PARAMS: [&str; 17] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

pub fn translate(url: &str) -> PgSettings {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    // A fragment is never part of a connection string.
    let query = query.split('#').next().unwrap_or("");
    let mut s = PgSettings {
        url: String::new(),
        search_path: None,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        statement_cache: None,
        ignored: Vec::new(),
    };
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(v);
        let mut ignore = || s.ignored.push(k.to_string());
        match k {
            _ if SQLX_PARAMS.contains(&k) => kept.push(pair),
            "schema" => match value.filter(|v| !v.is_empty() && !v.contains('\0')) {
                Some(v) => s.search_path = Some(v),
                None => ignore(),
            },
            "connection_limit" => match value.and_then(|v| v.parse::<u32>().ok()).filter(|n| (1..=1000).contains(n)) {
                Some(n) => s.max_connections = n,
                None => ignore(),
            },
            "pool_timeout" => match value.and_then(|v| v.parse::<f64>().ok()).filter(|f| f.is_finite() && *f > 0.0) {
                Some(secs) => s.acquire_timeout = Duration::from_secs_f64(secs).min(MAX_ACQUIRE_TIMEOUT),
                // Prisma's 0 means "wait forever"; we keep the short default.
                None => ignore(),
            },
            "pgbouncer" => {
                if value.as_deref() == Some("true") {
                    s.statement_cache = Some(0);
                }
            }
            "statement_cache_size" => match value.and_then(|v| v.parse::<usize>().ok()) {
                Some(n) => s.statement_cache = Some(n),
                None => ignore(),
            },
            // connect_timeout, socket_timeout, sslaccept, sslidentity, sslpassword, …
            _ => ignore(),
        }
    }
    s.url = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    s
}

/// `%XX` decoding; `None` on a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `"name"` with embedded quotes doubled: a search path entry PostgreSQL reads as
/// exactly this schema name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prisma_parameters_are_translated_or_dropped() {
        let s = translate(
            "postgresql://u:p%40ss@db:5432/infinibay?schema=my%20schema&connection_limit=3&pool_timeout=2&sslmode=prefer&socket_timeout=9&pgbouncer=true",
        );
        assert_eq!(s.url, "postgresql://u:p%40ss@db:5432/infinibay?sslmode=prefer");
        assert_eq!(s.search_path.as_deref(), Some("my schema"));
        assert_eq!(s.max_connections, 3);
        assert_eq!(s.acquire_timeout, Duration::from_secs(2));
        assert_eq!(s.statement_cache, Some(0));
        assert_eq!(s.ignored, ["socket_timeout"]);
    }

    #[test]
    fn defaults_and_bad_values() {
        let s = translate("postgres://localhost/x");
        assert_eq!(s.url, "postgres://localhost/x");
        assert_eq!((s.max_connections, s.acquire_timeout, s.search_path.clone()), (DEFAULT_MAX_CONNECTIONS, DEFAULT_ACQUIRE_TIMEOUT, None));
        let s = translate("postgres://localhost/x?connection_limit=0&pool_timeout=0&schema=&statement_cache_size=x&host=/run/pg&pool_timeout=9999#frag");
        assert_eq!(s.url, "postgres://localhost/x?host=/run/pg");
        assert_eq!(s.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(s.acquire_timeout, MAX_ACQUIRE_TIMEOUT);
        assert_eq!(s.ignored, ["connection_limit", "pool_timeout", "schema", "statement_cache_size"]);
        assert_eq!(translate("postgres://h/x?schema=%zz").ignored, ["schema"]);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("public"), "\"public\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
