//! The bridge: the data path. Binds the proxy ports, routes every accepted
//! connection to the elected backend, relays bytes, severs on command and
//! counts sessions.
//!
//! Parts: [`route`] (the lock-free route table and its leases), `reconciler`
//! (keeps the table in line with the cluster truth, severs), `listener`
//! (accept loops), `session` (one connection), `refuse` (the MySQL error a
//! refused connection gets), `closer` (closes severed sessions' sockets
//! after their clients' FINs), `connect` (the backend connect),
//! `proxy_header` (the PROXY protocol header some backends get first),
//! `relay` (the byte copy) and `splice` (its Linux fast path for
//! bulk), [`counters`] (exact session counts), `session_ticker` (coalesced
//! `sessions_changed` events), `fd_limit` ([`raise_fd_limit`]). Nothing in
//! the bridge ever waits on the API or the monitor; the data path reads only
//! the route table and atomics.

mod closer;
mod connect;
mod fd_limit;
mod listener;
mod proxy_header;
mod reconciler;
mod refuse;
mod relay;
mod route;
mod session;
mod session_ticker;
#[cfg(target_os = "linux")]
mod splice;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchboard_config::{Config, ProxyProtocol};
use switchboard_core::bus::PortRole;
use switchboard_core::cluster::Cluster;
use switchboard_core::ProbeRequests;

use switchboard_core::counters::SessionCounters;
use switchboard_core::RouteProgress;

pub use fd_limit::raise_fd_limit;
use listener::ProxyListener;
use reconciler::RouteReconciler;
use route::{BackendAddr, Routes};
use session::SessionContext;

/// The running bridge.
pub struct Bridge {
    /// The route table and its leases.
    routes: Routes,
    /// The addresses the proxy ports are bound to (active, then standby).
    local_addrs: Vec<(PortRole, SocketAddr)>,
    /// Ends the accept loops.
    stop_accepting: CancellationToken,
    /// Ends the reconciler and the session ticker.
    stop_tasks: CancellationToken,
    /// The accept loops, awaited when they stop.
    listeners: Vec<JoinHandle<()>>,
    /// Every session ever accepted: draining and shutdown wait on it.
    sessions: TaskTracker,
}

impl Bridge {
    /// Binds the proxy ports and starts routing. The route table is built
    /// from the cluster's current truth before the first accept.
    /// The reconciler and the session ticker run on `tasks`; sessions on
    /// the bridge's own tracker.
    pub async fn start(
        config: &Config,
        cluster: &Cluster,
        counters: Arc<SessionCounters>,
        probes: ProbeRequests,
        tasks: &TaskTracker,
    ) -> std::io::Result<Bridge> {
        let backends: Arc<[BackendAddr]> = config
            .backends
            .iter()
            .map(|b| BackendAddr {
                name: b.name.clone(),
                host: b.host.clone(),
                port: b.port,
                resolved: b
                    .host
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, b.port)),
                proxy_protocol: b.proxy_protocol == ProxyProtocol::V2,
            })
            .collect();
        let routes = Routes::new(backends.len());
        let stop_tasks = CancellationToken::new();
        let stop_accepting = CancellationToken::new();

        let mut reconciler = RouteReconciler::new(
            cluster.clone(),
            routes.clone(),
            counters.clone(),
            config.proxy.sever_on_failover,
            config.proxy.drain_timeout,
        );
        // Subscribe before priming so no change falls between the two.
        let events = cluster.bus().subscribe();
        reconciler.prime();
        tasks.spawn(reconciler.run(events, stop_tasks.clone()));
        let names = config.backends.iter().map(|b| b.name.clone()).collect();
        tasks.spawn(session_ticker::run(
            counters.clone(),
            names,
            cluster.bus().clone(),
            stop_tasks.clone(),
        ));

        let context = Arc::new(SessionContext {
            routes: routes.clone(),
            backends,
            counters: counters.clone(),
            connect_timeout: config.proxy.connect_timeout,
            probes,
            refuse_with: config.proxy.refuse_with,
        });
        let sessions = TaskTracker::new();
        let mut ports = vec![(PortRole::Active, config.proxy.listen)];
        if let Some(standby) = config.proxy.standby_listen {
            ports.push((PortRole::Standby, standby));
        }
        let mut bound = Vec::new();
        for (port, addr) in ports {
            let listener = listener::bind(addr).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot bind {} port {addr}: {e}", port.as_str()),
                )
            })?;
            bound.push((port, listener));
        }
        let mut local_addrs = Vec::new();
        let mut listeners = Vec::new();
        for (port, listener) in bound {
            local_addrs.push((port, listener.local_addr()?));
            let accept = ProxyListener {
                listener,
                port,
                context: context.clone(),
                sessions: sessions.clone(),
            };
            listeners.push(tokio::spawn(accept.run(stop_accepting.clone())));
        }
        Ok(Bridge {
            routes,
            local_addrs,
            stop_accepting,
            stop_tasks,
            listeners,
            sessions,
        })
    }

    /// The addresses the proxy ports are bound to (active, then standby).
    pub fn local_addrs(&self) -> &[(PortRole, SocketAddr)] {
        &self.local_addrs
    }

    /// How far the data path has applied the truth (the API waits on it).
    pub fn progress(&self) -> RouteProgress {
        self.routes.progress()
    }

    /// Stops accepting and closes the proxy ports; open sessions go on.
    pub async fn stop_accepting(&mut self) {
        self.stop_accepting.cancel();
        for handle in self.listeners.drain(..) {
            let _ = handle.await;
        }
    }

    /// Waits up to `timeout` for every open session to end by itself
    /// (woken by the last one, never polling); returns how many are still
    /// open. Call after [`Bridge::stop_accepting`]: no session starts later.
    pub async fn drain(&self, timeout: Duration) -> u64 {
        self.sessions.close();
        let _ = tokio::time::timeout(timeout, self.sessions.wait()).await;
        self.sessions.len() as u64
    }

    /// Severs every session, stops the bridge's background tasks and waits
    /// until the last session has closed both its sockets.
    pub async fn sever_all(&self) {
        self.routes.sever_everything();
        self.stop_tasks.cancel();
        self.sessions.close();
        self.sessions.wait().await;
    }
}
