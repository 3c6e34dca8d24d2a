//! [`ProbeRequests`]: the capability through which the data path asks the
//! monitor for an out-of-cycle probe of one backend.
//!
//! The core defines it so that neither side knows the other: the bridge
//! holds a handle and calls [`ProbeRequests::request`] when a connect fails;
//! the monitor's probe task of that backend waits on
//! [`ProbeRequests::requested`]. It never blocks the caller and never queues
//! more than one pending request per backend (a `Notify` permit).

use std::sync::Arc;

use tokio::sync::Notify;

/// Out-of-cycle probe requests, one slot per backend; cheap to clone.
#[derive(Clone)]
pub struct ProbeRequests {
    /// One notification per backend, in config order.
    slots: Arc<[Notify]>,
}

impl ProbeRequests {
    /// Slots for `backends` backends.
    pub fn new(backends: usize) -> ProbeRequests {
        ProbeRequests {
            slots: (0..backends).map(|_| Notify::new()).collect(),
        }
    }

    /// Asks for a probe of backend `pos` as soon as its task is free.
    /// Requests made while one is pending merge into it.
    pub fn request(&self, pos: usize) {
        if let Some(slot) = self.slots.get(pos) {
            slot.notify_one();
        }
    }

    /// Resolves when a probe of backend `pos` was requested; pending forever
    /// for a position that does not exist.
    pub async fn requested(&self, pos: usize) {
        match self.slots.get(pos) {
            Some(slot) => slot.notified().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_request_made_before_the_wait_is_not_lost() {
        let requests = ProbeRequests::new(2);
        requests.request(1);
        requests.request(1);
        tokio::time::timeout(Duration::from_secs(1), requests.requested(1))
            .await
            .expect("the pending request resolves the wait");
        // Both requests merged into one permit.
        let again = tokio::time::timeout(Duration::from_millis(20), requests.requested(1)).await;
        assert!(again.is_err());
        // Out of range: harmless.
        requests.request(7);
    }
}
