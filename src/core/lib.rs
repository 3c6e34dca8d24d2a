//! The pure core of switchboard: what the router decides, with no socket in
//! sight.
//!
//! Owns the authoritative [`cluster::Truth`] and its single writer
//! [`cluster::Cluster`] (health verdicts, the election, routing and
//! monitoring flags, admin states, the operator state file), the pure
//! [`election`], [`hysteresis`] and Galera [`consistency`] rules, the
//! [`bus`] of events, the exact session [`counters`] the data path writes,
//! the read model
//! ([`combiner`]) every read endpoint serves, and the two capabilities
//! through which the other parts cooperate without knowing each other:
//! [`BackendHandles`] (data path → monitor: probe requests; and the counts
//! that follow a backend through a reload), [`RouteProgress`] (data path →
//! API) and [`live_config`] (the configuration in force and the reload
//! requests: API → runner) and [`coordination`] (the state several
//! instances share through etcd, its pure rules, and the queue through
//! which the API stores an operator change there: API → coordinator).
//!
//! Must never: open a socket, use `tokio::net`, know axum or reqwest.
//! `scripts/test` checks this crate on its own so that no feature of another
//! crate can hide a violation.

mod backend_handles;
pub mod bus;
pub mod cluster;
pub mod combiner;
pub mod consistency;
pub mod coordination;
pub mod counters;
pub mod election;
pub mod hysteresis;
pub mod live_config;
mod route_progress;

pub use backend_handles::BackendHandles;
pub use route_progress::RouteProgress;
