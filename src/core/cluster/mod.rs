//! `Cluster`: the single writer of the authoritative [`Truth`].
//!
//! The monitor feeds it probe results; the API feeds it operator commands.
//! Each change runs the election, swaps in a new immutable `Truth` and
//! publishes the resulting events on the bus, all under one short lock, so
//! that the order of events on the bus is the order of changes to the truth.
//! Readers (the bridge's route reconciler, the combiner, the API) load the
//! latest `Truth` without taking that lock. This module never touches a
//! socket; it must stay fast enough to be called from any task. The
//! operators' commands are in `commands.rs`, the probe rules (staleness,
//! failback_after) in `probe_rules.rs`, a reload's new backend list and
//! settings in `reconfigure.rs`.

mod commands;
mod decisions;
pub mod operator_state;
pub mod probe_latency;
mod probe_rules;
mod reconfigure;
mod truth;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::backend_handles::BackendHandles;
use crate::bus::{Bus, EventKind};
use crate::consistency::GaleraFacts;
use crate::coordination::CoordinationStatus;
use crate::election::ActiveElection;
use crate::hysteresis::Hysteresis;
use probe_rules::ProbeRules;
use switchboard_config::{Config, CoordinationKind};

pub use operator_state::OperatorState;
pub use probe_latency::{HistogramSnapshot, LatencyHistogram};
pub use reconfigure::Reconfigured;
pub use truth::{BackendTruth, CheckRecord, Monitoring, Routing, Truth, HISTORY};

/// The verdict of one probe, as the monitor hands it over.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub ok: bool,
    /// The galera `wsrep_local_index`; `None` keeps the current index.
    pub index: Option<u64>,
    pub reason: String,
    pub latency: Duration,
    /// What a `mysql` probe of a Galera node read about its cluster (for
    /// the cross-node staleness rule); `None` for every other probe.
    pub galera: Option<GaleraFacts>,
}

/// Why an operator command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// No backend has that name.
    UnknownBackend,
    /// The change could not be written to the state file, so it was not
    /// made (nothing changed in memory either).
    NotPersisted(String),
    /// `[coordination]`: the store that holds the operator state cannot
    /// take the change now (unreachable, or this instance is stopping), so
    /// it was made nowhere.
    Unavailable(String),
}

/// Shared handle; clone freely.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Shared>,
}

struct Shared {
    bus: Bus,
    /// Where operator decisions are saved (`[state] file`).
    state_file: Option<PathBuf>,
    writer: Mutex<Writer>,
    published: ArcSwap<Truth>,
    version: watch::Sender<u64>,
}

/// What only the writer sees: the next truth, the probe streaks and the
/// events of the change in progress (published by `commit`, after the new
/// truth is visible, so a subscriber woken by an event always reads a truth
/// that already contains it).
struct Writer {
    truth: Truth,
    /// The election's settings (`failback`, `failback_after`); a reload
    /// replaces them.
    election: ActiveElection,
    hysteresis: Vec<Hysteresis>,
    pending: Vec<EventKind>,
    /// Galera staleness and the failback wait (`probe_rules.rs`).
    rules: ProbeRules,
    /// `[coordination] kind = "etcd"`: routes come from the shared
    /// decision (`decisions.rs`), never from this instance's own election.
    coordinated: bool,
    /// The backend this instance last raised `local_disagreement` for, so
    /// one disagreement is one event, not one per probe.
    disagreeing: Option<String>,
}

