//! `SessionTicker`: turns the session counters into `sessions_changed` bus
//! events, coalesced.
//!
//! Publishing one bus event per connection would put a lock and an
//! allocation on the accept path and drown every subscriber under connection
//! churn. Instead sessions only touch atomics, and this task compares the
//! counters every tick and publishes one event per backend and port that
//! changed, with the opens, closes and severs since the last one. Exact
//! counts are always in the counters themselves; the events say that and
//! roughly when they changed.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use switchboard_core::bus::{EventKind, PortRole};
use switchboard_core::cluster::Cluster;
use switchboard_core::BackendHandles;

/// How often the counters are compared.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Last published (opened, closed, severed) per port, with the backend's
/// handles (its identity: a reload may move or remove it).
type Seen = Vec<(Arc<BackendHandles>, [(u64, u64, u64); 2])>;

/// Publishes the changes of the cluster's backends' counters every tick;
/// a backend a reload removed is no longer reported (its `sessions_severed`
/// events said what happened to its sessions).
pub(crate) async fn run(cluster: Cluster, stop: CancellationToken) {
    let bus = cluster.bus().clone();
    let mut seen: Seen = Vec::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let truth = cluster.truth();
        let mut next: Seen = Vec::with_capacity(truth.backends.len());
        for backend in &truth.backends {
            let last = seen
                .iter()
                .find(|(h, _)| Arc::ptr_eq(h, &backend.handles))
                .map_or([(0, 0, 0); 2], |(_, last)| *last);
            let mut now_seen = last;
            for (slot, port) in [PortRole::Active, PortRole::Standby]
                .into_iter()
                .enumerate()
            {
                let c = backend.handles.counts(port);
                let now = (
                    c.opened.load(Relaxed),
                    c.closed.load(Relaxed),
                    c.severed.load(Relaxed),
                );
                let before = std::mem::replace(&mut now_seen[slot], now);
                if now != before {
                    bus.publish(EventKind::SessionsChanged {
                        backend: backend.name.clone(),
                        port,
                        opened: now.0 - before.0,
                        closed: now.1 - before.1,
                        severed: now.2 - before.2,
                        current: c.current.load(Relaxed),
                    });
                }
            }
            next.push((backend.handles.clone(), now_seen));
        }
        seen = next;
    }
}
