//! `BadHealth`: a galera-style status endpoint that misbehaves on demand,
//! for the fault-injection suite (`tests/faults/health.rs`): it hangs,
//! answers slowly or drips its body, answers 500, speaks no HTTP at all,
//! sends a 100 MiB body (with a length, chunked, or close-delimited),
//! redirects to itself forever, sends invalid UTF-8, closes in the middle
//! of an answer, or flaps between healthy and unhealthy by the clock.
//!
//! It records what a prober did to it: the answers it gave, in order, every
//! connection's lifetime (accept to the prober's close) and the body bytes
//! it managed to write, so a test can prove the prober gave up within its
//! timeout, closed the connection, and stopped reading a huge body early.
//!
//! Unlike [`super::HealthEndpoint`] it runs on the runtime of the test that
//! starts it (so it works inside a [`super::NetNs`], on the namespace's
//! loopback). It must never buffer a huge body: the 100 MiB are written
//! from one small buffer, as fast as the prober reads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The size of the huge bodies.
pub const HUGE: u64 = 100 * 1024 * 1024;

/// What the endpoint does with the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 `{"healthy":true,"wsrep_local_index":N,...}`.
    Healthy(u64),
    /// Healthy(0), after a delay (ms).
    Slow(u64),
    /// Reads the request and never answers, holding the socket.
    Hang,
    /// 200 and a Content-Length at once, then one body byte every 50 ms.
    Drip,
    /// 500 with a one-line body.
    Status500,
    /// Bytes that are not HTTP at all.
    NotHttp,
    /// 200 with a 100 MiB body and its Content-Length.
    HugeWithLength,
    /// 200 with a 100 MiB chunked body.
    HugeChunked,
    /// 200 with a 100 MiB body ended only by the close (no length).
    HugeUntilClose,
    /// 503 with a 100 MiB body that has no newline.
    Huge503,
    /// 302 to its own URL, forever.
    RedirectLoop,
    /// 200 with JSON whose string holds invalid UTF-8.
    InvalidUtf8,
    /// 503 with invalid UTF-8 in a header and in the body.
    InvalidUtf8Status,
    /// 200 with a Content-Length of 1000, 100 bytes of it, then a close.
    CloseMidBody,
    /// Half a status line, then a close.
    CloseMidHeaders,
    /// Reads the request, then closes without a byte.
    CloseAtOnce,
    /// Healthy(0) and unhealthy by the clock, switching every `ms`.
    Flapping(u64),
}

/// A misbehaving status endpoint on the caller's runtime; stopped on drop.
pub struct BadHealth {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

struct Inner {
    answer: Mutex<Answer>,
    /// Epoch of [`Answer::Flapping`].
    born: Instant,
    requests: AtomicU64,
    open: AtomicU64,
    /// (answer, whether it said healthy) of every request, in order.
    log: Mutex<Vec<(Answer, bool)>>,
    /// (answer, connection lifetime, body bytes written) of every
    /// connection that ended.
    ended: Mutex<Vec<(Answer, Duration, u64)>>,
    stop: CancellationToken,
}

impl BadHealth {
    /// Listens on a free loopback port with `answer` (inside a tokio
    /// runtime, whose tasks serve it).
    pub async fn start(answer: Answer) -> BadHealth {
        let listener = super::listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Inner {
            answer: Mutex::new(answer),
            born: Instant::now(),
            requests: AtomicU64::new(0),
            open: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            ended: Mutex::new(Vec::new()),
            stop: CancellationToken::new(),
        });
        let task = tokio::spawn(accept_loop(listener, addr, inner.clone()));
        BadHealth { addr, inner, task }
    }

    /// The URL of a galera check.
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/status", self.addr)
    }

    /// Switches the answer; returns the moment of the switch.
    pub fn set(&self, answer: Answer) -> Instant {
        *self.inner.answer.lock().unwrap() = answer;
        Instant::now()
    }

    /// Requests received so far (complete request heads).
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(SeqCst)
    }

    /// Connections open right now.
    pub fn open(&self) -> u64 {
        self.inner.open.load(SeqCst)
    }

    /// (answer, said healthy) of every request, in order.
    pub fn log(&self) -> Vec<(Answer, bool)> {
        self.inner.log.lock().unwrap().clone()
    }

    /// (answer, lifetime, body bytes written) of every ended connection.
    pub fn ended(&self) -> Vec<(Answer, Duration, u64)> {
        self.inner.ended.lock().unwrap().clone()
    }
}

impl Drop for BadHealth {
    fn drop(&mut self) {
        self.inner.stop.cancel();
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, addr: SocketAddr, inner: Arc<Inner>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let inner = inner.clone();
        inner.open.fetch_add(1, SeqCst);
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = *inner.answer.lock().unwrap();
            let mut written = 0;
            tokio::select! {
                _ = inner.stop.cancelled() => {}
                _ = serve(stream, addr, answer, &inner, &mut written) => {}
            }
            inner.open.fetch_sub(1, SeqCst);
            let lifetime = started.elapsed();
            inner
                .ended
                .lock()
                .unwrap()
                .push((answer, lifetime, written));
        });
    }
}

