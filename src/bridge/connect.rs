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
//! The socket gets `TCP_NODELAY` before it connects: nothing ever corks.

use std::io;
use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::route::BackendAddr;

/// Connects to `addr` with `TCP_NODELAY` set.
pub(crate) async fn connect(addr: &BackendAddr) -> io::Result<TcpStream> {
    let stream = match addr.resolved {
        Some(sa) => return connect_ip(sa).await,
        None => TcpStream::connect((addr.host.as_str(), addr.port)).await?,
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(unix)]
async fn connect_ip(sa: SocketAddr) -> io::Result<TcpStream> {
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
async fn connect_ip(sa: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(sa).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
