//! The TLS side of one API connection on a listener with a certificate
//! (`api.tls_cert`): the handshake, run in the connection's own task
//! (`connection.rs`), so a slow or failing client never delays another's.
//!
//! Owns what a TLS port does with clients that are not TLS clients or
//! fail: a plain-HTTP request gets a plain `400` saying that the port
//! speaks TLS (as Go's `net/http` answers), a failed or stalled handshake
//! (bounded by [`HANDSHAKE_TIMEOUT`]) just closes that connection, logged
//! at debug level. A connection in its handshake holds one of the
//! listener's `api.max_connections` places, so handshakes in progress are
//! bounded by that limit. It must never log a request's bytes.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take from connect to a finished handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a refused plain-HTTP client is given to read the answer.
const PLAIN_LINGER: Duration = Duration::from_secs(1);

/// The first byte of a TLS handshake record (a ClientHello).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a plain-HTTP client on the TLS port is told.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\
Content-Length: 48\r\n\
\r\n\
Client sent an HTTP request to an HTTPS server.\n";

/// One connection's handshake, within [`HANDSHAKE_TIMEOUT`]; a client
/// whose first byte is not a TLS record gets [`PLAIN_HTTP_ANSWER`].
/// `None`: the connection is over.
pub(crate) async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let outcome = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1) if first[0] == TLS_HANDSHAKE_RECORD => {}
            Ok(1) => {
                tracing::debug!(%peer, "plain HTTP on the API's TLS port: answered 400");
                refuse_plain(stream).await;
                return None;
            }
            // EOF or an error before the first byte: nothing to answer.
            _ => return None,
        }
        match acceptor.accept(stream).await {
            Ok(tls) => Some(tls),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "API TLS handshake failed");
                None
            }
        }
    })
    .await;
    match outcome {
        Ok(tls) => tls,
        Err(_) => {
            tracing::debug!(%peer, "API TLS handshake timed out");
            None
        }
    }
}

/// Answers a plain-HTTP client and closes without a reset: what it sent is
/// read first, and after the answer its own close is awaited (bounded), so
/// the answer is not lost to an RST over unread bytes.
async fn refuse_plain(mut stream: TcpStream) {
    let mut discard = [0u8; 4096];
    let _ = stream.read(&mut discard).await;
    if stream.write_all(PLAIN_HTTP_ANSWER).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(PLAIN_LINGER, async {
        while matches!(stream.read(&mut discard).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_is_well_formed() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).expect("ASCII");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
    }
}
