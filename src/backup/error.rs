//! `BackupError` (API-next §2.3): one enum whose `code()` is a `BackupErrorCode`
//! string. Unlike the original, the specific code reaches the caller; nothing is
//! collapsed into `OPERATION_FAILED` on the way out.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};
use crate::exec::ExecError;
use crate::qmp::error::QmpError;

code_enum! {
    /// API-next §2.1 `BackupErrorCode`.
    pub enum BackupErrorCode {
        VM_NOT_FOUND = "VM_NOT_FOUND",
        BACKUP_NOT_FOUND = "BACKUP_NOT_FOUND",
        INVALID_DESTINATION = "INVALID_DESTINATION",
        DISK_NOT_FOUND = "DISK_NOT_FOUND",
        VM_RUNNING = "VM_RUNNING",
        INSUFFICIENT_SPACE = "INSUFFICIENT_SPACE",
        PARENT_NOT_FOUND = "PARENT_NOT_FOUND",
        BACKUP_EXISTS = "BACKUP_EXISTS",
        TARGET_EXISTS = "TARGET_EXISTS",
        OPERATION_FAILED = "OPERATION_FAILED",
        CANCELLED = "CANCELLED",
        INVALID_CONFIG = "INVALID_CONFIG",
        CORRUPT_BACKUP = "CORRUPT_BACKUP",
        DEPENDENCY = "DEPENDENCY",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{message}")]
    InvalidConfig { message: String },
    #[error("Invalid destination {dir}: backups are written to <backupRootDir>/<vmId> ({expected})")]
    InvalidDestination { dir: String, expected: String },
    #[error("Parent backup not found: {parent}")]
    ParentNotFound { parent: String },
    #[error("Parent backup {parent} cannot be used: {reason}")]
    ParentUnusable { parent: String, reason: String },
    #[error("Backup not found: {backup_id}")]
    BackupNotFound { backup_id: String },
    #[error("Disk not found: {path}")]
    DiskNotFound { path: String },
    /// The image is held by a running QEMU and no QMP socket was given to go through it.
    #[error("Disk {path} is in use by a running VM{}", if *.has_qmp { "" } else { "; pass qmpSocketPath to back it up through QMP" })]
    VmRunning { path: String, has_qmp: bool },
    #[error("Target disk already exists: {path}. Set overwriteExisting to true to overwrite.")]
    TargetExists { path: String },
    #[error("Backup {backup_id} has dependent incremental backups: {}. Delete them first.", .dependents.join(", "))]
    Dependency { backup_id: String, dependents: Vec<String> },
    #[error("Backup {backup_id} is not usable: {reason}")]
    CorruptBackup { backup_id: String, reason: String },
    #[error("Out of disk space writing {path}")]
    InsufficientSpace { path: String, detail: String },
    #[error("Too many concurrent backups ({active}/{max}); try again later")]
    TooMany { active: usize, max: usize },
    #[error("Backup cancelled")]
    Cancelled,
    #[error("The running VM has no disk open at {path}")]
    NodeNotFound { path: String },
    #[error("QMP {command} failed: {source}")]
    Qmp {
        command: &'static str,
        #[source]
        source: QmpError,
    },
    #[error("Block job {job} failed: {message}")]
    Job { job: String, message: String },
    #[error("{command} failed: {}", .source.stderr_tail().trim())]
    Command {
        command: &'static str,
        #[source]
        source: ExecError,
    },
    #[error("Cannot parse {what}: {detail}")]
    Parse { what: &'static str, detail: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An error of one backup: the inner error with the backup's and VM's ids.
    #[error("{inner}")]
    In { backup_id: Option<String>, vm_id: String, inner: Box<BackupError> },
}

fn enospc(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("no space left on device") || t.contains("enospc")
}

impl BackupError {
    pub fn invalid(message: impl Into<String>) -> Self {
        BackupError::InvalidConfig { message: message.into() }
    }

    pub fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        BackupError::Io { action, path: path.display().to_string(), source }
    }

    pub fn qmp(command: &'static str) -> impl FnOnce(QmpError) -> BackupError {
        move |source| BackupError::Qmp { command, source }
    }

    /// A failed host command, classified once: a full disk is `INSUFFICIENT_SPACE`.
    pub fn command<'a>(command: &'static str, path: &'a std::path::Path) -> impl FnOnce(ExecError) -> BackupError + 'a {
        move |source| {
            if enospc(source.stderr()) {
                BackupError::InsufficientSpace { path: path.display().to_string(), detail: source.stderr_tail().trim().to_string() }
            } else {
                BackupError::Command { command, source }
            }
        }
    }

    /// A failed block job: ENOSPC on the target is `INSUFFICIENT_SPACE`.
    pub fn job(job: &str, message: &str, target: &std::path::Path) -> Self {
        if enospc(message) {
            BackupError::InsufficientSpace { path: target.display().to_string(), detail: message.to_string() }
        } else {
            BackupError::Job { job: job.to_string(), message: message.to_string() }
        }
    }

    /// Attaches the backup's ids (once; an already tagged error keeps its own).
    pub fn within(self, backup_id: Option<&str>, vm_id: &str) -> Self {
        match self {
            e @ BackupError::In { .. } => e,
            e => BackupError::In { backup_id: backup_id.map(str::to_string), vm_id: vm_id.to_string(), inner: Box::new(e) },
        }
    }

    pub fn code_enum(&self) -> BackupErrorCode {
        use BackupErrorCode as C;
        match self {
            BackupError::InvalidConfig { .. } => C::INVALID_CONFIG,
            BackupError::InvalidDestination { .. } => C::INVALID_DESTINATION,
            BackupError::ParentNotFound { .. } | BackupError::ParentUnusable { .. } => C::PARENT_NOT_FOUND,
            BackupError::BackupNotFound { .. } => C::BACKUP_NOT_FOUND,
            BackupError::DiskNotFound { .. } => C::DISK_NOT_FOUND,
            BackupError::VmRunning { .. } => C::VM_RUNNING,
            BackupError::TargetExists { .. } => C::TARGET_EXISTS,
            BackupError::Dependency { .. } => C::DEPENDENCY,
            BackupError::CorruptBackup { .. } => C::CORRUPT_BACKUP,
            BackupError::InsufficientSpace { .. } => C::INSUFFICIENT_SPACE,
            BackupError::Cancelled => C::CANCELLED,
            BackupError::TooMany { .. }
            | BackupError::NodeNotFound { .. }
            | BackupError::Qmp { .. }
            | BackupError::Job { .. }
            | BackupError::Command { .. }
            | BackupError::Parse { .. } => C::OPERATION_FAILED,
            BackupError::Io { source, .. } => {
                if source.raw_os_error() == Some(nix::libc::ENOSPC) {
                    C::INSUFFICIENT_SPACE
                } else {
                    C::OPERATION_FAILED
                }
            }
            BackupError::In { inner, .. } => inner.code_enum(),
        }
    }

    fn disk_path(&self) -> Option<&str> {
        match self {
            BackupError::DiskNotFound { path }
            | BackupError::VmRunning { path, .. }
            | BackupError::TargetExists { path }
            | BackupError::NodeNotFound { path }
            | BackupError::InsufficientSpace { path, .. } => Some(path),
            BackupError::In { inner, .. } => inner.disk_path(),
            _ => None,
        }
    }

    fn command_name(&self) -> Option<&'static str> {
        match self {
            BackupError::Qmp { command, .. } | BackupError::Command { command, .. } => Some(command),
            BackupError::Job { .. } => Some("blockdev-backup"),
            BackupError::In { inner, .. } => inner.command_name(),
            _ => None,
        }
    }

    fn backup_id(&self) -> Option<&str> {
        match self {
            BackupError::BackupNotFound { backup_id } | BackupError::Dependency { backup_id, .. } | BackupError::CorruptBackup { backup_id, .. } => {
                Some(backup_id)
            }
            BackupError::In { backup_id, inner, .. } => backup_id.as_deref().or_else(|| inner.backup_id()),
            _ => None,
        }
    }
}

