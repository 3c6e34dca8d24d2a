//! `HealthEndpoint`: a galera-agent style `/api/v1/status` server whose
//! answer tests switch at runtime, and which counts every probe it receives.
//!
//! Hand-written HTTP/1.1 with `Connection: close` on every answer, so every
//! probe is a fresh TCP connect: a stopped endpoint refuses the very next
//! probe (no keep-alive connection lingers), and the request counter is
//! exactly the number of probes that reached it. Answers: healthy(index),
//! HTTP 503, hang (never answers), `healthy:false`, garbage, a body over
//! 64 KiB (with a Content-Length or chunked), and stopped (refused).
//! A script of one-shot answers can be queued in front of the steady one,
//! which lets hysteresis tests feed an exact sequence of probe results.
//! Endpoints run on a runtime thread of their own, so a test that saturates
//! its own runtime with traffic never makes a probe time out.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// 200 `{"healthy":true,"wsrep_local_index":N,...}`.
    Healthy(u64),
    /// Healthy(index), answered after a delay in ms.
    Delayed(u64, u64),
    /// 503 with a short text body.
    Status503,
    /// Reads the request and never answers.
    Hang,
    /// 200 `{"healthy":false,...}`.
    Unhealthy,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a valid but 70 KiB JSON body and a Content-Length.
    Oversized,
    /// The same 70 KiB body, chunked (no Content-Length).
    OversizedChunked,
}

impl Health {
    /// Whether a galera probe should call this answer healthy.
    pub fn is_good(self) -> bool {
        matches!(self, Health::Healthy(_) | Health::Delayed(..))
    }
}

pub struct HealthEndpoint {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

struct Inner {
    answers: Mutex<Answers>,
    requests: AtomicU64,
    /// Cancelled on stop: ends hanging requests too.
    conns: Mutex<CancellationToken>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

struct Answers {
    script: VecDeque<Health>,
    steady: Health,
    /// (request number, answer) of every probe, in order.
    log: Vec<(u64, Health)>,
}

/// The runtime every health endpoint of this test process runs on.
fn runtime() -> &'static Handle {
    static RUNTIME: OnceLock<Handle> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("health-endpoints".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .unwrap();
        handle
    })
}

/// Binds on the endpoints' runtime (a listener belongs to the runtime that
/// created it).
async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    runtime()
        .spawn(async move { super::listen(addr) })
        .await
        .unwrap()
}

impl HealthEndpoint {
    pub async fn start(initial: Health) -> HealthEndpoint {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind health");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            answers: Mutex::new(Answers {
                script: VecDeque::new(),
                steady: initial,
                log: Vec::new(),
            }),
            requests: AtomicU64::new(0),
            conns: Mutex::new(CancellationToken::new()),
            listener: Mutex::new(None),
        });
        *inner.listener.lock().unwrap() =
            Some(runtime().spawn(accept_loop(listener, inner.clone())));
        HealthEndpoint { addr, inner }
    }

    /// Healthy with this `wsrep_local_index`.
    pub async fn healthy(index: u64) -> HealthEndpoint {
        HealthEndpoint::start(Health::Healthy(index)).await
    }

    /// The URL a galera check should use.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/status", self.addr)
    }

    /// Switches the steady answer (and drops any script); returns the moment
    /// of the switch, from which failover times are measured.
    pub fn set(&self, health: Health) -> Instant {
        let mut a = self.inner.answers.lock().unwrap();
        a.script.clear();
        a.steady = health;
        Instant::now()
    }

    /// Switches right after the next probe was answered: the worst moment
    /// for failover, a full interval before the next probe. Returns the
    /// moment of the switch.
    pub async fn set_after_next_probe(&self, health: Health) -> Instant {
        let since = self.requests();
        self.wait_requests(since, 1, Duration::from_secs(10)).await;
        self.set(health)
    }

    /// Queues one-shot answers in front of `then`, which becomes steady.
    /// Returns how many probes had been answered before the script, so the
    /// caller knows exactly which request numbers the script answers.
    pub fn script(&self, answers: &[Health], then: Health) -> u64 {
        let mut a = self.inner.answers.lock().unwrap();
        a.script = answers.iter().copied().collect();
        a.steady = then;
        // Requests are numbered under this lock: nothing slips in between.
        self.requests()
    }

    /// Probes received so far (each a complete request head).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(SeqCst)
    }

    /// Every answer given so far, in order.
    pub fn log(&self) -> Vec<(u64, Health)> {
        self.inner.answers.lock().unwrap().log.clone()
    }

    /// Waits until `n` more probes than `since` have arrived.
    pub async fn wait_requests(&self, since: u64, n: u64, timeout: Duration) {
        let what = format!("{n} probes at {} (had {since})", self.addr);
        super::wait_until(timeout, &what, || async { self.requests() >= since + n }).await;
    }

    /// Closes the listener and every open connection: probes are refused.
    pub async fn stop(&self) -> Instant {
        let task = self.inner.listener.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let mut token = self.inner.conns.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
        Instant::now()
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop().await;
        let started = Instant::now();
        let listener = loop {
            match bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if started.elapsed() > Duration::from_secs(5) => {
                    panic!("cannot rebind health endpoint {}: {e}", self.addr)
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        *self.inner.listener.lock().unwrap() =
            Some(runtime().spawn(accept_loop(listener, self.inner.clone())));
    }
}

impl Drop for HealthEndpoint {
    fn drop(&mut self) {
        if let Some(task) = self.inner.listener.lock().unwrap().take() {
            task.abort();
        }
        self.inner.conns.lock().unwrap().cancel();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let stop = inner.conns.lock().unwrap().clone();
        let inner = inner.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = serve(stream, &inner) => {}
            }
        });
    }
}

async fn serve(mut stream: TcpStream, inner: &Inner) -> std::io::Result<()> {
    // Read the request head (a GET has no body).
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let answer = {
        let mut a = inner.answers.lock().unwrap();
        let number = inner.requests.fetch_add(1, SeqCst) + 1;
        let answer = a.script.pop_front().unwrap_or(a.steady);
        a.log.push((number, answer));
        answer
    };
    let json = |healthy: bool, index: u64, pad: usize| {
        format!(
            "{{\"healthy\":{healthy},\"wsrep_local_index\":{index},\"wsrep_local_state\":{},\"wsrep_local_state_comment\":\"{}\",\"pad\":\"{}\"}}",
            if healthy { 4 } else { 2 },
            if healthy { "Synced" } else { "Donor/Desynced" },
            "x".repeat(pad)
        )
    };
    let (status, body) = match answer {
        Health::Healthy(i) => ("200 OK", json(true, i, 0)),
        Health::Delayed(i, delay) => {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            ("200 OK", json(true, i, 0))
        }
        Health::Unhealthy => ("200 OK", json(false, 0, 0)),
        Health::Status503 => (
            "503 Service Unavailable",
            "failing on purpose\n".to_string(),
        ),
        Health::Garbage => ("200 OK", "<html>this is not { json".to_string()),
        Health::Oversized | Health::OversizedChunked => ("200 OK", json(true, 0, 70 * 1024)),
        Health::Hang => {
            // Never answer; hold the socket until the prober gives up.
            loop {
                if stream.read(&mut buf).await? == 0 {
                    return Ok(());
                }
            }
        }
    };
    let response = if answer == Health::OversizedChunked {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        for chunk in body.as_bytes().chunks(8 * 1024) {
            r.push_str(&format!(
                "{:x}\r\n{}\r\n",
                chunk.len(),
                std::str::from_utf8(chunk).unwrap()
            ));
        }
        r.push_str("0\r\n\r\n");
        r
    } else {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
