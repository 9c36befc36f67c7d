//! Network device errors (TAP, bridge, MAC). Spec §17.3 `NetworkErrorCode`.
//!
//! The managers throw plain JS `Error`s carrying `code`. Where the spec fixes a
//! message (`Bridge <name> already exists`, `Failed to create TAP device <t>: <msg>`)
//! it is reproduced exactly; `<msg>` is the kernel's answer ([`SysError`]) or a
//! sentence naming the device.

use std::fmt;

use nix::errno::Errno;
use serde_json::{Map, Value};

use super::ifname::IfNameProblem;
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
        // Infinivirt additions: input refused before the kernel is touched.
        INVALID_INTERFACE_NAME = "INVALID_INTERFACE_NAME",
        INVALID_IP_ADDRESS = "INVALID_IP_ADDRESS",
        INVALID_ARGUMENT = "INVALID_ARGUMENT",
    }
}

code_enum! {
    /// Spec §17.3 `NetworkDeviceState`.
    pub enum NetworkDeviceState { UP = "up", DOWN = "down", UNKNOWN = "unknown" }
}

/// A failed kernel call (a netlink request or an ioctl): which call, the errno and,
/// when the kernel sent one, its extended-ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    /// `RTM_NEWLINK`, `TUNSETIFF`, `socket`, …
    pub call: &'static str,
    pub errno: Errno,
    /// The kernel's own explanation (netlink extended ack), or ours for a timeout.
    pub detail: Option<String>,
}

impl SysError {
    pub fn new(call: &'static str, errno: Errno) -> Self {
        SysError { call, errno, detail: None }
    }

    /// The errno of the last failed libc call.
    pub fn last(call: &'static str) -> Self {
        SysError::new(call, Errno::last())
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.errno.desc())?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SysError {}

/// The operation a link error comes from: the first half of the spec's
/// `Failed to … : <msg>` messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOp {
    CreateTap { tap: String },
    ConfigureTap { tap: String, bridge: Option<String> },
    DestroyTap { tap: String },
    AttachTap { tap: String, bridge: String },
    CreateBridge { bridge: String },
    DestroyBridge { bridge: String },
    AddInterface { bridge: String, iface: String },
    RemoveInterface { bridge: String, iface: String },
    AssignIp { bridge: String, ip: String },
    RemoveIp { bridge: String, ip: String },
}

impl LinkOp {
    /// The device the operation is about (the JS error's `device`).
    pub fn device(&self) -> &str {
        match self {
            LinkOp::CreateTap { tap } | LinkOp::DestroyTap { tap } => tap,
            LinkOp::ConfigureTap { tap, .. } | LinkOp::AttachTap { tap, .. } => tap,
            LinkOp::CreateBridge { bridge } | LinkOp::DestroyBridge { bridge } => bridge,
            LinkOp::AddInterface { iface, .. } | LinkOp::RemoveInterface { iface, .. } => iface,
            LinkOp::AssignIp { bridge, .. } | LinkOp::RemoveIp { bridge, .. } => bridge,
        }
    }

    /// The bridge involved, if any.
    pub fn bridge(&self) -> Option<&str> {
        match self {
            LinkOp::CreateTap { .. } | LinkOp::DestroyTap { .. } => None,
            LinkOp::ConfigureTap { bridge, .. } => bridge.as_deref(),
            LinkOp::AttachTap { bridge, .. }
            | LinkOp::CreateBridge { bridge }
            | LinkOp::DestroyBridge { bridge }
            | LinkOp::AddInterface { bridge, .. }
            | LinkOp::RemoveInterface { bridge, .. }
            | LinkOp::AssignIp { bridge, .. }
            | LinkOp::RemoveIp { bridge, .. } => Some(bridge),
        }
    }

    fn creates(&self) -> bool {
        matches!(self, LinkOp::CreateTap { .. } | LinkOp::CreateBridge { .. })
    }
}

impl fmt::Display for LinkOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkOp::CreateTap { tap } => write!(f, "Failed to create TAP device {tap}"),
            LinkOp::ConfigureTap { tap, .. } => write!(f, "Failed to configure TAP device {tap}"),
            LinkOp::DestroyTap { tap } => write!(f, "Failed to destroy TAP device {tap}"),
            LinkOp::AttachTap { tap, bridge } => write!(f, "Failed to attach TAP device {tap} to bridge {bridge}"),
            LinkOp::CreateBridge { bridge } => write!(f, "Failed to create bridge {bridge}"),
            LinkOp::DestroyBridge { bridge } => write!(f, "Failed to destroy bridge {bridge}"),
            LinkOp::AddInterface { bridge, iface } => write!(f, "Failed to add interface {iface} to bridge {bridge}"),
            LinkOp::RemoveInterface { bridge, iface } => {
                write!(f, "Failed to remove interface {iface} from bridge {bridge}")
            }
            LinkOp::AssignIp { bridge, ip } => write!(f, "Failed to assign IP {ip} to bridge {bridge}"),
            LinkOp::RemoveIp { bridge, ip } => write!(f, "Failed to remove IP {ip} from bridge {bridge}"),
        }
    }
}

