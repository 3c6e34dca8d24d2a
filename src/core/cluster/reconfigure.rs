//! A reload's effect on the [`Cluster`]: the new backend list, the new
//! probe and election settings, under the writer lock like every change.
//!
//! A backend is *kept* when the new file has one with the same name, host
//! and port; it keeps everything it had (verdict, history, streak, admin
//! state, counters: its `Arc<BackendHandles>` is its identity), whatever
//! position it moves to. Every other new backend is added unknown and
//! becomes electable with its first verdict; every old one not kept leaves
//! the truth (the bridge severs its sessions when it sees its handles
//! gone). The active and standby follow their backend to its new position
//! and are re-elected only when it left, so a reload that does not concern
//! them moves no route. Must never touch operator state (routing,
//! monitoring, admin states survive a reload) and never publish an edge it
//! did not make.

use std::sync::Arc;
use switchboard_config::{BackendConfig, Check, Config};

use super::{BackendTruth, Cluster, Writer};
use crate::backend_handles::BackendHandles;
use crate::bus::{AdminState, EventKind};
use crate::election::ActiveElection;
use crate::hysteresis::Hysteresis;

/// What a reload did to the backend list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Backends new to the truth, by name.
    pub added: Vec<String>,
    /// Backends that left it (removed, or re-addressed and so new).
    pub removed: Vec<String>,
    /// Whether positions changed (`Truth::layout` was bumped).
    pub layout_changed: bool,
}

impl Cluster {
    /// Applies a reloaded configuration's backend list, rise/fall and
    /// election settings, and publishes `config_reloaded` (with `summary`,
    /// the runner's one line of what changed) before any election edge it
    /// causes.
    pub fn reconfigure(&self, config: &Config, summary: &str, actor: &str) -> Reconfigured {
        let mut guard = self.lock();
        let w = &mut *guard;
        let old = std::mem::take(&mut w.truth.backends);
        let kept: Vec<Option<usize>> = config
            .backends
            .iter()
            .map(|b| {
                old.iter()
                    .position(|o| o.name == b.name && o.host == b.host && o.port == b.port)
            })
            .collect();
        let mut done = Reconfigured {
            layout_changed: kept.len() != old.len()
                || kept.iter().enumerate().any(|(p, k)| *k != Some(p)),
            ..Reconfigured::default()
        };
        w.truth.backends = config
            .backends
            .iter()
            .zip(&kept)
            .enumerate()
            .map(|(pos, (b, k))| {
                let mut t = match k {
                    Some(o) => old[*o].clone(),
                    None => {
                        done.added.push(b.name.clone());
                        fresh(b, pos)
                    }
                };
                // A probe-given index (Galera's wsrep_local_index) stays
                // until the next probe; otherwise the index is the position.
                if !matches!(b.check, Check::Galera { .. } | Check::Mysql(_)) {
                    t.index = pos as u64;
                }
                t
            })
            .collect();
        done.removed = old
            .iter()
            .enumerate()
            .filter(|(o, _)| !kept.contains(&Some(*o)))
            .map(|(_, b)| b.name.clone())
            .collect();
        let moved = |p: Option<usize>| p.and_then(|p| kept.iter().position(|k| *k == Some(p)));
        let lost_active = w.truth.active.is_some() && moved(w.truth.active).is_none();
        let old_active = w.truth.active.map(|p| old[p].name.clone());
        let old_standby = w.truth.standby.map(|p| old[p].name.clone());
        w.truth.active = moved(w.truth.active);
        w.truth.standby = moved(w.truth.standby);
        if done.layout_changed {
            w.truth.layout += 1;
        }
        w.hysteresis = kept
            .iter()
            .map(|k| match k {
                Some(o) => {
                    w.hysteresis[*o].with_thresholds(config.monitor.rise, config.monitor.fall)
                }
                None => Hysteresis::new(config.monitor.rise, config.monitor.fall),
            })
            .collect();
        w.rules = w.rules.remapped(config, &kept);
        w.election = ActiveElection {
            failback: config.monitor.failback,
            failback_after: config.monitor.failback_after,
        };
        w.pending.push(EventKind::ConfigReloaded {
            summary: summary.to_string(),
            actor: actor.to_string(),
        });
        let cause = if done.removed.is_empty() {
            format!("configuration reloaded: {summary}")
        } else {
            format!(
                "configuration reloaded: {} removed",
                done.removed.join(", ")
            )
        };
        let before = w.pending.len();
        self.reelect(w, &cause);
        self.report_lost_roles(w, before, &old_active, &old_standby, &cause);
        // The election saw the left backends as "none": name them.
        for event in &mut w.pending[before..] {
            match event {
                EventKind::ActiveChanged { from, to, .. } if from.is_none() => {
                    *from = old_active.clone();
                    if lost_active && to.is_some() {
                        w.truth.failovers += 1;
                    }
                }
                EventKind::StandbyChanged { from, .. } if from.is_none() => {
                    *from = old_standby.clone();
                }
                _ => {}
            }
        }
        self.commit(w);
        done
    }

    /// A role whose backend the reload removed, with nobody electable to
    /// take it (or the election not run yet), is lost all the same: the
    /// election saw "none" before and after, so it moved no epoch and said
    /// nothing. Found by the election property test (src/core/tests/
    /// properties): the active left with no NEW_ACTIVE event and the same
    /// `active_epoch`. Queues the missing edge (named by the loop below in
    /// `reconfigure`) and bumps the epoch.
    fn report_lost_roles(
        &self,
        w: &mut Writer,
        from: usize,
        old_active: &Option<String>,
        old_standby: &Option<String>,
        cause: &str,
    ) {
        let said = |w: &Writer, active: bool| {
            w.pending[from..].iter().any(|e| match e {
                EventKind::ActiveChanged { .. } => active,
                EventKind::StandbyChanged { .. } => !active,
                _ => false,
            })
        };
        if old_active.is_some() && w.truth.active.is_none() && !said(w, true) {
            w.pending.push(EventKind::ActiveChanged {
                from: None,
                to: None,
                reason: cause.to_string(),
            });
            w.truth.active_epoch += 1;
        }
        if old_standby.is_some() && w.truth.standby.is_none() && !said(w, false) {
            w.pending.push(EventKind::StandbyChanged {
                from: None,
                to: None,
                reason: cause.to_string(),
            });
            w.truth.standby_epoch += 1;
        }
    }
}

/// A backend new to the truth: unknown, enabled, counted from zero.
fn fresh(b: &BackendConfig, pos: usize) -> BackendTruth {
    BackendTruth {
        name: b.name.clone(),
        host: b.host.clone(),
        port: b.port,
        handles: Arc::new(BackendHandles::default()),
        healthy: None,
        index: pos as u64,
        reason: "added by a reload; not probed yet".into(),
        health_changed_at: None,
        last_check: None,
        history: Default::default(),
        admin: AdminState::Enabled,
        admin_message: String::new(),
        admin_epoch: 0,
    }
}

#[cfg(test)]
#[path = "reconfigure_tests.rs"]
mod tests;
