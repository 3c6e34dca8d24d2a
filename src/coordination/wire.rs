//! What the coordination stores in etcd, and under which keys.
//!
//! Everything lives under `coordination.prefix` (one prefix per database
//! cluster): `views/{instance}` (each instance's own probes, under its
//! lease), `election/…` (etcd's election API), `decision` (the leader's,
//! written in a transaction guarded by its leadership), `operator/routing`,
//! `operator/monitoring` and `operator/backends/{name}` (the operator state
//! every instance applies). Values are JSON with camelCase fields, so an
//! operator can read them with `etcdctl get --prefix`. Owns the encoding
//! only; must never hold a secret (nothing here is one).

use serde::{Deserialize, Serialize};

use switchboard_core::bus::AdminState;
use switchboard_core::coordination::{CombinedHealth, Decision, PeerBackend, PeerView};

/// The keys of one prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `coordination.prefix`, without a trailing slash.
    prefix: String,
}

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    View(String),
    Election,
    Decision,
    Routing,
    Monitoring,
    Admin(String),
    /// Not ours (another tool's key under the prefix): ignored.
    Other,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    /// Everything this coordination reads: `prefix/`.
    pub(crate) fn all(&self) -> String {
        format!("{}/", self.prefix)
    }

    pub(crate) fn view(&self, instance: &str) -> String {
        format!("{}/views/{instance}", self.prefix)
    }

    /// The election's name (etcd adds `/{lease}` per candidate).
    pub(crate) fn election(&self) -> String {
        format!("{}/election", self.prefix)
    }

    pub(crate) fn decision(&self) -> String {
        format!("{}/decision", self.prefix)
    }

    pub(crate) fn routing(&self) -> String {
        format!("{}/operator/routing", self.prefix)
    }

    pub(crate) fn monitoring(&self) -> String {
        format!("{}/operator/monitoring", self.prefix)
    }

    pub(crate) fn admin(&self, backend: &str) -> String {
        format!("{}/operator/backends/{backend}", self.prefix)
    }

    /// What `key` is.
    pub(crate) fn parse(&self, key: &[u8]) -> Key {
        let Ok(key) = std::str::from_utf8(key) else {
            return Key::Other;
        };
        let Some(rest) = key
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Key::Other;
        };
        if let Some(instance) = rest.strip_prefix("views/") {
            return Key::View(instance.to_string());
        }
        if let Some(backend) = rest.strip_prefix("operator/backends/") {
            return Key::Admin(backend.to_string());
        }
        match rest {
            "decision" => Key::Decision,
            "operator/routing" => Key::Routing,
            "operator/monitoring" => Key::Monitoring,
            r if r.starts_with("election/") => Key::Election,
            _ => Key::Other,
        }
    }
}

/// `views/{instance}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ViewDoc {
    pub(crate) instance: String,
    pub(crate) backends: Vec<BackendDoc>,
    pub(crate) active: Option<String>,
    pub(crate) standby: Option<String>,
    pub(crate) epoch: u64,
    pub(crate) acknowledged: u64,
}

/// One backend in a view.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendDoc {
    pub(crate) name: String,
    pub(crate) healthy: Option<bool>,
    pub(crate) index: u64,
    #[serde(default)]
    pub(crate) reason: String,
}

impl From<&PeerView> for ViewDoc {
    fn from(v: &PeerView) -> Self {
        ViewDoc {
            instance: v.instance.clone(),
            backends: v
                .backends
                .iter()
                .map(|b| BackendDoc {
                    name: b.name.clone(),
                    healthy: b.healthy,
                    index: b.index,
                    reason: b.reason.clone(),
                })
                .collect(),
            active: v.active.clone(),
            standby: v.standby.clone(),
            epoch: v.epoch,
            acknowledged: v.acknowledged,
        }
    }
}

