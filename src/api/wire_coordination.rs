//! The wire type of `/v0/state`'s `coordination` object (`docs/api.md`,
//! "Coordination"): how this instance agrees with the others through etcd.
//!
//! Owns that JSON contract: `{"kind": "none"}` when this instance decides
//! alone, else `kind: "etcd"` with this instance's name and role, the
//! leader, the decision in force, every live instance's published view and
//! the combined health the decision was made from; camelCase names, RFC
//! 3339 times, `null` for what is not known yet. Built from the status the
//! snapshot's truth carries, so it describes the same moment as the rest
//! of the state; the core's types are never serialised directly.

use std::time::SystemTime;

use serde::Serialize;

use super::rfc3339;
use switchboard_core::coordination::{
    CombinedHealth, CoordinationStatus, Decision, PeerBackend, PeerView,
};

/// The `coordination` object.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum CoordinationView {
    /// `[coordination] kind = "none"`: this instance decides alone.
    None,
    /// `kind = "etcd"`: the shared decision and the views it came from.
    Etcd(Box<EtcdView>),
}

/// The coordination through etcd, as this instance sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EtcdView {
    /// This instance's `coordination.instance`.
    pub instance: String,
    /// `joining`, `leader`, `follower` or `lost`.
    pub role: &'static str,
    /// Whether etcd is reachable now (role `leader` or `follower`).
    pub connected: bool,
    /// The instance that leads, `null` while none does (or etcd is lost).
    pub leader: Option<String>,
    /// The epoch of the decision in force (0 before the first).
    pub epoch: u64,
    /// The `combine` rule: `majority`, `any` or `all`.
    pub combine: &'static str,
    /// `hold` or `refuse`: what routing does while etcd is lost.
    pub on_coordinator_lost: &'static str,
    /// Since when etcd has been unreachable (role `lost`), else `null`.
    #[serde(with = "rfc3339::option")]
    pub lost_since: Option<SystemTime>,
    /// How often this instance lost etcd since it started.
    pub lost_count: u64,
    /// The decision every instance routes by, `null` before the first.
    pub decision: Option<DecisionView>,
    /// Every live instance's published view, this one's included.
    pub instances: Vec<InstanceView>,
    /// The combined health the decision was made from (`[]` without one).
    pub combined: Vec<CombinedView>,
}

/// The leader's decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DecisionView {
    /// The active port's backend by name, `null` for none.
    pub active: Option<String>,
    /// The standby port's backend by name, `null` for none.
    pub standby: Option<String>,
    /// Grows with every decision written.
    pub epoch: u64,
    /// The instance that wrote it.
    pub leader: String,
    /// Why, in the leader's words.
    pub reason: String,
}

/// One live instance and its published view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceView {
    /// Its name.
    pub instance: String,
    /// Whether it is this instance.
    #[serde(rename = "self")]
    pub is_self: bool,
    /// Whether it leads.
    pub leader: bool,
    /// Where its active port routes now, `null` for nowhere.
    pub routes_to: Option<String>,
    /// Where its standby port routes now.
    pub standby_to: Option<String>,
    /// The epoch of the decision it applied last.
    pub epoch: u64,
    /// The newest operator change (store revision) it has applied.
    pub acknowledged: u64,
    /// Its verdict on every backend, in its configuration's order.
    pub backends: Vec<PeerBackendView>,
}

/// One backend in one instance's view.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeerBackendView {
    /// The backend's name.
    pub name: String,
    /// That instance's verdict, `null` before its first.
    pub healthy: Option<bool>,
    /// The index it read.
    pub index: u64,
    /// Why, in that instance's words.
    pub reason: String,
}

/// One backend's combined health.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CombinedView {
    /// The backend's name.
    pub name: String,
    /// Healthy by the `combine` rule, `null` while no view has a verdict.
    pub healthy: Option<bool>,
    /// The index most healthy views report.
    pub index: u64,
    /// How many live views call it healthy.
    pub healthy_views: usize,
    /// How many live views there were.
    pub views: usize,
}

impl CoordinationView {
    /// The view of the truth's coordination status (`None`: alone).
    pub(crate) fn of(status: Option<&CoordinationStatus>) -> CoordinationView {
        let Some(s) = status else {
            return CoordinationView::None;
        };
        CoordinationView::Etcd(Box::new(EtcdView {
            instance: s.instance.clone(),
            role: s.role.as_str(),
            connected: s.connected(),
            leader: s.leader.clone(),
            epoch: s.epoch(),
            combine: s.combine.as_str(),
            on_coordinator_lost: s.on_lost.as_str(),
            lost_since: s.lost_since,
            lost_count: s.lost_count,
            decision: s.decision.as_ref().map(DecisionView::from),
            instances: s.views.iter().map(|v| InstanceView::of(v, s)).collect(),
            combined: s.decision.as_ref().map_or_else(Vec::new, |d| {
                d.combined.iter().map(CombinedView::from).collect()
            }),
        }))
    }
}

