//! The benchmark's backends: two echo servers, each with a galera-agent
//! style health endpoint (`GET /api/v1/status` →
//! `{"healthy":true,"wsrep_local_index":N}`), that the workloads break and
//! heal: `failing` answers 503 with `"healthy": false` while the data port
//! keeps serving; `down` closes both ports and every open connection (the
//! node died: connects are refused).
//!
//! Each backend counts the data connections it accepted, so a failover
//! workload knows which backend served a client, and remembers when it
//! first served a failing health answer (the moment a proxy could know).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::suite::Ports;

/// One backend: an echo port and its health port.
pub struct Backend {
    pub name: &'static str,
    pub echo_addr: SocketAddr,
    pub health_addr: SocketAddr,
    /// `wsrep_local_index` in the health answer: the lower one is preferred.
    pub index: u64,
    failing: AtomicBool,
    accepted: AtomicU64,
    first_failing_answer: Mutex<Option<Instant>>,
    life: Mutex<Option<Life>>,
}

/// The running listeners of a backend that is up.
struct Life {
    stop: CancellationToken,
    accept_loops: Vec<JoinHandle<()>>,
}

/// Backend `a` (index 0, the preferred one) and `b` (index 1, the backup).
pub struct BackendSet {
    pub a: Arc<Backend>,
    pub b: Arc<Backend>,
}

impl BackendSet {
    pub async fn start(ports: &Ports) -> io::Result<BackendSet> {
        let a = Backend::new("a", ports.echo_a, ports.health_a, 0);
        let b = Backend::new("b", ports.echo_b, ports.health_b, 1);
        a.up().await?;
        b.up().await?;
        Ok(BackendSet { a, b })
    }

    pub fn all(&self) -> [&Arc<Backend>; 2] {
        [&self.a, &self.b]
    }

    /// Both healthy and up (after a failover trial).
    pub async fn heal(&self) -> io::Result<()> {
        for b in self.all() {
            b.set_failing(false);
            b.up().await?;
        }
        Ok(())
    }
}

impl Backend {
    fn new(name: &'static str, echo: u16, health: u16, index: u64) -> Arc<Backend> {
        let lo = std::net::Ipv4Addr::LOCALHOST;
        Arc::new(Backend {
            name,
            echo_addr: SocketAddr::from((lo, echo)),
            health_addr: SocketAddr::from((lo, health)),
            index,
            failing: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            first_failing_answer: Mutex::new(None),
            life: Mutex::new(None),
        })
    }

    /// Data connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Relaxed)
    }

    /// Health answers 503 / `"healthy": false` while set; the data port is untouched.
    pub fn set_failing(&self, failing: bool) {
        *self.first_failing_answer.lock().unwrap() = None;
        self.failing.store(failing, Relaxed);
    }

    /// When the first failing health answer was sent since `set_failing(true)`.
    pub fn first_failing_answer(&self) -> Option<Instant> {
        *self.first_failing_answer.lock().unwrap()
    }

    /// Binds both ports (again) if they are not open.
    pub async fn up(self: &Arc<Self>) -> io::Result<()> {
        if self.life.lock().unwrap().is_some() {
            return Ok(());
        }
        let echo = bind(self.echo_addr).await?;
        let health = bind(self.health_addr).await?;
        let stop = CancellationToken::new();
        let accept_loops = vec![
            tokio::spawn(accept_loop(echo, stop.clone(), self.clone(), Kind::Echo)),
            tokio::spawn(accept_loop(
                health,
                stop.clone(),
                self.clone(),
                Kind::Health,
            )),
        ];
        *self.life.lock().unwrap() = Some(Life { stop, accept_loops });
        Ok(())
    }

    /// Closes both ports and every open connection; returns once connects
    /// are refused.
    pub async fn down(&self) {
        let life = self.life.lock().unwrap().take();
        if let Some(life) = life {
            life.stop.cancel();
            for h in life.accept_loops {
                let _ = h.await;
            }
        }
    }

    fn health_answer(&self) -> String {
        let failing = self.failing.load(Relaxed);
        if failing {
            let mut first = self.first_failing_answer.lock().unwrap();
            if first.is_none() {
                *first = Some(Instant::now());
            }
        }
        let (status, healthy) = if failing {
            ("503 Service Unavailable", false)
        } else {
            ("200 OK", true)
        };
        let body = format!(
            "{{\"healthy\":{healthy},\"wsrep_local_index\":{},\"wsrep_local_state_comment\":\"Synced\"}}",
            self.index
        );
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

#[derive(Clone, Copy)]
enum Kind {
    Echo,
    Health,
}

async fn accept_loop(
    listener: TcpListener,
    stop: CancellationToken,
    backend: Arc<Backend>,
    kind: Kind,
) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                let stop = stop.clone();
                match kind {
                    Kind::Echo => {
                        backend.accepted.fetch_add(1, Relaxed);
                        let name = backend.name;
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = stop.cancelled() => {}
                                _ = echo(stream, name) => {}
                            }
                        });
                    }
                    Kind::Health => {
                        let backend = backend.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                _ = stop.cancelled() => {}
                                _ = health(stream, &backend) => {}
                            }
                        });
                    }
                }
            }
            // EMFILE and friends: wait a little rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// A client that sends exactly this as its first bytes gets the backend's
/// name and a newline back instead of an echo: how a workload learns which
/// backend the proxy routed it to.
pub const WHO: &[u8] = b"\0WHO?\0";

/// Echoes until EOF, then half-closes back (so half-close is exercised).
pub async fn echo(mut stream: TcpStream, name: &str) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    let mut first = true;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        if std::mem::take(&mut first) && &buf[..n] == WHO {
            stream.write_all(format!("{name}\n").as_bytes()).await?;
            continue;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// A one-request HTTP/1.x server: enough for switchboard's probe (reqwest),
/// HAProxy's `httpchk` and curl.
async fn health(mut stream: TcpStream, backend: &Backend) -> io::Result<()> {
    let mut req = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read_head = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, io::Error>(false);
            }
            req.extend_from_slice(&buf[..n]);
            if req.windows(4).any(|w| w == b"\r\n\r\n") || req.len() > 8192 {
                return Ok(true);
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), read_head).await {
        Ok(Ok(true)) => {}
        _ => return Ok(()),
    }
    let line = req.split(|&c| c == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let answer = if let Some(rest) = line.strip_prefix("POST /mode/") {
        let mode = rest.split(' ').next().unwrap_or("");
        match mode {
            "healthy" => backend.set_failing(false),
            "503" | "failing" => backend.set_failing(true),
            _ => {}
        }
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    } else {
        backend.health_answer()
    };
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}
