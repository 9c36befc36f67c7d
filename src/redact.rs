//! What may be repeated of a host command: its command line with the secrets masked,
//! and a bounded tail of its output, masked the same way.
//!
//! Every error that carries a host command (`exec`, QEMU's startup failure, qemu-img,
//! nft, xorriso) and every log line goes through here. Secrets are found by the
//! shapes this code base and its callers put on command lines: `password=…` in QEMU
//! option lists (`-spice`), `data=…` of a `secret` object (`-object`/`--object
//! secret,…`), `--password=…` / `--password …` flags, JSON `"password": "…"` and URL
//! credentials (`postgres://user:…@`). The values found on a command line are also
//! masked verbatim in its output: tools echo their arguments (QEMU repeats the whole
//! option it rejects), and a value with a space would slip past the shapes there.

/// Bytes of each output stream an error message or field repeats.
pub const SHOWN_TAIL: usize = 4096;
/// Bytes of a command line an error message or log line repeats.
pub const SHOWN_COMMAND: usize = 4096;
/// What a secret value is replaced with.
pub const MASK: &str = "***";

/// Keys whose value is a secret (compared case-insensitively, after leading dashes and
/// any `prefix.` are removed: `encrypt.password`, `--passphrase`).
const SECRET_KEYS: &[&str] = &["password", "passwd", "passphrase", "secret", "token", "apikey", "api-key", "api_key"];
/// Values of a secret key that are switches, not secrets (VNC's `password=on`).
const SWITCHES: &[&str] = &["on", "off", "true", "false", "yes", "no"];
/// Shorter values are masked only where their key shows them: masking two letters
/// everywhere in a tool's output would garble it.
const MIN_VERBATIM: usize = 3;

fn is_secret_key(key: &str) -> bool {
    let k = key.trim_start_matches('-');
    let k = k.rsplit('.').next().unwrap_or(k);
    SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(k))
}

fn is_switch(v: &str) -> bool {
    SWITCHES.iter().any(|s| s.eq_ignore_ascii_case(v))
}

/// True when a QEMU option list is a `secret` object, whose `data` is the secret.
fn is_secret_object(items: &[&str]) -> bool {
    items.iter().any(|i| *i == "secret" || i.split_once('=').is_some_and(|(_, v)| v == "secret"))
}

/// The secrets of one command line; masks them in its argv and in any text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Secret values seen on the command line, longest first.
    known: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secret(s))", self.known.len())
    }
}

impl Redactor {
    /// Learns the secrets of `args` (the arguments, without the program).
    pub fn for_argv<S: AsRef<str>>(args: &[S]) -> Self {
        let mut r = Redactor::default();
        let _ = r.scan_argv(args);
        r
    }

    /// `args` with every secret value masked (one output element per input element).
    pub fn argv<S: AsRef<str>>(&self, args: &[S]) -> Vec<String> {
        let mut scratch = Redactor::default();
        scratch.scan_argv(args).into_iter().map(|a| self.text(&a)).collect()
    }

    /// `program arg1 arg2` (joined by spaces, as the spec's messages show it), masked
    /// and cut to [`SHOWN_COMMAND`] bytes.
    pub fn command_line<S: AsRef<str>>(&self, program: &str, args: &[S]) -> String {
        let line = format!("{} {}", self.text(program), self.argv(args).join(" "));
        head(&line, SHOWN_COMMAND)
    }

    /// `s` with the known secrets and every secret-shaped value masked.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for k in &self.known {
            if out.contains(k.as_str()) {
                out = out.replace(k.as_str(), MASK);
            }
        }
        text(&out)
    }

    /// Masked output of this command, cut to its last [`SHOWN_TAIL`] bytes.
    pub fn shown(&self, s: &str) -> String {
        tail(&self.text(s), SHOWN_TAIL)
    }

    fn learn(&mut self, value: &str) {
        for v in [value.to_string(), value.replace(",,", ",")] {
            if v.len() >= MIN_VERBATIM && v != MASK && !self.known.contains(&v) {
                self.known.push(v);
            }
        }
        self.known.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    fn scan_argv<S: AsRef<str>>(&mut self, args: &[S]) -> Vec<String> {
        let mut out = Vec::with_capacity(args.len());
        let mut value_is_secret = false;
        for a in args {
            let a = a.as_ref();
            if std::mem::take(&mut value_is_secret) {
                self.learn(a);
                out.push(MASK.to_string());
                continue;
            }
            if a.starts_with('-') {
                match a.split_once('=') {
                    // `--password=x`: the whole rest is the value, commas included.
                    Some((k, v)) if is_secret_key(k) && !v.is_empty() && !is_switch(v) => {
                        self.learn(v);
                        out.push(format!("{k}={MASK}"));
                        continue;
                    }
                    // `--password x`: the next element is the value.
                    None if is_secret_key(a) => {
                        value_is_secret = true;
                        out.push(a.to_string());
                        continue;
                    }
                    _ => {}
                }
            }
            out.push(self.scan_list(a));
        }
        out
    }

    /// A QEMU option list (`port=1,password=x`, `secret,id=s0,data=x`): items are
    /// split on single commas (`,,` is an escaped comma inside a value).
    fn scan_list(&mut self, element: &str) -> String {
        let items = split_items(element);
        let secret_object = is_secret_object(&items);
        let mut changed = false;
        let rendered: Vec<String> = items
            .iter()
            .map(|item| match item.split_once('=') {
                Some((k, v)) if !v.is_empty() && !is_switch(v) && (is_secret_key(k) || (secret_object && k == "data")) => {
                    self.learn(v);
                    changed = true;
                    format!("{k}={MASK}")
                }
                _ => (*item).to_string(),
            })
            .collect();
        if changed {
            rendered.join(",")
        } else {
            element.to_string()
        }
    }
}

