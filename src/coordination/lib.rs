//! `[coordination] kind = "etcd"` (SPEC 13): several switchboards, one
//! decision.
//!
//! Each instance publishes its own probes' view under its lease; the one
//! that holds etcd's election combines the live views, runs the SPEC 5
//! election on them and writes the decision in a transaction that fails
//! unless it still leads; every instance routes by the decision it
//! watches (`Cluster::apply_decision`), never by its own election.
//! Operator changes are stored here and applied by every instance's watch.
//! When the store has been unreachable for `lease_ttl`, `hold` keeps the
//! last decision while its backend stays healthy locally and `refuse`
//! routes nowhere; a new session rejoins by itself.
//!
//! Code map: `connect.rs` (the client and its timeouts), `wire.rs` (keys
//! and JSON), `store_state.rs` (what this instance knows of the store),
//! `session.rs` (one connected session: lease, read, watch, campaign),
//! `leader.rs` (the leader's decision), `apply.rs` (the store applied to
//! the cluster, the view published, the lost rules), `operator.rs`
//! (operator changes and their acknowledgements). Must never decide a
//! route itself outside the leader's transaction and the lost rules, and
//! never log a credential.

mod apply;
mod connect;
mod leader;
mod operator;
mod session;
mod store_state;
mod wire;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchboard_config::EtcdCoordination;
use switchboard_core::cluster::Cluster;
use switchboard_core::coordination::{CoordinationRole, OperatorRequest};
use switchboard_core::live_config::LiveConfig;
use switchboard_core::RouteProgress;

use session::Local;
use wire::Keys;

/// What the coordinator works with.
pub(crate) struct Ctx {
    /// The truth it applies decisions and operator state to, and reads
    /// this instance's view from.
    pub(crate) cluster: Cluster,
    /// The configuration in force (the election's settings may be
    /// reloaded; `[coordination]` itself is restart-only).
    pub(crate) live: LiveConfig,
    /// `[coordination]`.
    pub(crate) etcd: EtcdCoordination,
    /// The keys of `prefix`.
    pub(crate) keys: Keys,
    /// How far the bridge has applied the truth: an operator change is
    /// acknowledged only once this instance routes by it (set once the
    /// bridge has started, after the coordinator).
    pub(crate) progress: ProgressSlot,
    /// Cancelled at shutdown.
    pub(crate) stop: CancellationToken,
}

/// The bridge's [`RouteProgress`], handed over once the bridge exists (the
/// coordinator starts before it, so the first clients find a decision).
#[derive(Clone, Default)]
pub struct ProgressSlot(Arc<OnceLock<RouteProgress>>);

impl ProgressSlot {
    /// Sets it (once; later calls are ignored).
    pub fn set(&self, progress: RouteProgress) {
        let _ = self.0.set(progress);
    }

    pub(crate) fn get(&self) -> Option<&RouteProgress> {
        self.0.get()
    }
}

/// Starts the coordinator on `tracker`: it connects, publishes, campaigns
/// and applies until `stop`; then it resigns and revokes its lease (so the
/// others see it leave at once instead of after `lease_ttl`) and ends.
pub fn spawn(
    tracker: &TaskTracker,
    cluster: Cluster,
    live: LiveConfig,
    etcd: EtcdCoordination,
    requests: mpsc::Receiver<OperatorRequest>,
    stop: CancellationToken,
) -> ProgressSlot {
    let progress = ProgressSlot::default();
    let ctx = Ctx {
        keys: Keys::new(&etcd.prefix),
        cluster,
        live,
        etcd,
        progress: progress.clone(),
        stop,
    };
    tracker.spawn(run(ctx, requests));
    progress
}

/// Waits (bounded) until the coordinator has applied a first decision or
/// given up on the store, so the runner opens the proxy ports with a route
/// when there is one to have.
pub async fn first_decision(cluster: &Cluster, limit: Duration) -> bool {
    let mut changes = cluster.watch();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let truth = cluster.truth();
        let status = truth.coordination.as_ref();
        let decided = status.is_some_and(|s| s.decision.is_some() && s.connected());
        if decided || status.is_some_and(|s| s.role == CoordinationRole::Lost) {
            return decided;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => return false,
        }
    }
}

/// Sessions, one after another, until `stop`.
async fn run(ctx: Ctx, requests: mpsc::Receiver<OperatorRequest>) {
    let mut local = Local::new(requests);
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = Instant::now();
        match session::run(&ctx, &mut local).await {
            Ok(()) => return,
            Err(why) => {
                tracing::warn!(error = %why, "etcd session ended");
                local.failed(&why);
            }
        }
        if started.elapsed() > ctx.etcd.lease_ttl {
            backoff = Duration::from_millis(50);
        }
        if !apply::wait_to_retry(&ctx, &mut local, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}
