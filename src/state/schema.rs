//! The tables and columns of the database contract (spec §11.2, `schema.sql`), as
//! data: `insertRecord` checks rows against it and binds each value by its type, so
//! no caller string ever becomes SQL text.

/// The type of a column as both stores bind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Text,
    Int,
    Bool,
    Json,
    /// A PostgreSQL enum type (text in SQLite).
    Enum(&'static str),
}

#[derive(Debug, PartialEq, Eq)]
/// One table: its quoted name's content and its writable columns (`id`, `createdAt`
/// and `updatedAt` are managed by the store).
pub struct Model {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Col)],
}

pub const MODELS: &[Model] = &[
    Model {
        name: "Machine",
        columns: &[
            ("name", Col::Text),
            ("internalName", Col::Text),
            ("status", Col::Text),
            ("userId", Col::Text),
            ("templateId", Col::Text),
            ("os", Col::Text),
            ("cpuCores", Col::Int),
            ("ramGB", Col::Int),
            ("diskSizeGB", Col::Int),
            ("gpuPciAddress", Col::Text),
            ("departmentId", Col::Text),
            ("version", Col::Int),
            ("localIP", Col::Text),
            ("publicIP", Col::Text),
            ("firewallRuleSetId", Col::Text),
        ],
    },
    Model {
        name: "MachineConfiguration",
        columns: &[
            ("machineId", Col::Text),
            ("xml", Col::Json),
            ("graphicProtocol", Col::Text),
            ("graphicPort", Col::Int),
            ("graphicPassword", Col::Text),
            ("graphicHost", Col::Text),
            ("assignedGpuBus", Col::Text),
            ("qmpSocketPath", Col::Text),
            ("qemuPid", Col::Int),
            ("tapDeviceName", Col::Text),
            ("bridge", Col::Text),
            ("networkModel", Col::Text),
            ("networkQueues", Col::Int),
            ("machineType", Col::Text),
            ("cpuModel", Col::Text),
            ("diskBus", Col::Text),
            ("diskCacheMode", Col::Text),
            ("ioThreads", Col::Bool),
            ("diskPaths", Col::Json),
            ("gpuRomFile", Col::Text),
            ("gpuAudioBus", Col::Text),
            ("memoryBalloon", Col::Bool),
            ("hugepages", Col::Bool),
            ("numaConfig", Col::Json),
            ("cpuPinning", Col::Json),
            ("enableNumaCtlPinning", Col::Bool),
            ("cpuPinningStrategy", Col::Text),
            ("uefiFirmware", Col::Text),
            ("secureboot", Col::Bool),
            ("tpmSocketPath", Col::Text),
            ("guestAgentSocketPath", Col::Text),
            ("infiniServiceSocketPath", Col::Text),
            ("virtioDriversIso", Col::Text),
            ("enableAudio", Col::Bool),
            ("enableUsbTablet", Col::Bool),
            ("setupComplete", Col::Bool),
        ],
    },
    Model {
        name: "Department",
        columns: &[
            ("name", Col::Text),
            ("internetSpeed", Col::Int),
            ("ipSubnet", Col::Text),
            ("firewallRuleSetId", Col::Text),
            ("bridgeName", Col::Text),
            ("gatewayIP", Col::Text),
            ("dhcpRangeStart", Col::Text),
            ("dhcpRangeEnd", Col::Text),
            ("dnsmasqPid", Col::Int),
            ("mtu", Col::Int),
        ],
    },
    Model {
        name: "FirewallRuleSet",
        columns: &[
            ("name", Col::Text),
            ("internalName", Col::Text),
            ("entityType", Col::Enum("RuleSetType")),
            ("entityId", Col::Text),
            ("priority", Col::Int),
            ("isActive", Col::Bool),
        ],
    },
    Model {
        name: "FirewallRule",
        columns: &[
            ("ruleSetId", Col::Text),
            ("name", Col::Text),
            ("description", Col::Text),
            ("action", Col::Enum("RuleAction")),
            ("direction", Col::Enum("RuleDirection")),
            ("priority", Col::Int),
            ("protocol", Col::Text),
            ("srcPortStart", Col::Int),
            ("srcPortEnd", Col::Int),
            ("dstPortStart", Col::Int),
            ("dstPortEnd", Col::Int),
            ("srcIpAddr", Col::Text),
            ("srcIpMask", Col::Text),
            ("dstIpAddr", Col::Text),
            ("dstIpMask", Col::Text),
            ("connectionState", Col::Json),
            ("overridesDept", Col::Bool),
        ],
    },
];

/// One validated value of an inserted row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(Option<String>),
    Int(Option<i32>),
    Bool(Option<bool>),
    Json(Option<serde_json::Value>),
}

/// A row checked against its model: the id to use and `(column, type, value)` cells.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertRow {
    pub model: &'static Model,
    pub id: String,
    pub cells: Vec<(&'static str, Col, Cell)>,
}

/// Checks `data` (a JS object) against `model`'s columns. `id` may be given (a string)
/// or is generated.
pub fn insert_row(model: &str, data: &serde_json::Value) -> Result<InsertRow, String> {
    use serde_json::Value;
    let m = MODELS.iter().find(|m| m.name == model).ok_or_else(|| format!("Unknown model '{model}'"))?;
    let obj = data.as_object().ok_or("data must be an object")?;
    let mut id = None;
    let mut cells = Vec::new();
    for (k, v) in obj {
        if k == "id" {
            id = Some(v.as_str().filter(|s| !s.is_empty()).ok_or("id must be a non-empty string")?.to_string());
            continue;
        }
        let (name, col) = m.columns.iter().find(|(n, _)| n == k).ok_or_else(|| format!("Unknown column '{k}' of {model}"))?;
        let bad = || format!("Invalid value for {model}.{k}: {v}");
        let cell = match (col, v) {
            (Col::Json, Value::Null) => Cell::Json(None),
            (_, Value::Null) => match col {
                Col::Text | Col::Enum(_) => Cell::Text(None),
                Col::Int => Cell::Int(None),
                _ => Cell::Bool(None),
            },
            (Col::Text | Col::Enum(_), Value::String(s)) => Cell::Text(Some(s.clone())),
            (Col::Int, Value::Number(n)) => Cell::Int(Some(n.as_i64().and_then(|i| i32::try_from(i).ok()).ok_or_else(bad)?)),
            (Col::Bool, Value::Bool(b)) => Cell::Bool(Some(*b)),
            (Col::Json, other) => Cell::Json(Some(other.clone())),
            _ => return Err(bad()),
        };
        cells.push((*name, *col, cell));
    }
    Ok(InsertRow { model: m, id: id.unwrap_or_else(super::store::new_uuid), cells })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_checked() {
        let r = insert_row("Machine", &json!({"id": "m1", "name": "a", "cpuCores": 2, "gpuPciAddress": null})).unwrap();
        assert_eq!(r.id, "m1");
        assert_eq!(r.cells.len(), 3);
        assert!(insert_row("Machine", &json!({"name": 1})).is_err());
        assert!(insert_row("Machine", &json!({"bogus": 1})).is_err());
        assert!(insert_row("User", &json!({})).is_err());
        assert!(insert_row("Machine", &json!({"cpuCores": 1e12})).is_err());
        assert_eq!(insert_row("FirewallRuleSet", &json!({})).unwrap().id.len(), 36);
    }
}
