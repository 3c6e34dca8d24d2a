//! `RouteTable`: where a newly accepted connection goes, and the lease that
//! severs it.
//!
//! The table is immutable and swapped atomically; the accept path reads it
//! with one atomic load and never waits on another task. Every (port,
//! backend) pair has a [`CancellationToken`], its *lease*: a session clones
//! the lease of the route it took. To sever a backend's sessions the
//! reconciler first stores a table with a fresh lease for that backend and
//! then cancels the old lease. A session that read the old table therefore
//! holds the cancelled lease, however late it gets to use it; one that read
//! the new table routes by the new target. No session can slip between an
//! accept and a sever (the Go switchboard's race), and a sever costs one
//! cancellation, not a scan of the sessions.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use switchboard_core::bus::PortRole;
use switchboard_core::{BackendHandles, RouteProgress};

/// Where a backend's data port is, and the handles its sessions count in.
#[derive(Debug, Clone)]
pub(crate) struct BackendAddr {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Set when `host` is an IP literal: connects skip name resolution.
    pub resolved: Option<SocketAddr>,
    /// Every connection starts with a PROXY protocol v2 header.
    pub proxy_protocol: bool,
    /// Its counters and probe requests; the identity a reload keeps.
    pub handles: Arc<BackendHandles>,
}

/// The routes of one proxy port.
#[derive(Debug, Clone)]
pub(crate) struct PortRoute {
    /// Position (in the table's `backends`) of the backend new sessions go to.
    pub target: Option<usize>,
    /// One lease per backend, by position.
    pub leases: Vec<CancellationToken>,
}

/// The whole routing decision the data path needs.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    pub routing: bool,
    /// The operator's message of the routing switch, for refusals that say
    /// why (`proxy.refuse_with = "mysql-error"`); shared, never copied per
    /// connection.
    pub routing_message: Arc<str>,
    pub active: PortRoute,
    pub standby: PortRoute,
    /// The backends positions refer to: a session that read this table
    /// connects to and counts in the backend it decided on, whatever a
    /// reload does meanwhile.
    pub backends: Arc<[BackendAddr]>,
    /// The truth's `layout` the positions belong to.
    pub layout: u64,
    /// The route generation (`Truth::route_generation`) it was built from.
    pub generation: u64,
}

/// What an accepted connection should do.
pub(crate) enum Decision {
    RoutingOff,
    NoBackend,
    Connect {
        backend: usize,
        lease: CancellationToken,
    },
}

impl RouteTable {
    pub(crate) fn port(&self, port: PortRole) -> &PortRoute {
        match port {
            PortRole::Active => &self.active,
            PortRole::Standby => &self.standby,
        }
    }

    pub(crate) fn port_mut(&mut self, port: PortRole) -> &mut PortRoute {
        match port {
            PortRole::Active => &mut self.active,
            PortRole::Standby => &mut self.standby,
        }
    }

    /// The decision for a connection accepted on `port`.
    pub(crate) fn decide(&self, port: PortRole) -> Decision {
        if !self.routing {
            return Decision::RoutingOff;
        }
        let route = self.port(port);
        match route.target {
            None => Decision::NoBackend,
            Some(backend) => Decision::Connect {
                backend,
                lease: route.leases[backend].clone(),
            },
        }
    }
}

/// The shared, swappable table plus a change signal carrying the route
/// generation (`Truth::route_generation`) the table was built from: sessions
/// wait on it for a new route after a failed connect, the API waits on it so
/// that a PATCH answers only once the proxy acts on it.
#[derive(Clone)]
pub(crate) struct Routes {
    table: Arc<ArcSwap<RouteTable>>,
    /// The generation of the table in force, for whoever waits on it.
    progress: RouteProgress,
    /// Parent of every lease: cancelling it severs every session (shutdown).
    root: CancellationToken,
}

impl Routes {
    /// Routing off and no backends until the reconciler's first pass.
    pub(crate) fn new() -> Routes {
        let root = CancellationToken::new();
        let port = || PortRoute {
            target: None,
            leases: Vec::new(),
        };
        let table = RouteTable {
            routing: false,
            routing_message: Arc::from(""),
            active: port(),
            standby: port(),
            backends: Arc::from(Vec::new()),
            layout: u64::MAX,
            generation: 0,
        };
        Routes {
            table: Arc::new(ArcSwap::from_pointee(table)),
            progress: RouteProgress::new(),
            root,
        }
    }

    /// The current table (one atomic load).
    pub(crate) fn load(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// A fresh lease, child of the shutdown root.
    pub(crate) fn new_lease(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// Publishes a new table, then cancels the leases it replaced. The
    /// order is what closes the accept/sever race (see the module doc).
    pub(crate) fn store(&self, table: RouteTable, replaced: Vec<CancellationToken>) {
        let generation = table.generation;
        self.table.store(Arc::new(table));
        for lease in replaced {
            lease.cancel();
        }
        self.progress.mark(generation);
    }

    /// Waits, at most `limit`, until the table in force was built from
    /// route generation `generation` or a later one; returns whether it was.
    pub(crate) async fn wait_applied(&self, generation: u64, limit: std::time::Duration) -> bool {
        self.progress.wait_applied(generation, limit).await
    }

    /// The progress handle the API waits on.
    pub(crate) fn progress(&self) -> RouteProgress {
        self.progress.clone()
    }

    /// Severs every session on every port, now and forever (shutdown).
    pub(crate) fn sever_everything(&self) {
        self.root.cancel();
    }
}
