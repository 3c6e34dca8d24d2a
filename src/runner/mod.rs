//! The runner: builds the bus, starts the parts in order and shuts them down
//! in order.
//!
//! Start: restore operator state (a bad state file is a configuration error)
//! → bus and cluster → monitor (and wait, at most one probe timeout, for the
//! first verdicts so the first clients find an active; monitoring restored
//! off is applied only after them) → bridge (route table primed, proxy ports
//! bound) → combiner → API. Stop (SIGTERM/SIGINT, the operator's guide in
//! `docs/operations.md`): API and health listeners close (the API thread is
//! joined), the proxy ports serve on for `shutdown_delay`, then stop
//! accepting, open sessions get up to `drain_timeout`, the rest are severed,
//! and `shutdown` returns only once every session and every background task
//! has ended. Every task the runner starts is on its `TaskTracker`; nothing
//! is detached. Reload (SIGHUP, `POST /v0/reload`): `reload.rs`, what it
//! changes in words: `config_diff.rs`.

mod config_diff;
mod coordination;
mod event_log;
pub(crate) mod logging;
mod reload;
mod signals;
pub(crate) mod systemd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub(crate) use coordination::unsupported;
use switchboard_api::{Api, ApiContext, TlsHandle};
use switchboard_bridge::Bridge;
use switchboard_config::Config;
use switchboard_core::bus::{Bus, PortRole, DEFAULT_CAPACITY, DEFAULT_RING};
use switchboard_core::cluster::{Cluster, OperatorState};
use switchboard_core::combiner::Combiner;
use switchboard_core::counters::SessionCounters;
use switchboard_core::live_config::{LiveConfig, Loaded};

pub(crate) use reload::read as read_config;

/// Why the runner could not start; decides the exit code.
#[derive(Debug)]
pub(crate) enum StartError {
    /// Exit 2: the configuration (or the state file) is wrong.
    Config(String),
    /// Exit 1: anything else (a port in use, ...).
    Fatal(String),
}

/// Test and tuning knob: the bus capacity (env `SWITCHBOARD_BUS_CAPACITY`).
/// Tests set it to 1 or 2 to prove that lagging subscribers resync.
const BUS_CAPACITY_ENV: &str = "SWITCHBOARD_BUS_CAPACITY";

/// A running switchboard.
pub(crate) struct Running {
    /// The active proxy port's bound address.
    pub(crate) proxy_addr: SocketAddr,
    /// The standby proxy port's bound address, if configured.
    pub(crate) standby_addr: Option<SocketAddr>,
    /// The API listener's bound address.
    pub(crate) api_addr: SocketAddr,
    /// The configuration in force (shutdown timings, reloads).
    live: LiveConfig,
    /// The authoritative state (a reload reconfigures it).
    cluster: Cluster,
    /// For the shutdown log lines.
    counters: Arc<SessionCounters>,
    /// The data path.
    bridge: Bridge,
    /// The API and its thread.
    api: Api,
    /// The API certificate, re-read on reload.
    tls: TlsHandle,
    /// Every background task (probes, reconciler, ticker, event log).
    tasks: TaskTracker,
    /// Ends the background tasks.
    stop_background: CancellationToken,
    /// Ends the current probe tasks only (a reload starts new ones).
    monitor_stop: CancellationToken,
}

/// Where a configuration came from: the file reloads re-read and the
/// checksum of the bytes it was parsed from.
pub(crate) struct Source {
    pub(crate) path: PathBuf,
    pub(crate) checksum: String,
}

