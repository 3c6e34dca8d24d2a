//! [`BackendHandles`]: the shared, mutable-by-atomics part of one backend
//! that outlives a configuration reload: its session counters, its probe
//! latency histogram and its out-of-cycle probe requests.
//!
//! The truth carries one `Arc<BackendHandles>` per backend; a reload keeps
//! the `Arc` of every backend it keeps (so its counts, its histogram and its
//! sessions carry on, whatever position it moves to) and makes new ones for
//! added backends. The `Arc` itself is a backend's identity across a reload:
//! the bridge finds a kept backend's leases by pointer, never by position.
//! Sessions hold their backend's handles until they end, so a session of a
//! removed backend is still counted until it has closed both sockets.
//!
//! It is the capability through which the data path asks the monitor for a
//! probe without either knowing the other: the bridge calls
//! [`BackendHandles::request_probe`] when a connect fails, the backend's
//! probe task waits on [`BackendHandles::probe_requested`]. It never blocks
//! the caller and never queues more than one pending request (a `Notify`
//! permit). Nothing here allocates after construction.

use std::sync::atomic::Ordering::Relaxed;

use tokio::sync::Notify;

use crate::bus::PortRole;
use crate::cluster::LatencyHistogram;
use crate::counters::BackendCounts;

/// One backend's counters, histogram and probe requests; shared by the
/// truth, the bridge's route table, its sessions and its probe task.
#[derive(Debug, Default)]
pub struct BackendHandles {
    /// Sessions on the active port.
    active: BackendCounts,
    /// Sessions on the standby port.
    standby: BackendCounts,
    /// Latencies of the applied probes (`/metrics`).
    pub latency: LatencyHistogram,
    /// A pending out-of-cycle probe.
    probe_now: Notify,
}

impl BackendHandles {
    /// The session counts of one port.
    pub fn counts(&self, port: PortRole) -> &BackendCounts {
        match port {
            PortRole::Active => &self.active,
            PortRole::Standby => &self.standby,
        }
    }

    /// Open sessions on both ports.
    pub fn current(&self) -> u64 {
        self.active.current.load(Relaxed) + self.standby.current.load(Relaxed)
    }

    /// Sessions severed so far on both ports.
    pub fn severed(&self) -> u64 {
        self.active.severed.load(Relaxed) + self.standby.severed.load(Relaxed)
    }

    /// Asks for a probe as soon as the backend's probe task is free.
    /// Requests made while one is pending merge into it.
    pub fn request_probe(&self) {
        self.probe_now.notify_one();
    }

    /// Resolves when a probe was requested.
    pub async fn probe_requested(&self) {
        self.probe_now.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_made_before_the_wait_is_not_lost() {
        let handles = BackendHandles::default();
        handles.request_probe();
        handles.request_probe();
        tokio::time::timeout(Duration::from_secs(1), handles.probe_requested())
            .await
            .expect("the pending request resolves the wait");
        // Both requests merged into one permit.
        let again =
            tokio::time::timeout(Duration::from_millis(20), handles.probe_requested()).await;
        assert!(again.is_err());
    }
}