impl Cluster {
    /// A cluster with every backend unknown, operator state as restored.
    pub fn new(config: &Config, restored: &OperatorState, bus: Bus) -> Cluster {
        let now = SystemTime::now();
        let backends = config
            .backends
            .iter()
            .enumerate()
            .map(|(pos, b)| {
                let (admin, admin_message) = restored.backend(&b.name);
                BackendTruth {
                    name: b.name.clone(),
                    host: b.host.clone(),
                    port: b.port,
                    handles: Arc::new(BackendHandles::default()),
                    healthy: None,
                    index: pos as u64,
                    reason: "not probed yet".into(),
                    health_changed_at: None,
                    last_check: None,
                    history: Default::default(),
                    admin,
                    admin_message,
                    admin_epoch: 0,
                }
            })
            .collect();
        let truth = Truth {
            routing: Routing {
                enabled: restored.routing_enabled,
                message: restored.routing_message.clone(),
                changed_at: now,
            },
            monitoring: Monitoring {
                enabled: restored
                    .monitoring_enabled
                    .unwrap_or(config.monitor.enabled),
                changed_at: now,
            },
            backends,
            active: None,
            active_epoch: 0,
            standby: None,
            standby_epoch: 0,
            routing_epoch: 0,
            layout: 0,
            failovers: 0,
            version: 0,
            last_event_index: bus.last_index(),
            started_at: now,
            coordination: match &config.coordination.kind {
                CoordinationKind::None => None,
                CoordinationKind::Etcd(etcd) => Some(Arc::new(CoordinationStatus::joining(
                    &etcd.instance,
                    etcd.combine,
                    etcd.on_coordinator_lost,
                ))),
            },
        };
        let hysteresis = config
            .backends
            .iter()
            .map(|_| Hysteresis::new(config.monitor.rise, config.monitor.fall))
            .collect();
        let (version, _) = watch::channel(0);
        Cluster {
            inner: Arc::new(Shared {
                bus,
                state_file: config.state.file.clone(),
                published: ArcSwap::from_pointee(truth.clone()),
                writer: Mutex::new(Writer {
                    truth,
                    election: ActiveElection {
                        failback: config.monitor.failback,
                        failback_after: config.monitor.failback_after,
                    },
                    hysteresis,
                    pending: Vec::new(),
                    rules: ProbeRules::new(config),
                    coordinated: !matches!(config.coordination.kind, CoordinationKind::None),
                    disagreeing: None,
                }),
                version,
            }),
        }
    }

    /// The latest truth, without locking.
    pub fn truth(&self) -> Arc<Truth> {
        self.inner.published.load_full()
    }

