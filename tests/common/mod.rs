//! The black-box test harness: real loopback backends, real health endpoints,
//! the real `switchboard` binary, and clients that talk to it through TCP.
//!
//! Parts: [`backend`] (echo servers that count their own connections),
//! [`health`] (galera-style status endpoints switchable at runtime, counting
//! the probes they serve), [`builder`] (the TOML config of a run),
//! [`switchboard`] (starts the binary, reads `/v0/state`, signals it, kills
//! it on drop), [`client`]
//! (connect / read / expect EOF with deadlines), [`data`] (seeded random
//! byte streams hashed with sha2) and [`storm`] (the failover storm shared by
//! the sever-race and bus-lag tests).
//!
//! Rules every test follows: only 127.0.0.1 and ephemeral ports; waits poll a
//! condition with a deadline instead of sleeping; every loop is bounded in
//! count and time; only processes this harness started are signalled, by pid.

#![allow(dead_code)]

pub mod backend;
pub mod builder;
pub mod client;
pub mod data;
pub mod health;
pub mod storm;
pub mod switchboard;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use backend::Backend;
#[allow(unused_imports)]
pub use builder::Builder;
#[allow(unused_imports)]
pub use client::*;
pub use health::{Health, HealthEndpoint};
#[allow(unused_imports)]
pub use switchboard::Switchboard;

/// How often `wait_until` polls.
pub const POLL: Duration = Duration::from_millis(5);

/// Polls `cond` every few ms until it is true; panics with `what` after
/// `timeout`. Returns how long it took.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut cond: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if cond().await {
            return started.elapsed();
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`wait_until`], but returns `false` instead of panicking.
pub async fn poll_until<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if cond().await {
            return true;
        }
        if started.elapsed() > timeout {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Binds like `tokio::net::TcpListener::bind` but with a deep accept queue:
/// tokio's 128 overflows when a test opens hundreds of connections at once,
/// and the kernel then drops SYNs (a 1 s retransmit for the unlucky client).
/// Must be called inside a tokio runtime.
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// A loopback port that was free a moment ago (bind to port 0, read, close).
/// Callers that bind it later must retry with a fresh one on failure.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind("127.0.0.1:0") {
            if let Ok(addr) = l.local_addr() {
                return addr.port();
            }
        }
    }
    panic!("no free loopback port");
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A directory under the system temp dir, removed on drop (kept when the
/// test panics, so its config and logs can be inspected).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir()
            .join("switchboard-tests")
            .join(format!("{tag}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Milliseconds with one decimal, for the figures tests print.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
