//! `{{name}}` placeholders in application commands and script texts.
//!
//! A placeholder is `{{`, optional spaces, a name of `[A-Za-z0-9_.-]`, optional
//! spaces, `}}`. It expands to the value already quoted for the target language
//! (a complete shell / PowerShell / cmd literal), so authors write `--user {{user}}`,
//! never `--user "{{user}}"`. Text that does not form a placeholder is kept as is.

use std::collections::BTreeMap;

/// Why a text could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The text names a value that was not given.
    Undefined(String),
    /// The value cannot be quoted for the target (cmd.exe): the offending character.
    Unquotable { name: String, ch: char },
}

/// Expands every placeholder with `quote(value)`.
pub fn expand(text: &str, values: &BTreeMap<String, String>, quote: impl Fn(&str) -> Result<String, char>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match placeholder(after) {
            Some((name, used)) => {
                let value = values.get(name).ok_or_else(|| TemplateError::Undefined(name.to_string()))?;
                let quoted = quote(value).map_err(|ch| TemplateError::Unquotable { name: name.to_string(), ch })?;
                out.push_str(&quoted);
                rest = &after[used..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `name` and the bytes consumed up to and including `}}`, if `s` starts a placeholder.
fn placeholder(s: &str) -> Option<(&str, usize)> {
    let end = s.find("}}")?;
    let name = s[..end].trim_matches(' ');
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    ok.then_some((name, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn expands_with_the_quoting_function() {
        let v = vals(&[("user", "o'neil"), ("port", "80")]);
        let got = expand("add {{user}} --port {{ port }} {{ not a name }}", &v, |s| Ok(crate::unattended::escape::shell(s)));
        assert_eq!(got.unwrap(), r"add 'o'\''neil' --port '80' {{ not a name }}");
    }

    #[test]
    fn undefined_and_unquotable_values_are_errors() {
        let v = vals(&[("p", "50%")]);
        assert_eq!(expand("{{q}}", &v, |s| Ok(s.into())), Err(TemplateError::Undefined("q".into())));
        assert_eq!(expand("x {{p}}", &v, crate::unattended::escape::cmd), Err(TemplateError::Unquotable { name: "p".into(), ch: '%' }));
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        for t in ["", "{{", "}}", "a {{b", "{{}}", "${x} $(y)"] {
            assert_eq!(expand(t, &BTreeMap::new(), |s| Ok(s.into())).unwrap(), t);
        }
    }
}
