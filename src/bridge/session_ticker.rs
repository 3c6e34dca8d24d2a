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

use switchboard_core::bus::{Bus, EventKind, PortRole};
use switchboard_core::counters::SessionCounters;

/// How often the counters are compared.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// Last published (opened, closed, severed) per backend and port.
type Seen = Vec<[(u64, u64, u64); 2]>;

pub(crate) async fn run(
    counters: Arc<SessionCounters>,
    names: Vec<String>,
    bus: Bus,
    stop: CancellationToken,
) {
    let mut seen: Seen = vec![[(0, 0, 0); 2]; names.len()];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (pos, name) in names.iter().enumerate() {
            for (slot, port) in [PortRole::Active, PortRole::Standby]
                .into_iter()
                .enumerate()
            {
                let c = counters.of(port, pos);
                let now = (
                    c.opened.load(Relaxed),
                    c.closed.load(Relaxed),
                    c.severed.load(Relaxed),
                );
                let before = std::mem::replace(&mut seen[pos][slot], now);
                if now != before {
                    bus.publish(EventKind::SessionsChanged {
                        backend: name.clone(),
                        port,
                        opened: now.0 - before.0,
                        closed: now.1 - before.1,
                        severed: now.2 - before.2,
                        current: c.current.load(Relaxed),
                    });
                }
            }
        }
    }
}
