//! `Session`: one accepted client connection, from route decision to close.
//!
//! The route is read once, with the lease that can sever it (`route.rs`).
//! Routing off or no active backend: the client is closed at once and sees
//! EOF, after a MySQL error packet saying why with `refuse_with =
//! "mysql-error"` (`refuse.rs`). Otherwise the session connects within
//! `connect_timeout` (and sends the PROXY protocol header within it, for a
//! backend that wants one), counts itself, and relays until both
//! directions end or its lease is cancelled.
//! A refused or timed-out connect asks the monitor for an out-of-cycle probe
//! and, if the route moves to another backend within the connect budget,
//! tries that backend once, so the client that discovered the failure is
//! usually served rather than dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::debug;

use crate::closer;
use crate::connect::connect;
use crate::proxy_header;
use crate::refuse::{refuse, Refusal};
use crate::relay::{relay, unless_severed, Transfer};
use crate::route::{BackendAddr, Decision, Routes};
use switchboard_config::RefuseWith;
use switchboard_core::bus::PortRole;
use switchboard_core::counters::{Outcome, SessionCounters};
use switchboard_core::ProbeRequests;

/// What every session of the bridge shares.
pub(crate) struct SessionContext {
    pub routes: Routes,
    pub backends: Arc<[BackendAddr]>,
    pub counters: Arc<SessionCounters>,
    pub connect_timeout: Duration,
    /// Out-of-cycle probes after a failed connect.
    pub probes: ProbeRequests,
    /// How a connection that cannot be routed is turned away.
    pub refuse_with: RefuseWith,
}

/// One accepted connection.
pub(crate) struct Session {
    pub client: TcpStream,
    pub peer: SocketAddr,
    pub port: PortRole,
    pub context: Arc<SessionContext>,
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
        let (server, backend, lease) = loop {
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
            let addr = &ctx.backends[backend];
            let connected = tokio::select! {
                biased;
                _ = lease.cancelled() => return ctx.counters.record(Outcome::SeveredConnecting),
                r = tokio::time::timeout_at(deadline, connect(addr)) => {
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
                Ok(server) => break (server, backend, lease),
                Err(e) => {
                    debug!(backend = %addr.name, peer = %self.peer, error = %e, "backend connect failed");
                    ctx.probes.request(backend);
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

        let mut guard = ctx.counters.open(self.port, backend);
        let mut transfer = Transfer::default();
        let severed = match unless_severed(&lease, relay(&self.client, &server, &mut transfer))
            .await
        {
            None => {
                guard.mark_severed();
                true
            }
            Some(Err(e)) => {
                debug!(backend = %ctx.backends[backend].name, error = %e, "session ended with an error");
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
