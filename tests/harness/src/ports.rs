//! Loopback ports: picking free ones, the set of ports one start attempt of
//! the binary binds ([`Ports`]), and a listener with a deep accept queue.
//!
//! Only 127.0.0.1 and ephemeral ports are used. A port picked free may be
//! taken again before the binary binds it, so whoever binds it later must be
//! ready to retry with fresh ones (the launcher does).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;

/// The ports of one start attempt.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub proxy: SocketAddr,
    pub standby: SocketAddr,
    pub api: SocketAddr,
    pub health: SocketAddr,
    pub metrics: SocketAddr,
    pub aggregator: SocketAddr,
}

impl Ports {
    /// A set of ports that were free a moment ago.
    pub fn fresh() -> Ports {
        Ports {
            proxy: free_addr(),
            standby: free_addr(),
            api: free_addr(),
            health: free_addr(),
            metrics: free_addr(),
            aggregator: free_addr(),
        }
    }
}

/// A loopback port that was free a moment ago (bind to port 0, read, close),
/// and never one this process handed out before: the kernel may give the
/// same ephemeral port to two binds in a row once the first is closed, and
/// two listeners of one config on one port is a configuration error (exit
/// 2), not a bind failure the launcher retries. Callers that bind it later
/// must still retry with a fresh one on failure.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    for _ in 0..1000 {
        let Ok(l) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = l.local_addr() else {
            continue;
        };
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
        if handed_out.insert(addr.port()) {
            return addr.port();
        }
    }
    panic!("no free loopback port");
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Binds like `tokio::net::TcpListener::bind` but with a deep accept queue:
/// tokio's 128 overflows when a test opens hundreds of connections at once,
/// and the kernel then drops SYNs (a 1 s retransmit for the unlucky client).
/// Must be called inside a tokio runtime.
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}