impl ErrorShape for BackupError {
    fn code(&self) -> &'static str {
        self.code_enum().as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::BackupError
    }

    fn fields(&self) -> Map<String, Value> {
        let vm_id = match self {
            BackupError::In { vm_id, .. } => Some(Value::from(vm_id.clone())),
            _ => None,
        };
        fields([
            ("backupId", self.backup_id().map(Value::from)),
            ("vmId", vm_id),
            ("diskPath", self.disk_path().map(Value::from)),
            ("command", self.command_name().map(Value::from)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_codes_survive_the_backup_context() {
        let e = BackupError::TargetExists { path: "/x".into() }.within(Some("b1"), "vm1");
        assert_eq!(e.code(), "TARGET_EXISTS");
        assert_eq!(e.to_string(), "Target disk already exists: /x. Set overwriteExisting to true to overwrite.");
        let f = e.fields();
        assert_eq!(f["backupId"], "b1");
        assert_eq!(f["vmId"], "vm1");
        assert_eq!(f["diskPath"], "/x");
    }

    #[test]
    fn a_full_disk_is_insufficient_space() {
        let e = BackupError::job("j", "No space left on device", std::path::Path::new("/t"));
        assert_eq!(e.code(), "INSUFFICIENT_SPACE");
        let io = BackupError::io("write", std::path::Path::new("/t"), std::io::Error::from_raw_os_error(nix::libc::ENOSPC));
        assert_eq!(io.code(), "INSUFFICIENT_SPACE");
    }

    #[test]
    fn dependency_message_is_the_spec_text() {
        let e = BackupError::Dependency { backup_id: "a".into(), dependents: vec!["b".into(), "c".into()] };
        assert_eq!(e.to_string(), "Backup a has dependent incremental backups: b, c. Delete them first.");
        assert_eq!(e.code(), "DEPENDENCY");
    }
}
