//! `Session`: one accepted client connection, from route decision to close.
//!
//! The route is read once, with the lease that can sever it (`route.rs`).
//! Routing off or no active backend: the client is closed at once and sees
//! EOF, after a MySQL error packet saying why with `refuse_with =
//! "mysql-error"` (`refuse.rs`). Otherwise the session connects within
//! `connect_timeout` (and sends the PROXY protocol header within it, for a
//! backend that wants one), counts itself, and relays until both
//! directions end or its lease is cancelled (or one direction has ended
//! `half_close_timeout` ago, or keep-alive found a peer gone: closed,
//! not severed).
//! A refused or timed-out connect asks the monitor for an out-of-cycle probe
//! and, if the route moves to another backend within the connect budget,
//! tries that backend once, so the client that discovered the failure is
//! usually served rather than dropped.
//!
//! Before any of that, the accept loop takes the connection's
//! [`Admission`]: with `proxy.max_sessions` connections admitted already,
//! the client is turned away at once ([`turn_away`]), in the accept loop,
//! without a task, a wait or a queue.

use std::io;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::closer;
use crate::connect::connect;
use crate::fd_limit;
use crate::keepalive;
use crate::proxy_header;
use crate::refuse::{refuse, Refusal};
use crate::relay::{relay, unless_severed, Transfer};
use crate::route::{Decision, Routes};
use switchboard_config::{Config, RefuseWith, TcpKeepalive};
use switchboard_core::bus::PortRole;
use switchboard_core::counters::{Outcome, SessionCounters};

/// What every session of the bridge shares: the route table and the
/// per-connection settings of the configuration in force when it was
/// accepted (a reload swaps in a new context; sessions keep theirs).
pub(crate) struct SessionContext {
    pub routes: Routes,
    pub counters: Arc<SessionCounters>,
    pub connect_timeout: Duration,
    /// How a connection that cannot be routed is turned away.
    pub refuse_with: RefuseWith,
    /// Keep-alive on both sockets (`keepalive.rs`), so a peer that vanished
    /// without a FIN frees its session; `None`: off.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// How long the relay goes on once one direction has ended.
    pub half_close_timeout: Duration,
    /// Connections admitted at once (`proxy.max_sessions`, or what the
    /// open-file limit allows).
    pub max_sessions: u64,
}

impl SessionContext {
    /// The context of `config`'s `[proxy]` settings. The session limit is
    /// `proxy.max_sessions`, or derived from the open-file limit now
    /// (`fd_limit.rs`); it is logged and published to the counters for
    /// the read model.
    pub(crate) fn new(
        config: &Config,
        routes: Routes,
        counters: Arc<SessionCounters>,
    ) -> SessionContext {
        let fd_limit = fd_limit::open_file_limit();
        let allowed = fd_limit.map(|n| fd_limit::sessions_allowed(config, n));
        let max_sessions = match (config.proxy.max_sessions, allowed) {
            (Some(n), Some(allowed)) if n > allowed => {
                warn!(
                    max_sessions = n,
                    fd_limit,
                    allowed,
                    "proxy.max_sessions is more than the open-file limit leaves room for: \
                     beyond that, accepts fail with EMFILE (raise LimitNOFILE)"
                );
                n
            }
            (Some(n), _) => n,
            (None, Some(allowed)) => {
                info!(
                    max_sessions = allowed,
                    fd_limit, "session limit derived from the open-file limit"
                );
                allowed
            }
            // No open-file limit to derive from (not Unix): no limit.
            (None, None) => u64::MAX,
        };
        counters.set_max_sessions(max_sessions);
        SessionContext {
            routes,
            counters,
            connect_timeout: config.proxy.connect_timeout,
            refuse_with: config.proxy.refuse_with,
            tcp_keepalive: config.proxy.tcp_keepalive,
            half_close_timeout: config.proxy.half_close_timeout,
            max_sessions,
        }
    }
}

/// An accepted connection's place among the `max_sessions` admitted ones,
/// with the context it was admitted under; the place is given back when
/// the session ends, however it ends (the drop runs after both sockets
/// closed: `Session`'s fields drop after the body of `run`).
pub(crate) struct Admission(Arc<SessionContext>);

impl Admission {
    /// Admits a connection under `context` if fewer than its
    /// `max_sessions` are; gives the context back otherwise.
    pub(crate) fn take(context: Arc<SessionContext>) -> Result<Admission, Arc<SessionContext>> {
        if context.counters.try_admit(context.max_sessions) {
            Ok(Admission(context))
        } else {
            Err(context)
        }
    }
}

impl Deref for Admission {
    type Target = SessionContext;
    fn deref(&self) -> &SessionContext {
        &self.0
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.counters.release();
    }
}

/// Turns away a client beyond `max_sessions`: the MySQL error 1040 with
/// `refuse_with = "mysql-error"` (one non-blocking write), counted, closed
/// at once. Logged at most every 10 s, so a flood cannot flood the log.
pub(crate) fn turn_away(client: TcpStream, ctx: &SessionContext) {
    if ctx.refuse_with == RefuseWith::MysqlError {
        refuse(&client, Refusal::MaxSessions);
    }
    drop(client);
    ctx.counters.record(Outcome::MaxSessions);
    static NEXT_WARNING: AtomicU64 = AtomicU64::new(0);
    let now = crate::connect::epoch().elapsed().as_secs();
    let next = NEXT_WARNING.load(Relaxed);
    if now >= next
        && NEXT_WARNING
            .compare_exchange(next, now + 10, Relaxed, Relaxed)
            .is_ok()
    {
        warn!(
            max_sessions = ctx.max_sessions,
            refused_so_far = ctx.counters.outcome(Outcome::MaxSessions),
            "proxy.max_sessions reached: new clients are closed at once"
        );
    }
}

