//! `/publish/EventLog` (`traffic_monitor/health/event.go`): one event each
//! time a cache's published availability changes, numbered as Traffic
//! Monitor numbers its own: `index` from 0, one more per event, no gap;
//! newest first; at most [`MAX_EVENTS`] kept (Traffic Monitor's default
//! `max_events`).
//!
//! Owns that log and the task that feeds it. The bus's indices count every
//! event (sessions included), so they cannot be Traffic Monitor's: the
//! follower wakes on each cluster event (never acting on its payload; a lag
//! only wakes it too), reads the truth that contains it, and compares every
//! backend's verdict with the last one it recorded, as Traffic Monitor's
//! `health.CalcAvailability` compares each poll with the last status. A
//! backend seen for the first time (at start, or added by a reload) gets an
//! event when it is available, as Traffic Monitor's first poll of an
//! available cache does. `name` and `hostname` are both the backend's name
//! (Traffic Monitor writes the cache name in both). The handler catches up
//! too, so a read right after a change already lists it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::super::tm_model::{unix_seconds, verdict};
use super::super::App;
use super::CACHE_TYPE;
use switchboard_core::bus::EventKind;

/// How many events the log keeps (Traffic Monitor's `max_events` default).
pub(crate) const MAX_EVENTS: usize = 200;

/// One event (`health.Event`, fields in its order; `time` is Unix seconds,
/// as `health.Time` marshals).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TmEvent {
    time: i64,
    index: u64,
    description: String,
    name: String,
    hostname: String,
    #[serde(rename = "type")]
    kind: &'static str,
    is_available: bool,
    ipv4_available: bool,
    ipv6_available: bool,
}

/// `datareq.JSONEvents`.
#[derive(Serialize)]
pub(crate) struct JsonEvents {
    events: Vec<TmEvent>,
}

/// The log and what it last saw.
#[derive(Default)]
pub(crate) struct EventLog {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// `Truth::last_event_index` of the truth last compared; `None` before
    /// the first comparison.
    seen: Option<u64>,
    /// The last recorded availability per backend name.
    available: BTreeMap<String, bool>,
    /// The index the next event gets.
    next_index: u64,
    /// Newest first.
    events: VecDeque<TmEvent>,
}

impl EventLog {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (each
        // update is applied whole or not at all), so keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compares the current truth with what was last recorded and records
    /// an event for every backend whose availability changed.
    fn catch_up(&self, app: &App) {
        let snap = app.ctx.combiner.snapshot();
        let truth = &snap.truth;
        let mut log = self.lock();
        if log.seen == Some(truth.last_event_index) {
            return;
        }
        log.seen = Some(truth.last_event_index);
        let time = event_time(app, truth.last_event_index);
        let publish = app.ctx.config.get().traffic_monitor.publish;
        let mut now = BTreeMap::new();
        for (pos, b) in truth.backends.iter().enumerate() {
            let v = verdict(truth, pos, publish);
            let before = log.available.get(&b.name).copied().unwrap_or(false);
            if v.available != before {
                let index = log.next_index;
                log.next_index += 1;
                log.events.push_front(TmEvent {
                    time,
                    index,
                    description: v.status,
                    name: b.name.clone(),
                    hostname: b.name.clone(),
                    kind: CACHE_TYPE,
                    is_available: v.available,
                    ipv4_available: v.ipv4,
                    ipv6_available: v.ipv6,
                });
            }
            now.insert(b.name.clone(), v.available);
        }
        log.events.truncate(MAX_EVENTS);
        log.available = now;
    }

    /// The events, newest first.
    fn events(&self) -> Vec<TmEvent> {
        self.lock().events.iter().cloned().collect()
    }
}

/// The Unix time of bus event `index` (the change the truth records), or
/// now when the ring no longer has it.
fn event_time(app: &App, index: u64) -> i64 {
    let bus = app.ctx.cluster.bus();
    let time = bus
        .since(index.saturating_sub(1))
        .first()
        .filter(|e| e.index == index)
        .map_or_else(SystemTime::now, |e| e.time);
    unix_seconds(time)
}

/// Whether an event can change this instance's own verdict on a cache.
/// The bridge's session events cannot (they are not part of the truth),
/// and neither can the coordination's: a new leader, a lost or rejoined
/// store and a local disagreement change no verdict by themselves (a
/// decision that moves the active comes with its own `active_changed`).
/// The log records this instance's own verdicts, as Traffic Monitor's
/// records its own polls: peers' views combine only in CrStates.
fn concerns_caches(kind: &EventKind) -> bool {
    match kind {
        EventKind::ActiveChanged { .. }
        | EventKind::StandbyChanged { .. }
        | EventKind::HealthChanged { .. }
        | EventKind::RoutingChanged { .. }
        | EventKind::MonitoringChanged { .. }
        | EventKind::BackendStateChanged { .. }
        | EventKind::ConfigReloaded { .. } => true,
        EventKind::SessionsChanged { .. }
        | EventKind::SessionsSevered { .. }
        | EventKind::CoordinatorLost { .. }
        | EventKind::CoordinatorRejoined { .. }
        | EventKind::LeaderChanged { .. }
        | EventKind::LocalDisagreement { .. }
        | EventKind::PeerViewChanged { .. } => false,
    }
}

/// Feeds the log until the API stops: records the state at start, then
/// catches up on every cluster event (and after a lag).
pub(crate) async fn follow(app: App) {
    let mut events = app.ctx.cluster.bus().subscribe();
    let log = &app.traffic_monitor.events;
    log.catch_up(&app);
    loop {
        tokio::select! {
            () = app.stop.cancelled() => return,
            received = events.recv() => match received {
                Ok(e) if !concerns_caches(&e.kind) => {}
                Ok(_) | Err(RecvError::Lagged(_)) => log.catch_up(&app),
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// `GET /publish/EventLog` (`datareq/eventlog.go`).
pub(crate) async fn event_log(State(app): State<App>) -> Json<JsonEvents> {
    let log = &app.traffic_monitor.events;
    log.catch_up(&app);
    Json(JsonEvents {
        events: log.events(),
    })
}
