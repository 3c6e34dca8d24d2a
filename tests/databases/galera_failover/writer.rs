//! The failover suite's writer: one `mysql_async` client through the proxy
//! port that inserts one row per autocommit transaction into an InnoDB
//! table keyed by a sequence number, records every sequence number whose
//! INSERT got an OK (and the node, by `@@port`, its connection was on),
//! records every client error with its kind, and reconnects after any error
//! with a short bounded backoff. Also the read-back that says which
//! acknowledged rows a node does not have.
//!
//! Every attempt uses a fresh sequence number, so an INSERT that timed out
//! on our side but committed later never collides with a retry. It only
//! writes to its own table; it never signals a server.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_harness::mariadb::{APP_DATABASE, APP_PASSWORD, APP_USER};
use switchboard_harness::mysql_async::prelude::Queryable;
use switchboard_harness::mysql_async::{Conn, Error, OptsBuilder};
use switchboard_harness::MariaDb;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The writer's table (in the app database).
pub(crate) const TABLE: &str = "failover_writes";
/// How long a connect through the proxy may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one INSERT may take: longer than a Galera eviction (writes on
/// the survivors stall until a hung member is evicted, a few seconds).
const INSERT_TIMEOUT: Duration = Duration::from_secs(10);
/// At most one INSERT per this period, so the writer leaves the two cores
/// to the servers and the router (a pace, not a wait for a condition).
const PACE: Duration = Duration::from_millis(5);
/// The first and the largest pause before a reconnect.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(160));
/// Bounds of the whole run: attempts ...
const MAX_ATTEMPTS: u64 = 500_000;
/// ... and time.
const MAX_RUN: Duration = Duration::from_secs(600);
/// How long a read-back may take (it waits for the node to apply).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One acknowledged INSERT.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Commit {
    /// Its sequence number (the primary key).
    pub(crate) seq: u64,
    /// `@@port` of the server its connection was on.
    pub(crate) port: u16,
    /// When the OK arrived.
    pub(crate) at: Instant,
    /// When the INSERT was sent: an OK that arrives after a fault may
    /// still be for an INSERT the node took before it.
    pub(crate) sent: Instant,
}

/// One error the client saw.
#[derive(Debug, Clone)]
pub(crate) struct ClientError {
    /// When it was seen.
    pub(crate) at: Instant,
    /// `<step>: <kind>`, e.g. `insert: io`, `connect: server 1045`.
    pub(crate) kind: String,
    /// The client's message.
    pub(crate) message: String,
}

/// Everything the writer recorded, in order.
#[derive(Debug, Default)]
struct Log {
    /// Acknowledged INSERTs, in sequence order.
    commits: Vec<Commit>,
    /// Client errors, in time order.
    errors: Vec<ClientError>,
}

/// The running writer; stopped on drop.
pub(crate) struct Writer {
    /// What the loop recorded; read by the suite at any time.
    log: Arc<Mutex<Log>>,
    /// Ends the loop after its current statement.
    stop: CancellationToken,
    /// The loop; `None` once stopped.
    task: Option<JoinHandle<()>>,
}

/// Creates the writer's table on `node` (Galera replicates it).
pub(crate) async fn create_table(node: &MariaDb) {
    node.exec(&format!(
        "CREATE TABLE `{APP_DATABASE}`.{TABLE} (seq BIGINT UNSIGNED NOT NULL PRIMARY KEY, \
         port INT UNSIGNED NOT NULL) ENGINE=InnoDB"
    ))
    .await;
}

/// Options of an app-user connection to `addr` over TCP.
pub(crate) fn app_opts(addr: SocketAddr) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(Some(APP_DATABASE))
        // Never the server's unix socket: the point is to go through us.
        .prefer_socket(false)
}

/// `<step>: <kind>` and the message of a client error.
fn classify(step: &str, e: &Error) -> (String, String) {
    let kind = match e {
        Error::Io(_) => "io".to_string(),
        Error::Driver(_) => "driver".to_string(),
        Error::Server(s) => format!("server {}", s.code),
        Error::Other(_) => "other".to_string(),
        Error::Url(_) => "url".to_string(),
    };
    (format!("{step}: {kind}"), e.to_string())
}

impl Log {
    /// Records a classified error now.
    fn error(&mut self, kind: (String, String)) {
        self.errors.push(ClientError {
            at: Instant::now(),
            kind: kind.0,
            message: kind.1,
        });
    }

    /// Records a timeout of `step` now.
    fn timeout(&mut self, step: &str, after: Duration) {
        self.error((
            format!("{step}: timeout"),
            format!("no answer within {after:?}"),
        ));
    }
}

impl Writer {
    /// Starts writing through `proxy`.
    pub(crate) fn start(proxy: SocketAddr) -> Writer {
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(proxy, log.clone(), stop.clone()));
        Writer {
            log,
            stop,
            task: Some(task),
        }
    }

    /// Every acknowledged INSERT so far, in sequence order.
    pub(crate) fn acked(&self) -> Vec<Commit> {
        self.log.lock().expect("writer log").commits.clone()
    }

    /// The first commit after `after` whose port satisfies `on`, if any.
    pub(crate) fn first_commit(&self, after: Instant, on: impl Fn(u16) -> bool) -> Option<Commit> {
        let log = self.log.lock().expect("writer log");
        log.commits
            .iter()
            .find(|c| c.at > after && on(c.port))
            .copied()
    }

    /// Waits (at most `timeout`) for a commit after `after` on a port that
    /// satisfies `on`; panics with `what` and the errors seen meanwhile.
    pub(crate) async fn wait_commit(
        &self,
        after: Instant,
        timeout: Duration,
        what: &str,
        on: impl Fn(u16) -> bool,
    ) -> Commit {
        let found = switchboard_harness::poll_until(timeout, || {
            let hit = self.first_commit(after, &on).is_some();
            async move { hit }
        })
        .await;
        match self.first_commit(after, &on) {
            Some(c) if found => c,
            _ => panic!(
                "no committed write within {timeout:?}: {what}; errors meanwhile: {:?}",
                self.errors_between(after, Instant::now())
            ),
        }
    }

    /// The errors seen in `(from, to]`.
    pub(crate) fn errors_between(&self, from: Instant, to: Instant) -> Vec<ClientError> {
        let log = self.log.lock().expect("writer log");
        log.errors
            .iter()
            .filter(|e| e.at > from && e.at <= to)
            .cloned()
            .collect()
    }

    /// Stops the writer and waits for its last statement to end.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(INSERT_TIMEOUT * 2, task).await;
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Errors counted by kind, for the report.
pub(crate) fn by_kind(errors: &[ClientError]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in errors {
        *counts.entry(e.kind.clone()).or_insert(0) += 1;
    }
    counts
}