/// The JSON of a galera agent.
fn galera(healthy: bool, index: u64) -> String {
    format!(
        "{{\"healthy\":{healthy},\"wsrep_local_index\":{index},\"wsrep_local_state\":{},\"wsrep_local_state_comment\":\"{}\"}}",
        if healthy { 4 } else { 2 },
        if healthy { "Synced" } else { "Donor/Desynced" },
    )
}

/// A complete answer with a Content-Length.
fn response(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Serves one connection: reads the request head, then misbehaves as told.
/// `written` counts body bytes sent.
async fn serve(
    mut stream: TcpStream,
    addr: SocketAddr,
    answer: Answer,
    inner: &Inner,
    written: &mut u64,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    inner.requests.fetch_add(1, SeqCst);
    let healthy = match answer {
        Answer::Healthy(_) | Answer::Slow(_) => true,
        Answer::Flapping(ms) => (inner.born.elapsed().as_millis() as u64 / ms.max(1)) % 2 == 0,
        _ => false,
    };
    inner.log.lock().unwrap().push((answer, healthy));
    match answer {
        Answer::Healthy(index) => {
            stream
                .write_all(&response("200 OK", galera(true, index).as_bytes()))
                .await?
        }
        Answer::Slow(ms) => {
            // A prober that gave up meanwhile ends the connection now.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = hold(&mut stream) => return Ok(()),
            }
            stream
                .write_all(&response("200 OK", galera(true, 0).as_bytes()))
                .await?;
        }
        Answer::Flapping(_) => {
            let body = galera(healthy, 0);
            stream
                .write_all(&response("200 OK", body.as_bytes()))
                .await?;
        }
        Answer::Hang => hold(&mut stream).await?,
        Answer::Drip => {
            let body = galera(true, 0);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            for byte in body.as_bytes() {
                stream.write_all(&[*byte]).await?;
                *written += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Answer::Status500 => {
            stream
                .write_all(&response(
                    "500 Internal Server Error",
                    b"exploded on purpose\n",
                ))
                .await?
        }
        Answer::NotHttp => {
            stream
                .write_all(
                    b"\x00\xff\xfeSSH-2.0-OpenSSH_9.2\r\n\x1b[31mnot http at all\x07\r\n\r\n",
                )
                .await?
        }
        Answer::HugeWithLength => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {HUGE}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            huge(&mut stream, b' ', written).await?;
        }
        Answer::HugeChunked => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").await?;
            let chunk = [b' '; 16 * 1024];
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            while *written < HUGE {
                stream.write_all(&frame).await?;
                *written += chunk.len() as u64;
            }
            stream.write_all(b"0\r\n\r\n").await?;
        }
        Answer::HugeUntilClose => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n").await?;
            huge(&mut stream, b' ', written).await?;
        }
        Answer::Huge503 => {
            let head = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {HUGE}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            huge(&mut stream, b'x', written).await?;
        }
        Answer::RedirectLoop => {
            let r = format!(
                "HTTP/1.1 302 Found\r\nLocation: http://{addr}/api/v1/status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(r.as_bytes()).await?;
        }
        Answer::InvalidUtf8 => {
            let body = b"{\"healthy\":true,\"wsrep_local_index\":0,\"wsrep_local_state_comment\":\"Sync\xff\xfe\xc3\"}";
            stream.write_all(&response("200 OK", body)).await?;
        }
        Answer::InvalidUtf8Status => {
            let body = b"node \xff\xfe is \xc3\x28 down\n";
            let mut r = b"HTTP/1.1 503 Service Unavailable\r\nX-Node: \xc3\x28\xff\r\n".to_vec();
            r.extend_from_slice(
                format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            r.extend_from_slice(body);
            stream.write_all(&r).await?;
        }
        Answer::CloseMidBody => {
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n").await?;
            stream.write_all(&[b' '; 100]).await?;
            *written += 100;
        }
        Answer::CloseMidHeaders => stream.write_all(b"HTTP/1.1 200 O").await?,
        Answer::CloseAtOnce => {}
    }
    if matches!(
        answer,
        Answer::Hang | Answer::CloseMidBody | Answer::CloseMidHeaders | Answer::CloseAtOnce
    ) {
        // Hang has held the socket already; the others close it now.
        return Ok(());
    }
    // Then wait for the prober to close (or give up after a while): the
    // connection's lifetime says when the prober let go.
    let _ = tokio::time::timeout(Duration::from_secs(30), hold(&mut stream)).await;
    Ok(())
}

/// Reads and discards until the peer closes.
async fn hold(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    while stream.read(&mut buf).await? > 0 {}
    Ok(())
}

/// Writes [`HUGE`] bytes of `byte` from one small buffer.
async fn huge(stream: &mut TcpStream, byte: u8, written: &mut u64) -> std::io::Result<()> {
    let chunk = [byte; 64 * 1024];
    while *written < HUGE {
        stream.write_all(&chunk).await?;
        *written += chunk.len() as u64;
    }
    Ok(())
}
