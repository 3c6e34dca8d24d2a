//! Connecting a session to its backend, without a trip through the event
//! loop when the kernel has already answered.
//!
//! A non-blocking `connect` says EINPROGRESS, and tokio then waits for the
//! socket to become writable: one more epoll round, and a connect-timeout
//! timer whose registration wakes the runtime's driver (an eventfd write)
//! on every connection. But on loopback, and often on a LAN, the handshake
//! (or the refusal) has already completed inside `connect` itself. So we
//! ask once with a zero-timeout `poll`: connected or refused, the session
//! goes on at once and no timer is ever armed; only a handshake still in
//! flight waits for writability (under the session's connect timeout).
//!
//! The socket gets `TCP_NODELAY` before it connects (nothing ever corks),
//! and the session's TCP keep-alive (`keepalive.rs`), so a backend that
//! vanishes without a FIN frees the session too.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use switchboard_config::TcpKeepalive;

use crate::keepalive;
use crate::route::BackendAddr;

/// Connects to `addr` with `TCP_NODELAY` and `keep_alive` (if any) set.
pub(crate) async fn connect(
    addr: &BackendAddr,
    keep_alive: Option<&TcpKeepalive>,
) -> io::Result<TcpStream> {
    let stream = match addr.resolved {
        Some(sa) => return connect_ip(sa, keep_alive).await,
        None => TcpStream::connect((addr.host.as_str(), addr.port)).await?,
    };
    stream.set_nodelay(true)?;
    if keep_alive.is_some() {
        // Validated settings: an error would be the kernel's, never the
        // backend's, so it must not fail the connect.
        let _ = keepalive::apply(socket2::SockRef::from(&stream), keep_alive);
    }
    Ok(stream)
}

#[cfg(unix)]
async fn connect_ip(sa: SocketAddr, keep_alive: Option<&TcpKeepalive>) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::fd::AsRawFd;

    #[cfg(target_os = "linux")]
    let socket = Socket::new(
        Domain::for_address(sa),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    #[cfg(not(target_os = "linux"))]
    let socket = {
        let s = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
        s.set_nonblocking(true)?;
        s
    };
    socket.set_nodelay(true)?;
    if keep_alive.is_some() {
        // As above: never a reason to fail the connect.
        let _ = keepalive::apply(socket2::SockRef::from(&socket), keep_alive);
    }
    match socket.connect(&sa.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    let mut pfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    let failed = libc::POLLERR | libc::POLLHUP;
    if ready == 1 && pfd.revents & libc::POLLOUT != 0 && pfd.revents & failed == 0 {
        return Ok(stream);
    }
    if ready != 1 || pfd.revents & failed == 0 {
        // Still in flight: wait for the handshake.
        stream.writable().await?;
    }
    match stream.take_error()? {
        Some(e) => Err(e),
        None => match stream.peer_addr() {
            Ok(_) => Ok(stream),
            Err(e) => Err(e),
        },
    }
}

#[cfg(not(unix))]
async fn connect_ip(sa: SocketAddr, keep_alive: Option<&TcpKeepalive>) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(sa).await?;
    stream.set_nodelay(true)?;
    if keep_alive.is_some() {
        let _ = keepalive::apply(socket2::SockRef::from(&stream), keep_alive);
    }
    Ok(stream)
}

/// How long the proxy ports stop accepting after a backend connect ran
/// out of descriptors ([`note_exhaustion`]).
const EXHAUSTION_PAUSE_MS: u64 = 50;

/// Until when (ms after [`epoch`]) the proxy ports accept nothing; 0: no
/// pause. Process-wide, as descriptors are.
static PAUSED_UNTIL_MS: AtomicU64 = AtomicU64::new(0);

/// The moment [`PAUSED_UNTIL_MS`] (and the bridge's other process-wide
/// clocks kept in atomics) count from.
pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A session's backend connect failed for want of a descriptor: the proxy
/// ports pause their accepts for [`EXHAUSTION_PAUSE_MS`]. Without it,
/// every descriptor a closing session frees is taken at once by the next
/// client in the backlog, whose backend connect fails again: the accept
/// loop spins through the backlog closing clients, and the API's and the
/// probes' accepts and connects never find a free descriptor
/// (tests/faults/exhaustion.rs).
pub(crate) fn note_exhaustion() {
    let until = epoch().elapsed().as_millis() as u64 + EXHAUSTION_PAUSE_MS;
    PAUSED_UNTIL_MS.fetch_max(until, Relaxed);
}

/// What is left of the pause [`note_exhaustion`] started, if any: one
/// atomic load while none is in force.
pub(crate) fn exhaustion_pause() -> Option<Duration> {
    let until = PAUSED_UNTIL_MS.load(Relaxed);
    if until == 0 {
        return None;
    }
    let now = epoch().elapsed().as_millis() as u64;
    if now >= until {
        // Over: back to the one load (a newer pause keeps its value).
        let _ = PAUSED_UNTIL_MS.compare_exchange(until, 0, Relaxed, Relaxed);
        return None;
    }
    Some(Duration::from_millis(until - now))
}

/// Whether a failed connect is this process's own exhaustion (out of
/// descriptors, buffers or memory) rather than anything the backend did.
pub(crate) fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
