//! SPICE and VNC console configuration (spec §7, §17.6).

pub mod addr;
pub mod error;
pub mod spice;
pub mod vnc;

use crate::qemu::value::escape_commas;
use error::DisplayIssue;

/// `generateArgs()` result: the argv fragment and the VGA model it selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayCommandArgs {
    pub args: Vec<String>,
    pub vga_type: &'static str,
}

/// `validate()` result (spec `DisplayValidationResult`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationResult {
    pub valid: bool,
    pub issues: Vec<DisplayIssue>,
}

impl ValidationResult {
    fn from_issues(issues: Vec<DisplayIssue>) -> Self {
        ValidationResult { valid: issues.is_empty(), issues }
    }
}

/// `-object secret,id=<id>,file=<file>,format=raw`: QEMU reads the password from a
/// file (which the caller creates with mode 0600 and removes once QEMU has started).
pub fn secret_object_args(id: &str, file: &str) -> [String; 2] {
    ["-object".to_string(), format!("secret,id={id},file={},format=raw", escape_commas(file))]
}
