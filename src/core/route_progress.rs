//! [`RouteProgress`]: how far the data path has caught up with the truth.
//!
//! The bridge marks the route generation (`Truth::route_generation`) of
//! every route table it stores; the API waits on it so that a PATCH answers
//! only once the proxy acts on the change. Defined in the core so that the
//! API never depends on the bridge. Marking is one `watch` send; it never
//! blocks and never fails.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The newest route generation the data path acts on; cheap to clone.
#[derive(Clone)]
pub struct RouteProgress {
    /// The generation of the route table in force.
    applied: Arc<watch::Sender<u64>>,
}

impl Default for RouteProgress {
    fn default() -> Self {
        RouteProgress::new()
    }
}

impl RouteProgress {
    /// Nothing applied yet (generation 0).
    pub fn new() -> RouteProgress {
        RouteProgress {
            applied: Arc::new(watch::channel(0).0),
        }
    }

    /// Records that the route table built from `generation` is in force.
    pub fn mark(&self, generation: u64) {
        self.applied.send_if_modified(|g| {
            let newer = generation > *g;
            if newer {
                *g = generation;
            }
            newer
        });
    }

    /// The newest generation in force.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until `generation` (or a newer one) is in force, at most
    /// `limit`; returns whether it was.
    pub async fn wait_applied(&self, generation: u64, limit: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(limit, applied.wait_for(|g| *g >= generation))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_generation_and_never_goes_back() {
        let progress = RouteProgress::new();
        assert!(!progress.wait_applied(1, Duration::from_millis(10)).await);
        progress.mark(3);
        progress.mark(2);
        assert_eq!(progress.applied(), 3);
        assert!(progress.wait_applied(3, Duration::from_millis(10)).await);
    }
}
