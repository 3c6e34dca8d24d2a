//! `EventLogger`: one log line per state change (docs/operations.md ("Logs")), written from the
//! bus so that every part's changes are logged the same way, with the
//! backend, the reason and the session counts the event carries.

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use switchboard_core::bus::{Bus, EventKind};

/// Logs every bus event until `stop`.
pub(super) async fn run(bus: Bus, stop: CancellationToken) {
    let mut events = bus.subscribe();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            e = events.recv() => e,
        };
        match event {
            Ok(e) => match &e.kind {
                EventKind::SessionsChanged { .. } => {
                    debug!(
                        event = e.kind.type_name(),
                        index = e.index,
                        "{}",
                        e.kind.describe()
                    )
                }
                // The coordination going wrong needs an operator's eye.
                EventKind::CoordinatorLost { .. } | EventKind::LocalDisagreement { .. } => {
                    warn!(
                        event = e.kind.type_name(),
                        index = e.index,
                        "{}",
                        e.kind.describe()
                    )
                }
                _ => info!(
                    event = e.kind.type_name(),
                    index = e.index,
                    "{}",
                    e.kind.describe()
                ),
            },
            Err(RecvError::Lagged(missed)) => {
                warn!(
                    missed,
                    "event logger lagged; see /v0/events for the full log"
                )
            }
            Err(RecvError::Closed) => return,
        }
    }
}