/// One accepted connection.
pub(crate) struct Session {
    pub client: TcpStream,
    pub peer: SocketAddr,
    pub port: PortRole,
    /// The settings it was accepted under, and its place among the
    /// admitted connections.
    pub context: Admission,
    /// The keep-alive settings `client` inherited from its listening
    /// socket; the session sets the context's own when they differ.
    pub inherited_keepalive: Option<TcpKeepalive>,
}

impl Session {
    /// Tells a backend that wants it who the client is: the PROXY protocol
    /// header, before any byte of the client's.
    async fn proxy_header(&self, server: &TcpStream) -> io::Result<()> {
        let local = self.client.local_addr()?;
        proxy_header::send(server, self.peer, local).await
    }

    pub(crate) async fn run(self) {
        let ctx = &*self.context;
        let deadline = Instant::now() + ctx.connect_timeout;
        let mut retried = false;
        let (server, table, backend, lease) = loop {
            let table = ctx.routes.load();
            let (backend, lease) = match table.decide(self.port) {
                Decision::RoutingOff => {
                    if ctx.refuse_with == RefuseWith::MysqlError {
                        refuse(&self.client, Refusal::RoutingOff(&table.routing_message));
                    }
                    return ctx.counters.record(Outcome::RoutingOff);
                }
                Decision::NoBackend => {
                    if ctx.refuse_with == RefuseWith::MysqlError {
                        refuse(&self.client, Refusal::NoBackend);
                    }
                    return ctx.counters.record(Outcome::NoBackend);
                }
                Decision::Connect { backend, lease } => (backend, lease),
            };
            let addr = &table.backends[backend];
            let connected = tokio::select! {
                biased;
                _ = lease.cancelled() => return ctx.counters.record(Outcome::SeveredConnecting),
                r = tokio::time::timeout_at(deadline, connect(addr, ctx.tcp_keepalive.as_ref())) => {
                    r.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")))
                }
            };
            let connected = match connected {
                Ok(server) if addr.proxy_protocol => {
                    let sent = tokio::select! {
                        biased;
                        _ = lease.cancelled() => return ctx.counters.record(Outcome::SeveredConnecting),
                        r = tokio::time::timeout_at(deadline, self.proxy_header(&server)) => {
                            r.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")))
                        }
                    };
                    sent.map(|()| server)
                }
                other => other,
            };
            match connected {
                Ok(server) => break (server, table, backend, lease),
                Err(e) => {
                    debug!(backend = %addr.name, peer = %self.peer, error = %e, "backend connect failed");
                    if crate::connect::is_exhaustion(&e) {
                        // Our own exhaustion (EMFILE...): the backend did
                        // nothing, so no probe, and no wait for a route
                        // change it cannot cause: the client's descriptor
                        // is given back at once, and the proxy ports pause
                        // their accepts (tests/faults/exhaustion.rs).
                        crate::connect::note_exhaustion();
                        return ctx.counters.record(Outcome::ConnectFailed);
                    }
                    addr.handles.request_probe();
                    // One retry, if the monitor moves the route in time:
                    // any table newer than the one this connect used.
                    let budget = deadline.saturating_duration_since(Instant::now());
                    if retried || !ctx.routes.wait_applied(table.generation + 1, budget).await {
                        return ctx.counters.record(Outcome::ConnectFailed);
                    }
                    retried = true;
                }
            }
        };
        // TCP_NODELAY: `connect` sets it on the backend socket; the client
        // socket inherits it from the listening socket on Linux.
        #[cfg(not(target_os = "linux"))]
        let _ = self.client.set_nodelay(true);
        if self.inherited_keepalive != ctx.tcp_keepalive {
            // Validated settings: an error would be the kernel's, and the
            // session goes on without them (`keepalive.rs`).
            let _ = keepalive::apply(
                socket2::SockRef::from(&self.client),
                ctx.tcp_keepalive.as_ref(),
            );
        }

        let backend = &table.backends[backend];
        let mut guard = ctx.counters.open(backend.handles.clone(), self.port);
        let mut transfer = Transfer::default();
        let relayed = relay(&self.client, &server, &mut transfer, ctx.half_close_timeout);
        let severed = match unless_severed(&lease, relayed).await {
            None => {
                guard.mark_severed();
                true
            }
            Some(Err(e)) => {
                debug!(backend = %backend.name, error = %e, "session ended with an error");
                false
            }
            Some(Ok(())) => false,
        };
        ctx.counters.bytes_up.fetch_add(transfer.up, Relaxed);
        ctx.counters.bytes_down.fetch_add(transfer.down, Relaxed);
        // Sockets close here, before the guard un-counts the session. A
        // sever wakes every session of the backend at once; each only shuts
        // down its client's write side (the FIN: the client sees EOF) and
        // hands both sockets to the closer (`closer.rs`), which closes them
        // at a lower priority (nice 10), after the other sessions' FINs.
        if severed {
            let _ = socket2::SockRef::from(&self.client).shutdown(std::net::Shutdown::Write);
            closer::close_later(self.client, server).await;
        } else {
            drop(self.client);
            drop(server);
        }
        drop(guard);
    }
}
