//! The bridge: the data path. Binds the proxy ports, routes every accepted
//! connection to the elected backend, relays bytes, severs on command and
//! counts sessions.
//!
//! Parts: [`route`] (the lock-free route table and its leases), `reconciler`
//! (keeps the table in line with the cluster truth, severs), `listener`
//! (accept loops), `session` (one connection), `refuse` (the MySQL error a
//! refused connection gets), `closer` (closes severed sessions' sockets
//! after their clients' FINs), `connect` (the backend connect),
//! `keepalive` (TCP keep-alive on both sockets of a session),
//! `proxy_header` (the PROXY protocol header some backends get first),
//! `relay` (the byte copy) and `splice` (its Linux fast path for
//! bulk), [`counters`] (exact session counts), `session_ticker` (coalesced
//! `sessions_changed` events), `fd_limit` ([`raise_fd_limit`]). Nothing in
//! the bridge ever waits on the API or the monitor; the data path reads only
//! the route table and atomics.

mod closer;
mod connect;
mod fd_limit;
mod keepalive;
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

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use switchboard_config::Config;
use switchboard_core::bus::PortRole;
use switchboard_core::cluster::Cluster;
use switchboard_core::counters::SessionCounters;
use switchboard_core::live_config::LiveConfig;
use switchboard_core::RouteProgress;

pub use fd_limit::raise_fd_limit;
use listener::ProxyListener;
use reconciler::RouteReconciler;
use route::Routes;
use session::SessionContext;

/// The running bridge.
pub struct Bridge {
    /// The route table and its leases.
    routes: Routes,
    /// The data path's totals.
    counters: Arc<SessionCounters>,
    /// The per-connection settings new sessions take (a reload swaps them).
    context: Arc<ArcSwap<SessionContext>>,
    /// The accept loops, active port first.
    listeners: Vec<RunningListener>,
    /// Accept loops a reload stopped, awaited at shutdown.
    retired: Vec<JoinHandle<()>>,
    /// Ends the reconciler and the session ticker.
    stop_tasks: CancellationToken,
    /// Every session ever accepted: draining and shutdown wait on it.
    sessions: TaskTracker,
}

/// One proxy port's accept loop.
struct RunningListener {
    port: PortRole,
    /// The configured address (what a reload compares).
    configured: SocketAddr,
    /// The bound address.
    local: SocketAddr,
    /// Ends this accept loop only.
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// Proxy ports a reload bound before anything else changed: if any bind
/// fails, nothing is applied.
pub struct NewListeners {
    bound: Vec<(PortRole, SocketAddr, tokio::net::TcpListener)>,
}

impl Bridge {
    /// Binds the proxy ports and starts routing. The route table is built
    /// from the cluster's current truth before the first accept.
    /// The reconciler and the session ticker run on `tasks`; sessions on
    /// the bridge's own tracker.
    pub async fn start(
        config: &LiveConfig,
        cluster: &Cluster,
        counters: Arc<SessionCounters>,
        tasks: &TaskTracker,
    ) -> std::io::Result<Bridge> {
        let routes = Routes::new();
        let stop_tasks = CancellationToken::new();
        let mut reconciler = RouteReconciler::new(cluster.clone(), routes.clone(), config.clone());
        // Subscribe before priming so no change falls between the two.
        let events = cluster.bus().subscribe();
        reconciler.prime();
        tasks.spawn(reconciler.run(events, stop_tasks.clone()));
        tasks.spawn(session_ticker::run(cluster.clone(), stop_tasks.clone()));

        let current = config.get();
        let context = Arc::new(ArcSwap::from_pointee(SessionContext::new(
            &current,
            routes.clone(),
            counters.clone(),
        )));
        let mut bridge = Bridge {
            routes,
            counters,
            context,
            listeners: Vec::new(),
            retired: Vec::new(),
            stop_tasks,
            sessions: TaskTracker::new(),
        };
        let bound = Bridge::bind(&[], &current)?;
        bridge.swap_listeners(&current, bound);
        Ok(bridge)
    }

    /// Binds the ports of `config` that `running` does not serve already.
    fn bind(running: &[RunningListener], config: &Config) -> std::io::Result<NewListeners> {
        let mut bound = Vec::new();
        for (port, addr) in wanted(config) {
            if running
                .iter()
                .any(|l| l.port == port && l.configured == addr)
            {
                continue;
            }
            let keepalive = config.proxy.tcp_keepalive.as_ref();
            let listener = listener::bind(addr, keepalive).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot bind {} port {addr}: {e}", port.as_str()),
                )
            })?;
            bound.push((port, addr, listener));
        }
        Ok(NewListeners { bound })
    }

    /// A reload's first step: binds every proxy port `config` moves or
    /// adds, and changes nothing else.
    pub fn bind_for(&self, config: &Config) -> std::io::Result<NewListeners> {
        Bridge::bind(&self.listeners, config)
    }

    /// A reload's last step: new connections take `config`'s per-connection
    /// settings; the new ports accept, then the ports `config` no longer has
    /// stop accepting (the order SPEC 12 asks: a moved port is served by the
    /// new socket before the old one closes). Open sessions are untouched.
    /// Returns one line per port change.
    pub fn reconfigure(&mut self, config: &Config, new: NewListeners) -> Vec<String> {
        self.context.store(Arc::new(SessionContext::new(
            config,
            self.routes.clone(),
            self.counters.clone(),
        )));
        self.swap_listeners(config, new)
    }

    fn swap_listeners(&mut self, config: &Config, new: NewListeners) -> Vec<String> {
        let mut changes = Vec::new();
        for (port, configured, listener) in new.bound {
            let local = listener.local_addr().unwrap_or(configured);
            let stop = CancellationToken::new();
            let accept = ProxyListener {
                listener,
                port,
                context: self.context.clone(),
                sessions: self.sessions.clone(),
            };
            let handle = tokio::spawn(accept.run(stop.clone()));
            changes.push(format!("{} port now {local}", port.as_str()));
            self.listeners.push(RunningListener {
                port,
                configured,
                local,
                stop,
                handle,
            });
        }
        let wanted = wanted(config);
        let mut kept = Vec::new();
        for l in self.listeners.drain(..) {
            if wanted.contains(&(l.port, l.configured)) {
                kept.push(l);
            } else {
                // The accept loop serves its backlog and closes the socket.
                l.stop.cancel();
                self.retired.push(l.handle);
                changes.push(format!("{} port {} closed", l.port.as_str(), l.local));
            }
        }
        kept.sort_by_key(|l| l.port as u8);
        self.listeners = kept;
        changes
    }

    /// The addresses the proxy ports are bound to (active, then standby).
    pub fn local_addrs(&self) -> Vec<(PortRole, SocketAddr)> {
        self.listeners.iter().map(|l| (l.port, l.local)).collect()
    }

    /// How far the data path has applied the truth (the API waits on it).
    pub fn progress(&self) -> RouteProgress {
        self.routes.progress()
    }

    /// Stops accepting and closes the proxy ports; open sessions go on.
    pub async fn stop_accepting(&mut self) {
        for l in self.listeners.drain(..) {
            l.stop.cancel();
            let _ = l.handle.await;
        }
        for handle in self.retired.drain(..) {
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

/// The proxy ports `config` asks for, active first.
fn wanted(config: &Config) -> Vec<(PortRole, SocketAddr)> {
    let mut ports = vec![(PortRole::Active, config.proxy.listen)];
    if let Some(standby) = config.proxy.standby_listen {
        ports.push((PortRole::Standby, standby));
    }
    ports
}
