//! QMP wire format: encoding commands and classifying incoming lines (spec §4.1).

use serde_json::Value;

/// The id of the capabilities negotiation command.
pub const HANDSHAKE_ID: &str = "_handshake";

/// One parsed line from QEMU.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Greeting(Value),
    /// `{ event, data?, timestamp }`, kept whole for the generic `'event'` listeners.
    Event {
        name: String,
        data: Option<Value>,
        seconds: i64,
        microseconds: i64,
        raw: Value,
    },
    /// A reply; `Err((class, desc))` for an `error` object.
    Response {
        id: Option<String>,
        result: Result<Value, (String, String)>,
    },
    Other(Value),
}

/// `{"execute":…,"id":…[,"arguments":…]}` + `\n`, keys in that order; `arguments` is
/// left out when absent or an empty object.
pub fn encode(command: &str, id: &str, args: Option<&Value>) -> String {
    let mut s = String::with_capacity(64);
    s.push_str("{\"execute\":");
    s.push_str(&Value::from(command).to_string());
    s.push_str(",\"id\":");
    s.push_str(&Value::from(id).to_string());
    if let Some(a) = args.filter(|a| !a.is_null() && !a.as_object().is_some_and(|o| o.is_empty())) {
        s.push_str(",\"arguments\":");
        s.push_str(&a.to_string());
    }
    s.push_str("}\n");
    s
}

/// Classifies one line; `None` for blank lines and invalid JSON (logged by the caller).
pub fn parse(line: &str) -> Option<Incoming> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(line).ok()?;
    let obj = v.as_object()?;
    if obj.contains_key("QMP") {
        return Some(Incoming::Greeting(v));
    }
    if let Some(name) = obj.get("event").and_then(Value::as_str) {
        let ts = obj.get("timestamp");
        let num = |k: &str| ts.and_then(|t| t.get(k)).and_then(Value::as_i64).unwrap_or(0);
        return Some(Incoming::Event {
            name: name.to_string(),
            data: obj.get("data").cloned(),
            seconds: num("seconds"),
            microseconds: num("microseconds"),
            raw: v.clone(),
        });
    }
    let id = obj.get("id").map(|i| match i {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    if let Some(r) = obj.get("return") {
        return Some(Incoming::Response { id, result: Ok(r.clone()) });
    }
    if let Some(e) = obj.get("error") {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Some(Incoming::Response { id, result: Err((field("class"), field("desc"))) });
    }
    Some(Incoming::Other(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_101_encoding() {
        assert_eq!(encode("qmp_capabilities", HANDSHAKE_ID, None), "{\"execute\":\"qmp_capabilities\",\"id\":\"_handshake\"}\n");
        assert_eq!(encode("query-status", "1", None), "{\"execute\":\"query-status\",\"id\":\"1\"}\n");
        assert_eq!(
            encode("eject", "2", Some(&json!({"device": "x", "force": true}))),
            "{\"execute\":\"eject\",\"id\":\"2\",\"arguments\":{\"device\":\"x\",\"force\":true}}\n"
        );
        assert_eq!(
            encode("balloon", "3", Some(&json!({"value": 2147483648u64}))),
            "{\"execute\":\"balloon\",\"id\":\"3\",\"arguments\":{\"value\":2147483648}}\n"
        );
        assert_eq!(encode("x", "4", Some(&json!({}))), "{\"execute\":\"x\",\"id\":\"4\"}\n");
        // Quotes in a command name cannot break out of the string.
        assert_eq!(encode("a\"b", "5", None), "{\"execute\":\"a\\\"b\",\"id\":\"5\"}\n");
    }

    #[test]
    fn spec_102_103_parsing() {
        assert_eq!(
            parse(r#"{"error":{"class":"GenericError","desc":"Device 'x' not found"},"id":"2"}"#),
            Some(Incoming::Response { id: Some("2".into()), result: Err(("GenericError".into(), "Device 'x' not found".into())) })
        );
        match parse(r#"{"event":"STOP","timestamp":{"seconds":1700000000,"microseconds":500000}}"#) {
            Some(Incoming::Event { name, data, seconds, microseconds, .. }) => {
                assert_eq!((name.as_str(), data, seconds, microseconds), ("STOP", None, 1_700_000_000, 500_000));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(r#"{"QMP":{"version":{},"capabilities":[]}}"#), Some(Incoming::Greeting(_))));
        assert_eq!(parse("  "), None);
        assert_eq!(parse("{not json"), None);
        assert!(matches!(parse(r#"{"what":1}"#), Some(Incoming::Other(_))));
    }
}
