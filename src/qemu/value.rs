//! Values that land inside QEMU option strings.
//!
//! QEMU splits `-drive`, `-spice`, `-device`, … arguments on `,` and reads `key=value`
//! pairs, so a value holding `,` could add options of its own (`cache=none,readonly=on`).
//! Paths and passwords keep their meaning through QEMU's own escape (`,` → `,,`);
//! identifiers (names, ids, models) must not contain `,` or `=` at all. Control
//! characters are refused everywhere: they have no business in an argv.

use crate::lifecycle::error::LifecycleError;

/// Refuses empty values and control characters (NUL, newline, DEL, …).
pub fn check_text(field: &str, value: &str) -> Result<(), LifecycleError> {
    if value.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(field, &format!("must not contain control character U+{:04X}", u32::from(c))));
    }
    Ok(())
}

/// A path inside an option string: checked, then `,` doubled as QEMU expects.
pub fn opt_path(field: &str, path: &str) -> Result<String, LifecycleError> {
    check_text(field, path)?;
    Ok(escape_commas(path))
}

/// A path passed as a whole argv element (`-cdrom`, `-pidfile`): checked, not escaped.
pub fn raw_path(field: &str, path: &str) -> Result<String, LifecycleError> {
    check_text(field, path)?;
    Ok(path.to_string())
}

/// An identifier inside an option string: no `,`, no `=`, no whitespace.
pub fn opt_token(field: &str, value: &str) -> Result<String, LifecycleError> {
    check_text(field, value)?;
    if let Some(c) = value.chars().find(|c| *c == ',' || *c == '=' || c.is_whitespace()) {
        return Err(invalid(field, &format!("must not contain '{c}' ('{value}')")));
    }
    Ok(value.to_string())
}

/// Free text inside an option string (a VM name): `,` escaped, `=` refused because
/// QEMU would read the text as a `key=value` pair.
pub fn opt_text(field: &str, value: &str) -> Result<String, LifecycleError> {
    check_text(field, value)?;
    if value.contains('=') {
        return Err(invalid(field, &format!("must not contain '=' ('{value}')")));
    }
    Ok(escape_commas(value))
}

pub fn escape_commas(s: &str) -> String {
    s.replace(',', ",,")
}

/// A JS number that must be an integer in `[min, max]`.
pub fn int_in(field: &str, v: f64, min: i64, max: i64) -> Result<i64, LifecycleError> {
    #[allow(clippy::cast_possible_truncation)] // checked: finite, integral, within i64 by the range test below
    if v.is_finite() && v.fract() == 0.0 && v >= min as f64 && v <= max as f64 {
        return Ok(v as i64);
    }
    Err(invalid(field, &format!("must be an integer between {min} and {max}, got {}", js_number(v))))
}

/// Formats a number as JavaScript's `String(n)` does for the values we accept.
pub fn js_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else if v == 0.0 {
        "0".into()
    } else {
        // Rust prints integral floats without ".0" and finite decimals in shortest form.
        format!("{v}")
    }
}

pub fn invalid(field: &str, reason: &str) -> LifecycleError {
    LifecycleError::InvalidArgument { field: field.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_commas() {
        assert_eq!(opt_path("path", "/a,b/c.qcow2").unwrap(), "/a,,b/c.qcow2");
        assert_eq!(opt_path("path", "/a=b").unwrap(), "/a=b");
        assert!(opt_path("path", "").is_err());
        assert!(opt_path("path", "/a\nb").is_err());
        assert!(opt_path("path", "/a\0b").is_err());
    }

    #[test]
    fn tokens_refuse_separators() {
        assert!(opt_token("cpu model", "host").is_ok());
        for bad in ["a,b", "a=b", "a b", "", "a\tb"] {
            assert!(opt_token("x", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(js_number(0.5), "0.5");
        assert_eq!(js_number(8.0), "8");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(int_in("n", 4.0, 1, 8).unwrap(), 4);
        for bad in [0.0, 9.0, 1.5, f64::NAN, f64::INFINITY] {
            assert!(int_in("n", bad, 1, 8).is_err());
        }
    }
}
