//! The event observer: reads `GET /v0/events?since=N` every
//! [`POLL_EVERY`] and turns every move of a port away from a backend into a
//! sever [`Mark`](crate::log::Mark): `active_changed` from a backend that
//! is not draining (a drained active's sessions are its drain's business)
//! and `standby_changed` from any backend. The change happened after the
//! previous read was sent (that read did not hold it) and before this one
//! answered: those are the mark's `from` and `seen`.
//!
//! It also checks that indices have no gap and that no event was lost from
//! the ring between two reads (either would leave severs unmarked: a
//! violation), and counts what the product says it did (`sessions_severed`,
//! `config_reloaded`) for the report. It stops at the stop signal after one
//! last read, so it has seen everything the chaos driver caused.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use switchboard_harness::Switchboard;

use crate::log::{Log, Port};

/// Time between two reads of the event log.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// What the observer saw.
#[derive(Debug, Default)]
pub(crate) struct ObserverStats {
    pub(crate) reads: u64,
    pub(crate) events: u64,
    pub(crate) active_changes: u64,
    pub(crate) standby_changes: u64,
    /// Sessions the product says it severed (`sessions_severed` events).
    pub(crate) severed_by_events: u64,
    pub(crate) reloads_by_events: u64,
}

/// The observer, positioned at the end of the event log.
pub(crate) struct Observer {
    last: u64,
    /// Each backend's admin state, as the events say.
    admin: HashMap<String, String>,
    /// When the previous read was sent.
    since_sent: Instant,
}

impl Observer {
    /// Reads the admin states and the last event index: what happened
    /// before this is not the phase's business. Must be done before the
    /// phase changes anything.
    pub(crate) async fn start(sb: &Switchboard) -> Observer {
        let since_sent = Instant::now();
        let state = sb.state().await;
        let admin = state["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| {
                let name = b["name"].as_str()?.to_string();
                Some((name, b["adminState"].as_str()?.to_string()))
            })
            .collect();
        let (last, _) = read(sb, None)
            .await
            .unwrap_or_else(|e| panic!("GET /v0/events: {e}"));
        Observer {
            last,
            admin,
            since_sent,
        }
    }

    /// Watches the event log until `stop`, then reads it once more.
    pub(crate) async fn run(
        self,
        sb: &Switchboard,
        mut stop: watch::Receiver<bool>,
        log: Log,
    ) -> ObserverStats {
        let Observer {
            mut last,
            mut admin,
            mut since_sent,
        } = self;
        let mut stats = ObserverStats::default();
        loop {
            let stopping = tokio::select! {
                _ = stop.wait_for(|s| *s) => true,
                _ = tokio::time::sleep(POLL_EVERY) => false,
            };
            let sent = Instant::now();
            let answer = read(sb, Some(last)).await;
            let seen = Instant::now();
            stats.reads += 1;
            match answer {
                Err(e) => log.violation(format!("GET /v0/events?since={last}: {e}")),
                Ok((_, body)) if body["missed"] == true => {
                    log.violation(format!("events after {last} were lost from the ring"));
                    last = body["lastIndex"].as_u64().unwrap_or(last);
                }
                Ok((_, body)) => {
                    for event in body["events"].as_array().into_iter().flatten() {
                        let index = event["index"].as_u64().unwrap_or(0);
                        if index != last + 1 {
                            log.violation(format!("event index {index} after {last}"));
                        }
                        last = index;
                        stats.events += 1;
                        note(event, &mut admin, &mut stats, &log, since_sent, seen);
                    }
                }
            }
            since_sent = sent;
            if stopping {
                return stats;
            }
        }
    }
}

/// One event: marks, admin states and counts.
fn note(
    event: &Value,
    admin: &mut HashMap<String, String>,
    stats: &mut ObserverStats,
    log: &Log,
    from: Instant,
    seen: Instant,
) {
    let text = |k: &str| event[k].as_str().unwrap_or_default().to_string();
    match event["type"].as_str().unwrap_or_default() {
        "backend_state_changed" => {
            admin.insert(text("backend"), text("state"));
        }
        "active_changed" => {
            stats.active_changes += 1;
            let old = text("from");
            if !old.is_empty() && admin.get(&old).map(String::as_str) != Some("drain") {
                log.mark(&old, Port::Active, from, seen, &text("description"));
            }
        }
        "standby_changed" => {
            stats.standby_changes += 1;
            let old = text("from");
            if !old.is_empty() {
                log.mark(&old, Port::Standby, from, seen, &text("description"));
            }
        }
        "sessions_severed" => {
            stats.severed_by_events += event["sessions"].as_u64().unwrap_or(0);
        }
        "config_reloaded" => stats.reloads_by_events += 1,
        _ => {}
    }
}

/// `GET /v0/events[?since=N]`: (lastIndex, body), or why not.
async fn read(sb: &Switchboard, since: Option<u64>) -> Result<(u64, Value), String> {
    let path = match since {
        Some(n) => format!("/v0/events?since={n}"),
        None => "/v0/events".to_string(),
    };
    let response = sb.get(&path).send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    let last = body["lastIndex"].as_u64().ok_or("no lastIndex")?;
    Ok((last, body))
}