/// The writer's loop: connect, learn the port, insert until an error;
/// back off; again. Bounded by [`MAX_ATTEMPTS`] and [`MAX_RUN`].
async fn run(proxy: SocketAddr, log: Arc<Mutex<Log>>, stop: CancellationToken) {
    let started = Instant::now();
    let mut seq = 0u64;
    let mut backoff = BACKOFF.0;
    let mut pace = tokio::time::interval(PACE);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while seq < MAX_ATTEMPTS && started.elapsed() < MAX_RUN && !stop.is_cancelled() {
        if let Some(mut conn) = connect(proxy, &log).await {
            backoff = BACKOFF.0;
            let port = conn.port;
            while seq < MAX_ATTEMPTS && started.elapsed() < MAX_RUN {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = pace.tick() => {}
                }
                seq += 1;
                let sql = format!("INSERT INTO {TABLE} (seq, port) VALUES ({seq}, @@port)");
                let sent = Instant::now();
                match tokio::time::timeout(INSERT_TIMEOUT, conn.conn.query_drop(sql)).await {
                    Ok(Ok(())) => log.lock().expect("writer log").commits.push(Commit {
                        seq,
                        port,
                        at: Instant::now(),
                        sent,
                    }),
                    Ok(Err(e)) => {
                        log.lock()
                            .expect("writer log")
                            .error(classify("insert", &e));
                        break;
                    }
                    Err(_) => {
                        log.lock()
                            .expect("writer log")
                            .timeout("insert", INSERT_TIMEOUT);
                        break;
                    }
                }
            }
            // Dropped, not disconnected: after an error the socket is
            // usually gone, and a COM_QUIT could hang on a paused server.
            drop(conn);
        }
        if stop.is_cancelled() {
            break;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// A connection and the `@@port` of the server it landed on.
struct Landed {
    /// The open connection.
    conn: Conn,
    /// `@@port` of the server behind it.
    port: u16,
}

/// Connects through the proxy and asks for `@@port`; `None` (recorded) on
/// any error or timeout.
async fn connect(proxy: SocketAddr, log: &Mutex<Log>) -> Option<Landed> {
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(app_opts(proxy))).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            log.lock()
                .expect("writer log")
                .error(classify("connect", &e));
            return None;
        }
        Err(_) => {
            log.lock()
                .expect("writer log")
                .timeout("connect", CONNECT_TIMEOUT);
            return None;
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, conn.query_first::<u16, _>("SELECT @@port")).await {
        Ok(Ok(Some(port))) => Some(Landed { conn, port }),
        Ok(Ok(None)) => {
            log.lock()
                .expect("writer log")
                .error(("port: empty".into(), "SELECT @@port returned no row".into()));
            None
        }
        Ok(Err(e)) => {
            log.lock().expect("writer log").error(classify("port", &e));
            None
        }
        Err(_) => {
            log.lock()
                .expect("writer log")
                .timeout("port", CONNECT_TIMEOUT);
            None
        }
    }
}

/// What a node holds of the acknowledged rows.
#[derive(Debug, Default)]
pub(crate) struct ReadBack {
    /// Acknowledged sequence numbers the node does not have.
    pub(crate) missing: Vec<u64>,
    /// Acknowledged rows whose stored `@@port` differs from the port the
    /// writer's connection reported (it would mean we misattribute nodes).
    pub(crate) wrong_port: Vec<u64>,
    /// Rows the node has in all (acknowledged or not).
    pub(crate) rows: usize,
}

/// Reads the table from `node` directly (as root, with `wsrep_sync_wait`
/// so it has applied everything the cluster committed) and compares it
/// with `acked`.
pub(crate) async fn read_back(node: &MariaDb, acked: &[Commit]) -> ReadBack {
    let read = async {
        let mut conn = node.connect("root", None, Some(APP_DATABASE)).await?;
        conn.query_drop("SET SESSION wsrep_sync_wait = 1")
            .await
            .map_err(|e| e.to_string())?;
        let rows: Vec<(u64, u16)> = conn
            .query(format!("SELECT seq, port FROM {TABLE}"))
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.disconnect().await;
        Ok::<_, String>(rows)
    };
    let rows = match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => panic!("read-back from {}: {e}", node.addr()),
        Err(_) => panic!(
            "read-back from {}: no answer within {READ_TIMEOUT:?}",
            node.addr()
        ),
    };
    let stored: HashMap<u64, u16> = rows.iter().copied().collect();
    let mut out = ReadBack {
        rows: stored.len(),
        ..ReadBack::default()
    };
    for c in acked {
        match stored.get(&c.seq) {
            None => out.missing.push(c.seq),
            Some(&port) if port != c.port => out.wrong_port.push(c.seq),
            Some(_) => {}
        }
    }
    out
}
