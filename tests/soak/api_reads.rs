//! API reads in a loop, as dashboards and scrapers do: `GET /v0/state`,
//! `GET /metrics` and `GET /v0/events?since=N`, one round every
//! [`ROUND_EVERY`] until the stop.
//!
//! Every answer must be 200 and well formed: the state JSON with an active
//! that, in the same snapshot, is healthy and enabled (a snapshot describes
//! one moment; docs/api.md, "The merged state"); the metrics exposition
//! strictly valid (`prom::parse`); the events JSON. Anything else is a
//! violation, counted, and the loop goes on.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use switchboard_harness::{prom, Switchboard};

use crate::log::Log;

/// Time between two rounds of reads.
const ROUND_EVERY: Duration = Duration::from_millis(150);

/// What the reader did.
#[derive(Debug, Default)]
pub(crate) struct ApiStats {
    pub(crate) state: u64,
    pub(crate) metrics: u64,
    pub(crate) events: u64,
    pub(crate) failed: u64,
    /// The slowest answer.
    pub(crate) slowest: Duration,
}

/// Reads until `stop`.
pub(crate) async fn run(sb: &Switchboard, mut stop: watch::Receiver<bool>, log: Log) -> ApiStats {
    let mut stats = ApiStats::default();
    let mut since = 0u64;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return stats,
            _ = tokio::time::sleep(ROUND_EVERY) => {}
        }
        match get(sb, "/v0/state", &mut stats).await {
            Ok(body) => match serde_json::from_str::<Value>(&body) {
                Ok(state) => {
                    stats.state += 1;
                    check_state(&state, &log);
                    since = state["lastEventIndex"]
                        .as_u64()
                        .unwrap_or(0)
                        .saturating_sub(20);
                }
                Err(e) => fail(&log, &mut stats, format!("/v0/state is not JSON: {e}")),
            },
            Err(e) => fail(&log, &mut stats, e),
        }
        match get(sb, "/metrics", &mut stats).await {
            Ok(text) => match prom::parse(&text) {
                Ok(_) => stats.metrics += 1,
                Err(e) => fail(&log, &mut stats, format!("/metrics is not valid: {e}")),
            },
            Err(e) => fail(&log, &mut stats, e),
        }
        let path = format!("/v0/events?since={since}");
        match get(sb, &path, &mut stats).await {
            Ok(body) => match serde_json::from_str::<Value>(&body) {
                Ok(v) if v["events"].is_array() => stats.events += 1,
                _ => fail(&log, &mut stats, format!("{path}: not an event list")),
            },
            Err(e) => fail(&log, &mut stats, e),
        }
    }
}

/// Counts and records one failed read.
fn fail(log: &Log, stats: &mut ApiStats, what: String) {
    stats.failed += 1;
    log.violation(format!("API read: {what}"));
}

/// The active of one snapshot is healthy and enabled.
fn check_state(state: &Value, log: &Log) {
    let Some(active) = state["active"].as_str() else {
        return log.violation("a snapshot with no active backend".into());
    };
    let backend = state["backends"]
        .as_array()
        .and_then(|bs| bs.iter().find(|b| b["name"] == active));
    match backend {
        Some(b) if b["healthy"] == true && b["adminState"] == "enabled" => {}
        Some(b) => log.violation(format!("active {active} is not healthy and enabled: {b}")),
        None => log.violation(format!("active {active} is not a listed backend")),
    }
}

/// `GET path` with credentials: the body of a 200, or why not.
async fn get(sb: &Switchboard, path: &str, stats: &mut ApiStats) -> Result<String, String> {
    let started = Instant::now();
    let response = sb
        .get(path)
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    stats.slowest = stats.slowest.max(started.elapsed());
    if status != 200 {
        return Err(format!("GET {path}: status {status}"));
    }
    Ok(body)
}
