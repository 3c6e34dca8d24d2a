//! Where the API runs: its listeners are bound by the caller (so a port in
//! use is reported at start), then served on a thread of their own with a
//! single-threaded tokio runtime.
//!
//! Owns that isolation: however busy the data path keeps the main runtime's
//! workers, API requests never queue behind relay tasks, and API work never
//! runs on a data-path worker. Handlers only read atomics and lock-free
//! snapshots and send commands to the cluster, so nothing here needs the
//! main runtime. Servers stop gracefully on the stop token; the thread ends
//! when they have.

use std::io;
use std::net::SocketAddr;

use axum::serve::ListenerExt;
use axum::Router;
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Pending connections each API listener queues.
const BACKLOG: i32 = 1024;

/// A bound, not yet served listener.
pub(crate) struct Bound {
    listener: std::net::TcpListener,
    router: Router,
}

/// Binds `addr` (named `what` in the error) for `router`.
pub(crate) fn bind(
    what: &str,
    addr: SocketAddr,
    router: Router,
) -> io::Result<(SocketAddr, Bound)> {
    let wrap = |e: io::Error| io::Error::new(e.kind(), format!("cannot bind {what} {addr}: {e}"));
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(wrap)?;
    socket.set_reuse_address(true).map_err(wrap)?;
    socket.bind(&addr.into()).map_err(wrap)?;
    socket.listen(BACKLOG).map_err(wrap)?;
    socket.set_nonblocking(true).map_err(wrap)?;
    let listener: std::net::TcpListener = socket.into();
    let local = listener.local_addr()?;
    Ok((local, Bound { listener, router }))
}

/// Serves every bound listener on the `switchboard-api` thread until `stop`;
/// the thread ends once every server has finished its open requests.
pub(crate) fn spawn(
    servers: Vec<Bound>,
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
                let tasks: Vec<_> = servers
                    .into_iter()
                    .map(|b| tokio::spawn(serve(b, stop.clone())))
                    .collect();
                for t in tasks {
                    let _ = t.await;
                }
            })
        })
}

/// Serves one listener (peer address available to handlers, `TCP_NODELAY`
/// on every connection) until `stop`.
async fn serve(bound: Bound, stop: CancellationToken) {
    let listener = match TcpListener::from_std(bound.listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "API listener unusable");
            return;
        }
    };
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let service = bound
        .router
        .into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async move { stop.cancelled().await };
    if let Err(e) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %e, "HTTP server failed");
    }
}
