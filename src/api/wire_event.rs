//! The wire type of a bus event (`docs/api.md`, "Events"): what
//! `/v0/events`, the SSE stream's `data:` and the dashboard receive.
//!
//! Owns the JSON contract of events: `index`, `time` (RFC 3339), `type`
//! (the snake-case name, also the SSE `event:` line), the fields of that
//! type (`backend`, `from`, `to`, `reason`, ...; `leader_changed`'s `from`
//! and `to` are instance names, every other type's backends), and `description`, the
//! one line for people the server writes (the same text as the log line),
//! so no client re-derives it. The internal `Event` type is never
//! serialised directly.

use serde_json::{json, Map, Value};

use super::rfc3339;
use switchboard_core::bus::{Event, EventKind};

/// One event as JSON.
pub(crate) fn event_json(e: &Event) -> Value {
    let mut out = Map::new();
    out.insert("index".into(), json!(e.index));
    out.insert("time".into(), json!(rfc3339::format(e.time)));
    out.insert("type".into(), json!(e.kind.type_name()));
    let fields = match &e.kind {
        EventKind::ActiveChanged { from, to, reason }
        | EventKind::StandbyChanged { from, to, reason } => {
            json!({ "from": from, "to": to, "reason": reason })
        }
        EventKind::HealthChanged {
            backend,
            healthy,
            reason,
        } => json!({ "backend": backend, "healthy": healthy, "reason": reason }),
        EventKind::RoutingChanged {
            enabled,
            message,
            actor,
        } => json!({ "enabled": enabled, "message": message, "actor": actor }),
        EventKind::MonitoringChanged { enabled, actor } => {
            json!({ "enabled": enabled, "actor": actor })
        }
        EventKind::ConfigReloaded { summary, actor } => {
            json!({ "summary": summary, "actor": actor })
        }
        EventKind::BackendStateChanged {
            backend,
            state,
            message,
            actor,
        } => json!({
            "backend": backend,
            "state": state.as_str(),
            "message": message,
            "actor": actor,
        }),
        EventKind::SessionsChanged {
            backend,
            port,
            opened,
            closed,
            severed,
            current,
        } => json!({
            "backend": backend,
            "port": port.as_str(),
            "opened": opened,
            "closed": closed,
            "severed": severed,
            "current": current,
        }),
        EventKind::SessionsSevered {
            backend,
            port,
            sessions,
            reason,
        } => json!({
            "backend": backend,
            "port": port.as_str(),
            "sessions": sessions,
            "reason": reason,
        }),
        EventKind::CoordinatorLost { reason } | EventKind::CoordinatorRejoined { reason } => {
            json!({ "reason": reason })
        }
        // Instance names, not backends: the type says which.
        EventKind::LeaderChanged { from, to } => json!({ "from": from, "to": to }),
        EventKind::LocalDisagreement { backend, reason } => {
            json!({ "backend": backend, "reason": reason })
        }
        EventKind::PeerViewChanged {
            instance,
            backend,
            change,
        } => json!({ "instance": instance, "backend": backend, "reason": change }),
    };
    if let Value::Object(fields) = fields {
        out.extend(fields);
    }
    out.insert("description".into(), json!(e.kind.describe()));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn carries_its_type_fields_and_description() {
        let e = Event {
            index: 7,
            time: SystemTime::UNIX_EPOCH,
            kind: EventKind::ActiveChanged {
                from: Some("db-0".into()),
                to: None,
                reason: "db-0 unhealthy: HTTP 503".into(),
            },
        };
        let v = event_json(&e);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "index",
                "time",
                "type",
                "from",
                "to",
                "reason",
                "description"
            ]
        );
        assert_eq!(v["type"], "active_changed");
        assert_eq!(v["to"], Value::Null);
        assert_eq!(
            v["description"],
            "active db-0 -> none: db-0 unhealthy: HTTP 503"
        );
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn coordination_events_carry_their_fields() {
        let fields = |kind: EventKind| {
            let v = event_json(&Event {
                index: 1,
                time: SystemTime::UNIX_EPOCH,
                kind,
            });
            let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            (v, keys[3..keys.len() - 1].join(","))
        };
        let (v, keys) = fields(EventKind::CoordinatorLost {
            reason: "etcd unreachable for 3s; holding db-0".into(),
        });
        assert_eq!(
            (v["type"].as_str(), keys.as_str()),
            (Some("coordinator_lost"), "reason")
        );
        let (v, keys) = fields(EventKind::CoordinatorRejoined {
            reason: "etcd answers".into(),
        });
        assert_eq!(
            (v["type"].as_str(), keys.as_str()),
            (Some("coordinator_rejoined"), "reason")
        );
        let (v, keys) = fields(EventKind::LeaderChanged {
            from: None,
            to: Some("proxy-1".into()),
        });
        assert_eq!(
            (v["type"].as_str(), keys.as_str()),
            (Some("leader_changed"), "from,to")
        );
        assert_eq!(
            (&v["from"], &v["to"]),
            (&Value::Null, &Value::from("proxy-1"))
        );
        assert_eq!(v["description"], "coordination leader none -> proxy-1");
        let (v, keys) = fields(EventKind::LocalDisagreement {
            backend: "db-1".into(),
            reason: "HTTP 503".into(),
        });
        assert_eq!(
            (v["type"].as_str(), keys.as_str()),
            (Some("local_disagreement"), "backend,reason")
        );
        assert_eq!(v["backend"], "db-1");
    }
}
