//! Connection churn: short sessions through the proxy at a bounded rate
//! (one in five on the standby port), each a connect, the backend's
//! greeting, one echoed message of up to 512 bytes compared byte for byte,
//! and a close. At most [`IN_FLIGHT`] at once; a tick that finds them all
//! busy is skipped and counted, never queued.
//!
//! A churn session the proxy closed (a sever caught it mid-way) is a
//! [`Cut`], checked later against the marks; a refused or timed-out connect,
//! a greeting that never comes, and a wrong byte are violations at once. It
//! stops by itself at the stop signal or its hard deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};
use tokio::time::MissedTickBehavior;

use switchboard_harness::{read_line, try_connect, IO_TIMEOUT};

use crate::log::{lock, Log, Port};

/// Churn sessions in flight at most.
const IN_FLIGHT: u32 = 32;

/// A churn session the proxy closed before it finished.
#[derive(Clone, Debug)]
pub(crate) struct Cut {
    pub(crate) port: Port,
    /// The greeting backend, when it greeted.
    pub(crate) backend: Option<String>,
    pub(crate) started: Instant,
    pub(crate) ended: Instant,
}

/// What the churn did.
#[derive(Debug, Default)]
pub(crate) struct ChurnStats {
    pub(crate) attempts: u64,
    pub(crate) completed: u64,
    pub(crate) skipped: u64,
    pub(crate) bytes: u64,
    pub(crate) cuts: Vec<Cut>,
}

/// Counters the session tasks share.
#[derive(Default)]
struct Shared {
    completed: AtomicU64,
    bytes: AtomicU64,
    cuts: Mutex<Vec<Cut>>,
}

/// Runs churn at `per_second` connects until `stop` or `hard_deadline`.
pub(crate) async fn run(
    proxy: SocketAddr,
    standby: SocketAddr,
    per_second: u32,
    seed: u64,
    mut stop: watch::Receiver<bool>,
    hard_deadline: Instant,
    log: Log,
) -> ChurnStats {
    let mut stats = ChurnStats::default();
    let shared = Arc::new(Shared::default());
    let slots = Arc::new(Semaphore::new(IN_FLIGHT as usize));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        if Instant::now() > hard_deadline {
            break;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            stats.skipped += 1;
            continue;
        };
        stats.attempts += 1;
        let (addr, port) = if stats.attempts % 5 == 0 {
            (standby, Port::Standby)
        } else {
            (proxy, Port::Active)
        };
        let len = rng.gen_range(1..=512usize);
        let msg: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        let (shared, log) = (shared.clone(), log.clone());
        tokio::spawn(async move {
            one(addr, port, &msg, &shared, &log).await;
            drop(permit);
        });
    }
    // Every session in flight ends within its own deadlines.
    let all = slots.acquire_many(IN_FLIGHT);
    if tokio::time::timeout(IO_TIMEOUT * 3, all).await.is_err() {
        log.violation("churn sessions still running 15 s after the stop".into());
    }
    stats.completed = shared.completed.load(Relaxed);
    stats.bytes = shared.bytes.load(Relaxed);
    stats.cuts = lock(&shared.cuts).clone();
    stats
}

/// One churn session.
async fn one(addr: SocketAddr, port: Port, msg: &[u8], shared: &Shared, log: &Log) {
    let started = Instant::now();
    let cut = |backend: Option<String>| {
        lock(&shared.cuts).push(Cut {
            port,
            backend,
            started,
            ended: Instant::now(),
        })
    };
    // A connect must always succeed: the proxy port never stops listening.
    let mut s = match try_connect(addr).await {
        Ok(s) => s,
        Err(e) => return log.violation(format!("churn: connect to {addr} failed: {e}")),
    };
    let who = match read_line(&mut s, IO_TIMEOUT).await {
        Ok(line) => match line.strip_prefix("hello from ") {
            Some(who) => who.to_string(),
            None => return log.violation(format!("churn: not a greeting: {line:?}")),
        },
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return log.violation(format!("churn: no greeting through {addr} in 5 s"))
        }
        Err(_) => return cut(None),
    };
    if s.write_all(msg).await.is_err() {
        return cut(Some(who));
    }
    let mut back = vec![0u8; msg.len()];
    let mut got = 0;
    while got < back.len() {
        match tokio::time::timeout(IO_TIMEOUT, s.read(&mut back[got..])).await {
            Err(_) => {
                return log.violation(format!("churn: echo from {who} not back in 5 s"));
            }
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
        }
    }
    if back[..got] != msg[..got] {
        return log.violation(format!("churn: a byte from {who} differs"));
    }
    shared.bytes.fetch_add(got as u64, Relaxed);
    if got < msg.len() {
        return cut(Some(who));
    }
    shared.completed.fetch_add(1, Relaxed);
}
