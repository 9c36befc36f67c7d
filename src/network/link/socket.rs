//! A blocking `NETLINK_ROUTE` socket: send one request, read its answer.
//!
//! Every receive has a deadline (`SO_RCVTIMEO`), so a kernel that never answers
//! becomes an error instead of a hung thread. The managers run their calls on
//! tokio's blocking pool, never on the Node thread.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;

use super::codec::{self, Msg, Request, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP_INTR, NLM_F_MULTI};
use crate::network::error::SysError;

/// How long one request may wait for the kernel's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Receive buffer: the kernel sizes dump batches to what the reader offers.
const RECV_BUF: usize = 64 * 1024;
/// A dump the kernel marks inconsistent (devices changed meanwhile) is retried.
const DUMP_ATTEMPTS: usize = 3;

const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

pub struct RouteSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> Result<(), Errno> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `value` points to a live `T` of `len` bytes for the duration of the call.
    let rc = unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

impl RouteSocket {
    pub fn open() -> Result<Self, SysError> {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if raw < 0 {
            return Err(SysError::last("socket(NETLINK_ROUTE)"));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // Both are optional refinements (kernel 4.12+/4.3+): without them errors lose
        // the kernel's text or echo the request back, and parsing copes with either.
        let _ = setsockopt(&fd, SOL_NETLINK, NETLINK_EXT_ACK, &one);
        let _ = setsockopt(&fd, SOL_NETLINK, NETLINK_CAP_ACK, &one);
        let tv = libc::timeval { tv_sec: libc::time_t::try_from(REPLY_TIMEOUT.as_secs()).unwrap_or(5), tv_usec: 0 };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv).map_err(|e| SysError::new("setsockopt(SO_RCVTIMEO)", e))?;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv).map_err(|e| SysError::new("setsockopt(SO_SNDTIMEO)", e))?;
        Ok(RouteSocket { fd, seq: 0, buf: vec![0; RECV_BUF] })
    }

    fn send(&mut self, req: &mut Request) -> Result<u32, SysError> {
        let call = codec::call_name(req.msg_type());
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = req.seal(seq);
        // SAFETY: an all-zero sockaddr_nl is valid; family set below, pid 0 = the kernel.
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::sa_family_t::try_from(libc::AF_NETLINK).unwrap_or(16);
        let addr_len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_nl>()).unwrap_or(12);
        loop {
            // SAFETY: `bytes` and `kernel` are live for the call and their lengths are exact.
            let n = unsafe { libc::sendto(self.fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), 0, (&kernel as *const libc::sockaddr_nl).cast(), addr_len) };
            if n >= 0 {
                return Ok(seq);
            }
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::EAGAIN => return Err(timeout(call)),
                e => return Err(SysError::new(call, e)),
            }
        }
    }

    /// Receives one datagram into `self.buf`; returns its length.
    fn recv(&mut self, call: &'static str) -> Result<usize, SysError> {
        loop {
            // SAFETY: `self.buf` is a live, writable buffer of the given length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_TRUNC) };
            if n >= 0 {
                let n = usize::try_from(n).unwrap_or(0);
                if n > self.buf.len() {
                    return Err(SysError { call, errno: Errno::EMSGSIZE, detail: Some(format!("reply of {n} bytes exceeds the {RECV_BUF}-byte buffer")) });
                }
                return Ok(n);
            }
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::EAGAIN => return Err(timeout(call)),
                e => return Err(SysError::new(call, e)),
            }
        }
    }

    /// Runs `req` and hands each reply message of our sequence to `each` until the
    /// request is answered: `Ok(true)` from `each` means "that was the last one".
    fn exchange(&mut self, mut req: Request, mut each: impl FnMut(&Msg<'_>) -> Result<bool, SysError>) -> Result<(), SysError> {
        let call = codec::call_name(req.msg_type());
        let seq = self.send(&mut req)?;
        loop {
            let n = self.recv(call)?;
            let msgs = codec::messages(&self.buf[..n]).map_err(|e| malformed(call, e))?;
            for m in msgs.iter().filter(|m| m.seq == seq) {
                if m.msg_type == NLMSG_ERROR {
                    let r = codec::parse_error(m).map_err(|e| malformed(call, e))?;
                    if r.errno == 0 {
                        return Ok(());
                    }
                    return Err(SysError { call, errno: Errno::from_raw(r.errno), detail: r.message });
                }
                if each(m)? {
                    return Ok(());
                }
            }
        }
    }

    /// A request answered by an ACK only (`NLM_F_ACK`).
    pub fn ack(&mut self, req: Request) -> Result<(), SysError> {
        let call = codec::call_name(req.msg_type());
        self.exchange(req, |_| Err(malformed(call, codec::DecodeError("unexpected data before the ACK"))))
    }

    /// A request answered by one message (`RTM_GETLINK` of one device).
    pub fn get(&mut self, req: Request) -> Result<Vec<u8>, SysError> {
        let call = codec::call_name(req.msg_type());
        let mut reply = None;
        self.exchange(req, |m| {
            reply = Some(m.payload.to_vec());
            Ok(m.flags & NLM_F_MULTI == 0)
        })?;
        reply.ok_or_else(|| malformed(call, codec::DecodeError("no reply")))
    }

    /// A dump: every message's payload, in the kernel's order. Retried when the
    /// kernel flags it as interrupted by a concurrent change.
    pub fn dump(&mut self, req: Request) -> Result<Vec<Vec<u8>>, SysError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut out = Vec::new();
            let mut interrupted = false;
            self.exchange(req.clone(), |m| {
                interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                if m.msg_type == NLMSG_DONE {
                    return Ok(true);
                }
                out.push(m.payload.to_vec());
                Ok(false)
            })?;
            if !interrupted || attempt >= DUMP_ATTEMPTS {
                return Ok(out);
            }
        }
    }
}

fn timeout(call: &'static str) -> SysError {
    SysError { call, errno: Errno::ETIMEDOUT, detail: Some(format!("no answer from the kernel within {} s", REPLY_TIMEOUT.as_secs())) }
}

fn malformed(call: &'static str, e: codec::DecodeError) -> SysError {
    SysError { call, errno: Errno::EPROTO, detail: Some(e.to_string()) }
}
