//! The guest agent in VM operations: what `getVMStatus` reports of it (does it
//! answer, the guest's addresses) and the agent step of a graceful stop. Each use is
//! a short-lived client: it joins the connection another client of the socket holds
//! (src/agent/client.rs shares one per socket) or dials its own.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::agent::client::{AgentOptions, GuestAgent};
use crate::agent::commands::ShutdownMode;

/// Longest dial + resync of these probes: a running agent answers in milliseconds.
const CONNECT: Duration = Duration::from_millis(1000);

pub(crate) struct AgentStatus {
    pub responsive: bool,
    /// The guest's addresses (loopback and IPv6 link-local left out); empty when the
    /// agent did not answer.
    pub ip_addresses: Vec<String>,
}

fn client(socket: &Path, limit: Duration) -> GuestAgent {
    GuestAgent::new(socket, AgentOptions { connect_timeout: limit.min(CONNECT), command_timeout: limit, ..AgentOptions::default() })
}

/// Asks the agent for the guest's interfaces, within `limit` overall.
pub(crate) async fn status(socket: &Path, limit: Duration) -> AgentStatus {
    let a = client(socket, limit);
    let r = tokio::time::timeout(limit, async {
        a.connect().await?;
        a.network_interfaces(Some(limit)).await
    })
    .await;
    a.disconnect();
    match r {
        Ok(Ok(v)) => AgentStatus { responsive: true, ip_addresses: addresses(&v) },
        _ => AgentStatus { responsive: false, ip_addresses: Vec::new() },
    }
}

fn addresses(ifaces: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for i in ifaces.as_array().into_iter().flatten() {
        for a in i.get("ip-addresses").and_then(Value::as_array).into_iter().flatten() {
            let Some(ip) = a.get("ip-address").and_then(Value::as_str) else { continue };
            let Ok(parsed) = ip.parse::<std::net::IpAddr>() else { continue };
            let link_local = matches!(parsed, std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            if !parsed.is_loopback() && !link_local {
                out.push(ip.to_string());
            }
        }
    }
    out
}

/// Asks the guest to power off through its agent; true when the agent took it.
pub(crate) async fn shutdown(socket: &Path, limit: Duration) -> bool {
    let a = client(socket, limit);
    let r = tokio::time::timeout(limit, async {
        a.connect().await?;
        a.shutdown(ShutdownMode::Powerdown, Some(limit)).await
    })
    .await;
    a.disconnect();
    matches!(r, Ok(Ok(())))
}

/// After a manager restart: a guest left frozen (the manager died between a freeze
/// and its thaw) is thawed. Best effort and logged; a guest without an answering
/// agent is left alone.
pub(crate) async fn thaw_if_frozen(socket: &Path, vm_id: &str) {
    let a = GuestAgent::new(socket, AgentOptions { connect_timeout: CONNECT, command_timeout: Duration::from_secs(10), ..AgentOptions::default() });
    let r = async {
        a.connect().await?;
        if a.fsfreeze_status().await? != "frozen" {
            return Ok(None);
        }
        a.fsthaw().await.map(Some)
    }
    .await;
    a.disconnect();
    match r {
        Ok(Some(n)) => crate::log::warn("vm-lifecycle", &format!("VM {vm_id}: its guest was left frozen; thawed {n} filesystem(s)")),
        Ok(None) => {}
        Err(e) => crate::log::log("infinivirt:vm-lifecycle", &format!("VM {vm_id}: freeze state not checked: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_leave_out_loopback_and_link_local() {
        let v = json!([
            {"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1"}, {"ip-address": "::1"}]},
            {"name": "eth0", "ip-addresses": [{"ip-address": "10.0.0.2"}, {"ip-address": "fe80::1"}, {"ip-address": "2001:db8::2"}, {"ip-address": "bogus"}]},
            {"name": "eth1"}
        ]);
        assert_eq!(addresses(&v), ["10.0.0.2", "2001:db8::2"]);
    }
}
