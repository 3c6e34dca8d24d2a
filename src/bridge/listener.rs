//! `ProxyListener`: the accept loop of one proxy port.
//!
//! It only accepts and hands each connection to its own session task; it
//! never waits on another task, so a slow backend or a busy API cannot slow
//! the next accept. Accept errors that come from resource exhaustion (EMFILE,
//! ENFILE, ENOBUFS, ENOMEM) back off exponentially up to one second and
//! recover by themselves; they never spin a core or end the process.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::bridge::session::{Session, SessionContext};
use crate::bus::PortRole;

/// The accept loop of one port.
pub struct ProxyListener {
    pub listener: TcpListener,
    pub port: PortRole,
    pub context: Arc<SessionContext>,
}

impl ProxyListener {
    /// Accepts until `stop` is cancelled; the listening socket closes when
    /// this returns.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::ZERO;
                    let session = Session {
                        client: stream,
                        peer,
                        port: self.port,
                        context: self.context.clone(),
                    };
                    tokio::spawn(session.run());
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
}

/// Errors about one connection that died in the backlog, not about us.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}
