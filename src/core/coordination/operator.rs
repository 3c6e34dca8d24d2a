//! [`CoordinationHandle`]: how the API asks the coordinator to store an
//! operator change (routing, monitoring, an admin state) so that it applies
//! on every instance.
//!
//! With `[coordination] kind = "etcd"` the operator state lives in the
//! store: a PATCH is not applied locally by the API but sent here; the
//! coordinator writes it, applies it through the `Cluster` like every
//! instance does when its watch sees it, and answers with the live
//! instances that acknowledged it within one second. The API cannot import
//! the coordination crate; this queue is the whole contract. Must never
//! apply a change itself.

use tokio::sync::{mpsc, oneshot};

use crate::bus::AdminState;
use crate::cluster::CommandError;

/// An operator change, as the API validated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorChange {
    /// Routing (with its message) and/or monitoring, as one change.
    Flags {
        routing: Option<(bool, String)>,
        monitoring: Option<bool>,
    },
    /// One backend's admin state.
    Admin {
        backend: String,
        state: AdminState,
        message: String,
    },
}

/// One change waiting for the coordinator.
#[derive(Debug)]
pub struct OperatorRequest {
    /// What to change.
    pub change: OperatorChange,
    /// Who asked (the API caller), carried to every instance's event.
    pub actor: String,
    /// The instances that applied it within one second (this one first,
    /// once its own bridge acts on it), or why it was not stored.
    pub reply: oneshot::Sender<Result<Vec<String>, CommandError>>,
}

/// The API's side of the queue; cheap to clone.
#[derive(Clone, Debug)]
pub struct CoordinationHandle {
    requests: mpsc::Sender<OperatorRequest>,
}

/// Changes beyond these wait in the API (bounded: each PATCH holds one).
const QUEUE: usize = 64;

impl CoordinationHandle {
    /// A handle and the receiver the coordinator takes.
    pub fn new() -> (CoordinationHandle, mpsc::Receiver<OperatorRequest>) {
        let (requests, receiver) = mpsc::channel(QUEUE);
        (CoordinationHandle { requests }, receiver)
    }

    /// Stores `change` through the coordinator and waits for its answer.
    pub async fn submit(
        &self,
        change: OperatorChange,
        actor: &str,
    ) -> Result<Vec<String>, CommandError> {
        let gone = || CommandError::Unavailable("the coordinator has stopped".into());
        let (reply, answer) = oneshot::channel();
        let request = OperatorRequest {
            change,
            actor: actor.to_string(),
            reply,
        };
        self.requests.send(request).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
