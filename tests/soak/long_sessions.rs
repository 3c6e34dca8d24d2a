//! Long sessions with hashed payloads: each worker holds one session
//! through the proxy at a time and, until told to stop, sends it chunks of
//! a seeded random stream (mostly small, now and then up to 64 KiB, so both
//! the relay's copy and its splice path carry them) at a paced rate, reading
//! every chunk back. Both directions are hashed with SHA-256 as they go by
//! and every chunk is compared byte for byte; when the proxy closes the
//! session (a sever), the bytes that came back must be exactly a prefix of
//! what was sent. Then the worker reconnects, until the stop.
//!
//! Every session ends in a [`SessionRecord`]: who it reached (the greeting
//! backend's name), when it started connecting and when it ended, how, and
//! whether its hashes matched. Between chunks the worker keeps reading, so
//! an EOF is seen the moment it arrives. It never waits without a deadline:
//! a chunk that does not come back within [`STALL`] ends the session as
//! stalled (a violation), and a worker stops by itself at its hard deadline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use switchboard_harness::data::RandomStream;
use switchboard_harness::{try_greet, IO_TIMEOUT};

use crate::log::{lock, Port};

/// How long one chunk may take to come back before the session counts as
/// stalled.
const STALL: Duration = Duration::from_secs(15);

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The test stopped it; every byte came back, the hashes match.
    Stopped,
    /// The proxy closed it (EOF or reset): a sever.
    Closed,
    /// Closed before the backend's greeting arrived (severed while
    /// connecting, or not routed).
    ClosedEarly,
    /// A chunk did not come back within [`STALL`], or no greeting came.
    Stalled,
    /// A byte differed, or bytes arrived that were never sent.
    Corrupt,
}

/// One session's life.
#[derive(Clone, Debug)]
pub(crate) struct SessionRecord {
    pub(crate) port: Port,
    /// The greeting backend; `None` when no greeting arrived.
    pub(crate) backend: Option<String>,
    pub(crate) started: Instant,
    pub(crate) ended: Instant,
    pub(crate) end: End,
    /// Bytes sent, echoed and compared.
    pub(crate) bytes: u64,
    /// The SHA-256 of what came back equals that of what was sent (up to
    /// the same length).
    pub(crate) hash_ok: bool,
    pub(crate) detail: String,
}

/// The workers of one phase.
pub(crate) struct Workers {
    tasks: Vec<JoinHandle<()>>,
    records: Arc<Mutex<Vec<SessionRecord>>>,
}

/// Starts `n` workers on `addr` (the proxy port `port`), seeded from
/// `seed`, that stop when `stop` turns true or at `hard_deadline`.
pub(crate) fn spawn(
    addr: SocketAddr,
    port: Port,
    n: usize,
    seed: u64,
    stop: &watch::Receiver<bool>,
    hard_deadline: Instant,
    workers: &mut Workers,
) {
    for i in 0..n as u64 {
        let (stop, records) = (stop.clone(), workers.records.clone());
        let seed = seed.wrapping_mul(1_000_003).wrapping_add(i);
        workers.tasks.push(tokio::spawn(worker(
            addr,
            port,
            seed,
            stop,
            hard_deadline,
            records,
        )));
    }
}

impl Workers {
    /// No workers yet.
    pub(crate) fn new() -> Workers {
        Workers {
            tasks: Vec::new(),
            records: Arc::default(),
        }
    }

    /// Waits (at most `within`) for every worker to end; the records.
    pub(crate) async fn join(self, within: Duration) -> Vec<SessionRecord> {
        let all = futures::future::join_all(self.tasks);
        match tokio::time::timeout(within, all).await {
            Ok(results) => {
                for r in results {
                    r.expect("a long-session worker panicked");
                }
            }
            Err(_) => panic!("long-session workers still running {within:?} after the stop"),
        }
        let records = lock(&self.records).clone();
        records
    }
}

