//! `LoadDriver`: new sessions through one instance's proxy port at a fixed
//! cadence, each tagged `proxy-N seq\n` so the backend it reaches records
//! which instance sent it. A session sends its tag, reads the echo and
//! closes; one that fails (refused, closed at once, no echo in time) is
//! only counted: a failing session is what some faults are about.
//!
//! Bounded in count and time, and every session is a task of its own with
//! its own deadline (at most [`MAX_IN_FLIGHT`] at once), so a session that
//! hangs never slows the cadence. Stops on drop. It never asserts: the
//! tests read its counts and the backends' records.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::time::{timeout, Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use switchboard_harness::read_line;

/// How often a driver opens a session.
pub(crate) const PERIOD: Duration = Duration::from_millis(10);
/// How long one session may take, connect to echo.
const SESSION_TIMEOUT: Duration = Duration::from_secs(1);
/// Sessions of one driver open at once, at most; a tick finding none free
/// is counted as skipped.
const MAX_IN_FLIGHT: usize = 64;
/// No driver runs longer than this, whatever the test does.
const MAX_RUN: Duration = Duration::from_secs(600);
/// No driver opens more sessions than this.
const MAX_SESSIONS: u64 = 100_000;

/// What a driver counted.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Sessions that got their echo back.
    pub(crate) ok: AtomicU64,
    /// Sessions that failed (refused, closed, no echo in time).
    pub(crate) failed: AtomicU64,
    /// Ticks without a free session slot.
    pub(crate) skipped: AtomicU64,
}

/// One instance's load: a task on the test's runtime.
pub(crate) struct LoadDriver {
    /// What its sessions did, shared with the task.
    counts: Arc<Counts>,
    /// Cancelled on drop: the task and its sessions end.
    stop: CancellationToken,
}

impl LoadDriver {
    /// Opens a session through `proxy` every [`PERIOD`], tagged with
    /// `instance`.
    pub(crate) fn start(instance: &str, proxy: SocketAddr) -> LoadDriver {
        let counts = Arc::new(Counts::default());
        let stop = CancellationToken::new();
        tokio::spawn(drive(
            instance.to_string(),
            proxy,
            counts.clone(),
            stop.clone(),
        ));
        LoadDriver { counts, stop }
    }

    /// Sessions that got their echo back so far.
    pub(crate) fn ok(&self) -> u64 {
        self.counts.ok.load(Relaxed)
    }

    /// Sessions that failed so far.
    pub(crate) fn failed(&self) -> u64 {
        self.counts.failed.load(Relaxed)
    }

    /// Ticks skipped because too many sessions were open.
    pub(crate) fn skipped(&self) -> u64 {
        self.counts.skipped.load(Relaxed)
    }
}

impl Drop for LoadDriver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn drive(instance: String, proxy: SocketAddr, counts: Arc<Counts>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let started = Instant::now();
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    for seq in 0..MAX_SESSIONS {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if started.elapsed() > MAX_RUN {
            return;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            counts.skipped.fetch_add(1, Relaxed);
            continue;
        };
        let tag = format!("{instance} {seq}");
        let counts = counts.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                _ = stop.cancelled() => None,
                r = timeout(SESSION_TIMEOUT, session(proxy, &tag)) => Some(matches!(r, Ok(Ok(true)))),
            };
            match outcome {
                Some(true) => counts.ok.fetch_add(1, Relaxed),
                Some(false) => counts.failed.fetch_add(1, Relaxed),
                None => 0,
            };
            drop(slot);
        });
    }
}

/// One session: connect, send the tag line, read its echo, close.
async fn session(proxy: SocketAddr, tag: &str) -> std::io::Result<bool> {
    let mut s = tokio::net::TcpStream::connect(proxy).await?;
    s.set_nodelay(true)?;
    s.write_all(format!("{tag}\n").as_bytes()).await?;
    let echo = read_line(&mut s, SESSION_TIMEOUT).await?;
    Ok(echo == tag)
}
