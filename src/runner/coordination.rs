//! `[coordination]` in the start order: the etcd coordinator when the
//! binary has the `etcd` feature, a configuration error when it has not
//! (a key the binary cannot honour is never ignored).
//!
//! Owns when the coordinator starts (after the first verdicts, so the
//! first view it publishes is a real one; before the proxy ports open, so
//! the first clients find the shared decision) and how long the start
//! waits for that decision. Must never decide a route.

use switchboard_config::Config;
use switchboard_core::cluster::Cluster;
use switchboard_core::coordination::CoordinationHandle;
use switchboard_core::live_config::LiveConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why this binary cannot run `config`'s coordination, if it cannot.
pub(crate) fn unsupported(config: &Config) -> Option<String> {
    if config.coordination.etcd().is_some() && !cfg!(feature = "etcd") {
        return Some(
            "coordination.kind = \"etcd\": this binary was built without etcd support \
             (build it with `cargo build --release --features etcd`, or use the Debian package)"
                .into(),
        );
    }
    None
}

/// The running coordinator, as the runner keeps it.
pub(crate) struct Coordination {
    /// The API's queue of operator changes.
    pub(crate) handle: CoordinationHandle,
    /// Hands the bridge's progress to the coordinator once it exists.
    #[cfg(feature = "etcd")]
    progress: switchboard_coordination::ProgressSlot,
}

impl Coordination {
    /// Lets the coordinator acknowledge operator changes only once the
    /// bridge routes by them.
    pub(crate) fn bridge_started(&self, progress: switchboard_core::RouteProgress) {
        #[cfg(feature = "etcd")]
        self.progress.set(progress);
        #[cfg(not(feature = "etcd"))]
        let _ = progress;
    }
}

/// Starts the coordinator when `config` asks for one and waits (at most
/// `lease_ttl` plus one probe timeout) for its first decision.
#[cfg_attr(not(feature = "etcd"), allow(unused_variables))]
pub(crate) async fn start(
    config: &Config,
    cluster: &Cluster,
    live: &LiveConfig,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> Option<Coordination> {
    #[cfg(feature = "etcd")]
    if let Some(etcd) = config.coordination.etcd() {
        let (handle, requests) = CoordinationHandle::new();
        let progress = switchboard_coordination::spawn(
            tasks,
            cluster.clone(),
            live.clone(),
            etcd.clone(),
            requests,
            stop,
        );
        let limit = etcd.lease_ttl + config.monitor.timeout + std::time::Duration::from_millis(100);
        if switchboard_coordination::first_decision(cluster, limit).await {
            tracing::info!(instance = %etcd.instance, "routing by the shared decision");
        } else {
            tracing::warn!(
                instance = %etcd.instance,
                waited_ms = limit.as_millis() as u64,
                "no shared decision yet: routing nowhere until one arrives"
            );
        }
        return Some(Coordination { handle, progress });
    }
    None
}
