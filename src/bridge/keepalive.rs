//! TCP keep-alive on a session's sockets (`[proxy] tcp_keepalive`,
//! `tcp_keepalive_interval`, `tcp_keepalive_count`).
//!
//! Why: a peer that vanishes without a FIN (a client host that lost power,
//! a NAT or firewall entry dropped in between) leaves an idle session whose
//! relay waits for a read that never comes: its task, its two sockets and
//! the backend's connection are held until the process ends. With
//! keep-alive the kernel probes an idle connection and, after the
//! configured count of unanswered probes, fails it with ETIMEDOUT; the
//! relay's pending read then returns that error and the session ends
//! (counted as closed, not severed). Nothing in user space keeps a timer
//! for it.
//!
//! Where: the backend socket gets it before it connects (`connect.rs`).
//! The client socket gets it from its listening socket: on Linux an
//! accepted socket inherits `SO_KEEPALIVE` and the `TCP_KEEP*` values of
//! its listener (as it inherits `TCP_NODELAY`), which saves four
//! `setsockopt`s per connection. A session whose context asks for other
//! settings than its listener holds (after a reload changed them, or off
//! Linux) sets them on its client socket itself.
//!
//! It must never fail a session: the values are validated by the
//! configuration (whole seconds within the kernel's limits), so an error
//! here would be the kernel's, and the session goes on without keep-alive.

use std::io;

use socket2::SockRef;
use switchboard_config::TcpKeepalive;

/// Turns keep-alive on with `settings`, or off for `None`, on any socket
/// (listening, accepted or not yet connected).
pub(crate) fn apply(socket: SockRef<'_>, settings: Option<&TcpKeepalive>) -> io::Result<()> {
    let Some(k) = settings else {
        return socket.set_keepalive(false);
    };
    let params = socket2::TcpKeepalive::new().with_time(k.idle);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    ))]
    let params = params.with_interval(k.interval).with_retries(k.count);
    socket.set_tcp_keepalive(&params)
}

/// What a socket holds now (four `getsockopt`s): `None` when keep-alive is
/// off or cannot be read. A listener reads this once, so that its sessions
/// know whether their client socket already has the context's settings.
#[cfg(target_os = "linux")]
pub(crate) fn read(socket: SockRef<'_>) -> Option<TcpKeepalive> {
    if !socket.keepalive().ok()? {
        return None;
    }
    Some(TcpKeepalive {
        idle: socket.keepalive_time().ok()?,
        interval: socket.keepalive_interval().ok()?,
        count: socket.keepalive_retries().ok()?,
    })
}

/// Elsewhere accepted sockets are not known to inherit the settings:
/// "off", so a session that wants keep-alive sets it itself.
#[cfg(not(target_os = "linux"))]
pub(crate) fn read(_socket: SockRef<'_>) -> Option<TcpKeepalive> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn short() -> TcpKeepalive {
        TcpKeepalive {
            idle: Duration::from_secs(7),
            interval: Duration::from_secs(3),
            count: 4,
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_connecting_socket_gets_the_settings_and_off_turns_them_off() {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        apply(SockRef::from(&s), Some(&short())).unwrap();
        assert_eq!(read(SockRef::from(&s)), Some(short()));
        apply(SockRef::from(&s), None).unwrap();
        assert_eq!(read(SockRef::from(&s)), None);
    }

    /// What the listener relies on to skip the per-connection syscalls.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn an_accepted_socket_inherits_its_listeners_settings() {
        let listener =
            crate::listener::bind("127.0.0.1:0".parse().unwrap(), Some(&short())).unwrap();
        assert_eq!(read(SockRef::from(&listener)), Some(short()));
        let addr = listener.local_addr().unwrap();
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        assert_eq!(read(SockRef::from(&accepted)), Some(short()));
    }
}
