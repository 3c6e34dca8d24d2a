//! The monitor: probes every backend on a timer and hands each verdict to the
//! cluster, which runs the election and publishes the edges.
//!
//! One task per backend: probes of different backends run concurrently and a
//! hung backend never delays the others, while probes of one backend never
//! overlap (the task awaits each probe, bounded by the timeout, before the
//! next). The bridge can ask for an immediate out-of-cycle probe through the
//! core's [`ProbeRequests`] when a connect to a backend fails. While monitoring is off
//! the tasks skip their probes and the cluster drops late results.
//! Probe failures are logged rate-limited: the first, then every
//! `LOG_EVERY`th of a run. Never depends on the bridge or the API.

mod http;
mod mysql;
mod mysql_verdict;
mod probe;

use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use switchboard_config::Config;
use switchboard_core::cluster::Cluster;
use switchboard_core::ProbeRequests;

use probe::Probe;

/// A run of failed probes is logged on its first and then every Nth probe.
const LOG_EVERY: u64 = 10;

/// Starts one probe task per backend on `tasks`; they stop when `stop` is
/// cancelled. Out-of-cycle probes are asked for through `requests`.
pub fn spawn(
    config: &Config,
    cluster: &Cluster,
    requests: ProbeRequests,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    for (pos, backend) in config.backends.iter().enumerate() {
        let task = ProbeTask {
            pos,
            name: backend.name.clone(),
            probe: Probe::new(backend, config.monitor.timeout),
            interval: config.monitor.interval,
            cluster: cluster.clone(),
            requests: requests.clone(),
        };
        tasks.spawn(task.run(stop.clone()));
    }
}

/// The probe loop of one backend.
struct ProbeTask {
    /// The backend's config position.
    pos: usize,
    /// Its name, for log lines.
    name: String,
    /// How it is probed.
    probe: Probe,
    /// Time between scheduled probes.
    interval: Duration,
    /// Where verdicts go.
    cluster: Cluster,
    /// Out-of-cycle probe requests from the data path.
    requests: ProbeRequests,
}

impl ProbeTask {
    async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failures: u64 = 0;
        let mut unmade: u64 = 0;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = self.requests.requested(self.pos) => debug!(backend = %self.name, "out-of-cycle probe"),
                _ = ticks.tick() => {}
            }
            if !self.cluster.truth().monitoring.enabled {
                continue;
            }
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.probe.run() => r,
            };
            let result = match result {
                Ok(result) => result,
                Err(reason) => {
                    // Our own exhaustion says nothing about the backend.
                    unmade += 1;
                    if unmade == 1 || unmade % LOG_EVERY == 0 {
                        warn!(backend = %self.name, reason = %reason, unmade, "probe could not be made; verdict unchanged");
                    }
                    continue;
                }
            };
            unmade = 0;
            if result.ok {
                failures = 0;
            } else {
                failures += 1;
                if failures == 1 || failures % LOG_EVERY == 0 {
                    warn!(backend = %self.name, reason = %result.reason, failures, "probe failed");
                }
            }
            self.cluster.apply_probe(self.pos, result);
        }
    }
}
