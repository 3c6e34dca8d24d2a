//! The combiner: folds the bus into one immutable [`State`] snapshot with a
//! monotonic `generation`, which every read endpoint serves.
//!
//! It wakes on every bus event and on every change of the cluster truth
//! (probe records included), then builds a fresh snapshot from the truth and
//! the bridge's counters and swaps it in. Building from the authoritative
//! sources rather than patching the last snapshot with the event makes a lag
//! on the bus harmless: the next snapshot is complete either way. Readers
//! load the snapshot with one atomic operation; nothing here is shared with
//! the data path but atomics.

mod state;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::bus::{AdminState, PortRole};
use crate::cluster::{CheckRecord, Cluster, Truth};
use crate::counters::{Outcome, SessionCounters};
use switchboard_config::Config;

pub use state::{
    BackendState, Check, MonitoringState, Role, RoutingState, Sessions, State, Totals,
};

/// The shared snapshot handle read by the API.
#[derive(Clone)]
pub struct Combiner {
    snapshot: Arc<ArcSwap<State>>,
    inputs: Arc<Inputs>,
}

/// What a snapshot is built from.
struct Inputs {
    cluster: Cluster,
    counters: Arc<SessionCounters>,
    addresses: Vec<(String, u16)>,
}

impl Combiner {
    /// Builds the first snapshot now; `run` keeps it fresh.
    pub fn new(config: &Config, cluster: Cluster, counters: Arc<SessionCounters>) -> Combiner {
        let inputs = Inputs {
            cluster,
            counters,
            addresses: config
                .backends
                .iter()
                .map(|b| (b.host.clone(), b.port))
                .collect(),
        };
        let first = inputs.build(1);
        Combiner {
            snapshot: Arc::new(ArcSwap::from_pointee(first)),
            inputs: Arc::new(inputs),
        }
    }

    /// The latest snapshot (one atomic load, no lock).
    pub fn state(&self) -> Arc<State> {
        self.snapshot.load_full()
    }

    /// Rebuilds on every bus event and truth change until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut events = self.inputs.cluster.bus().subscribe();
        let mut truth = self.inputs.cluster.watch();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                received = events.recv() => match received {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
                changed = truth.changed() => if changed.is_err() { return },
            }
            self.refresh();
        }
    }

    /// Builds and swaps in a new snapshot now.
    pub fn refresh(&self) {
        let generation = self.snapshot.load().generation + 1;
        self.snapshot.store(Arc::new(self.inputs.build(generation)));
    }
}

impl Inputs {
    fn build(&self, generation: u64) -> State {
        let truth: Arc<Truth> = self.cluster.truth();
        let counters = &self.counters;
        let name = |p: Option<usize>| p.map(|p| truth.backends[p].name.clone());
        let backends: Vec<BackendState> = truth
            .backends
            .iter()
            .enumerate()
            .map(|(pos, b)| {
                let role = role_of(&truth, pos);
                let active = counters.of(PortRole::Active, pos).current.load(Relaxed);
                let standby = counters.of(PortRole::Standby, pos).current.load(Relaxed);
                BackendState {
                    name: b.name.clone(),
                    host: self.addresses[pos].0.clone(),
                    port: self.addresses[pos].1,
                    healthy: b.healthy == Some(true),
                    probed: b.healthy.is_some(),
                    index: b.index,
                    admin_state: b.admin,
                    admin_message: b.admin_message.clone(),
                    role,
                    reason: b.reason.clone(),
                    health_changed_at: b.health_changed_at,
                    sessions: Sessions {
                        active,
                        standby,
                        total: active + standby,
                        severed: counters.severed(pos),
                    },
                    last_check: b.last_check.as_ref().map(check),
                    history: b.history.iter().map(check).collect(),
                }
            })
            .collect();
        let connections = Outcome::ALL
            .iter()
            .map(|o| (o.as_str().to_string(), counters.outcome(*o).into()))
            .collect();
        State {
            generation,
            last_event_index: self.cluster.bus().last_index(),
            routing: RoutingState {
                enabled: truth.routing.enabled,
                message: truth.routing.message.clone(),
                changed_at: truth.routing.changed_at,
            },
            monitoring: MonitoringState {
                enabled: truth.monitoring.enabled,
                changed_at: truth.monitoring.changed_at,
            },
            active: name(truth.active),
            standby: name(truth.standby),
            totals: Totals {
                sessions: backends.iter().map(|b| b.sessions.total).sum(),
                failovers: truth.failovers,
                severed: backends.iter().map(|b| b.sessions.severed).sum(),
                connections,
                bytes_up: counters.bytes_up.load(Relaxed),
                bytes_down: counters.bytes_down.load(Relaxed),
            },
            backends,
            started_at: truth.started_at,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// What backend `pos` is doing right now, for people (and `/v0/backends`).
pub fn role_of(truth: &Truth, pos: usize) -> Role {
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

/// One probe record as `/v0/state` and `/v0/backends` show it.
pub fn check(r: &CheckRecord) -> Check {
    Check {
        at: r.at,
        ok: r.ok,
        latency_ms: r.latency.as_secs_f64() * 1000.0,
        reason: r.reason.clone(),
    }
}
