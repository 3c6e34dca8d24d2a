//! Cross-node consistency of a Galera cluster probed by `mysql` checks
//! (docs/configuration.md, "The mysql check"): which nodes are stale.
//!
//! A node is stale when, for longer than one probe interval, its
//! `wsrep_cluster_conf_id` is lower than the highest one the other
//! Primary-component nodes report, or its `wsrep_cluster_state_uuid`
//! differs from theirs (the majority's). A node that was paused and resumed
//! reports `Synced` for seconds before it notices it was evicted; a node
//! probed a moment before a membership change looks behind until its next
//! probe, which is why the rule waits one interval and also wants a probe of
//! the node itself taken after it first looked behind.
//!
//! Pure: time comes in as an argument, nothing here reads a clock, and
//! nothing here knows about sockets or the election. The cluster feeds it
//! every probe's facts and applies its answers.

use std::time::{Duration, Instant};

/// What a `mysql` probe of a Galera node reports about the cluster it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaleraFacts {
    /// `wsrep_cluster_status` is `Primary`.
    pub primary: bool,
    /// `wsrep_cluster_conf_id`: grows with every membership change.
    pub conf_id: u64,
    /// `wsrep_cluster_state_uuid`: the cluster's history.
    pub state_uuid: String,
}

/// The latest facts of every backend and how long each has looked behind.
#[derive(Debug, Clone)]
pub struct Consistency {
    /// The probe interval: how long a node must look behind to be stale.
    interval: Duration,
    /// Per backend, in config order.
    nodes: Vec<Node>,
}

/// One backend's part of the rule.
#[derive(Debug, Clone, Default)]
struct Node {
    /// The facts of its latest probe; `None` when that probe read none
    /// (failed, or not a Galera node).
    facts: Option<GaleraFacts>,
    /// When its latest probe was observed.
    observed_at: Option<Instant>,
    /// Since when it has looked behind without a break.
    behind_since: Option<Instant>,
}

impl Consistency {
    /// Nothing known about `backends` nodes probed every `interval`.
    pub fn new(backends: usize, interval: Duration) -> Consistency {
        Consistency {
            interval,
            nodes: vec![Node::default(); backends],
        }
    }

    /// Records the facts (or their absence) of a probe of `pos` taken at `now`.
    pub fn observe(&mut self, pos: usize, facts: Option<GaleraFacts>, now: Instant) {
        if let Some(node) = self.nodes.get_mut(pos) {
            node.facts = facts;
            node.observed_at = Some(now);
        }
    }

    /// Judges every node at `now`: per backend, why it is stale (`None`:
    /// not stale). A node is stale once it has looked behind for longer
    /// than one interval and a probe of its own, taken after it first
    /// looked behind, still does.
    pub fn evaluate(&mut self, now: Instant) -> Vec<Option<String>> {
        let facts: Vec<Option<&GaleraFacts>> =
            self.nodes.iter().map(|n| n.facts.as_ref()).collect();
        let behind: Vec<Option<String>> = (0..facts.len()).map(|i| behind(i, &facts)).collect();
        self.nodes
            .iter_mut()
            .zip(behind)
            .map(|(node, behind)| {
                let Some(reason) = behind else {
                    node.behind_since = None;
                    return None;
                };
                let since = *node.behind_since.get_or_insert(now);
                let long_enough = now.saturating_duration_since(since) > self.interval;
                let probed_since = node.observed_at.is_some_and(|at| at > since);
                (long_enough && probed_since).then(|| format!("stale: {reason}"))
            })
            .collect()
    }
}

/// Whether node `pos` looks behind the other Primary-component nodes right
/// now, and why. A node that is not in the Primary component itself (its
/// verdict is unhealthy anyway), or that has no Primary peers, is never
/// behind. Configuration ids of different cluster histories cannot be
/// compared, so the id is compared among the peers sharing its state uuid.
pub fn behind(pos: usize, facts: &[Option<&GaleraFacts>]) -> Option<String> {
    let me = facts.get(pos).copied().flatten().filter(|f| f.primary)?;
    let peers: Vec<&GaleraFacts> = facts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != pos)
        .filter_map(|(_, f)| f.filter(|f| f.primary))
        .collect();
    if let Some(majority) = majority_uuid(&peers) {
        if majority != me.state_uuid {
            return Some(format!(
                "wsrep_cluster_state_uuid {} differs from the other Primary nodes' {majority}",
                me.state_uuid
            ));
        }
    }
    let highest = peers
        .iter()
        .filter(|f| f.state_uuid == me.state_uuid)
        .map(|f| f.conf_id)
        .max()?;
    (me.conf_id < highest).then(|| {
        format!(
            "wsrep_cluster_conf_id {} is behind {highest} of the other Primary nodes",
            me.conf_id
        )
    })
}

/// The state uuid more than half of `peers` report, if one does.
fn majority_uuid<'f>(peers: &[&'f GaleraFacts]) -> Option<&'f str> {
    peers.iter().map(|f| f.state_uuid.as_str()).find(|uuid| {
        let count = peers.iter().filter(|f| f.state_uuid == *uuid).count();
        count * 2 > peers.len()
    })
}

#[cfg(test)]
#[path = "consistency_tests.rs"]
mod tests;