/// Who holds a TAP name another VM asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Another VM: claimed in this process, or named in the device's owner tag.
    Vm(String),
    /// A QEMU has the device open (carrier on); `owner` from the device's tag, if any.
    RunningQemu { owner: Option<String> },
    /// Put to use by this process (`attachToBridge`) without a VM id, and untagged.
    Unattributed,
}

/// Why a link operation failed: the `<msg>` half of the spec's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkCause {
    Kernel(SysError),
    Missing {
        device: String,
    },
    /// The name exists but is the wrong kind of device (a bridge where a TAP is expected).
    WrongKind {
        device: String,
        kind: String,
        expected: &'static str,
    },
    /// Two VM ids map to one TAP name, or the TAP is held by a running QEMU.
    Taken {
        vm_id: String,
        holder: Holder,
    },
}

impl fmt::Display for LinkCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkCause::Kernel(e) => e.fmt(f),
            LinkCause::Missing { device } => write!(f, "Device {device} does not exist"),
            LinkCause::WrongKind { device, kind, expected } => {
                write!(f, "{device} is a {kind} device, not a {expected}")
            }
            LinkCause::Taken { vm_id, holder: Holder::Vm(other) } => write!(
                f,
                "VM {vm_id} maps to the same TAP name as VM {other}, which already uses it \
                 (the name keeps only the first 10 letters and digits of the VM id)"
            ),
            LinkCause::Taken { vm_id, holder: Holder::RunningQemu { owner } } => {
                write!(f, "it is in use by a running QEMU")?;
                if let Some(o) = owner {
                    write!(f, " of VM {o}")?;
                }
                write!(f, " (carrier on); refusing to replace it for VM {vm_id}")
            }
            LinkCause::Taken { vm_id, holder: Holder::Unattributed } => write!(
                f,
                "it was attached to a bridge for a VM whose id is not known (an untagged TAP); \
                 refusing to replace it for VM {vm_id}"
            ),
        }
    }
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
        source: Box<ExecError>,
    },
    #[error("Invalid interface name '{name}': {problem}")]
    InvalidInterfaceName { name: String, problem: IfNameProblem },
    /// A VM id no TAP name can be derived from.
    #[error("Invalid VM id '{vm_id}': {reason}")]
    InvalidVmId { vm_id: String, reason: &'static str },
    #[error("Invalid IPv4 address '{value}': {reason}")]
    InvalidIpAddress { value: String, reason: &'static str },
    #[error("Invalid {name}: {reason}")]
    InvalidArgument { name: &'static str, reason: String },
    /// Spec §8.1 `attachToBridge`, exact message.
    #[error("TAP device {tap} does not exist, cannot attach to bridge")]
    TapNotFoundForAttach { tap: String },
    /// Spec §8.2 `create`, exact message.
    #[error("Bridge {bridge} already exists")]
    BridgeExists { bridge: String },
    /// Spec §8.2 `addInterface`, exact message.
    #[error("Bridge {bridge} does not exist")]
    BridgeNotFound { bridge: String },
    /// The kernel could not be asked about a device (for the never-failing queries).
    #[error("Cannot look up device {device}: {cause}")]
    Lookup { device: String, cause: SysError },
    /// `Failed to <op>: <cause>` (spec §8.1/§8.2 tables). The cause is boxed to keep
    /// `Result<_, NetworkError>` small.
    #[error("{op}: {cause}")]
    Link { op: LinkOp, cause: Box<LinkCause> },
}

impl NetworkError {
    pub fn link(op: LinkOp, cause: LinkCause) -> Self {
        NetworkError::Link { op, cause: Box::new(cause) }
    }

    fn link_code(op: &LinkOp, cause: &LinkCause) -> NetworkErrorCode {
        use NetworkErrorCode as C;
        let about_bridge = |device: &str| op.bridge() == Some(device);
        match cause {
            LinkCause::Kernel(e) => match e.errno {
                Errno::EPERM | Errno::EACCES => C::PERMISSION_DENIED,
                Errno::EEXIST if matches!(op, LinkOp::CreateBridge { .. }) => C::BRIDGE_ALREADY_EXISTS,
                Errno::EEXIST => C::DEVICE_ALREADY_EXISTS,
                Errno::ENODEV if matches!(op, LinkOp::CreateBridge { .. } | LinkOp::DestroyBridge { .. }) => C::BRIDGE_NOT_FOUND,
                Errno::ENODEV => C::DEVICE_NOT_FOUND,
                _ => C::COMMAND_FAILED,
            },
            LinkCause::Missing { device } if about_bridge(device) => C::BRIDGE_NOT_FOUND,
            LinkCause::Missing { .. } => C::DEVICE_NOT_FOUND,
            LinkCause::WrongKind { device, .. } if op.creates() && about_bridge(device) => C::BRIDGE_ALREADY_EXISTS,
            LinkCause::WrongKind { .. } if op.creates() => C::DEVICE_ALREADY_EXISTS,
            LinkCause::WrongKind { device, .. } if about_bridge(device) => C::BRIDGE_NOT_FOUND,
            LinkCause::WrongKind { .. } => C::DEVICE_NOT_FOUND,
            LinkCause::Taken { .. } => C::DEVICE_ALREADY_EXISTS,
        }
    }
}

impl ErrorShape for NetworkError {
    fn code(&self) -> &'static str {
        match self {
            NetworkError::InvalidMac { .. } => NetworkErrorCode::INVALID_MAC_ADDRESS,
            NetworkError::DeviceNotFound { .. } => NetworkErrorCode::DEVICE_NOT_FOUND,
            NetworkError::Command { .. } => NetworkErrorCode::COMMAND_FAILED,
            NetworkError::InvalidInterfaceName { .. } | NetworkError::InvalidVmId { .. } => NetworkErrorCode::INVALID_INTERFACE_NAME,
            NetworkError::InvalidIpAddress { .. } => NetworkErrorCode::INVALID_IP_ADDRESS,
            NetworkError::InvalidArgument { .. } => NetworkErrorCode::INVALID_ARGUMENT,
            NetworkError::TapNotFoundForAttach { .. } => NetworkErrorCode::DEVICE_NOT_FOUND,
            NetworkError::BridgeExists { .. } => NetworkErrorCode::BRIDGE_ALREADY_EXISTS,
            NetworkError::BridgeNotFound { .. } => NetworkErrorCode::BRIDGE_NOT_FOUND,
            NetworkError::Lookup { cause, .. } => match cause.errno {
                Errno::EPERM | Errno::EACCES => NetworkErrorCode::PERMISSION_DENIED,
                _ => NetworkErrorCode::COMMAND_FAILED,
            },
            NetworkError::Link { op, cause } => NetworkError::link_code(op, cause),
        }
        .as_str()
    }

    fn class(&self) -> JsClass {
        JsClass::Error
    }

    fn fields(&self) -> Map<String, Value> {
        let s = |v: &str| Some(Value::from(v));
        match self {
            NetworkError::InvalidMac { .. } | NetworkError::InvalidArgument { .. } => Map::new(),
            NetworkError::InvalidIpAddress { value, .. } => fields([("address", s(value))]),
            NetworkError::InvalidVmId { vm_id, .. } => fields([("vmId", s(vm_id))]),
            NetworkError::DeviceNotFound { device }
            | NetworkError::Lookup { device, .. }
            | NetworkError::InvalidInterfaceName { name: device, .. }
            | NetworkError::TapNotFoundForAttach { tap: device }
            | NetworkError::BridgeExists { bridge: device }
            | NetworkError::BridgeNotFound { bridge: device } => fields([("device", s(device))]),
            NetworkError::Command { device, source, .. } => {
                fields([("device", device.clone().map(Value::from)), ("command", Some(Value::from(source_command(source))))])
            }
            NetworkError::Link { op, cause } => {
                let (vm_id, other) = match cause.as_ref() {
                    LinkCause::Taken { vm_id, holder: Holder::Vm(o) } => (Some(vm_id), Some(o)),
                    LinkCause::Taken { vm_id, holder: Holder::RunningQemu { owner } } => (Some(vm_id), owner.as_ref()),
                    LinkCause::Taken { vm_id, holder: Holder::Unattributed } => (Some(vm_id), None),
                    _ => (None, None),
                };
                let errno = match cause.as_ref() {
                    LinkCause::Kernel(e) => Some(format!("{:?}", e.errno)),
                    _ => None,
                };
                fields([
                    ("device", s(op.device())),
                    ("bridge", op.bridge().and_then(s)),
                    ("vmId", vm_id.map(|v| Value::from(v.as_str()))),
                    ("conflictingVmId", other.map(|v| Value::from(v.as_str()))),
                    ("errno", errno.map(Value::from)),
                ])
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(t: &str) -> String {
        t.to_string()
    }

    #[test]
    fn spec_messages_are_exact() {
        let cases: Vec<(NetworkError, &str, &str)> = vec![
            (NetworkError::BridgeExists { bridge: tap("br9") }, "Bridge br9 already exists", "BRIDGE_ALREADY_EXISTS"),
            (NetworkError::BridgeNotFound { bridge: tap("br9") }, "Bridge br9 does not exist", "BRIDGE_NOT_FOUND"),
            (NetworkError::TapNotFoundForAttach { tap: tap("vnet-x") }, "TAP device vnet-x does not exist, cannot attach to bridge", "DEVICE_NOT_FOUND"),
            (
                NetworkError::link(LinkOp::CreateTap { tap: tap("vnet-x") }, LinkCause::Kernel(SysError::new("TUNSETIFF", Errno::EPERM))),
                "Failed to create TAP device vnet-x: TUNSETIFF: Operation not permitted",
                "PERMISSION_DENIED",
            ),
            (
                NetworkError::link(LinkOp::AttachTap { tap: tap("vnet-x"), bridge: tap("br0") }, LinkCause::Missing { device: tap("br0") }),
                "Failed to attach TAP device vnet-x to bridge br0: Device br0 does not exist",
                "BRIDGE_NOT_FOUND",
            ),
            (
                NetworkError::link(LinkOp::AddInterface { bridge: tap("br0"), iface: tap("veth0") }, LinkCause::Missing { device: tap("veth0") }),
                "Failed to add interface veth0 to bridge br0: Device veth0 does not exist",
                "DEVICE_NOT_FOUND",
            ),
            (
                NetworkError::link(
                    LinkOp::DestroyBridge { bridge: tap("eth0") },
                    LinkCause::WrongKind { device: tap("eth0"), kind: tap("veth"), expected: "bridge" },
                ),
                "Failed to destroy bridge eth0: eth0 is a veth device, not a bridge",
                "BRIDGE_NOT_FOUND",
            ),
            (
                NetworkError::link(
                    LinkOp::CreateBridge { bridge: tap("br0") },
                    LinkCause::Kernel(SysError { call: "RTM_NEWLINK", errno: Errno::EOPNOTSUPP, detail: Some("Unknown device type".into()) }),
                ),
                "Failed to create bridge br0: RTM_NEWLINK: Operation not supported on transport endpoint (Unknown device type)",
                "COMMAND_FAILED",
            ),
            (
                NetworkError::link(
                    LinkOp::AssignIp { bridge: tap("br0"), ip: tap("10.0.0.1/24") },
                    LinkCause::Kernel(SysError::new("RTM_NEWADDR", Errno::EACCES)),
                ),
                "Failed to assign IP 10.0.0.1/24 to bridge br0: RTM_NEWADDR: Permission denied",
                "PERMISSION_DENIED",
            ),
        ];
        for (e, msg, code) in cases {
            assert_eq!(e.to_string(), msg);
            assert_eq!(e.code(), code, "{msg}");
        }
    }

    #[test]
    fn a_collision_names_both_vms() {
        let e = NetworkError::link(
            LinkOp::CreateTap { tap: tap("vnet-abcdefghij") },
            LinkCause::Taken { vm_id: tap("abcdefghij-2"), holder: Holder::Vm(tap("abcdefghij-1")) },
        );
        assert_eq!(e.code(), "DEVICE_ALREADY_EXISTS");
        let m = e.to_string();
        assert!(m.starts_with("Failed to create TAP device vnet-abcdefghij: VM abcdefghij-2 maps to the same TAP name as VM abcdefghij-1"), "{m}");
        let f = e.fields();
        assert_eq!(f["vmId"], "abcdefghij-2");
        assert_eq!(f["conflictingVmId"], "abcdefghij-1");
        assert_eq!(f["device"], "vnet-abcdefghij");

        let busy =
            NetworkError::link(LinkOp::CreateTap { tap: tap("vnet-a") }, LinkCause::Taken { vm_id: tap("a"), holder: Holder::RunningQemu { owner: None } });
        assert_eq!(busy.to_string(), "Failed to create TAP device vnet-a: it is in use by a running QEMU (carrier on); refusing to replace it for VM a");
    }

    #[test]
    fn kernel_errors_carry_the_errno_name() {
        let e = NetworkError::link(LinkOp::DestroyTap { tap: tap("vnet-x") }, LinkCause::Kernel(SysError::new("RTM_DELLINK", Errno::EBUSY)));
        assert_eq!(e.fields()["errno"], "EBUSY");
        assert_eq!(e.code(), "COMMAND_FAILED");
    }
}
