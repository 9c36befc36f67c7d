//! Display (SPICE / VNC) errors: the spec's `DisplayError` with `DisplayErrorCode`.

use serde_json::{json, Map, Value};

use crate::error::{code_enum, ErrorShape, JsClass};

code_enum! {
    /// Spec §17.6 `DisplayErrorCode`.
    pub enum DisplayErrorCode {
        INVALID_PORT = "INVALID_PORT",
        INVALID_PASSWORD = "INVALID_PASSWORD",
        INVALID_ADDRESS = "INVALID_ADDRESS",
        INVALID_DISPLAY_NUMBER = "INVALID_DISPLAY_NUMBER",
        PASSWORD_TOO_LONG = "PASSWORD_TOO_LONG",
        PORT_OUT_OF_RANGE = "PORT_OUT_OF_RANGE",
        CONFLICTING_OPTIONS = "CONFLICTING_OPTIONS",
        INVALID_COMPRESSION_MODE = "INVALID_COMPRESSION_MODE",
        INVALID_STREAMING_MODE = "INVALID_STREAMING_MODE",
        INVALID_GL_CONFIG = "INVALID_GL_CONFIG",
        RENDERNODE_NOT_FOUND = "RENDERNODE_NOT_FOUND",
    }
}

/// One failed validation check: the spec's `ValidationError { code, message }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayIssue {
    pub code: DisplayErrorCode,
    pub message: String,
}

impl DisplayIssue {
    pub fn new(code: DisplayErrorCode, message: impl Into<String>) -> Self {
        DisplayIssue { code, message: message.into() }
    }
}

/// Which console a display error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    Spice,
    Vnc,
}

impl std::fmt::Display for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Console::Spice => "SPICE",
            Console::Vnc => "VNC",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// Constructor validation of `SpiceConfig` / `VncConfig` (spec §7): the code is the
    /// first issue's, the message joins every issue.
    #[error("{console} configuration validation failed: {}", join(issues))]
    Validation { console: Console, code: DisplayErrorCode, issues: Vec<DisplayIssue>, options: Value },
    /// Strict display security refuses a console reachable off-host without a password.
    #[error("Refusing {console} console for VM '{vm}' on non-loopback address {addr} without a password (strict display security is on)")]
    InsecureConsole { console: Console, vm: String, addr: String },
    /// A value that would splice options into QEMU's `-spice` / `-vnc` argument.
    #[error("Invalid {console} {field}: {reason}")]
    UnsafeValue { console: Console, code: DisplayErrorCode, field: &'static str, reason: String },
}

fn join(issues: &[DisplayIssue]) -> String {
    issues.iter().map(|i| i.message.as_str()).collect::<Vec<_>>().join(", ")
}

impl DisplayError {
    /// Builds the validation error; `None` when there is nothing to report.
    pub fn from_issues(console: Console, issues: Vec<DisplayIssue>, options: Value) -> Option<Self> {
        let code = issues.first()?.code;
        Some(DisplayError::Validation { console, code, issues, options })
    }
}

impl ErrorShape for DisplayError {
    fn code(&self) -> &'static str {
        match self {
            DisplayError::Validation { code, .. } | DisplayError::UnsafeValue { code, .. } => code.as_str(),
            DisplayError::InsecureConsole { .. } => DisplayErrorCode::INVALID_PASSWORD.as_str(),
        }
    }

    fn class(&self) -> JsClass {
        JsClass::DisplayError
    }

    fn fields(&self) -> Map<String, Value> {
        let context = match self {
            DisplayError::Validation { issues, options, .. } => json!({
                "options": options,
                "errors": issues.iter().map(|i| i.message.clone()).collect::<Vec<_>>(),
                "validationErrors": issues
                    .iter()
                    .map(|i| json!({ "code": i.code.as_str(), "message": i.message }))
                    .collect::<Vec<_>>(),
            }),
            DisplayError::InsecureConsole { vm, addr, .. } => json!({ "vm": vm, "addr": addr }),
            DisplayError::UnsafeValue { field, .. } => json!({ "field": field }),
        };
        let mut m = Map::new();
        m.insert("context".into(), context);
        m
    }
}
