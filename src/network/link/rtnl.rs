//! The rtnetlink operations the TAP and bridge managers need, as typed calls.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::codec::{self, LinkInfo};
use super::socket::{RouteSocket, REPLY_TIMEOUT};
use crate::network::error::SysError;
use crate::network::ifname::IfName;
use crate::network::ipv4::Ipv4Cidr;

/// One `NETLINK_ROUTE` connection. Cheap to open; the managers open one per call.
pub struct Rtnl {
    sock: RouteSocket,
}

fn decode(call: &'static str, e: codec::DecodeError) -> SysError {
    SysError { call, errno: Errno::EPROTO, detail: Some(e.to_string()) }
}

/// `u32` interface index as the kernel's `ifindex` (always positive).
fn index_of(link: &LinkInfo) -> u32 {
    u32::try_from(link.index).unwrap_or(0)
}

impl Rtnl {
    pub fn open() -> Result<Self, SysError> {
        Ok(Rtnl { sock: RouteSocket::open()? })
    }

    /// The device called `name`, or `None` if there is none.
    pub fn link(&mut self, name: &IfName) -> Result<Option<LinkInfo>, SysError> {
        match self.sock.get(codec::get_link_by_name(name)) {
            Ok(p) => codec::parse_link(&p).map(Some).map_err(|e| decode("RTM_GETLINK", e)),
            Err(e) if e.errno == Errno::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The device with `index`, or `None` if it is gone.
    pub fn link_by_index(&mut self, index: i32) -> Result<Option<LinkInfo>, SysError> {
        match self.sock.get(codec::get_link_by_index(index)) {
            Ok(p) => codec::parse_link(&p).map(Some).map_err(|e| decode("RTM_GETLINK", e)),
            Err(e) if e.errno == Errno::ENODEV => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every device, in index order.
    pub fn links(&mut self) -> Result<Vec<LinkInfo>, SysError> {
        self.sock.dump(codec::dump_links())?.iter().map(|p| codec::parse_link(p).map_err(|e| decode("RTM_GETLINK", e))).collect()
    }

    pub fn set_up(&mut self, link: &LinkInfo, up: bool) -> Result<(), SysError> {
        self.sock.ack(codec::set_up(link.index, up))
    }

    /// Makes `link` a port of `master`, or of nothing with `None`.
    pub fn set_master(&mut self, link: &LinkInfo, master: Option<&LinkInfo>) -> Result<(), SysError> {
        self.sock.ack(codec::set_master(link.index, master.map_or(0, index_of)))
    }

    pub fn set_alias(&mut self, link: &LinkInfo, alias: &str) -> Result<(), SysError> {
        self.sock.ack(codec::set_alias(link.index, alias))
    }

    /// Deletes by index: a device re-created under the same name is never hit.
    pub fn delete(&mut self, link: &LinkInfo) -> Result<(), SysError> {
        self.sock.ack(codec::del_link(link.index))
    }

    pub fn new_bridge(&mut self, name: &IfName) -> Result<(), SysError> {
        self.sock.ack(codec::new_bridge(name))
    }

    pub fn add_addr(&mut self, link: &LinkInfo, cidr: &Ipv4Cidr) -> Result<(), SysError> {
        self.sock.ack(codec::new_addr(index_of(link), cidr))
    }

    pub fn del_addr(&mut self, link: &LinkInfo, cidr: &Ipv4Cidr) -> Result<(), SysError> {
        self.sock.ack(codec::del_addr(index_of(link), cidr))
    }

    /// The IPv4 addresses of `link`, in the kernel's order (primary first).
    pub fn ipv4_addrs(&mut self, link: &LinkInfo) -> Result<Vec<Ipv4Cidr>, SysError> {
        let mut out = Vec::new();
        for p in self.sock.dump(codec::dump_ipv4_addrs())? {
            if let Some(a) = codec::parse_addr(&p).map_err(|e| decode("RTM_GETADDR", e))? {
                if a.index == index_of(link) {
                    out.push(a.cidr);
                }
            }
        }
        Ok(out)
    }
}

/// How often [`delete_link`] looks whether the device is gone yet.
const UNLIST_POLL: Duration = Duration::from_micros(100);

/// Deletes `link` and returns once the kernel has unlisted it: its name and index
/// are free and nothing can open or configure it any more.
///
/// `RTM_DELLINK` itself answers only after the kernel's final teardown, which waits
/// for an RCU barrier (about 15 ms on the test machines, most of a TAP's life
/// cycle) that no caller needs to wait for. So the request runs on a helper thread
/// while this one watches the device disappear; a refusal (the device stays) is
/// returned as before. The helper finishes by itself moments later.
pub fn delete_link(link: &LinkInfo) -> Result<(), SysError> {
    let (tx, rx) = mpsc::channel();
    let target = link.clone();
    std::thread::Builder::new()
        .name("iv-dellink".into())
        .spawn(move || {
            let r = Rtnl::open().and_then(|mut nl| nl.delete(&target));
            // The watcher may have returned already (device gone): nobody to tell.
            let _ = tx.send(r);
        })
        .map_err(|e| SysError {
            call: "RTM_DELLINK",
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EAGAIN as i32)),
            detail: Some(format!("cannot start the deletion thread: {e}")),
        })?;
    let mut watcher = Rtnl::open()?;
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        match rx.try_recv() {
            Ok(result) => return result,
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err(SysError { call: "RTM_DELLINK", errno: Errno::EIO, detail: Some("the deletion thread ended without an answer".into()) })
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if watcher.link_by_index(link.index)?.is_none() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SysError {
                call: "RTM_DELLINK",
                errno: Errno::ETIMEDOUT,
                detail: Some(format!("{} still exists after {} s", link.name, REPLY_TIMEOUT.as_secs())),
            });
        }
        std::thread::sleep(UNLIST_POLL);
    }
}