/// One worker: sessions one after the other until the stop.
async fn worker(
    addr: SocketAddr,
    port: Port,
    seed: u64,
    mut stop: watch::Receiver<bool>,
    hard_deadline: Instant,
    records: Arc<Mutex<Vec<SessionRecord>>>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !*stop.borrow() && Instant::now() < hard_deadline {
        let record = session(addr, port, rng.gen(), &mut stop, hard_deadline).await;
        let closed = record.end != End::Stopped;
        lock(&records).push(record);
        if closed {
            // A short pause before reconnecting, as a client would.
            let pause = Duration::from_millis(rng.gen_range(20..=120));
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// A chunk length: mostly small, sometimes up to 64 KiB.
fn chunk_len(rng: &mut StdRng) -> usize {
    match rng.gen_range(0..100) {
        0..=79 => rng.gen_range(1..=2048),
        80..=94 => rng.gen_range(2049..=16 * 1024),
        _ => rng.gen_range(16 * 1024 + 1..=64 * 1024),
    }
}

/// Reads until `buf` is full, EOF or an error; how many bytes came.
async fn read_up_to<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match rd.read(&mut buf[got..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

/// One session, from the connect to its end.
async fn session(
    addr: SocketAddr,
    port: Port,
    seed: u64,
    stop: &mut watch::Receiver<bool>,
    hard_deadline: Instant,
) -> SessionRecord {
    let started = Instant::now();
    let mut record = SessionRecord {
        port,
        backend: None,
        started,
        ended: started,
        end: End::ClosedEarly,
        bytes: 0,
        hash_ok: true,
        detail: String::new(),
    };
    let mut s = match try_greet(addr, IO_TIMEOUT).await {
        Ok((s, who)) => {
            record.backend = Some(who);
            s
        }
        Err(e) => {
            record.ended = Instant::now();
            if e.kind() == std::io::ErrorKind::TimedOut {
                record.end = End::Stalled;
            }
            record.detail = format!("no greeting: {e}");
            return record;
        }
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut sent, mut received) = (Sha256::new(), Sha256::new());
    let mut back = vec![0u8; 64 * 1024];
    let end = |record: &mut SessionRecord, end: End, detail: String| {
        record.ended = Instant::now();
        record.end = end;
        record.detail = detail;
    };
    loop {
        // Pace, watching the socket: an EOF is noticed at once, and any
        // byte now is one nobody sent.
        let pace = Duration::from_millis(rng.gen_range(10..=40));
        let mut extra = [0u8; 1];
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            r = s.read(&mut extra) => {
                let (kind, what) = match r {
                    Ok(0) | Err(_) => (End::Closed, String::new()),
                    Ok(_) => (End::Corrupt, format!("an unsent byte after {}", record.bytes)),
                };
                end(&mut record, kind, what);
                record.hash_ok = received.finalize() == sent.finalize();
                return record;
            }
            _ = tokio::time::sleep(pace) => {}
        }
        if Instant::now() > hard_deadline {
            break;
        }
        let chunk = RandomStream::new(rng.gen(), chunk_len(&mut rng) as u64).next_chunk();
        let back = &mut back[..chunk.len()];
        let (mut rd, mut wr) = s.split();
        let exchange = async { tokio::join!(wr.write_all(chunk), read_up_to(&mut rd, back)) };
        let Ok((_, got)) = tokio::time::timeout(STALL, exchange).await else {
            end(
                &mut record,
                End::Stalled,
                format!("a {} byte chunk not back in {STALL:?}", chunk.len()),
            );
            return record;
        };
        received.update(&back[..got]);
        if back[..got] != chunk[..got] {
            let at = back
                .iter()
                .zip(chunk)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let offset = record.bytes + at as u64;
            end(&mut record, End::Corrupt, format!("byte {offset} differs"));
            record.hash_ok = false;
            return record;
        }
        record.bytes += got as u64;
        sent.update(&chunk[..got]);
        if got < chunk.len() {
            end(&mut record, End::Closed, String::new());
            record.hash_ok = received.finalize() == sent.finalize();
            return record;
        }
    }
    // Stopped: half-close; the backend echoes nothing more and closes.
    let _ = s.shutdown().await;
    let mut rest = [0u8; 1024];
    let tail = tokio::time::timeout(IO_TIMEOUT, read_up_to(&mut s, &mut rest)).await;
    let hash_ok = received.finalize() == sent.finalize();
    match tail {
        Ok(0) => end(&mut record, End::Stopped, String::new()),
        Ok(n) => end(
            &mut record,
            End::Corrupt,
            format!("{n} unsent bytes at the end"),
        ),
        Err(_) => end(&mut record, End::Stalled, "no EOF after the stop".into()),
    }
    record.hash_ok = hash_ok;
    record
}