/// Starts every part; returns once the proxy and API ports are open.
/// `extra_routes` are mounted behind the API's front door (the demo's).
pub(crate) async fn start(
    config: Config,
    source: Option<Source>,
    extra_routes: Option<Router>,
) -> Result<Running, StartError> {
    if let Some(why) = unsupported(&config) {
        return Err(StartError::Config(why));
    }
    let config = Arc::new(config);
    if config.log.level.is_some() {
        logging::set_level(config.log.level.as_deref());
    }
    let live = LiveConfig::new(Loaded {
        config: config.clone(),
        checksum: source
            .as_ref()
            .map_or_else(|| "built-in".to_string(), |s| s.checksum.clone()),
        loaded_at: SystemTime::now(),
        path: source.map(|s| s.path),
    });
    match switchboard_bridge::raise_fd_limit() {
        Ok((soft, hard)) => tracing::debug!(soft, hard, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let restored = match &config.state.file {
        Some(path) => OperatorState::load(path).map_err(StartError::Config)?,
        None => OperatorState::default(),
    };
    let capacity = std::env::var(BUS_CAPACITY_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CAPACITY);
    let bus = Bus::new(capacity, DEFAULT_RING);
    // Monitoring off (from the state file, or `[monitor] enabled = false`)
    // freezes the verdicts and the active, but a starting process has
    // neither: with probing off from the start nothing would ever be
    // elected, and every client would be closed. So the first verdicts are
    // taken with monitoring on and the freeze applied right after them,
    // before the proxy ports open.
    let frozen_by = match restored.monitoring_enabled {
        Some(false) => Some("state file"),
        None if !config.monitor.enabled => Some("config: monitor.enabled = false"),
        _ => None,
    };
    let mut startup = restored;
    startup.monitoring_enabled = Some(true);
    let cluster = Cluster::new(&config, &startup, bus);

    let tasks = TaskTracker::new();
    let stop_background = CancellationToken::new();
    tasks.spawn(event_log::run(
        cluster.bus().clone(),
        stop_background.clone(),
    ));
    let monitor_stop = stop_background.child_token();
    switchboard_monitor::spawn(&config, &cluster, &tasks, monitor_stop.clone());
    first_verdicts(
        &cluster,
        config.monitor.timeout + Duration::from_millis(100),
    )
    .await;
    if let Some(actor) = frozen_by {
        cluster.freeze_monitoring_at_startup(actor);
    }
    let coordination = coordination::start(
        &config,
        &cluster,
        &live,
        &tasks,
        stop_background.child_token(),
    )
    .await;

    let counters = Arc::new(SessionCounters::new());
    let bridge = Bridge::start(&live, &cluster, counters.clone(), &tasks)
        .await
        .map_err(|e| StartError::Fatal(e.to_string()))?;
    if let Some(c) = &coordination {
        c.bridge_started(bridge.progress());
    }
    let combiner = Combiner::new(cluster.clone(), counters.clone());

    let ctx = ApiContext {
        config: live.clone(),
        cluster: cluster.clone(),
        combiner,
        extra_routes,
        progress: Some(bridge.progress()),
        coordination: coordination.as_ref().map(|c| c.handle.clone()),
    };
    let api = switchboard_api::serve(ctx)
        .await
        .map_err(|e| StartError::Fatal(e.to_string()))?;
    let addr = |role| {
        bridge
            .local_addrs()
            .into_iter()
            .find(|(r, _)| *r == role)
            .map(|(_, a)| a)
    };
    let proxy_addr =
        addr(PortRole::Active).ok_or_else(|| StartError::Fatal("proxy port not bound".into()))?;
    let standby_addr = addr(PortRole::Standby);
    let truth = cluster.truth();
    info!(
        proxy = %proxy_addr,
        standby = ?standby_addr,
        api = %api.listeners.api,
        health = ?api.listeners.health,
        metrics = ?api.listeners.metrics,
        aggregator = ?api.listeners.aggregator,
        active = truth.active.map_or("none", |p| truth.backends[p].name.as_str()),
        routing = truth.routing.enabled,
        "switchboard started"
    );
    Ok(Running {
        proxy_addr,
        standby_addr,
        api_addr: api.listeners.api,
        tls: api.tls(),
        live,
        cluster,
        counters,
        bridge,
        api,
        tasks,
        stop_background,
        monitor_stop,
    })
}

/// The next reload request, or never when there is no queue.
async fn next_request(
    requests: &mut Option<
        tokio::sync::mpsc::Receiver<switchboard_core::live_config::ReloadRequest>,
    >,
) -> Option<switchboard_core::live_config::ReloadRequest> {
    match requests {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits until every backend has answered one probe, or `limit`.
async fn first_verdicts(cluster: &Cluster, limit: Duration) {
    let mut changes = cluster.watch();
    let all_probed = |c: &Cluster| {
        let t = c.truth();
        !t.monitoring.enabled || t.backends.iter().all(|b| b.last_check.is_some())
    };
    let _ = tokio::time::timeout(limit, async {
        while !all_probed(cluster) {
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
}

impl Running {
    /// Serves until SIGTERM or SIGINT, then shuts down in order; reloads
    /// on SIGHUP and on the API's requests, one at a time.
    pub(crate) async fn run_until_signal(mut self) -> std::io::Result<()> {
        let mut signals = signals::Signals::new()?;
        let mut requests = self.live.take_requests();
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    signals::Signal::Terminate(name) => {
                        info!(signal = name, "shutting down");
                        self.shutdown().await;
                        return Ok(());
                    }
                    signals::Signal::Reload => {
                        info!("SIGHUP received: reloading the configuration");
                        // The outcome is logged; no one waits for it.
                        let _ = self.reload("SIGHUP").await;
                    }
                },
                Some(request) = next_request(&mut requests) => {
                    let outcome = self.reload(&request.actor).await;
                    let _ = request.reply.send(outcome);
                }
            }
        }
    }

    /// The ordered shutdown (`docs/operations.md`, "Stopping"): returns
    /// only once the API thread, every session and every task has ended.
    pub(crate) async fn shutdown(mut self) {
        self.api.stop();
        let config = self.live.get();
        let proxy = &config.proxy;
        if !proxy.shutdown_delay.is_zero() {
            info!(
                delay_ms = proxy.shutdown_delay.as_millis() as u64,
                "proxy ports keep serving for shutdown_delay"
            );
            tokio::time::sleep(proxy.shutdown_delay).await;
        }
        self.bridge.stop_accepting().await;
        let open = self.counters.total_current();
        info!(
            open,
            drain_timeout_ms = proxy.drain_timeout.as_millis() as u64,
            "proxy ports closed; draining sessions"
        );
        let left = self.bridge.drain(proxy.drain_timeout).await;
        self.bridge.sever_all().await;
        self.stop_background.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.api.join().await;
        // Every session has closed both sockets by now: nothing is counted.
        info!(
            severed = left,
            still_open = self.counters.total_current(),
            "shutdown complete"
        );
    }
}
