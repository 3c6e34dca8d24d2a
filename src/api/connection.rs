//! One API connection under the `[api]` limits (docs/api.md, "Limits"):
//! its place among the listener's `max_connections`, the TLS handshake
//! where the listener has a certificate, then HTTP/1.1 through hyper with a
//! header read timeout (`header_timeout`, which also closes a kept-alive
//! connection left idle), a largest request head (`max_header_bytes`: 431)
//! and a whole-request timeout (`request_timeout`: 408) for every route
//! but the SSE stream, which is long-lived by design.
//!
//! Owns what a connection beyond the limit gets: a plain-HTTP client a 503
//! (`Retry-After: 1`, `Connection: close`) written without waiting, a TLS
//! client a close (a handshake is the work the limit saves); neither is
//! queued. It must never log a request's bytes or headers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use super::auth::OverTls;
use super::error::ApiError;
use super::tls_listener::handshake;
use switchboard_config::ApiLimits;

/// The SSE stream's path: the one route without `request_timeout`.
const STREAM_PATH: &str = "/v0/events/stream";

/// hyper's smallest read buffer; a smaller `max_header_bytes` is enforced
/// on complete heads (`max_header_size`) with a buffer of this size.
const MIN_BUF: usize = 8192;

/// What a plain-HTTP client beyond `api.max_connections` is told.
pub(crate) const BUSY_ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\n\
Retry-After: 1\r\n\
Connection: close\r\n\
Content-Length: 85\r\n\
\r\n\
{\"error\":\"too many connections to this listener (api.max_connections)\",\"field\":null}\n";

/// One connection's place among its listener's `max_connections`, given
/// back when the connection ends.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A place if fewer than `max` connections of `open` hold one.
    pub(crate) fn take(open: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        open.fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Slot(open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// An accepted connection and what serving it needs.
pub(crate) struct Connection {
    pub(crate) tcp: TcpStream,
    pub(crate) peer: SocketAddr,
    /// Held until the connection ends.
    pub(crate) slot: Slot,
    /// Some: TLS first.
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) router: Router,
    /// The limits in force when it was accepted.
    pub(crate) limits: ApiLimits,
    /// The API's stop: open requests finish, then the connection closes.
    pub(crate) stop: CancellationToken,
}

impl Connection {
    /// Serves the connection until the client leaves, a limit cuts it, or
    /// the API stops.
    pub(crate) async fn serve(self) {
        let Connection {
            tcp,
            peer,
            slot,
            tls,
            router,
            limits,
            stop,
        } = self;
        let _slot = slot;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => http(TokioIo::new(tcp), peer, false, router, &limits, &stop).await,
            Some(acceptor) => {
                let tls = tokio::select! {
                    () = stop.cancelled() => return,
                    tls = handshake(acceptor, tcp, peer) => tls,
                };
                if let Some(tls) = tls {
                    http(TokioIo::new(tls), peer, true, router, &limits, &stop).await;
                }
            }
        }
    }
}

/// Turns away a connection beyond the limit at once: a plain-HTTP client
/// gets [`BUSY_ANSWER`] (what it already sent is read first, so that the
/// close is a FIN and not a reset that could destroy the answer), a TLS
/// client a close. Nothing here waits.
pub(crate) fn refuse(tcp: TcpStream, over_tls: bool) {
    if !over_tls {
        let mut discard = [0u8; 4096];
        for _ in 0..4 {
            match tcp.try_read(&mut discard) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
        let _ = tcp.try_write(BUSY_ANSWER);
    }
}

/// HTTP/1.1 over `io` with `limits`; the request timeout wraps every
/// route but the SSE stream.
async fn http<I>(
    io: I,
    peer: SocketAddr,
    over_tls: bool,
    router: Router,
    limits: &ApiLimits,
    stop: &CancellationToken,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(MIN_BUF));
    let request_timeout = limits.request_timeout;
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if over_tls {
            request.extensions_mut().insert(OverTls);
        }
        let streams = request.uri().path().trim_end_matches('/') == STREAM_PATH;
        // A Router is always ready: no poll_ready needed before call.
        let answer = router.clone().call(request);
        async move {
            if streams {
                return answer.await;
            }
            match tokio::time::timeout(request_timeout, answer).await {
                Ok(answer) => answer,
                Err(_) => Ok::<_, Infallible>(timed_out(request_timeout)),
            }
        }
    });
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "API connection ended");
            }
            return;
        }
        () = stop.cancelled() => {}
    }
    // Graceful: an open request finishes, an idle connection closes now.
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The 408 of a request that outlived `api.request_timeout`; the
/// connection closes after it (its body may be half read).
fn timed_out(limit: Duration) -> Response {
    let mut answer = ApiError {
        status: StatusCode::REQUEST_TIMEOUT,
        error: format!("the request was not complete within api.request_timeout ({limit:?})"),
        field: None,
    }
    .into_response();
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_well_formed_json() {
        let text = std::str::from_utf8(BUSY_ANSWER).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert!(json["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_connections")));
    }

    #[test]
    fn slots_stop_at_the_limit_and_come_back() {
        let open = Arc::new(AtomicUsize::new(0));
        let a = Slot::take(&open, 2).expect("first");
        let _b = Slot::take(&open, 2).expect("second");
        assert!(Slot::take(&open, 2).is_none());
        drop(a);
        assert!(Slot::take(&open, 2).is_some());
        assert_eq!(open.load(Relaxed), 1, "the slot just taken was dropped");
    }
}
