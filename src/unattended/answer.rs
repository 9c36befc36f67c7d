//! What a renderer produces: the files of an answer medium and its volume label.

use super::config::ScriptShell;

/// One file of an answer medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerFile {
    /// Relative path on the medium, `/`-separated, of `[a-z0-9._-]` segments.
    pub path: String,
    pub content: String,
}

/// Every file of one OS's answer medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerFiles {
    /// ISO 9660 volume ID the installer looks for (`CIDATA`, `OEMDRV`, …).
    pub volume_id: &'static str,
    pub files: Vec<AnswerFile>,
}

impl AnswerFiles {
    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.iter().find(|f| f.path == path).map(|f| f.content.as_str())
    }
}

/// A first-boot script ready to be written: inputs substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedScript {
    pub name: String,
    pub shell: ScriptShell,
    pub text: String,
}

/// Everything a renderer needs beyond the request: the scripts' final texts and,
/// for Linux, the password's crypt hash (the clear password is never written there).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub scripts: Vec<ResolvedScript>,
    pub password_hash: String,
}
