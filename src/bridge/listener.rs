//! `ProxyListener`: the accept loop of one proxy port.
//!
//! It only accepts and hands each connection to its own session task; it
//! never waits on another task, so a slow backend or a busy API cannot slow
//! the next accept. A connection beyond `proxy.max_sessions` gets no task:
//! it is turned away right here (`session::turn_away`). One wake-up takes every connection already queued (up to
//! [`BATCH`]) without going back through `select!` for each. Accept errors
//! that come from resource exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) back
//! off exponentially up to one second and recover by themselves; they never
//! spin a core or end the process. A session whose backend connect ran out
//! of descriptors pauses every port's accepts for a moment
//! (`connect::note_exhaustion`).
//!
//! Sessions run on the main (work-stealing) runtime. A thread-per-core
//! variant (one current-thread runtime and one `SO_REUSEPORT` socket per
//! core) was measured too: slightly better median latency, but 4-5× worse
//! p99 on a loaded two-core machine, where a preempted thread stalls all of
//! its sessions and no other thread can pick them up (BENCHMARKS.md).

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::session::{turn_away, Admission, Session, SessionContext};
use switchboard_config::TcpKeepalive;
use switchboard_core::bus::PortRole;

/// The accept queue a proxy port asks for; the kernel caps it at
/// `net.core.somaxconn`. tokio's `TcpListener::bind` asks for 128, which a
/// burst of connects (every client of a severed backend reconnecting at
/// once) overflows: the kernel drops their SYNs and each of those clients
/// waits a whole SYN retransmit (1 s) before it gets in.
pub(crate) const BACKLOG: u32 = 65_535;

/// Connections taken per wake-up of the accept loop, beyond the first.
pub(crate) const BATCH: usize = 64;

/// Binds a proxy port like `TcpListener::bind` (SO_REUSEADDR) but with a
/// deep accept queue, `TCP_NODELAY` and the `keepalive` settings, which the
/// accepted connections inherit (Linux), saving five syscalls per
/// connection (`keepalive.rs`).
pub(crate) fn bind(addr: SocketAddr, keepalive: Option<&TcpKeepalive>) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let _ = socket.set_nodelay(true);
    if keepalive.is_some() {
        crate::keepalive::apply(socket2::SockRef::from(&socket), keepalive)?;
    }
    socket.listen(BACKLOG)
}

/// The accept loop of one port.
pub(crate) struct ProxyListener {
    pub listener: TcpListener,
    pub port: PortRole,
    /// The settings in force; each session takes the context of its accept.
    pub context: Arc<ArcSwap<SessionContext>>,
    /// Where sessions are spawned, so that shutdown can wait for them.
    pub sessions: TaskTracker,
}

impl ProxyListener {
    /// Accepts until `stop` is cancelled, then serves what is left in the
    /// backlog; the listening socket closes when this returns.
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut backoff = Duration::ZERO;
        // Read once: what every connection accepted here inherits.
        let inherited = crate::keepalive::read(socket2::SockRef::from(&self.listener));
        loop {
            // Out of descriptors for backend connects: leave the backlog
            // alone for a moment (`connect::note_exhaustion`).
            if let Some(pause) = crate::connect::exhaustion_pause() {
                tokio::select! {
                    _ = stop.cancelled() => return self.serve_backlog(inherited),
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            let accepted = tokio::select! {
                biased;
                _ = stop.cancelled() => return self.serve_backlog(inherited),
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    self.spawn_session(stream, peer, inherited);
                    // Take what else is queued already, without a trip
                    // through select! and the stop token for each. Errors
                    // are left to the next accept() above.
                    for _ in 0..BATCH {
                        match poll_fn(|cx| Poll::Ready(self.listener.poll_accept(cx))).await {
                            Poll::Ready(Ok((stream, peer))) => {
                                self.spawn_session(stream, peer, inherited)
                            }
                            _ => break,
                        }
                    }
                }
                Err(e) if is_transient(&e) => {
                    debug!(error = %e, "accept: peer went away");
                }
                Err(e) => {
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    warn!(port = self.port.as_str(), error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }

    /// `inherited`: the keep-alive settings of the listening socket, which
    /// `client` has too. Beyond `max_sessions` the client is turned away
    /// here, at once, and no task is spawned.
    fn spawn_session(&self, client: TcpStream, peer: SocketAddr, inherited: Option<TcpKeepalive>) {
        let context = match Admission::take(self.context.load_full()) {
            Ok(admitted) => admitted,
            Err(context) => return turn_away(client, &context),
        };
        let session = Session {
            client,
            peer,
            port: self.port,
            context,
            inherited_keepalive: inherited,
        };
        self.sessions.spawn(session.run());
    }

    /// Serves the connections whose handshake the kernel already completed
    /// (the backlog) before the socket closes. Closing would reset them: a
    /// client that connected just before the end of `shutdown_delay` would
    /// see its connect succeed and then a reset instead of being served.
    fn serve_backlog(&self, inherited: Option<TcpKeepalive>) {
        let socket = socket2::SockRef::from(&self.listener);
        // The listener is non-blocking: this ends at an empty backlog.
        for _ in 0..BACKLOG {
            let (conn, peer) = match socket.accept() {
                Ok(accepted) => accepted,
                Err(e) if is_transient(&e) => continue,
                Err(_) => return,
            };
            let stream = std::net::TcpStream::from(conn);
            let (Some(peer), Ok(())) = (peer.as_socket(), stream.set_nonblocking(true)) else {
                continue;
            };
            if let Ok(client) = TcpStream::from_std(stream) {
                self.spawn_session(client, peer, inherited);
            }
        }
    }
}

/// Errors about one connection that died in the backlog, not about us.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
