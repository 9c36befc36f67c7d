//! `BridgeManager` (spec §8.2): Linux bridges and their ports and IPv4 addresses,
//! over rtnetlink.
//!
//! Differences from the original (see COMPATIBILITY.md): names and addresses are
//! validated before the kernel is asked; `destroy` refuses a device that is not a
//! bridge; `removeInterface` leaves a port of another bridge alone.

use nix::errno::Errno;

use super::codec::LinkInfo;
use super::rtnl::{delete_link, Rtnl};
use crate::log;
use crate::network::error::{LinkCause, LinkOp, NetworkError, SysError};
use crate::network::ifname::IfName;
use crate::network::ipv4::Ipv4Cidr;

const NS: &str = "infinivirt:bridge";

fn kernel(op: impl FnOnce() -> LinkOp) -> impl FnOnce(SysError) -> NetworkError {
    move |e| NetworkError::link(op(), LinkCause::Kernel(e))
}

fn missing(op: LinkOp, device: &IfName) -> NetworkError {
    NetworkError::link(op, LinkCause::Missing { device: device.to_string() })
}

fn kind_of(link: &LinkInfo) -> String {
    link.kind.clone().unwrap_or_else(|| "physical".into())
}

/// Stateless: every call asks the kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct BridgeManager;

impl BridgeManager {
    /// The device `name` (of any kind), `None` if missing, invalid or unreadable.
    fn lookup(name: &str) -> Option<(Rtnl, LinkInfo)> {
        let name = IfName::new(name).ok()?;
        let mut nl = match Rtnl::open() {
            Ok(nl) => nl,
            Err(e) => {
                log::log(NS, &format!("Could not open netlink: {e}"));
                return None;
            }
        };
        match nl.link(&name) {
            Ok(Some(l)) => Some((nl, l)),
            Ok(None) => None,
            Err(e) => {
                log::log(NS, &format!("Could not look up {name}: {e}"));
                None
            }
        }
    }

    /// True when a device of that name exists (of any kind, as in the spec).
    pub fn exists(&self, name: &str) -> bool {
        Self::lookup(name).is_some()
    }

