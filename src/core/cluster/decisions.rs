//! `[coordination]`: the shared decision and the coordination's status
//! applied to the [`Cluster`].
//!
//! With a coordination store, this instance routes by the leader's
//! decision, never by its own election: the coordination crate hands each
//! decision it watches to [`Cluster::apply_decision`], which moves the
//! active and standby like an election would (same events, same epochs,
//! so the bridge reconciles and severs exactly as it does on a local
//! failover). Owns the `local_disagreement` rule: a decision naming a
//! backend this instance's own probes call down raises one event and
//! changes nothing else. Must never elect.

use std::sync::Arc;

use super::{Cluster, Writer};
use crate::bus::EventKind;
use crate::coordination::{CoordinationRole, CoordinationStatus};

impl Cluster {
    /// Routes by a decision: `active` and `standby` are backend names
    /// (`None`: route nowhere on that port), `reason` says why in the
    /// leader's (or the hold rule's) words. A name this instance's
    /// configuration lacks routes nowhere and raises `local_disagreement`.
    pub fn apply_decision(&self, active: Option<&str>, standby: Option<&str>, reason: &str) {
        let mut guard = self.lock();
        let w = &mut *guard;
        let active = Cluster::resolve(w, active);
        let standby = Cluster::resolve(w, standby);
        Cluster::move_routes(w, active, standby, reason);
        Cluster::check_local_agreement(w);
        if !w.pending.is_empty() {
            self.commit(w);
        }
    }

    /// Stores the coordination's status for the read model, with the
    /// events of its transitions: `coordinator_lost` when the role becomes
    /// `Lost`, `coordinator_rejoined` when it leaves it, `leader_changed`
    /// when another instance (or none) leads. `reason` explains a lost or
    /// rejoined store.
    pub fn set_coordination(&self, status: CoordinationStatus, reason: &str) {
        let mut guard = self.lock();
        let w = &mut *guard;
        let before = w.truth.coordination.clone();
        let was = before.as_ref().map(|s| s.role);
        let lost = status.role == CoordinationRole::Lost;
        if lost && was != Some(CoordinationRole::Lost) {
            w.pending.push(EventKind::CoordinatorLost {
                reason: reason.to_string(),
            });
        } else if !lost && was == Some(CoordinationRole::Lost) && status.connected() {
            w.pending.push(EventKind::CoordinatorRejoined {
                reason: reason.to_string(),
            });
        }
        let leader_before = before.as_ref().and_then(|s| s.leader.clone());
        if leader_before != status.leader && !(lost && status.leader.is_none()) {
            w.pending.push(EventKind::LeaderChanged {
                from: leader_before,
                to: status.leader.clone(),
            });
        }
        if status.connected() {
            if let Some(before) = &before {
                peer_changes(before, &status, &mut w.pending);
            }
        }
        w.truth.coordination = Some(Arc::new(status));
        self.commit(w);
    }

    /// The position of the backend named `name`; a name this instance does
    /// not know raises `local_disagreement` and routes nowhere.
    fn resolve(w: &mut Writer, name: Option<&str>) -> Option<usize> {
        let name = name?;
        let pos = w.truth.backends.iter().position(|b| b.name == name);
        if pos.is_none() && w.disagreeing.as_deref() != Some(name) {
            w.disagreeing = Some(name.to_string());
            w.pending.push(EventKind::LocalDisagreement {
                backend: name.to_string(),
                reason: "this instance's configuration has no backend of that name".into(),
            });
        }
        pos
    }

    /// Raises `local_disagreement` once when the active this instance
    /// routes to is down in its own view; forgets it once they agree again.
    pub(super) fn check_local_agreement(w: &mut Writer) {
        let Some(pos) = w.truth.active else {
            return;
        };
        let b = &w.truth.backends[pos];
        if b.healthy != Some(false) {
            if w.disagreeing.as_deref() == Some(b.name.as_str()) {
                w.disagreeing = None;
            }
            return;
        }
        if w.disagreeing.as_deref() == Some(b.name.as_str()) {
            return;
        }
        w.disagreeing = Some(b.name.clone());
        w.pending.push(EventKind::LocalDisagreement {
            backend: b.name.clone(),
            reason: b.reason.clone(),
        });
    }
}

/// What changed in the other instances' views between two statuses: who
/// joined, who left, whose verdict on which backend moved. This instance's
/// own view is left out (its `health_changed` events say it), and so is a
/// status read while the store was lost (its views are the last known).
fn peer_changes(before: &CoordinationStatus, after: &CoordinationStatus, out: &mut Vec<EventKind>) {
    let own = after.instance.as_str();
    let find =
        |s: &CoordinationStatus, name: &str| s.views.iter().find(|v| v.instance == name).cloned();
    for view in after.views.iter().filter(|v| v.instance != own) {
        let Some(old) = find(before, &view.instance) else {
            if before.connected() {
                out.push(EventKind::PeerViewChanged {
                    instance: view.instance.clone(),
                    backend: None,
                    change: "joined".into(),
                });
            }
            continue;
        };
        for b in &view.backends {
            let was = old
                .backends
                .iter()
                .find(|o| o.name == b.name)
                .and_then(|o| o.healthy);
            if b.healthy.is_some() && b.healthy != was {
                let verdict = if b.healthy == Some(true) {
                    "healthy"
                } else {
                    "down"
                };
                out.push(EventKind::PeerViewChanged {
                    instance: view.instance.clone(),
                    backend: Some(b.name.clone()),
                    change: format!("{} {verdict} in its probes: {}", b.name, b.reason),
                });
            }
        }
    }
    if !before.connected() {
        return;
    }
    for old in before.views.iter().filter(|v| v.instance != own) {
        if find(after, &old.instance).is_none() {
            out.push(EventKind::PeerViewChanged {
                instance: old.instance.clone(),
                backend: None,
                change: "left (its lease ended or it stopped)".into(),
            });
        }
    }
}

#[cfg(test)]
#[path = "decisions_tests.rs"]
mod tests;
