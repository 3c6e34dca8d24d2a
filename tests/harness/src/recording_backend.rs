//! `RecordingBackend`: a loopback TCP backend that writes down who reached
//! it and when. Each connection's first line is the client's tag (the
//! coordination tests send `proxy-1 42\n`: the instance it went through
//! and a sequence number); the backend records (arrival, tag) and then
//! echoes everything, the first line included.
//!
//! Shared by every switchboard instance of a test, so the backends' own
//! records say which instance's sessions reached which backend and when:
//! the ground truth the agreement and disagreement figures are computed
//! from, independent of what any instance reports about itself. It runs on
//! a runtime thread of its own, so a busy test runtime never delays an
//! arrival, and it never connects anywhere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest first line it waits for (a tag is a few bytes).
const MAX_TAG: usize = 256;
/// How long a connection may take to send its first line.
const TAG_TIMEOUT: Duration = Duration::from_secs(5);

/// The runtime every recording backend of this test process runs on.
fn runtime() -> &'static Handle {
    static RUNTIME: OnceLock<Handle> = OnceLock::new();
    RUNTIME.get_or_init(|| super::runtime_thread::spawn("recording-backends"))
}

/// One tagged connection that reached a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When the connection was accepted.
    pub at: Instant,
    /// The client's first line, without the newline.
    pub tag: String,
}

impl Record {
    /// The tag's first word (`proxy-1` of `proxy-1 42`).
    pub fn instance(&self) -> &str {
        self.tag.split_whitespace().next().unwrap_or_default()
    }

    /// The tag's second word as a number (`42` of `proxy-1 42`).
    pub fn seq(&self) -> Option<u64> {
        self.tag.split_whitespace().nth(1)?.parse().ok()
    }
}

/// A backend that records every tagged connection, then echoes.
pub struct RecordingBackend {
    /// Its name in the configuration (`db-0`).
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it shares with its tasks on the backends' runtime.
    inner: Arc<Inner>,
}

/// What the accept loop shares with the handle.
struct Inner {
    /// Every tagged connection, in the order the tags arrived.
    records: Mutex<Vec<Record>>,
    /// Connections that closed before a whole first line.
    untagged: AtomicU64,
    /// Connections open now.
    open: AtomicU64,
    /// Cancelled on drop: ends every connection.
    conns: CancellationToken,
    /// The accept loop, aborted on drop.
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl RecordingBackend {
    /// Listens on a free loopback port as `name`.
    pub async fn start(name: &str) -> RecordingBackend {
        let listener = runtime()
            .spawn(async { super::listen(SocketAddr::from(([127, 0, 0, 1], 0))) })
            .await
            .expect("the backends' runtime")
            .expect("bind a recording backend");
        let addr = listener.local_addr().expect("the backend's address");
        let inner = Arc::new(Inner {
            records: Mutex::new(Vec::new()),
            untagged: AtomicU64::new(0),
            open: AtomicU64::new(0),
            conns: CancellationToken::new(),
            listener: Mutex::new(None),
        });
        let task = runtime().spawn(accept_loop(listener, inner.clone()));
        *inner.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
        RecordingBackend {
            name: name.to_string(),
            addr,
            inner,
        }
    }

    /// Every tagged connection so far, sorted by arrival.
    pub fn records(&self) -> Vec<Record> {
        let mut records = self
            .inner
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        records.sort_by_key(|r| r.at);
        records
    }

    /// The tagged connections accepted at or after `since`, sorted by
    /// arrival; cheaper than [`Self::records`] on a long run, since it
    /// only looks at the newest ones (a tag is recorded at most
    /// [`TAG_TIMEOUT`] after its connection was accepted).
    pub fn records_since(&self, since: Instant) -> Vec<Record> {
        let all = self.inner.records.lock().unwrap_or_else(|p| p.into_inner());
        let mut records: Vec<Record> = all
            .iter()
            .rev()
            .take_while(|r| r.at + TAG_TIMEOUT >= since)
            .filter(|r| r.at >= since)
            .cloned()
            .collect();
        drop(all);
        records.sort_by_key(|r| r.at);
        records
    }

    /// How many tagged connections arrived so far.
    pub fn count(&self) -> usize {
        self.inner
            .records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Connections that ended before sending a whole first line.
    pub fn untagged(&self) -> u64 {
        self.inner.untagged.load(SeqCst)
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.inner.open.load(SeqCst)
    }
}

impl Drop for RecordingBackend {
    fn drop(&mut self) {
        let task = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
        }
        self.inner.conns.cancel();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let at = Instant::now();
        inner.open.fetch_add(1, SeqCst);
        let inner = inner.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            tokio::select! {
                _ = inner.conns.cancelled() => {}
                _ = serve(stream, at, &inner) => {}
            }
            inner.open.fetch_sub(1, SeqCst);
        });
    }
}

/// Reads the tag line, records it, echoes it and everything after.
async fn serve(mut stream: TcpStream, at: Instant, inner: &Inner) -> std::io::Result<()> {
    let mut first = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let newline = loop {
        if let Some(i) = first.iter().position(|&b| b == b'\n') {
            break i;
        }
        let read = tokio::time::timeout(TAG_TIMEOUT, stream.read(&mut buf)).await;
        match read {
            Ok(Ok(n @ 1..)) if first.len() < MAX_TAG => first.extend_from_slice(&buf[..n]),
            _ => {
                inner.untagged.fetch_add(1, SeqCst);
                return Ok(());
            }
        }
    };
    let tag = String::from_utf8_lossy(&first[..newline]).into_owned();
    inner
        .records
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Record { at, tag });
    stream.write_all(&first).await?;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}
