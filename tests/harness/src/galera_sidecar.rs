//! `GaleraSidecar`: a tiny stand-in for Cloud Foundry's galera-healthcheck
//! beside one Galera node, so a `galera` check (docs/configuration.md) can
//! be compared with a `mysql` check on the same cluster.
//!
//! `GET /api/v1/status` asks the node, as the monitor user over
//! `mysql_async`, for `wsrep_local_state`, its comment, `wsrep_local_index`
//! and `@@global.read_only`, and answers like galera-healthcheck:
//! `{"wsrep_local_state":4,"wsrep_local_state_comment":"Synced",
//! "wsrep_local_index":N,"healthy":true}`, 200 when healthy and 503 (same
//! body) when not. Healthy is galera-healthcheck's rule with its defaults
//! (`available_when_donor` and `available_when_read_only` off): state 4
//! (Synced) and not read-only. Like galera-healthcheck it has no Primary
//! component or staleness rule. A node that does not answer within
//! [`QUERY_DEADLINE`] (paused, stopped, killed) gets a 503 with
//! `{"healthy":false,"error":"..."}`. Any other path is a 404.
//!
//! Every answer is `Connection: close` and every request opens a fresh SQL
//! connection, so a restarted node is seen at the next probe. Sidecars run
//! on a runtime thread of their own: a test that keeps its own runtime busy
//! never delays a verdict. It only reads the node; it never writes to it
//! and never signals it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::mariadb::{MONITOR_PASSWORD, MONITOR_USER};
use super::MariaDb;

/// How long the connect and the query to the node may take together:
/// below the 500 ms probe timeout the database tests use, so a hung node
/// gets an explicit 503 instead of a probe timeout.
pub const QUERY_DEADLINE: Duration = Duration::from_millis(300);
/// How long a client may take to send its request head.
const READ_DEADLINE: Duration = Duration::from_secs(5);
/// The largest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// `wsrep_local_state` of a Synced node.
const SYNCED: u64 = 4;

/// The one statement of a status request: one row of four text values.
const STATUS_SQL: &str = "SELECT \
(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE'), \
(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'), \
(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'WSREP_LOCAL_INDEX'), \
@@global.read_only";

/// One node's status endpoint; stops listening on drop.
pub struct GaleraSidecar {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    /// Status requests answered so far, for waits on "a probe arrived".
    requests: Arc<AtomicU64>,
    /// The accept loop on the sidecars' runtime.
    task: JoinHandle<()>,
}

impl GaleraSidecar {
    /// Starts a sidecar for `node` (connecting as the monitor user).
    pub async fn start(node: &MariaDb) -> GaleraSidecar {
        let opts = node.opts(MONITOR_USER, Some(MONITOR_PASSWORD), None);
        let listener = runtime()
            .spawn(async { super::listen(SocketAddr::from(([127, 0, 0, 1], 0))) })
            .await
            .expect("the sidecars' runtime runs")
            .expect("bind a sidecar");
        let addr = listener.local_addr().expect("a bound address");
        let requests = Arc::new(AtomicU64::new(0));
        let task = runtime().spawn(accept_loop(listener, opts, requests.clone()));
        GaleraSidecar {
            addr,
            requests,
            task,
        }
    }

    /// The URL a `galera` check uses.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/status", self.addr)
    }

    /// Status requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(SeqCst)
    }
}

impl Drop for GaleraSidecar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The runtime every sidecar of this test process runs on.
fn runtime() -> &'static Handle {
    static RUNTIME: OnceLock<Handle> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the sidecars");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("galera-sidecars".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("spawn the sidecars' thread");
        handle
    })
}

/// Accepts forever (until aborted); one task per request.
async fn accept_loop(listener: TcpListener, opts: Opts, requests: Arc<AtomicU64>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // EMFILE and friends: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let (opts, requests) = (opts.clone(), requests.clone());
        tokio::spawn(async move {
            let _ = serve(stream, opts, &requests).await;
        });
    }
}

/// Reads one request head and answers it.
async fn serve(mut stream: TcpStream, opts: Opts, requests: &AtomicU64) -> std::io::Result<()> {
    let Ok(Some(head)) = tokio::time::timeout(READ_DEADLINE, read_head(&mut stream)).await else {
        return Ok(());
    };
    let line = head.lines().next().unwrap_or_default().to_string();
    let mut parts = line.split_whitespace();
    let (status, body) = match (parts.next(), parts.next()) {
        (Some("GET"), Some("/api/v1/status")) => {
            let (healthy, body) = status_of(opts).await;
            requests.fetch_add(1, SeqCst);
            let status = if healthy {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            (status, body.to_string())
        }
        _ => ("404 Not Found", json!({"error": "not found"}).to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The request head as text, or `None` when the client closed or sent
/// more than [`MAX_HEAD`] bytes without ending it.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// (healthy, JSON body) of the node right now.
async fn status_of(opts: Opts) -> (bool, Value) {
    match tokio::time::timeout(QUERY_DEADLINE, query(opts)).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => (false, json!({"healthy": false, "error": e})),
        Err(_) => (
            false,
            json!({"healthy": false, "error": format!("no answer within {QUERY_DEADLINE:?}")}),
        ),
    }
}

/// One connection, one statement, galera-healthcheck's verdict.
async fn query(opts: Opts) -> Result<(bool, Value), String> {
    let mut conn = Conn::new(opts).await.map_err(|e| e.to_string())?;
    type Text = Option<String>;
    let row: Option<(Text, Text, Text, Text)> = conn
        .query_first(STATUS_SQL)
        .await
        .map_err(|e| e.to_string())?;
    // A polite COM_QUIT; the node closing first is no error of ours.
    let _ = conn.disconnect().await;
    let (state, comment, index, read_only) = row.ok_or("the status query returned no row")?;
    let number = |v: Option<String>, what: &str| -> Result<u64, String> {
        let v = v.ok_or_else(|| format!("no {what}: is wsrep on?"))?;
        v.trim().parse().map_err(|e| format!("{what} {v:?}: {e}"))
    };
    let state = number(state, "wsrep_local_state")?;
    let index = number(index, "wsrep_local_index")?;
    let read_only = read_only.as_deref().map(str::trim) == Some("1");
    let healthy = state == SYNCED && !read_only;
    Ok((
        healthy,
        json!({
            "wsrep_local_state": state,
            "wsrep_local_state_comment": comment.unwrap_or_default(),
            "wsrep_local_index": index,
            "healthy": healthy,
        }),
    ))
}
