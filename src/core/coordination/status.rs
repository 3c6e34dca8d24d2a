//! The coordination's state as the truth carries it: this instance's role,
//! the leader, every live instance's view and the decision in force.
//!
//! Written only by the coordination crate, through
//! `Cluster::set_coordination`; read through the truth by the read model,
//! so `/v0/state`, CrStates, PeerStates and `/metrics` describe the same
//! moment as the rest of a snapshot. Plain data: the store's encoding of it
//! belongs to the coordination crate.

use std::time::SystemTime;

use switchboard_config::{Combine, OnCoordinatorLost};

/// What this instance is in the coordination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordinationRole {
    /// Started, not yet connected to the store (routes nowhere until the
    /// first decision arrives).
    Joining,
    /// Holds the store's election: combines the views and writes the
    /// decision.
    Leader,
    /// Connected, routes by the leader's decision.
    Follower,
    /// The store has been unreachable for `lease_ttl`:
    /// `on_coordinator_lost` applies.
    Lost,
}

impl CoordinationRole {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CoordinationRole::Joining => "joining",
            CoordinationRole::Leader => "leader",
            CoordinationRole::Follower => "follower",
            CoordinationRole::Lost => "lost",
        }
    }
}

/// One backend as one instance's own probes see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerBackend {
    /// The backend's configured name (views are joined by name, so
    /// instances whose configurations list backends in another order
    /// still agree).
    pub name: String,
    /// `None` until that instance's first verdict.
    pub healthy: Option<bool>,
    /// Its `wsrep_local_index` (or config position), as that instance
    /// read it.
    pub index: u64,
    /// Why it is in its state, in that instance's words.
    pub reason: String,
}

/// One live instance's published view (it disappears with its lease).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerView {
    /// The instance's `coordination.instance`.
    pub instance: String,
    /// Its verdicts, in its configuration's order.
    pub backends: Vec<PeerBackend>,
    /// Where its active port routes now (its applied decision).
    pub active: Option<String>,
    /// Where its standby port routes now.
    pub standby: Option<String>,
    /// The epoch of the decision it applied last.
    pub epoch: u64,
    /// The newest operator change (store revision) it has applied, so a
    /// PATCH on any instance can report who has acknowledged it.
    pub acknowledged: u64,
}

/// How live views combine for one backend: the leader's input to the
/// election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CombinedHealth {
    /// The backend's name.
    pub name: String,
    /// Healthy by the `combine` rule; `None` while no live view has a
    /// verdict on it.
    pub healthy: Option<bool>,
    /// The index most healthy views report.
    pub index: u64,
    /// How many live views call it healthy.
    pub healthy_views: usize,
    /// How many live views there were.
    pub views: usize,
}

/// The leader's decision: where every instance routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The active port's backend, by name.
    pub active: Option<String>,
    /// The standby port's backend, by name.
    pub standby: Option<String>,
    /// Grows with every decision written: a leader writes above every
    /// epoch it has written or applied, so epochs only grow across leaders
    /// and sessions.
    pub epoch: u64,
    /// The instance that wrote it.
    pub leader: String,
    /// Why, in the leader's words.
    pub reason: String,
    /// The combined health it was made from (CrStates serves it).
    pub combined: Vec<CombinedHealth>,
}

/// Everything the read model shows about the coordination.
#[derive(Debug, Clone)]
pub struct CoordinationStatus {
    /// This instance's name.
    pub instance: String,
    /// This instance's role.
    pub role: CoordinationRole,
    /// The instance that holds the election, if one does and the store is
    /// reachable.
    pub leader: Option<String>,
    /// The decision in force, as last read from the store.
    pub decision: Option<Decision>,
    /// Every live instance's view (this one's included), by instance name.
    pub views: Vec<PeerView>,
    /// Since when the store has been unreachable (role `Lost`).
    pub lost_since: Option<SystemTime>,
    /// The `combine` rule in force.
    pub combine: Combine,
    /// What this instance does while the store is lost.
    pub on_lost: OnCoordinatorLost,
    /// How often this instance lost the store since start.
    pub lost_count: u64,
}

impl CoordinationStatus {
    /// The status of an instance that has not reached the store yet.
    pub fn joining(instance: &str, combine: Combine, on_lost: OnCoordinatorLost) -> Self {
        CoordinationStatus {
            instance: instance.to_string(),
            role: CoordinationRole::Joining,
            leader: None,
            decision: None,
            views: Vec::new(),
            lost_since: None,
            combine,
            on_lost,
            lost_count: 0,
        }
    }

    /// Whether the store is reachable now.
    pub fn connected(&self) -> bool {
        matches!(
            self.role,
            CoordinationRole::Leader | CoordinationRole::Follower
        )
    }

    /// The decision's epoch (0 before the first).
    pub fn epoch(&self) -> u64 {
        self.decision.as_ref().map_or(0, |d| d.epoch)
    }
}
