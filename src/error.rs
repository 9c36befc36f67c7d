//! The shape every domain error shares so it can cross into JavaScript in one place.
//!
//! Each domain owns one `thiserror` enum (`DisplayError`, `StorageError`, …) whose
//! `code()` is exhaustive over its variants and returns one of the spec's code strings.
//! The napi layer (`src/napi/error.rs`) serialises an [`ErrorShape`] into a
//! [`WireError`]; the JS facade rebuilds the exported error class from it, so
//! `err instanceof StorageError` holds for sync throws and async rejections alike.

use serde::Serialize;
use serde_json::{Map, Value};

/// The exported JavaScript class a native error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JsClass {
    /// A plain `Error` carrying `code` (the spec uses plain errors for QMP, the
    /// builder's passthrough checks, the network managers and `CommandExecutor`).
    Error,
    DisplayError,
    StorageError,
    /// The spec's `NftablesError` is an interface: a plain `Error` with `code` and `context`.
    NftablesError,
    LifecycleError,
    UnattendedError,
    PrismaAdapterError,
    BackupError,
    /// An error thrown by a caller's own JS object (a `DatabaseAdapter`, a hook):
    /// the facade rethrows that very object (`fields.ref`).
    Foreign,
}

/// Implemented by every domain error enum.
pub trait ErrorShape: std::error::Error {
    /// One of the spec's code strings for this domain.
    fn code(&self) -> &'static str;
    /// The JS class the facade constructs.
    fn class(&self) -> JsClass;
    /// Extra own properties of the JS error (`path`, `vmId`, `context`, …).
    fn fields(&self) -> Map<String, Value> {
        Map::new()
    }
}

/// What crosses the napi boundary: everything the facade needs to rebuild the error.
#[derive(Debug, Serialize)]
pub struct WireError {
    pub class: JsClass,
    pub code: String,
    pub message: String,
    pub fields: Map<String, Value>,
}

impl WireError {
    pub fn from_shape(e: &(impl ErrorShape + ?Sized)) -> Self {
        WireError { class: e.class(), code: e.code().to_string(), message: e.to_string(), fields: e.fields() }
    }

    /// An internal failure (a caught panic, a broken invariant) surfaced as a plain error.
    pub fn internal(message: impl Into<String>) -> Self {
        WireError { class: JsClass::Error, code: "INTERNAL_ERROR".to_string(), message: message.into(), fields: Map::new() }
    }
}

/// A filesystem failure surfaced as a plain `Error` whose `code` is the errno name
/// (`ENOENT`, `EACCES`, …), as Node's own fs errors are.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct IoError {
    pub action: &'static str,
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl ErrorShape for IoError {
    fn code(&self) -> &'static str {
        use std::io::ErrorKind as K;
        match self.source.kind() {
            K::NotFound => "ENOENT",
            K::PermissionDenied => "EACCES",
            K::AlreadyExists => "EEXIST",
            K::InvalidInput => "EINVAL",
            _ => "EIO",
        }
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        fields([("path", Some(Value::from(self.path.clone())))])
    }
}

/// Builds a JSON object from `(key, value)` pairs, skipping `None` values.
pub(crate) fn fields<const N: usize>(pairs: [(&str, Option<Value>); N]) -> Map<String, Value> {
    pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect()
}

/// Declares a closed string enum of spec codes with `as_str`, `ALL` and `FromStr`.
macro_rules! code_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        // Variants are spelled exactly like the spec's JS enum keys.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant),+ }
        impl $name {
            #[allow(dead_code)]
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            /// `(KEY, value)` pairs in declaration order: the runtime enum object of the spec.
            pub fn entries() -> Vec<(&'static str, &'static str)> {
                vec![$((stringify!($variant), $s)),+]
            }
        }
        impl std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($s => Ok($name::$variant),)+ _ => Err(()) }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use code_enum;

#[cfg(test)]
mod tests {
    use super::*;

    code_enum! { enum Demo { A = "a", BeeCee = "BEE_CEE" } }

    #[test]
    fn code_enum_round_trips() {
        assert_eq!(Demo::BeeCee.as_str(), "BEE_CEE");
        assert_eq!("a".parse::<Demo>(), Ok(Demo::A));
        assert!("A".parse::<Demo>().is_err());
        assert_eq!(Demo::entries(), vec![("A", "a"), ("BeeCee", "BEE_CEE")]);
    }

    #[test]
    fn fields_skips_none() {
        let m = fields([("a", Some(Value::from(1))), ("b", None)]);
        assert_eq!(Value::Object(m), serde_json::json!({"a": 1}));
    }
}
