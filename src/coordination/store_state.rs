//! [`StoreState`]: what this instance knows of the store, rebuilt from one
//! read at the start of every session and kept current by its watch.
//!
//! Owns the rule for who leads (the election candidate with the oldest
//! create revision, as etcd's election API decides) and for which operator
//! change is newest (the highest modification revision of an operator key:
//! what an instance acknowledges). Must never be written but by the
//! session's read and watch, so it is never ahead of the store.

use std::collections::BTreeMap;

use switchboard_core::coordination::{Decision, PeerView};

use crate::wire::{AdminDoc, DecisionDoc, Key, Keys, MonitoringDoc, RoutingDoc, ViewDoc};

/// The store as last read.
#[derive(Debug, Default)]
pub(crate) struct StoreState {
    /// Live views by instance (a dead instance's left with its lease).
    pub(crate) views: BTreeMap<String, PeerView>,
    /// The decision in force.
    pub(crate) decision: Option<Decision>,
    /// The store revision of `decision`: a put of the decision at or
    /// below it is one this instance already holds (the leader records its
    /// own write at once, before the watch echoes it and any older put
    /// still in flight).
    pub(crate) decision_revision: i64,
    /// Election candidates: key → (create revision, instance).
    candidates: BTreeMap<Vec<u8>, (i64, String)>,
    /// The operator state, each with the revision that wrote it.
    pub(crate) routing: Option<(RoutingDoc, i64)>,
    pub(crate) monitoring: Option<(MonitoringDoc, i64)>,
    pub(crate) admin: BTreeMap<String, (AdminDoc, i64)>,
}

/// What one batch of changes touched.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Touched {
    pub(crate) views: bool,
    pub(crate) decision: bool,
    pub(crate) operator: bool,
    pub(crate) election: bool,
}

impl Touched {
    pub(crate) fn any(&self) -> bool {
        self.views || self.decision || self.operator || self.election
    }
}

impl StoreState {
    /// The instance that leads: the oldest candidate.
    pub(crate) fn leader(&self) -> Option<String> {
        self.candidates
            .values()
            .min_by_key(|(rev, _)| *rev)
            .map(|(_, instance)| instance.clone())
    }

    /// The newest operator change: what an instance that applied the
    /// whole operator state acknowledges.
    pub(crate) fn operator_revision(&self) -> i64 {
        let routing = self.routing.as_ref().map_or(0, |(_, r)| *r);
        let monitoring = self.monitoring.as_ref().map_or(0, |(_, r)| *r);
        let admin = self.admin.values().map(|(_, r)| *r).max().unwrap_or(0);
        routing.max(monitoring).max(admin)
    }

    /// A key was written (`value` at `create`/`modified` revisions). A
    /// value that does not decode is logged and ignored: the last good one
    /// stays in force.
    pub(crate) fn put(
        &mut self,
        keys: &Keys,
        key: &[u8],
        value: &[u8],
        create: i64,
        modified: i64,
        touched: &mut Touched,
    ) {
        let parsed = keys.parse(key);
        let bad = |what: &str, e: serde_json::Error| {
            tracing::warn!(key = %String::from_utf8_lossy(key), error = %e, "ignoring a {what} in etcd that does not decode");
        };
        match parsed {
            Key::View(instance) => match serde_json::from_slice::<ViewDoc>(value) {
                Ok(doc) => {
                    self.views.insert(instance, doc.into());
                    touched.views = true;
                }
                Err(e) => bad("view", e),
            },
            Key::Decision if modified <= self.decision_revision => {}
            Key::Decision => match serde_json::from_slice::<DecisionDoc>(value) {
                Ok(doc) => {
                    self.decision = Some(doc.into());
                    self.decision_revision = modified;
                    touched.decision = true;
                }
                Err(e) => bad("decision", e),
            },
            Key::Election => {
                let instance = String::from_utf8_lossy(value).into_owned();
                self.candidates.insert(key.to_vec(), (create, instance));
                touched.election = true;
            }
            Key::Routing => match serde_json::from_slice(value) {
                Ok(doc) => {
                    self.routing = Some((doc, modified));
                    touched.operator = true;
                }
                Err(e) => bad("routing state", e),
            },
            Key::Monitoring => match serde_json::from_slice(value) {
                Ok(doc) => {
                    self.monitoring = Some((doc, modified));
                    touched.operator = true;
                }
                Err(e) => bad("monitoring state", e),
            },
            Key::Admin(backend) => match serde_json::from_slice(value) {
                Ok(doc) => {
                    self.admin.insert(backend, (doc, modified));
                    touched.operator = true;
                }
                Err(e) => bad("backend state", e),
            },
            Key::Other => {}
        }
    }

    /// A key was deleted (or its lease expired).
    pub(crate) fn delete(&mut self, keys: &Keys, key: &[u8], touched: &mut Touched) {
        match keys.parse(key) {
            Key::View(instance) => touched.views |= self.views.remove(&instance).is_some(),
            Key::Election => touched.election |= self.candidates.remove(key).is_some(),
            // Operator keys and the decision are never deleted by an
            // instance; one deleted by hand keeps what is in force.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_candidate_leads_and_leaves_with_its_key() {
        let keys = Keys::new("/p");
        let mut s = StoreState::default();
        let mut t = Touched::default();
        s.put(&keys, b"/p/election/2", b"proxy-2", 9, 9, &mut t);
        s.put(&keys, b"/p/election/1", b"proxy-1", 5, 5, &mut t);
        assert_eq!(s.leader().as_deref(), Some("proxy-1"));
        s.delete(&keys, b"/p/election/1", &mut t);
        assert_eq!(s.leader().as_deref(), Some("proxy-2"));
        assert!(t.election);
    }

    #[test]
    fn an_echo_of_an_older_decision_never_replaces_a_newer_one() {
        let keys = Keys::new("/p");
        let mut s = StoreState::default();
        let mut t = Touched::default();
        let doc = |epoch: u64| {
            format!(
                r#"{{"active":"db-0","standby":null,"epoch":{epoch},"leader":"p","reason":"","combined":[]}}"#
            )
        };
        s.put(&keys, b"/p/decision", doc(4).as_bytes(), 2, 11, &mut t);
        s.put(&keys, b"/p/decision", doc(3).as_bytes(), 2, 10, &mut t);
        assert_eq!(s.decision.as_ref().map(|d| d.epoch), Some(4));
        s.put(&keys, b"/p/decision", doc(5).as_bytes(), 2, 12, &mut t);
        assert_eq!(s.decision.as_ref().map(|d| d.epoch), Some(5));
    }

    #[test]
    fn a_value_that_does_not_decode_keeps_the_last_good_one() {
        let keys = Keys::new("/p");
        let mut s = StoreState::default();
        let mut t = Touched::default();
        s.put(
            &keys,
            b"/p/operator/routing",
            br#"{"enabled":false,"message":"m"}"#,
            3,
            3,
            &mut t,
        );
        s.put(&keys, b"/p/operator/routing", b"{not json", 3, 4, &mut t);
        assert_eq!(
            s.routing.as_ref().map(|(d, r)| (d.enabled, *r)),
            Some((false, 3))
        );
        assert_eq!(s.operator_revision(), 3);
    }
}