    /// The bus this cluster publishes on.
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// Wakes on every change of the truth, probe records included.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.version.subscribe()
    }

    /// Records one probe of backend `pos` in the current layout (tests and
    /// tools; the monitor uses [`Self::apply_probe_in`]).
    pub fn apply_probe(&self, pos: usize, probe: ProbeResult) {
        let layout = self.lock().truth.layout;
        self.apply_probe_at(layout, pos, probe, Instant::now());
    }

    /// Records one probe of backend `pos` of layout `layout` (the truth's
    /// `layout` when the probe task was started). Ignored while monitoring
    /// is off, so a probe that was in flight when monitoring paused changes
    /// nothing, and ignored after a reload moved the backends, so a probe
    /// that was in flight then is never applied to another backend.
    pub fn apply_probe_in(&self, layout: u64, pos: usize, probe: ProbeResult) {
        self.apply_probe_at(layout, pos, probe, Instant::now());
    }

    /// [`Self::apply_probe_in`] at the monotonic instant `at` (tests move
    /// it forward; the writer's clock never goes back).
    pub(crate) fn apply_probe_at(&self, layout: u64, pos: usize, probe: ProbeResult, at: Instant) {
        let mut guard = self.lock();
        let w = &mut *guard;
        if !w.truth.monitoring.enabled || layout != w.truth.layout || pos >= w.truth.backends.len()
        {
            return;
        }
        w.truth.backends[pos].handles.latency.observe(probe.latency);
        let now = SystemTime::now();
        let at = w.rules.now(at);
        // A stale Galera node is unhealthy at once, whatever it says itself.
        let stale = w.rules.judge(pos, probe.galera.clone(), at);
        let (probe, edge) = match &stale[pos] {
            Some(reason) if probe.ok => {
                let edge = w.hysteresis[pos].force(false);
                let reason = reason.clone();
                (
                    ProbeResult {
                        ok: false,
                        reason,
                        ..probe
                    },
                    edge,
                )
            }
            _ => {
                let edge = w.hysteresis[pos].observe(probe.ok);
                (probe, edge)
            }
        };
        let b = &mut w.truth.backends[pos];
        let record = CheckRecord {
            at: now,
            latency: probe.latency,
            ok: probe.ok,
            reason: probe.reason.clone(),
        };
        if b.history.len() == HISTORY {
            b.history.pop_front();
        }
        b.history.push_back(record.clone());
        b.last_check = Some(record);
        let mut cause = None;
        if probe.ok {
            if let Some(index) = probe.index {
                if index != b.index && b.healthy == Some(true) {
                    cause = Some(format!("{} index {} -> {index}", b.name, b.index));
                }
                b.index = index;
            }
        }
        if let Some(healthy) = edge {
            w.rules.health_edge(pos, healthy, at);
            b.healthy = Some(healthy);
            b.reason = probe.reason.clone();
            b.health_changed_at = Some(now);
            let name = b.name.clone();
            cause = Some(format!(
                "{name} {}: {}",
                if healthy { "healthy" } else { "unhealthy" },
                probe.reason
            ));
            w.pending.push(EventKind::HealthChanged {
                backend: name,
                healthy,
                reason: probe.reason,
            });
        } else if b.healthy == Some(probe.ok) {
            // Keep the reason of the current state fresh (e.g. a new index).
            b.reason = probe.reason;
        }
        let peers = self.mark_stale_peers(w, pos, &stale, now, at);
        // Re-run the election on every probe while a failback wait may end.
        let cause = cause.or(peers).or_else(|| Cluster::failback_wait_cause(w));
        if let Some(cause) = cause {
            self.reelect(w, &cause);
        }
        self.commit(w);
    }

    /// Re-runs the election after `cause` and queues its edges; the caller
    /// commits.
    fn reelect(&self, w: &mut Writer, cause: &str) {
        if w.coordinated {
            // The leader elects for every instance (`decisions.rs`); a
            // local edge only tells whether this instance disagrees.
            Cluster::check_local_agreement(w);
            return;
        }
        // No election until every backend has its first verdict: electing
        // on partial information lets whichever backend answers first win
        // the startup (a spurious failover once the lower index answers, and
        // with failback = false the wrong active for good). Every probe ends
        // within the monitor timeout, and the runner keeps the proxy ports
        // closed until then anyway.
        // (After the first election, a backend a reload added is simply not
        // electable until its first verdict.)
        let first = w.truth.active_epoch == 0 && w.truth.standby_epoch == 0;
        if first && w.truth.backends.iter().any(|b| b.healthy.is_none()) {
            return;
        }
        let at = w.rules.now(Instant::now());
        let healthy_for = w.rules.healthy_for(at);
        let truth = &mut w.truth;
        let active = w
            .election
            .elect_active_after(&truth.backends, truth.active, &healthy_for);
        let standby = w.election.elect_standby(&truth.backends);
        // The first election is not caused by whichever probe answered last.
        let cause = if truth.active_epoch == 0 && truth.standby_epoch == 0 {
            let electable = truth.backends.iter().filter(|b| b.electable()).count();
            format!(
                "startup: {electable} of {} backends healthy and enabled",
                truth.backends.len()
            )
        } else {
            cause.to_string()
        };
        Cluster::move_routes(w, active, standby, &cause);
    }

    /// Moves the active and standby ports to the backends at `active` and
    /// `standby`, with their events (`reason`), epochs and the failover
    /// count: the one place a route moves, for this instance's election and
    /// for the shared decision (`decisions.rs`) alike. The caller commits.
    fn move_routes(w: &mut Writer, active: Option<usize>, standby: Option<usize>, reason: &str) {
        let truth = &mut w.truth;
        let name = |p: Option<usize>| p.map(|p| truth.backends[p].name.clone());
        if active != truth.active {
            if truth.active.is_some() && active.is_some() {
                truth.failovers += 1;
            }
            w.pending.push(EventKind::ActiveChanged {
                from: name(truth.active),
                to: name(active),
                reason: reason.to_string(),
            });
            truth.active = active;
            truth.active_epoch += 1;
        }
        if standby != truth.standby {
            w.pending.push(EventKind::StandbyChanged {
                from: name(truth.standby),
                to: name(standby),
                reason: reason.to_string(),
            });
            truth.standby = standby;
            truth.standby_epoch += 1;
        }
    }

    /// Publishes the writer's truth for lock-free readers, then the events
    /// of the change, in order.
    fn commit(&self, w: &mut Writer) {
        w.truth.version += 1;
        let events = std::mem::take(&mut w.pending);
        let truth = &mut w.truth;
        let published = &self.inner.published;
        self.inner.bus.publish_all(events, |last| {
            truth.last_event_index = last;
            published.store(Arc::new(truth.clone()));
        });
        self.inner.version.send_replace(w.truth.version);
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // Every mutation above completes before it commits; a panic midway
        // leaves the published truth unchanged, so poisoning is ignored.
        self.inner.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}
