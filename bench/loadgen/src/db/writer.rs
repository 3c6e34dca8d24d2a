//! The failover client: one session through switchboard that inserts
//! numbered rows (`trial`, `seq`), one autocommit `INSERT` at a time, and on
//! any error drops its session and connects again at once (then every
//! [`RETRY`] while connects fail). It logs every acknowledged row with the
//! node its session reached and when, every new session, and every error,
//! so `failover.rs` can tell when writes resumed on another node and which
//! acknowledged rows must exist.
//!
//! Every statement and connect has a deadline, and the writer stops by
//! itself after its time limit; it never talks to a node directly.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio_util::sync::CancellationToken;

use super::router::{connect, first_line};

/// The table every trial writes into (created by `failover::create_table`).
pub(crate) const TABLE: &str = "test.failover_seq";
/// How long one `INSERT` may take before the session counts as broken.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two failed connects.
pub(crate) const RETRY: Duration = Duration::from_millis(10);

/// A row the server acknowledged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ack {
    /// Its sequence number.
    pub(crate) seq: u64,
    /// The node of the session that wrote it.
    pub(crate) node: usize,
    /// When the acknowledgement arrived.
    pub(crate) at: Instant,
}

/// What the writer saw.
#[derive(Default)]
pub(crate) struct Log {
    /// Every acknowledged row, in order.
    pub(crate) acks: Vec<Ack>,
    /// Every new session: (when, its node).
    pub(crate) sessions: Vec<(Instant, usize)>,
    /// Every failed statement: (when, why).
    pub(crate) statement_errors: Vec<(Instant, String)>,
    /// Every failed connect: (when, why).
    pub(crate) connect_errors: Vec<(Instant, String)>,
    /// The highest sequence number tried (acknowledged or not).
    pub(crate) last_seq: u64,
}

impl Log {
    /// The last error of either kind.
    pub(crate) fn last_error(&self) -> Option<Instant> {
        let s = self.statement_errors.last().map(|e| e.0);
        let c = self.connect_errors.last().map(|e| e.0);
        s.max(c)
    }
}

/// A running writer.
pub(crate) struct Writer {
    /// Shared with the task; held only for short updates and reads.
    log: Arc<Mutex<Log>>,
    /// Asks the task to stop.
    stop: CancellationToken,
    /// The task.
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Starts writing rows of `trial` through `router`, for at most `limit`.
    pub(crate) fn start(router: SocketAddr, trial: u32, limit: Duration) -> Writer {
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(write_rows(
            router,
            trial,
            Instant::now() + limit,
            log.clone(),
            stop.clone(),
        ));
        Writer { log, stop, task }
    }

    /// The log so far.
    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    /// Stops the writer (a statement in flight is abandoned: neither
    /// acknowledged nor an error) and returns its log.
    pub(crate) async fn stop(self) -> Log {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        std::mem::take(&mut *lock(&self.log))
    }
}

/// The mutex, also after a panic elsewhere (the log stays usable).
fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer's loop, until `stop` or `deadline`.
async fn write_rows(
    router: SocketAddr,
    trial: u32,
    deadline: Instant,
    log: Arc<Mutex<Log>>,
    stop: CancellationToken,
) {
    let mut session: Option<(Conn, usize)> = None;
    let mut seq = 0u64;
    while !stop.is_cancelled() && Instant::now() < deadline {
        let Some((conn, node)) = session.as_mut() else {
            let attempt = tokio::select! {
                r = connect(router) => r,
                _ = stop.cancelled() => break,
            };
            match attempt {
                Ok((conn, node)) => {
                    lock(&log).sessions.push((Instant::now(), node));
                    session = Some((conn, node));
                }
                Err(e) => {
                    lock(&log).connect_errors.push((Instant::now(), e));
                    tokio::time::sleep(RETRY).await;
                }
            }
            continue;
        };
        seq += 1;
        lock(&log).last_seq = seq;
        let sql = format!(
            "INSERT INTO {TABLE} (trial, seq, node) VALUES ({trial}, {seq}, @@wsrep_node_name)"
        );
        let result = tokio::select! {
            r = tokio::time::timeout(STATEMENT_TIMEOUT, conn.query_drop(sql)) => r,
            _ = stop.cancelled() => break,
        };
        let now = Instant::now();
        match result {
            Ok(Ok(())) => lock(&log).acks.push(Ack {
                seq,
                node: *node,
                at: now,
            }),
            Ok(Err(e)) => {
                lock(&log).statement_errors.push((now, first_line(e)));
                session = None;
            }
            Err(_) => {
                lock(&log)
                    .statement_errors
                    .push((now, format!("no answer within {STATEMENT_TIMEOUT:?}")));
                session = None;
            }
        }
    }
}
