//! Quoting of user values for each format an answer file embeds them in.
//!
//! The rule everywhere: a user value is either quoted by one of these functions or
//! rejected by validation; no renderer splices raw text.

/// XML character data and attribute values: the five predefined entities, and any
/// character XML 1.0 cannot carry (control characters other than tab/LF/CR,
/// U+FFFE/U+FFFF) replaced by U+FFFD so the document always parses.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept literally they would be normalised away by parsers (CR) or be illegal.
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A POSIX shell word: `'…'` with each `'` written as `'\''`. Everything else,
/// newlines included, is literal inside single quotes. NUL cannot be passed and is
/// rejected by validation before this is called.
pub fn shell(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A PowerShell verbatim string: `'…'` with every quote character PowerShell treats
/// as a single quote (ASCII and the typographic ‘ ’ ‚ ‛) doubled.
pub fn powershell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// A cmd.exe argument in double quotes. cmd has no escape inside quotes for `"`,
/// expands `%` (and `!` under delayed expansion) and ends the line at CR/LF, so
/// values with those characters are refused (the error names the first one).
pub fn cmd(s: &str) -> Result<String, char> {
    match s.chars().find(|c| matches!(c, '"' | '%' | '!') || c.is_control()) {
        Some(c) => Err(c),
        None => Ok(format!("\"{s}\"")),
    }
}

/// A JSON document that is also safe YAML: YAML treats NEL, LS and PS as line breaks
/// inside quoted scalars (folding them away), so they are written as `\u` escapes.
/// JSON is YAML 1.2, and PyYAML (cloud-init, subiquity) reads it too.
pub fn yaml_json(v: &serde_json::Value) -> String {
    // serde_json cannot fail on a `Value` with string keys.
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    text.replace('\u{0085}', "\\u0085").replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029")
}

/// Standard base64 (RFC 4648, padded).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How Windows answer files "hide" a password (`PlainText` false): base64 of the
/// UTF-16LE text of the password followed by the element name (`Password`). This
/// keeps the clear text out of the file; it is an encoding, not encryption.
pub fn windows_password(password: &str, element: &str) -> String {
    let bytes: Vec<u8> = password.encode_utf16().chain(element.encode_utf16()).flat_map(u16::to_le_bytes).collect();
    base64(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &[&str] = &["]]>", "a\"b", "it's", "x\ny", "$(reboot)", "`id`", "ünï©ødé ✓", "<tag attr='1'>&amp;", "\\", ""];

    #[test]
    fn xml_escapes_markup_and_control_characters() {
        assert_eq!(xml("]]><a b=\"c\">&'"), "]]&gt;&lt;a b=&quot;c&quot;&gt;&amp;&apos;");
        assert_eq!(xml("a\u{1}b\u{FFFF}"), "a\u{FFFD}b\u{FFFD}");
        assert_eq!(xml("l1\r\nl2\tx"), "l1&#13;\nl2\tx");
        for s in NASTY {
            let e = xml(s);
            assert!(!e.contains('<') && !e.contains('"') && !e.contains('\''), "{e}");
        }
    }

    #[test]
    fn shell_quoting_round_trips_through_sh() {
        for s in NASTY {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", shell(s))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), *s, "{s:?}");
        }
    }

    #[test]
    fn powershell_doubles_every_quote_kind() {
        assert_eq!(powershell("it's"), "'it''s'");
        assert_eq!(powershell("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
        assert_eq!(powershell("$(x) `y`"), "'$(x) `y`'");
    }

    #[test]
    fn cmd_refuses_what_cmd_would_expand() {
        assert_eq!(cmd("C:\\Program Files\\x & y").unwrap(), "\"C:\\Program Files\\x & y\"");
        for (s, c) in [("50%", '%'), ("a\"b", '"'), ("hi!", '!'), ("a\nb", '\n')] {
            assert_eq!(cmd(s), Err(c));
        }
    }

    #[test]
    fn yaml_json_escapes_yaml_line_breaks() {
        let v = serde_json::json!({ "k": "a\u{2028}b\u{0085}c\u{2029}", "n": "x\ny" });
        let t = yaml_json(&v);
        assert!(t.contains("a\\u2028b\\u0085c\\u2029"));
        let back: serde_json::Value = serde_json::from_str(&t).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn windows_password_encoding_matches_the_documented_form() {
        // "P@ss" + "Password" in UTF-16LE, base64.
        let want = base64(&"P@ssPassword".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>());
        assert_eq!(windows_password("P@ss", "Password"), want);
        assert_eq!(base64(b"hi"), "aGk=");
    }
}
