//! Storage errors: the spec's `StorageError(code, message, path?, command?)`.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};

code_enum! {
    /// Spec §17.5 `StorageErrorCode`.
    pub enum StorageErrorCode {
        IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND",
        IMAGE_ALREADY_EXISTS = "IMAGE_ALREADY_EXISTS",
        SNAPSHOT_NOT_FOUND = "SNAPSHOT_NOT_FOUND",
        SNAPSHOT_ALREADY_EXISTS = "SNAPSHOT_ALREADY_EXISTS",
        INVALID_FORMAT = "INVALID_FORMAT",
        INVALID_SIZE = "INVALID_SIZE",
        IMAGE_IN_USE = "IMAGE_IN_USE",
        PERMISSION_DENIED = "PERMISSION_DENIED",
        COMMAND_FAILED = "COMMAND_FAILED",
        PARSE_ERROR = "PARSE_ERROR",
    }
}

/// The image formats `qemu-img` is driven with (spec `ImageFormat`).
pub const SUPPORTED_IMAGE_FORMATS: [&str; 5] = ["qcow2", "raw", "vmdk", "vdi", "vhdx"];
pub const DEFAULT_CLUSTER_SIZE: u32 = 65536;
pub const MAX_SNAPSHOT_NAME_LENGTH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("Image not found: {path}")]
    ImageNotFound { path: String, command: &'static str },
    #[error("Image already exists: {path}")]
    ImageAlreadyExists { path: String, command: &'static str },
    #[error("Image {path} is in use by a running VM: {detail}")]
    ImageInUse { path: String, command: &'static str, detail: String },
    #[error("Snapshot '{name}' not found in image {path}")]
    SnapshotNotFound { path: String, name: String, command: &'static str },
    #[error("Snapshot '{name}' already exists in image {path}")]
    SnapshotAlreadyExists { path: String, name: String, command: &'static str },
    #[error("Invalid image format: {format}")]
    InvalidFormat { path: Option<String>, format: String, command: &'static str },
    #[error("Invalid size: {size}GB. Size must be positive.")]
    InvalidSize { path: String, size: String, command: &'static str },
    #[error("Permission denied: {path}")]
    PermissionDenied { path: String, command: &'static str },
    #[error("{message}")]
    CommandFailed { path: Option<String>, command: &'static str, message: String },
    #[error("Failed to parse image info for {path}: invalid output")]
    Parse { path: String, command: &'static str },
}

impl ErrorShape for StorageError {
    fn code(&self) -> &'static str {
        use StorageErrorCode as C;
        match self {
            StorageError::ImageNotFound { .. } => C::IMAGE_NOT_FOUND,
            StorageError::ImageAlreadyExists { .. } => C::IMAGE_ALREADY_EXISTS,
            StorageError::ImageInUse { .. } => C::IMAGE_IN_USE,
            StorageError::SnapshotNotFound { .. } => C::SNAPSHOT_NOT_FOUND,
            StorageError::SnapshotAlreadyExists { .. } => C::SNAPSHOT_ALREADY_EXISTS,
            StorageError::InvalidFormat { .. } => C::INVALID_FORMAT,
            StorageError::InvalidSize { .. } => C::INVALID_SIZE,
            StorageError::PermissionDenied { .. } => C::PERMISSION_DENIED,
            StorageError::CommandFailed { .. } => C::COMMAND_FAILED,
            StorageError::Parse { .. } => C::PARSE_ERROR,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::StorageError
    }

    fn fields(&self) -> Map<String, Value> {
        let (path, command) = match self {
            StorageError::ImageNotFound { path, command }
            | StorageError::ImageAlreadyExists { path, command }
            | StorageError::ImageInUse { path, command, .. }
            | StorageError::SnapshotNotFound { path, command, .. }
            | StorageError::SnapshotAlreadyExists { path, command, .. }
            | StorageError::InvalidSize { path, command, .. }
            | StorageError::PermissionDenied { path, command }
            | StorageError::Parse { path, command } => (Some(path.clone()), *command),
            StorageError::InvalidFormat { path, command, .. } | StorageError::CommandFailed { path, command, .. } => {
                (path.clone(), *command)
            }
        };
        fields([("path", path.map(Value::from)), ("command", Some(Value::from(command)))])
    }
}
