//! The monitor: probes every backend on a timer and hands each verdict to the
//! cluster, which runs the election and publishes the edges.
//!
//! One task per backend: probes of different backends run concurrently and a
//! hung backend never delays the others, while probes of one backend never
//! next). The bridge can ask for an immediate out-of-cycle probe through the
//! backend's [`BackendHandles`] when a connect to it fails. While monitoring
//! is off the tasks skip their probes and the cluster drops late results. A
//! reload stops every probe task and starts new ones with the new settings
//! (the runner cancels their token); a result that was in flight is tagged
//! with the layout it was made for, so it can never land on another backend.
//! Probe failures are logged rate-limited: the first, then every
//! `LOG_EVERY`th of a run. Never depends on the bridge or the API.

mod http;
mod mysql;
mod mysql_verdict;
mod probe;
mod reason;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use switchboard_config::Config;
use switchboard_core::cluster::Cluster;
use switchboard_core::BackendHandles;

use probe::Probe;

pub use mysql_verdict::mysql_verdict;
pub use probe::galera_verdict;

/// A run of failed probes is logged on its first and then every Nth probe.
const LOG_EVERY: u64 = 10;

/// Starts one probe task per backend of `config` on `tasks`; they stop when
/// `stop` is cancelled. `config`'s backends must be the cluster's (the
/// runner reconfigures the cluster first).
pub fn spawn(config: &Config, cluster: &Cluster, tasks: &TaskTracker, stop: CancellationToken) {
    let truth = cluster.truth();
    for (pos, (backend, known)) in config.backends.iter().zip(&truth.backends).enumerate() {
        let task = ProbeTask {
            pos,
            layout: truth.layout,
            name: backend.name.clone(),
            probe: Probe::new(backend, config.monitor.timeout),
            interval: config.monitor.interval,
            cluster: cluster.clone(),
            requests: known.handles.clone(),
        };
        tasks.spawn(task.run(stop.clone()));
    }
}

/// The probe loop of one backend.
struct ProbeTask {
    /// The backend's config position.
    pos: usize,
    /// The truth's layout `pos` is a position in.
    layout: u64,
    /// Its name, for log lines.
    name: String,
    /// How it is probed.
    probe: Probe,
    /// Time between scheduled probes.
    interval: Duration,
    /// Where verdicts go.
    cluster: Cluster,
    /// Out-of-cycle probe requests from the data path.
    requests: Arc<BackendHandles>,
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
                _ = self.requests.probe_requested() => debug!(backend = %self.name, "out-of-cycle probe"),
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
            self.cluster.apply_probe_in(self.layout, self.pos, result);
        }
    }
}
