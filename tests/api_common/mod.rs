//! The API tests' own harness (separate from `tests/common`): real loopback
//! echo backends, real galera-style health endpoints, the real
//! `switchboard` binary started from a native TOML config with every API
//! knob, an HTTP client with credentials, a strict Prometheus text parser
//! and an SSE reader.
//!
//! Rules: only 127.0.0.1 and ephemeral ports; waits poll a condition with a
//! deadline, never a fixed sleep; every loop is bounded; only processes this
//! harness started are signalled, by pid.

#![allow(dead_code, unused_imports)]

pub mod backends;
pub mod prom;
pub mod sb;
pub mod sse;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use backends::{EchoBackend, Health, HealthEndpoint};
pub use sb::{Knobs, Sb};

/// How often waits poll.
pub const POLL: Duration = Duration::from_millis(5);

/// Polls `cond` until true; panics naming `what` after `timeout`.
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

/// `127.0.0.1:<a port that was free a moment ago>`.
pub fn free_addr() -> SocketAddr {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind("127.0.0.1:0") {
            if let Ok(addr) = l.local_addr() {
                return addr;
            }
        }
    }
    panic!("no free loopback port");
}

/// A temp directory removed on drop (kept when the test panicked).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join("switchboard-api-tests")
            .join(format!("{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
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

/// A client session through the proxy, proven established by an echo.
pub struct Session {
    pub stream: tokio::net::TcpStream,
}

impl Session {
    /// Connects to `proxy` and echoes one byte, so the proxy has certainly
    /// connected to a backend and counted the session when this returns.
    pub async fn open(proxy: SocketAddr) -> Session {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(proxy),
        )
        .await
        .expect("connect timeout")
        .expect("connect");
        stream.set_nodelay(true).unwrap();
        stream.write_all(b"x").await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("echo timeout")
            .expect("echo read");
        assert_eq!(
            n, 1,
            "session closed before the echo (routing off or no backend?)"
        );
        Session { stream }
    }

    /// Waits (bounded) until the proxy closes this session.
    pub async fn expect_eof(&mut self, timeout: Duration) {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 64];
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => continue,
                Err(_) => panic!("session not closed within {timeout:?}"),
            }
        }
    }
}

/// A connection that the proxy must close at once (routing off, no active).
pub async fn expect_refused_session(proxy: SocketAddr) {
    let mut s = Session {
        stream: tokio::net::TcpStream::connect(proxy)
            .await
            .expect("connect"),
    };
    s.expect_eof(Duration::from_secs(3)).await;
}

/// The keys of a JSON object, in order.
pub fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}