impl From<ViewDoc> for PeerView {
    fn from(d: ViewDoc) -> Self {
        PeerView {
            instance: d.instance,
            backends: d
                .backends
                .into_iter()
                .map(|b| PeerBackend {
                    name: b.name,
                    healthy: b.healthy,
                    index: b.index,
                    reason: b.reason,
                })
                .collect(),
            active: d.active,
            standby: d.standby,
            epoch: d.epoch,
            acknowledged: d.acknowledged,
        }
    }
}

/// `decision`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DecisionDoc {
    pub(crate) active: Option<String>,
    pub(crate) standby: Option<String>,
    pub(crate) epoch: u64,
    pub(crate) leader: String,
    pub(crate) reason: String,
    pub(crate) combined: Vec<CombinedDoc>,
}

/// One backend's combined health in a decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CombinedDoc {
    pub(crate) name: String,
    pub(crate) healthy: Option<bool>,
    pub(crate) index: u64,
    pub(crate) healthy_views: usize,
    pub(crate) views: usize,
}

impl From<&Decision> for DecisionDoc {
    fn from(d: &Decision) -> Self {
        DecisionDoc {
            active: d.active.clone(),
            standby: d.standby.clone(),
            epoch: d.epoch,
            leader: d.leader.clone(),
            reason: d.reason.clone(),
            combined: d
                .combined
                .iter()
                .map(|c| CombinedDoc {
                    name: c.name.clone(),
                    healthy: c.healthy,
                    index: c.index,
                    healthy_views: c.healthy_views,
                    views: c.views,
                })
                .collect(),
        }
    }
}

impl From<DecisionDoc> for Decision {
    fn from(d: DecisionDoc) -> Self {
        Decision {
            active: d.active,
            standby: d.standby,
            epoch: d.epoch,
            leader: d.leader,
            reason: d.reason,
            combined: d
                .combined
                .into_iter()
                .map(|c| CombinedHealth {
                    name: c.name,
                    healthy: c.healthy,
                    index: c.index,
                    healthy_views: c.healthy_views,
                    views: c.views,
                })
                .collect(),
        }
    }
}

/// `operator/routing`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoutingDoc {
    pub(crate) enabled: bool,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) actor: String,
}

/// `operator/monitoring`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MonitoringDoc {
    pub(crate) enabled: bool,
    #[serde(default)]
    pub(crate) actor: String,
}

/// `operator/backends/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AdminDoc {
    pub(crate) state: AdminState,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) actor: String,
}

/// JSON bytes of a document (these types cannot fail to serialise).
pub(crate) fn encode<T: Serialize>(doc: &T) -> Vec<u8> {
    serde_json::to_vec(doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let k = Keys::new("/switchboard/db/");
        assert_eq!(
            k.parse(k.view("proxy-0").as_bytes()),
            Key::View("proxy-0".into())
        );
        assert_eq!(
            k.parse(k.admin("db-1").as_bytes()),
            Key::Admin("db-1".into())
        );
        assert_eq!(k.parse(k.decision().as_bytes()), Key::Decision);
        assert_eq!(k.parse(k.routing().as_bytes()), Key::Routing);
        assert_eq!(k.parse(k.monitoring().as_bytes()), Key::Monitoring);
        assert_eq!(k.parse(b"/switchboard/db/election/694d"), Key::Election);
        assert_eq!(k.parse(b"/switchboard/dbx/decision"), Key::Other);
        assert_eq!(k.parse(&[0xff, 0xfe]), Key::Other);
    }

    #[test]
    fn a_decision_survives_the_store() {
        let d = Decision {
            active: Some("db-0".into()),
            standby: None,
            epoch: 4,
            leader: "proxy-1".into(),
            reason: "startup".into(),
            combined: Vec::new(),
        };
        let bytes = encode(&DecisionDoc::from(&d));
        let back: DecisionDoc = serde_json::from_slice(&bytes).expect("decodes");
        assert_eq!(Decision::from(back), d);
    }
}
