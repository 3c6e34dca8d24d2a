//! The leader's two pure rules: how the live views of one backend combine
//! (`majority`, `any`, `all`), and the SPEC 5 election on the combined
//! health.
//!
//! Pure functions of their inputs, so every instance that becomes leader
//! with the same views decides the same, and every rule is tested without
//! a store. Views are joined by backend name, never by position. Must never
//! read a clock: how long a backend has been healthy comes from the caller.

use std::collections::HashMap;
use std::time::Duration;

use switchboard_config::Combine;

use super::status::{CombinedHealth, Decision, PeerView};
use crate::cluster::Truth;
use crate::election::ActiveElection;

/// Combines the live `views` for each backend of `names` (the leader's
/// configuration order). A backend no live view has a verdict on stays
/// unknown (`None`): it is not electable, and the first election waits for
/// it like a single instance's does.
pub fn combine(rule: Combine, names: &[&str], views: &[PeerView]) -> Vec<CombinedHealth> {
    names
        .iter()
        .enumerate()
        .map(|(pos, name)| {
            let verdicts: Vec<_> = views
                .iter()
                .filter_map(|v| v.backends.iter().find(|b| b.name == *name))
                .filter(|b| b.healthy.is_some())
                .collect();
            let healthy_views = verdicts.iter().filter(|b| b.healthy == Some(true)).count();
            let n = views.len();
            let healthy = (!verdicts.is_empty()).then(|| match rule {
                Combine::Majority => healthy_views * 2 > n,
                Combine::Any => healthy_views >= 1,
                Combine::All => healthy_views == n,
            });
            let healthy_indices = verdicts
                .iter()
                .filter(|b| b.healthy == Some(true))
                .map(|b| b.index);
            let index = most_common(healthy_indices)
                .or_else(|| most_common(verdicts.iter().map(|b| b.index)))
                .unwrap_or(pos as u64);
            CombinedHealth {
                name: name.to_string(),
                healthy,
                index,
                healthy_views,
                views: n,
            }
        })
        .collect()
}

/// The most frequent value, the smallest among equals.
fn most_common(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(v, n)| (n, std::cmp::Reverse(v)))
        .map(|(v, _)| v)
}

/// The SPEC 5 election on `combined` health: the leader's own truth gives
/// the backends (order, admin states, which the operator state in the
/// store sets on every instance alike), `combined` replaces their health
/// and index, `current` (the decision in force) is the sitting active, and
/// `healthy_for[pos]` how long backend `pos` has been healthy in the
/// combined view (for `failback_after`).
///
/// `None` while the first decision would be made on partial information
/// (a backend nobody has a verdict on yet), as a single instance waits for
/// every first verdict.
pub fn decide(
    election: &ActiveElection,
    local: &Truth,
    combined: &[CombinedHealth],
    current: Option<&Decision>,
    healthy_for: &[Option<Duration>],
) -> Option<(Option<usize>, Option<usize>)> {
    let mut backends = local.backends.clone();
    for b in &mut backends {
        let c = combined.iter().find(|c| c.name == b.name);
        b.healthy = c.and_then(|c| c.healthy);
        if let Some(c) = c {
            b.index = c.index;
        }
    }
    if current.is_none() && backends.iter().any(|b| b.healthy.is_none()) {
        return None;
    }
    let position = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| backends.iter().position(|b| &b.name == n))
    };
    let sitting = current.and_then(|d| position(&d.active));
    let active = election.elect_active_after(&backends, sitting, healthy_for);
    let standby = election.elect_standby(&backends);
    Some((active, standby))
}

#[cfg(test)]
#[path = "combine_tests.rs"]
mod tests;
