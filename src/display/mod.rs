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

/// Writes `password` to a new file readable only by its owner (mode 0600) inside
/// `dir` (created 0700 when missing) and returns its path, for `passwordSecretFile`.
/// The caller removes the file once QEMU has started.
pub fn write_secret_file(password: &str, dir: &std::path::Path) -> Result<std::path::PathBuf, SecretFileError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if password.is_empty() || password.chars().any(char::is_control) {
        return Err(SecretFileError::Password);
    }
    let io = |action, path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| SecretFileError::Io(crate::error::IoError { action, path, source })
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io("Cannot create directory", dir))?;
    use std::hash::BuildHasher;
    let tag = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    let path = dir.join(format!("display-{tag:016x}.secret"));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io("Cannot create secret file", &path))?;
    f.write_all(password.as_bytes()).map_err(io("Cannot write secret file", &path))?;
    Ok(path)
}

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("Display password must be non-empty and contain no control characters")]
    Password,
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

impl crate::error::ErrorShape for SecretFileError {
    fn code(&self) -> &'static str {
        match self {
            SecretFileError::Password => error::DisplayErrorCode::INVALID_PASSWORD.as_str(),
            SecretFileError::Io(e) => e.code(),
        }
    }

    fn class(&self) -> crate::error::JsClass {
        match self {
            SecretFileError::Password => crate::error::JsClass::DisplayError,
            SecretFileError::Io(e) => e.class(),
        }
    }

    fn fields(&self) -> serde_json::Map<String, serde_json::Value> {
        match self {
            SecretFileError::Password => serde_json::Map::new(),
            SecretFileError::Io(e) => e.fields(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_file_is_private() {
        let dir = std::env::temp_dir().join(format!("iv-secret-{}", std::process::id()));
        let p = write_secret_file("s3cret,pw", &dir.join("sub")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "s3cret,pw");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.join("sub")).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(matches!(write_secret_file("a\nb", &dir), Err(SecretFileError::Password)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
