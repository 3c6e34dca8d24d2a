//! What several instances share through a coordination store (SPEC 13,
//! `[coordination] kind = "etcd"`), as the pure core sees it.
//!
//! Owns the shapes of the shared state (each instance's published view, the
//! leader's decision, the status the read model shows), the pure rules the
//! leader applies (`combine.rs`: how live views of one backend combine, and
//! the SPEC 5 election on the combined health) and the request queue
//! through which the API asks the coordinator to store an operator change
//! (`operator.rs`). The store itself, its leases, its election and its
//! watches live in the `switchboard-coordination` crate; this module never
//! talks to it and never reads a clock.

mod combine;
mod operator;
mod status;

pub use combine::{combine, decide};
pub use operator::{CoordinationHandle, OperatorChange, OperatorRequest};
pub use status::{
    CombinedHealth, CoordinationRole, CoordinationStatus, Decision, PeerBackend, PeerView,
};
