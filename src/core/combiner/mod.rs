//! The combiner: the one read model. It merges the cluster truth and the
//! bridge's session counters into one immutable [`State`] with a monotonic
//! `generation`, which every read endpoint (and the dashboard) serves.
//!
//! The snapshot is folded on demand: [`Combiner::snapshot`] loads the latest
//! truth (one atomic load) and reads the counters, and builds a new `State`
//! only when either changed since the last one; otherwise it hands out the
//! same `Arc`. So a read sees one consistent moment (the event index, the
//! election and the session counts all describe it), counts are exact at the
//! moment of the request, nothing runs while nobody reads, and a lag on the
//! bus cannot leave the snapshot behind. Nothing here is shared with the
//! data path but atomics; the cache lock is taken by readers only.

mod state;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use crate::bus::{AdminState, PortRole};
use crate::cluster::{Cluster, Truth};
use crate::counters::{Outcome, SessionCounters};

pub use state::{BackendState, Counts, PortCounts, Role, Sessions, State};

/// The shared read-model handle; cheap to clone.
#[derive(Clone)]
pub struct Combiner {
    /// The newest snapshot handed out.
    latest: Arc<Mutex<Arc<State>>>,
    /// What snapshots are built from.
    inputs: Arc<Inputs>,
}

/// What a snapshot is built from.
struct Inputs {
    /// The truth's source.
    cluster: Cluster,
    /// The bridge's totals (per-backend counts are in the truth's handles).
    counters: Arc<SessionCounters>,
}

impl Combiner {
    /// Builds the first snapshot now.
    pub fn new(cluster: Cluster, counters: Arc<SessionCounters>) -> Combiner {
        let inputs = Inputs { cluster, counters };
        let truth = inputs.cluster.truth();
        let counts = inputs.counts(&truth);
        let first = inputs.build(1, truth, counts);
        Combiner {
            latest: Arc::new(Mutex::new(Arc::new(first))),
            inputs: Arc::new(inputs),
        }
    }

    /// The read model as of now: the previous snapshot if nothing changed,
    /// else a new one with the next generation.
    pub fn snapshot(&self) -> Arc<State> {
        let truth = self.inputs.cluster.truth();
        let counts = self.inputs.counts(&truth);
        // Only readers take this lock; a panic cannot leave it half-written.
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::ptr_eq(&latest.truth, &truth) && latest.counts == counts {
            return latest.clone();
        }
        let next = Arc::new(self.inputs.build(latest.generation + 1, truth, counts));
        *latest = next.clone();
        next
    }
}

impl Inputs {
    /// The counters of `truth`'s backends, now.
    fn counts(&self, truth: &Truth) -> Counts {
        let c = &self.counters;
        Counts {
            sessions: truth
                .backends
                .iter()
                .map(|b| {
                    let port = |role| {
                        let p = b.handles.counts(role);
                        PortCounts {
                            current: p.current.load(Relaxed),
                            opened: p.opened.load(Relaxed),
                            severed: p.severed.load(Relaxed),
                        }
                    };
                    Sessions {
                        active: port(PortRole::Active),
                        standby: port(PortRole::Standby),
                    }
                })
                .collect(),
            outcomes: Outcome::ALL.iter().map(|o| (*o, c.outcome(*o))).collect(),
            bytes_up: c.bytes_up.load(Relaxed),
            bytes_down: c.bytes_down.load(Relaxed),
            open_total: c.total_current(),
            severed_total: c.total_severed(),
            max_sessions: c.max_sessions(),
        }
    }

    fn build(&self, generation: u64, truth: Arc<Truth>, counts: Counts) -> State {
        let backends = (0..truth.backends.len())
            .map(|pos| BackendState {
                host: truth.backends[pos].host.clone(),
                port: truth.backends[pos].port,
                role: role_of(&truth, pos),
            })
            .collect();
        State {
            generation,
            truth,
            backends,
            counts,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// What backend `pos` is doing right now: active, standby, then the
/// operator's switch, then health.
fn role_of(truth: &Truth, pos: usize) -> Role {
    let b = &truth.backends[pos];
    if truth.active == Some(pos) {
        Role::Active
    } else if truth.standby == Some(pos) {
        Role::Standby
    } else if b.admin == AdminState::Disabled {
        Role::Disabled
    } else if b.admin == AdminState::Drain {
        Role::Drained
    } else if b.healthy == Some(true) {
        Role::Ready
    } else {
        Role::Down
    }
}