    /// Creates the bridge and brings it up.
    pub fn create(&self, name: &str) -> Result<(), NetworkError> {
        let name = IfName::new(name)?;
        let op = || LinkOp::CreateBridge { bridge: name.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        if nl.link(&name).map_err(kernel(op))?.is_some() {
            return Err(NetworkError::BridgeExists { bridge: name.to_string() });
        }
        match nl.new_bridge(&name) {
            Ok(()) => {}
            Err(e) if e.errno == Errno::EEXIST => return Err(NetworkError::BridgeExists { bridge: name.to_string() }),
            Err(e) => return Err(kernel(op)(e)),
        }
        let link = nl.link(&name).map_err(kernel(op))?.ok_or_else(|| missing(op(), &name))?;
        nl.set_up(&link, true).map_err(kernel(op))?;
        log::log(NS, &format!("Created bridge {name}"));
        Ok(())
    }

    /// Down and deleted; a missing bridge is fine.
    pub fn destroy(&self, name: &str) -> Result<(), NetworkError> {
        let name = IfName::new(name)?;
        let op = || LinkOp::DestroyBridge { bridge: name.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let Some(link) = nl.link(&name).map_err(kernel(op))? else { return Ok(()) };
        if !link.is_bridge() {
            return Err(NetworkError::link(op(), LinkCause::WrongKind { device: name.to_string(), kind: kind_of(&link), expected: "bridge" }));
        }
        match nl.set_up(&link, false).and_then(|()| delete_link(&link)) {
            Ok(()) => {}
            Err(e) if e.errno == Errno::ENODEV => {}
            Err(e) => return Err(kernel(op)(e)),
        }
        log::log(NS, &format!("Destroyed bridge {name}"));
        Ok(())
    }

    /// Makes `iface` a port of `bridge`.
    pub fn add_interface(&self, bridge: &str, iface: &str) -> Result<(), NetworkError> {
        let bridge = IfName::new(bridge)?;
        let iface = IfName::new(iface)?;
        let op = || LinkOp::AddInterface { bridge: bridge.to_string(), iface: iface.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let Some(br) = nl.link(&bridge).map_err(kernel(op))? else {
            return Err(NetworkError::BridgeNotFound { bridge: bridge.to_string() });
        };
        if !br.is_bridge() {
            return Err(NetworkError::link(op(), LinkCause::WrongKind { device: bridge.to_string(), kind: kind_of(&br), expected: "bridge" }));
        }
        let port = nl.link(&iface).map_err(kernel(op))?.ok_or_else(|| missing(op(), &iface))?;
        nl.set_master(&port, Some(&br)).map_err(kernel(op))?;
        log::log(NS, &format!("Added {iface} to bridge {bridge}"));
        Ok(())
    }

    /// Takes `iface` out of `bridge`. A missing device, or one that is not a port of
    /// this bridge, is left as it is.
    pub fn remove_interface(&self, bridge: &str, iface: &str) -> Result<(), NetworkError> {
        let bridge = IfName::new(bridge)?;
        let iface = IfName::new(iface)?;
        let op = || LinkOp::RemoveInterface { bridge: bridge.to_string(), iface: iface.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let Some(port) = nl.link(&iface).map_err(kernel(op))? else { return Ok(()) };
        let Some(master) = port.master else { return Ok(()) };
        let br = nl.link(&bridge).map_err(kernel(op))?;
        if br.as_ref().and_then(|b| u32::try_from(b.index).ok()) != Some(master) {
            log::log(NS, &format!("{iface} is not a port of {bridge}, nothing to remove"));
            return Ok(());
        }
        match nl.set_master(&port, None) {
            Ok(()) => {}
            Err(e) if e.errno == Errno::ENODEV => {}
            Err(e) => return Err(kernel(op)(e)),
        }
        log::log(NS, &format!("Removed {iface} from bridge {bridge}"));
        Ok(())
    }

    /// The ports of `bridge`, in index order; `[]` when it is missing or unreadable.
    pub fn list_interfaces(&self, bridge: &str) -> Vec<String> {
        let Some((mut nl, br)) = Self::lookup(bridge) else { return Vec::new() };
        match nl.links() {
            Ok(links) => links.into_iter().filter(|l| l.master.is_some() && l.master == u32::try_from(br.index).ok()).map(|l| l.name).collect(),
            Err(e) => {
                log::log(NS, &format!("Could not list the ports of {bridge}: {e}"));
                Vec::new()
            }
        }
    }

    /// Adds `a.b.c.d/n` to the device; already assigned is fine.
    pub fn assign_ip(&self, bridge: &str, cidr: &str) -> Result<(), NetworkError> {
        let bridge = IfName::new(bridge)?;
        let ip = Ipv4Cidr::new(cidr)?;
        let op = || LinkOp::AssignIp { bridge: bridge.to_string(), ip: ip.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let link = nl.link(&bridge).map_err(kernel(op))?.ok_or_else(|| missing(op(), &bridge))?;
        match nl.add_addr(&link, &ip) {
            Ok(()) => {}
            Err(e) if e.errno == Errno::EEXIST => log::log(NS, &format!("{ip} is already assigned to {bridge}")),
            Err(e) => return Err(kernel(op)(e)),
        }
        Ok(())
    }

    /// Removes `a.b.c.d/n` from the device; not assigned is fine.
    pub fn remove_ip(&self, bridge: &str, cidr: &str) -> Result<(), NetworkError> {
        let bridge = IfName::new(bridge)?;
        let ip = Ipv4Cidr::new(cidr)?;
        let op = || LinkOp::RemoveIp { bridge: bridge.to_string(), ip: ip.to_string() };
        let mut nl = Rtnl::open().map_err(kernel(op))?;
        let link = nl.link(&bridge).map_err(kernel(op))?.ok_or_else(|| missing(op(), &bridge))?;
        match nl.del_addr(&link, &ip) {
            Ok(()) => {}
            Err(e) if e.errno == Errno::EADDRNOTAVAIL => log::log(NS, &format!("{ip} is not assigned to {bridge}")),
            Err(e) => return Err(kernel(op)(e)),
        }
        Ok(())
    }

    /// The IPv4 addresses of the device as `a.b.c.d/n`, primary first; `[]` on failure.
    pub fn get_ips(&self, bridge: &str) -> Vec<String> {
        let Some((mut nl, link)) = Self::lookup(bridge) else { return Vec::new() };
        match nl.ipv4_addrs(&link) {
            Ok(a) => a.iter().map(Ipv4Cidr::to_string).collect(),
            Err(e) => {
                log::log(NS, &format!("Could not list the addresses of {bridge}: {e}"));
                Vec::new()
            }
        }
    }
}