/// Splits a QEMU option list on single commas; `,,` stays inside its item.
fn split_items(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut items = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < b.len() {
        if b[i] == b',' {
            if b.get(i + 1) == Some(&b',') {
                i += 2;
                continue;
            }
            items.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    items.push(&s[start..]);
    items
}

/// `s` with every secret-shaped value masked: `key=value`, `--key value`,
/// `"key": "value"` and URL credentials. For text whose command line is unknown
/// (logs, a QEMU stderr file); prefer [`Redactor::text`] when it is known.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (n, line) in s.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&mask_line(line));
    }
    out
}

/// Where a secret value in free text ends: an unescaped comma, white space, a quote,
/// a separator of URLs, shells and JSON, or the `: ` after a QEMU option it echoes.
fn value_end(b: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b',' if b.get(i + 1) == Some(&b',') => i += 2,
            // QEMU's `<option>: <problem>`.
            b':' if matches!(b.get(i + 1), None | Some(b' ')) => break,
            b',' | b' ' | b'\t' | b'\r' | b'"' | b'\'' | b'&' | b';' | b')' | b']' | b'}' | b'<' | b'>' => break,
            _ => i += 1,
        }
    }
    i.min(b.len())
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

fn mask_line(line: &str) -> String {
    let b = line.as_bytes();
    let secret_context = line.to_ascii_lowercase().contains("secret");
    // (start, end) byte ranges of values to mask, in order.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // key=value
            b'=' => {
                let mut k = i;
                while k > 0 && is_key_byte(b[k - 1]) {
                    k -= 1;
                }
                let key = &line[k..i];
                if !key.is_empty() && (is_secret_key(key) || (secret_context && key.eq_ignore_ascii_case("data"))) {
                    let end = value_end(b, i + 1);
                    if end > i + 1 && !is_switch(&line[i + 1..end]) {
                        spans.push((i + 1, end));
                        i = end;
                        continue;
                    }
                }
                i += 1;
            }
            // "key": "value"
            b'"' => {
                let Some(close) = line[i + 1..].find('"').map(|p| i + 1 + p) else { break };
                let key = &line[i + 1..close];
                let mut j = close + 1;
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                let keyed = j < b.len() && b[j] == b':';
                if keyed && (is_secret_key(key) || (secret_context && key == "data")) {
                    j += 1;
                    while j < b.len() && b[j] == b' ' {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'"' {
                        let start = j + 1;
                        let mut e = start;
                        while e < b.len() && b[e] != b'"' {
                            e += if b[e] == b'\\' { 2 } else { 1 };
                        }
                        let e = e.min(b.len());
                        if e > start && !is_switch(&line[start..e]) {
                            spans.push((start, e));
                        }
                        i = e;
                        continue;
                    }
                }
                i = close + 1;
            }
            // --password value
            b'-' if (i == 0 || b[i - 1] == b' ') => {
                let mut e = i;
                while e < b.len() && is_key_byte(b[e]) {
                    e += 1;
                }
                if e < b.len() && b[e] == b' ' && is_secret_key(&line[i..e]) {
                    let start = e + 1;
                    let end = value_end(b, start);
                    if end > start && !is_switch(&line[start..end]) {
                        spans.push((start, end));
                    }
                    i = end;
                    continue;
                }
                i = e.max(i + 1);
            }
            // scheme://user:password@host
            b':' if line[i..].starts_with("://") => {
                let auth_start = i + 3;
                let auth_end = line[auth_start..].find(['/', ' ', '"', '\'']).map_or(b.len(), |p| auth_start + p);
                let auth = &line[auth_start..auth_end];
                if let Some(at) = auth.rfind('@') {
                    if let Some(colon) = auth[..at].find(':') {
                        if colon + 1 < at {
                            spans.push((auth_start + colon + 1, auth_start + at));
                        }
                    }
                }
                i = auth_end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    if spans.is_empty() {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for (s, e) in spans {
        if s < last {
            continue;
        }
        out.push_str(&line[last..s]);
        out.push_str(MASK);
        last = e;
    }
    out.push_str(&line[last..]);
    out
}

/// The last `max` bytes of `s` (cut at a char boundary), marked when something was cut.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("[{start} bytes omitted]{}", &s[start..])
}

/// The first `max` bytes of `s` (cut at a char boundary), marked when something was cut.
pub fn head(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}[{} bytes omitted]", &s[..end], s.len() - end)
}

/// Free text from a host tool whose command line is unknown (a QEMU stderr file):
/// masked, then cut to its last [`SHOWN_TAIL`] bytes.
pub fn shown(s: &str) -> String {
    tail(&text(s), SHOWN_TAIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<String> {
        Redactor::for_argv(a).argv(a)
    }

    #[test]
    fn qemu_option_lists() {
        assert_eq!(argv(&["-spice", "port=5901,addr=0.0.0.0,password=hunter2"]), ["-spice", "port=5901,addr=0.0.0.0,password=***"]);
        // An escaped comma belongs to the value.
        assert_eq!(argv(&["-spice", "port=1,password=a,,b,c=d"]), ["-spice", "port=1,password=***,c=d"]);
        assert_eq!(argv(&["-object", "secret,id=s0,data=hunter2,format=raw"]), ["-object", "secret,id=s0,data=***,format=raw"]);
        assert_eq!(argv(&["--object", "secret,id=sec0,data=hunter2"]), ["--object", "secret,id=sec0,data=***"]);
        assert_eq!(argv(&["--object=secret,id=sec0,data=hunter2"]), ["--object=secret,id=sec0,data=***"]);
        // Switches, ids of secrets and data of other objects stay.
        assert_eq!(argv(&["-vnc", "0.0.0.0:1,password=on"]), ["-vnc", "0.0.0.0:1,password=on"]);
        assert_eq!(argv(&["-spice", "port=1,password-secret=sec0"]), ["-spice", "port=1,password-secret=sec0"]);
        assert_eq!(argv(&["-o", "encrypt.format=luks,encrypt.key-secret=sec0"]), ["-o", "encrypt.format=luks,encrypt.key-secret=sec0"]);
        assert_eq!(argv(&["-fw_cfg", "name=opt/x,data=abc"]), ["-fw_cfg", "name=opt/x,data=abc"]);
    }

    #[test]
    fn flags() {
        assert_eq!(argv(&["tool", "--password=a,b c", "x"]), ["tool", "--password=***", "x"]);
        assert_eq!(argv(&["tool", "--password", "hunter2", "x"]), ["tool", "--password", "***", "x"]);
        assert_eq!(argv(&["tool", "--token", "abc"]), ["tool", "--token", "***"]);
    }

    #[test]
    fn known_values_are_masked_in_output() {
        let r = Redactor::for_argv(&["-spice", "port=1,password=two words,,x"]);
        let err = "qemu-system-x86_64: -spice port=1,password=two words,,x: Invalid parameter 'y'";
        let shown = r.text(err);
        assert!(!shown.contains("two words") && !shown.contains("words"), "{shown}");
        assert!(shown.contains("Invalid parameter 'y'"), "{shown}");
        assert_eq!(r.text("two words,x"), "***");
    }

    #[test]
    fn free_text_shapes() {
        assert_eq!(text("-spice port=1,password=hunter2: Invalid parameter 'x'"), "-spice port=1,password=***: Invalid parameter 'x'");
        assert_eq!(text("-object secret,id=s,data=hunter2,bad=1: no"), "-object secret,id=s,data=***,bad=1: no");
        assert_eq!(text(r#"{"qom-type": "secret", "id": "s", "data": "hun\"ter2"}"#), r#"{"qom-type": "secret", "id": "s", "data": "***"}"#);
        assert_eq!(text(r#"{"execute":"set_password","arguments":{"protocol":"vnc","password":"hunter2"}}"#).matches("hunter2").count(), 0);
        assert_eq!(text("connect postgres://app:s3cr3t@db:5432/x failed"), "connect postgres://app:***@db:5432/x failed");
        assert_eq!(text("run --password hunter2 now"), "run --password *** now");
        assert_eq!(text("PASSWORD=hunter2"), "PASSWORD=***");
        assert_eq!(text("nothing to see, data=1 here"), "nothing to see, data=1 here");
        assert_eq!(text("password=on"), "password=on");
        assert_eq!(text("line1 token=abc\nline2 ok"), "line1 token=***\nline2 ok");
    }

    #[test]
    fn bounded_tail_and_head() {
        let big = "x".repeat(300_000) + "END";
        let t = tail(&big, SHOWN_TAIL);
        assert!(t.len() < SHOWN_TAIL + 40 && t.ends_with("END") && t.starts_with("[295907 bytes omitted]"), "{}", &t[..40]);
        assert_eq!(tail("héllo", 4), "[3 bytes omitted]llo");
        assert_eq!(head("abcdef", 3), "abc[3 bytes omitted]");
        assert_eq!(tail("abc", 10), "abc");
    }

    #[test]
    fn command_line_is_masked_and_bounded() {
        let args = ["-spice".to_string(), "port=1,password=hunter2".to_string(), "x".repeat(10_000)];
        let r = Redactor::for_argv(&args);
        let line = r.command_line("qemu-system-x86_64", &args);
        assert!(line.starts_with("qemu-system-x86_64 -spice port=1,password=*** x"));
        assert!(!line.contains("hunter2") && line.len() < SHOWN_COMMAND + 40);
    }
}
