//! Where the API runs: its listeners are bound by the caller (so a port in
//! use is reported at start), then served on a thread of their own with a
//! single-threaded tokio runtime.
//!
//! Owns that isolation: however busy the data path keeps the main runtime's
//! workers, API requests never queue behind relay tasks, and API work never
//! runs on a data-path worker (nor do the history sampler and the Traffic
//! Monitor event log, which run here beside the servers). Handlers only read atomics and lock-free
//! snapshots and send commands to the cluster, so nothing here needs the
//! main runtime. Each listener's accept loop counts its open connections
//! against `api.max_connections` (read from the configuration in force at
//! each accept, so a reload applies to the next connection) and turns away
//! the one beyond it at once (`connection::refuse`), never queueing it;
//! each accepted connection is served in its own task under the `[api]`
//! limits (`connection.rs`, TLS first when bound with an acceptor). Servers
//! stop gracefully on the stop token (open requests finish); the thread ends
//! when they have.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{self, Connection, Slot};
use switchboard_core::live_config::LiveConfig;

/// Pending connections each API listener queues.
const BACKLOG: i32 = 1024;

/// The pause after an accept error that is not the client's (EMFILE).
/// Short: the API must keep answering while the process is out of
/// descriptors (the operator's way to see why), and a retry of one
/// listener's accept costs next to nothing.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The least time between two warnings about refused connections.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A bound, not yet served listener.
pub(crate) struct Bound {
    /// Its configuration key, for the log (`api.listen`, ...).
    what: &'static str,
    listener: std::net::TcpListener,
    router: Router,
    /// Some: every connection is TLS-terminated with it first.
    tls: Option<TlsAcceptor>,
}

/// Binds `addr` (named `what` in the error) for `router`, served over TLS
/// with `tls` when given.
pub(crate) fn bind(
    what: &'static str,
    addr: SocketAddr,
    router: Router,
    tls: Option<TlsAcceptor>,
) -> io::Result<(SocketAddr, Bound)> {
    let wrap = |e: io::Error| io::Error::new(e.kind(), format!("cannot bind {what} {addr}: {e}"));
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(wrap)?;
    socket.set_reuse_address(true).map_err(wrap)?;
    socket.bind(&addr.into()).map_err(wrap)?;
    socket.listen(BACKLOG).map_err(wrap)?;
    socket.set_nonblocking(true).map_err(wrap)?;
    let listener: std::net::TcpListener = socket.into();
    let local = listener.local_addr()?;
    Ok((
        local,
        Bound {
            what,
            listener,
            router,
            tls,
        },
    ))
}

/// Serves every bound listener on the `switchboard-api` thread until `stop`,
/// under the `[api]` limits of `config` (the configuration in force), with
/// `background` (the history sampler and the Traffic Monitor event
/// log, which end on `stop` too) beside
/// them; the thread ends once every server has finished its open requests
/// and `background` has returned.
pub(crate) fn spawn(
    servers: Vec<Bound>,
    config: LiveConfig,
    background: impl Future<Output = ()> + Send + 'static,
    stop: CancellationToken,
) -> io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("switchboard-api")
        .build()?;
    std::thread::Builder::new()
        .name("switchboard-api".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut tasks: Vec<_> = servers
                    .into_iter()
                    .map(|b| tokio::spawn(serve(b, config.clone(), stop.clone())))
                    .collect();
                tasks.push(tokio::spawn(background));
                for t in tasks {
                    let _ = t.await;
                }
            })
        })
}

/// Serves one listener until `stop`: accepts, takes the connection's
/// place among `api.max_connections` or turns it away, and serves it in a
/// task of its own; then waits for the open connections to finish.
async fn serve(bound: Bound, config: LiveConfig, stop: CancellationToken) {
    let listener = match TcpListener::from_std(bound.listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "API listener unusable");
            return;
        }
    };
    let open = Arc::new(AtomicUsize::new(0));
    let connections = TaskTracker::new();
    let (mut refused, mut next_warning) = (0u64, Instant::now());
    let reserve = Reserve::take();
    let (mut exhausted, mut next_exhausted_warning) = (0u64, Instant::now());
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_client_error(&e) => continue,
            // Out of descriptors: give back the one kept for this moment,
            // and accept again at once into it.
            Err(_) if reserve.release() => continue,
            Err(e) => {
                exhausted += 1;
                if Instant::now() >= next_exhausted_warning {
                    tracing::warn!(listener = bound.what, error = %e, failed_so_far = exhausted, "API accept failed; retrying every 50 ms");
                    next_exhausted_warning = Instant::now() + WARN_EVERY;
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {
                        reserve.refill();
                        continue;
                    }
                }
            }
        };
        reserve.refill();
        let limits = config.get().api.limits;
        let Some(slot) = Slot::take(&open, limits.max_connections) else {
            connection::refuse(tcp, bound.tls.is_some());
            refused += 1;
            if Instant::now() >= next_warning {
                tracing::warn!(
                    listener = bound.what,
                    max_connections = limits.max_connections,
                    refused_so_far = refused,
                    "API listener full: new connections are turned away"
                );
                next_warning = Instant::now() + WARN_EVERY;
            }
            continue;
        };
        let connection = Connection {
            tcp,
            peer,
            slot,
            tls: bound.tls.clone(),
            router: bound.router.clone(),
            limits,
            stop: stop.clone(),
        };
        let reserve = reserve.clone();
        connections.spawn(async move {
            connection.serve().await;
            // Its socket is closed: take the number back into the reserve.
            reserve.refill();
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// One descriptor an API listener keeps in reserve (`/dev/null`, opened
/// at start), so that when the process is out of descriptors (a connect
/// storm on the proxy ports, a lowered limit) the API can still accept:
/// the accept that fails with EMFILE closes it and accepts again into the
/// number just freed, and the connection's task takes it back the moment
/// its socket is closed, before anyone else can (a descriptor freed later
/// would go to whichever thread asks first: the proxy's accepts and the
/// probes ask often). Shared by the accept loop and its connections'
/// tasks, all on the API's one thread (tests/faults/exhaustion.rs).
#[derive(Clone, Default)]
struct Reserve(Arc<Mutex<Option<std::fs::File>>>);

impl Reserve {
    fn take() -> Reserve {
        let reserve = Reserve::default();
        reserve.refill();
        reserve
    }

    /// Takes the spare descriptor again if it was given back and one is
    /// free (one `open`, only while it is missing).
    fn refill(&self) {
        let mut spare = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if spare.is_none() {
            *spare = std::fs::File::open("/dev/null").ok();
        }
    }

    /// Gives the spare back; `false` if there was none.
    fn release(&self) -> bool {
        let mut spare = self.0.lock().unwrap_or_else(|p| p.into_inner());
        spare.take().is_some()
    }
}

/// An accept error caused by one client, not by us: try the next one.
fn is_client_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
