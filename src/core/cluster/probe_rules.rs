//! What the cluster applies to a probe on top of the `rise`/`fall` counts:
//! Galera cross-node staleness and the `failback_after` wait
//! (docs/configuration.md, "The mysql check" and `monitor.failback_after`).
//!
//! Owns the writer's monotonic bookkeeping: every backend's latest Galera
//! facts (through the pure [`Consistency`] rule) and since when each backend
//! has been healthy without a break. A stale node is made unhealthy at once,
//! with the stale reason, whichever probe revealed it. The failback wait has
//! no timer of its own: the election re-runs on every applied probe, so a
//! wait that ends is acted on by the next probe of any backend, at most one
//! `monitor.interval` late. Never touches a socket or the bus directly: the
//! events go to the writer's pending list like every other change.

use std::time::{Duration, Instant, SystemTime};

use switchboard_config::Config;

use super::{Cluster, Writer};
use crate::bus::EventKind;
use crate::consistency::{Consistency, GaleraFacts};

/// The writer's state for the rules of this module.
pub(super) struct ProbeRules {
    /// The staleness rule's facts and timers.
    consistency: Consistency,
    /// Per backend: since when it has been healthy without a break (the
    /// probe that ended its rise); `None` while unhealthy or unknown.
    healthy_since: Vec<Option<Instant>>,
    /// The latest instant seen: never goes back, so an injected instant (in
    /// tests) and the real clock agree on order.
    clock: Instant,
}

impl ProbeRules {
    /// Nothing known yet about the configured backends.
    pub(super) fn new(config: &Config) -> ProbeRules {
        let n = config.backends.len();
        ProbeRules {
            consistency: Consistency::new(n, config.monitor.interval),
            healthy_since: vec![None; n],
            clock: Instant::now(),
        }
    }

    /// The rules for a reloaded configuration: `kept[new]` is the old
    /// position of each backend kept by the reload. Since-when-healthy
    /// carries over (a reload does not restart a failback wait); the Galera
    /// facts start afresh (the next probes bring them within one interval).
    pub(super) fn remapped(&self, config: &Config, kept: &[Option<usize>]) -> ProbeRules {
        ProbeRules {
            consistency: Consistency::new(config.backends.len(), config.monitor.interval),
            healthy_since: kept
                .iter()
                .map(|old| old.and_then(|o| self.healthy_since.get(o).copied().flatten()))
                .collect(),
            clock: self.clock,
        }
    }

    /// The later of `at`, the real clock and every instant seen before.
    pub(super) fn now(&mut self, at: Instant) -> Instant {
        self.clock = self.clock.max(at).max(Instant::now());
        self.clock
    }

    /// Records the facts of a probe of `pos` at `at` and judges every node:
    /// per backend, the reason it is stale.
    pub(super) fn judge(
        &mut self,
        pos: usize,
        facts: Option<GaleraFacts>,
        at: Instant,
    ) -> Vec<Option<String>> {
        self.consistency.observe(pos, facts, at);
        self.consistency.evaluate(at)
    }

    /// Backend `pos` crossed a health edge at `at`.
    pub(super) fn health_edge(&mut self, pos: usize, healthy: bool, at: Instant) {
        if let Some(since) = self.healthy_since.get_mut(pos) {
            *since = healthy.then_some(at);
        }
    }

    /// How long each backend has been healthy without a break, at `at`.
    pub(super) fn healthy_for(&self, at: Instant) -> Vec<Option<Duration>> {
        self.healthy_since
            .iter()
            .map(|since| since.map(|s| at.saturating_duration_since(s)))
            .collect()
    }
}

impl Cluster {
    /// Makes every healthy backend other than `probed` that `stale` names
    /// unhealthy at once, with its stale reason; returns the election cause
    /// when one was.
    pub(super) fn mark_stale_peers(
        &self,
        w: &mut Writer,
        probed: usize,
        stale: &[Option<String>],
        now: SystemTime,
        at: Instant,
    ) -> Option<String> {
        let mut cause = None;
        for (pos, reason) in stale.iter().enumerate() {
            let Some(reason) = reason else { continue };
            if pos == probed || w.truth.backends[pos].healthy != Some(true) {
                continue;
            }
            if w.hysteresis[pos].force(false).is_none() {
                continue;
            }
            w.rules.health_edge(pos, false, at);
            let b = &mut w.truth.backends[pos];
            b.healthy = Some(false);
            b.reason = reason.clone();
            b.health_changed_at = Some(now);
            cause = Some(format!("{} unhealthy: {reason}", b.name));
            w.pending.push(EventKind::HealthChanged {
                backend: b.name.clone(),
                healthy: false,
                reason: reason.clone(),
            });
        }
        cause
    }

    /// The cause of an election run only because time passed: a backend
    /// may have waited `failback_after` by now. `None` when no wait is
    /// configured (the election could not change).
    pub(super) fn failback_wait_cause(w: &Writer) -> Option<String> {
        let e = &w.election;
        (e.failback && !e.failback_after.is_zero()).then(|| {
            format!(
                "healthy without a break for monitor.failback_after ({:?})",
                e.failback_after
            )
        })
    }
}

#[cfg(test)]
#[path = "probe_rules_tests.rs"]
mod tests;
