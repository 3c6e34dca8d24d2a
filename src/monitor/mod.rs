//! The monitor: probes every backend on a timer and hands each verdict to the
//! cluster, which runs the election and publishes the edges.
//!
//! One task per backend: probes of different backends run concurrently and a
//! hung backend never delays the others, while probes of one backend never
//! overlap (the task awaits each probe, bounded by the timeout, before the
//! next). The bridge can ask for an immediate out-of-cycle probe through the
//! [`ProbeKicker`] when a connect to a backend fails. While monitoring is off
//! the tasks skip their probes and the cluster drops late results.
//! Probe failures are logged rate-limited: the first, then every
//! [`LOG_EVERY`]th of a run.

pub mod election;
pub mod hysteresis;
mod probe;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::cluster::Cluster;
use crate::config::Config;

pub use probe::{Probe, BODY_LIMIT};

/// A run of failed probes is logged on its first and then every Nth probe.
pub const LOG_EVERY: u64 = 10;

/// Asks for out-of-cycle probes; cheap to clone, never blocks.
#[derive(Clone)]
pub struct ProbeKicker {
    kicks: Arc<[Notify]>,
}

impl ProbeKicker {
    /// Probes backend `pos` as soon as its task is free.
    pub fn kick(&self, pos: usize) {
        if let Some(n) = self.kicks.get(pos) {
            n.notify_one();
        }
    }
}

/// Starts one probe task per backend; they stop when `stop` is cancelled.
pub fn spawn(config: &Config, cluster: &Cluster, stop: CancellationToken) -> ProbeKicker {
    let kicks: Arc<[Notify]> = config.backends.iter().map(|_| Notify::new()).collect();
    for (pos, backend) in config.backends.iter().enumerate() {
        let task = ProbeTask {
            pos,
            name: backend.name.clone(),
            probe: Probe::new(backend, config.monitor.timeout),
            interval: config.monitor.interval,
            cluster: cluster.clone(),
            kicks: kicks.clone(),
        };
        tokio::spawn(task.run(stop.clone()));
    }
    ProbeKicker { kicks }
}

/// The probe loop of one backend.
struct ProbeTask {
    pos: usize,
    name: String,
    probe: Probe,
    interval: Duration,
    cluster: Cluster,
    kicks: Arc<[Notify]>,
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
                _ = self.kicks[self.pos].notified() => debug!(backend = %self.name, "out-of-cycle probe"),
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