impl From<&Decision> for DecisionView {
    fn from(d: &Decision) -> DecisionView {
        DecisionView {
            active: d.active.clone(),
            standby: d.standby.clone(),
            epoch: d.epoch,
            leader: d.leader.clone(),
            reason: d.reason.clone(),
        }
    }
}

impl InstanceView {
    /// One instance's view, marked against this instance's status.
    fn of(v: &PeerView, s: &CoordinationStatus) -> InstanceView {
        InstanceView {
            instance: v.instance.clone(),
            is_self: v.instance == s.instance,
            leader: s.leader.as_deref() == Some(v.instance.as_str()),
            routes_to: v.active.clone(),
            standby_to: v.standby.clone(),
            epoch: v.epoch,
            acknowledged: v.acknowledged,
            backends: v.backends.iter().map(PeerBackendView::from).collect(),
        }
    }
}

impl From<&PeerBackend> for PeerBackendView {
    fn from(b: &PeerBackend) -> PeerBackendView {
        PeerBackendView {
            name: b.name.clone(),
            healthy: b.healthy,
            index: b.index,
            reason: b.reason.clone(),
        }
    }
}

impl From<&CombinedHealth> for CombinedView {
    fn from(c: &CombinedHealth) -> CombinedView {
        CombinedView {
            name: c.name.clone(),
            healthy: c.healthy,
            index: c.index,
            healthy_views: c.healthy_views,
            views: c.views,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sample_status;
    use serde_json::{json, Value};
    use switchboard_config::{Combine, OnCoordinatorLost};
    use switchboard_core::coordination::CoordinationRole;

    #[test]
    fn alone_is_kind_none() {
        let v = serde_json::to_value(CoordinationView::of(None)).unwrap();
        assert_eq!(v, json!({"kind": "none"}));
    }

    #[test]
    fn etcd_carries_every_field_in_order() {
        let v = serde_json::to_value(CoordinationView::of(Some(&sample_status()))).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "kind",
                "instance",
                "role",
                "connected",
                "leader",
                "epoch",
                "combine",
                "onCoordinatorLost",
                "lostSince",
                "lostCount",
                "decision",
                "instances",
                "combined"
            ]
        );
        assert_eq!(v["kind"], "etcd");
        assert_eq!(v["role"], "leader");
        assert_eq!(v["connected"], true);
        assert_eq!(v["epoch"], 4);
        assert_eq!(v["lostSince"], Value::Null);
        assert_eq!(
            v["decision"],
            json!({"active": "db-0", "standby": null, "epoch": 4, "leader": "proxy-0",
                   "reason": "db-0 healthy in 2 of 2 views"})
        );
        let instances = v["instances"].as_array().unwrap();
        assert_eq!(instances.len(), 2);
        assert_eq!(
            instances[1],
            json!({"instance": "proxy-1", "self": false, "leader": false,
                   "routesTo": "db-0", "standbyTo": null, "epoch": 4, "acknowledged": 17,
                   "backends": [
                       {"name": "db-0", "healthy": true, "index": 0, "reason": "healthy"},
                       {"name": "db-1", "healthy": true, "index": 1, "reason": "healthy"}]})
        );
        assert_eq!(instances[0]["self"], true);
        assert_eq!(instances[0]["leader"], true);
        assert_eq!(
            v["combined"][1],
            json!({"name": "db-1", "healthy": false, "index": 0, "healthyViews": 1, "views": 2})
        );
    }

    #[test]
    fn a_lost_instance_says_since_when_and_has_no_decision_yet() {
        let mut s = CoordinationStatus::joining("proxy-2", Combine::All, OnCoordinatorLost::Refuse);
        s.role = CoordinationRole::Lost;
        s.lost_since = Some(SystemTime::UNIX_EPOCH);
        let v = serde_json::to_value(CoordinationView::of(Some(&s))).unwrap();
        assert_eq!(v["connected"], false);
        assert_eq!(v["role"], "lost");
        assert_eq!(v["lostSince"], "1970-01-01T00:00:00Z");
        assert_eq!(v["combine"], "all");
        assert_eq!(v["onCoordinatorLost"], "refuse");
        assert_eq!(v["decision"], Value::Null);
        assert_eq!(v["combined"], json!([]));
        assert_eq!(v["epoch"], 0);
    }
}
