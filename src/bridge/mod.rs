//! The bridge: the data path. Binds the proxy ports, routes every accepted
//! connection to the elected backend, relays bytes, severs on command and
//! counts sessions.
//!
//! Parts: [`route`] (the lock-free route table and its leases), `reconciler`
//! (keeps the table in line with the cluster truth, severs), `listener`
//! (accept loops), `session` (one connection), `closer` (closes severed
//! sessions' sockets after their clients' FINs), `connect` (the backend
//! connect), `relay` (the byte copy) and `splice` (its Linux fast path for
//! bulk), [`counters`] (exact session counts), `session_ticker` (coalesced
//! `sessions_changed` events), `fd_limit` ([`raise_fd_limit`]). Nothing in
//! the bridge ever waits on the API or the monitor; the data path reads only
//! the route table and atomics.

mod closer;
mod connect;
pub mod counters;
mod fd_limit;
mod listener;
mod reconciler;
mod relay;
pub mod route;
mod session;
mod session_ticker;
#[cfg(target_os = "linux")]
mod splice;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::bus::PortRole;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::monitor::ProbeKicker;

pub use counters::{Outcome, SessionCounters};
pub use fd_limit::raise_fd_limit;
use listener::ProxyListener;
use reconciler::RouteReconciler;
pub use route::{BackendAddr, Routes};
use session::SessionContext;

/// The running bridge.
pub struct Bridge {
    pub counters: Arc<SessionCounters>,
    pub routes: Routes,
    /// The addresses the proxy ports are bound to (active, then standby).
    pub local_addrs: Vec<(PortRole, SocketAddr)>,
    stop_accepting: CancellationToken,
    stop_tasks: CancellationToken,
    listeners: Vec<JoinHandle<()>>,
}

impl Bridge {
    /// Binds the proxy ports and starts routing. The route table is built
    /// from the cluster's current truth before the first accept.
    pub async fn start(
        config: &Config,
        cluster: &Cluster,
        kicker: ProbeKicker,
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
            })
            .collect();
        let counters = Arc::new(SessionCounters::new(backends.len()));
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
        tokio::spawn(reconciler.run(events, stop_tasks.clone()));
        let names = config.backends.iter().map(|b| b.name.clone()).collect();
        tokio::spawn(session_ticker::run(
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
            kicker,
        });
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
            };
            listeners.push(tokio::spawn(accept.run(stop_accepting.clone())));
        }
        Ok(Bridge {
            counters,
            routes,
            local_addrs,
            stop_accepting,
            stop_tasks,
            listeners,
        })
    }

    /// Stops accepting and closes the proxy ports; open sessions go on.
    pub async fn stop_accepting(&mut self) {
        self.stop_accepting.cancel();
        for handle in self.listeners.drain(..) {
            let _ = handle.await;
        }
    }

    /// Waits up to `timeout` for every open session to end by itself;
    /// returns how many are still open.
    pub async fn drain(&self, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let open = self.counters.total_current();
            if open == 0 || tokio::time::Instant::now() >= deadline {
                return open;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Severs every session and stops the bridge's background tasks.
    pub fn sever_all(&self) {
        self.routes.sever_everything();
        self.stop_tasks.cancel();
    }
}
