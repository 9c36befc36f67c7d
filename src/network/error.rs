//! Network device errors (TAP, bridge, MAC). Spec §17.3 `NetworkErrorCode`.

use serde_json::{Map, Value};

use crate::error::{code_enum, fields, ErrorShape, JsClass};
use crate::exec::ExecError;

code_enum! {
    /// Spec §17.3 `NetworkErrorCode`.
    pub enum NetworkErrorCode {
        DEVICE_NOT_FOUND = "DEVICE_NOT_FOUND",
        DEVICE_ALREADY_EXISTS = "DEVICE_ALREADY_EXISTS",
        BRIDGE_NOT_FOUND = "BRIDGE_NOT_FOUND",
        BRIDGE_ALREADY_EXISTS = "BRIDGE_ALREADY_EXISTS",
        COMMAND_FAILED = "COMMAND_FAILED",
        INVALID_MAC_ADDRESS = "INVALID_MAC_ADDRESS",
        PERMISSION_DENIED = "PERMISSION_DENIED",
    }
}

code_enum! {
    /// Spec §17.3 `NetworkDeviceState`.
    pub enum NetworkDeviceState { UP = "up", DOWN = "down", UNKNOWN = "unknown" }
}

/// Network errors are plain JS `Error`s carrying `code` (the spec's managers throw plain errors).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("Invalid MAC address: {mac}")]
    InvalidMac { mac: String },
    #[error("Device {device} does not exist")]
    DeviceNotFound { device: String },
    #[error("{message}")]
    Command {
        device: Option<String>,
        message: String,
        #[source]
        source: ExecError,
    },
}

impl ErrorShape for NetworkError {
    fn code(&self) -> &'static str {
        match self {
            NetworkError::InvalidMac { .. } => NetworkErrorCode::INVALID_MAC_ADDRESS,
            NetworkError::DeviceNotFound { .. } => NetworkErrorCode::DEVICE_NOT_FOUND,
            NetworkError::Command { .. } => NetworkErrorCode::COMMAND_FAILED,
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        match self {
            NetworkError::InvalidMac { .. } => Map::new(),
            NetworkError::DeviceNotFound { device } => fields([("device", Some(Value::from(device.clone())))]),
            NetworkError::Command { device, source, .. } => fields([
                ("device", device.clone().map(Value::from)),
                ("command", Some(Value::from(source_command(source)))),
            ]),
        }
    }
}

fn source_command(e: &ExecError) -> String {
    match e {
        ExecError::Spawn { command, .. }
        | ExecError::Exit { command, .. }
        | ExecError::Timeout { command, .. }
        | ExecError::InvalidArgument { command, .. } => command.clone(),
    }
}
