//! `Backend`: a loopback TCP echo server that keeps its own count of open
//! connections, so tests can compare the proxy's session counts with what
//! the backends themselves see.
//!
//! Modes: pure echo (default), greeting (writes `hello from <name>\n` on
//! connect, then echoes; this is how a client learns which backend it
//! reached) and deferred (reads until the client's EOF, then sends every
//! byte back and closes: proof that half-close is honoured) and half-open
//! (echoes, then never closes its side after the client's EOF). A backend can
//! stop listening (connects are refused), start again on the same port, and
//! kill every connection it holds. Open-connection counts drop when the
//! backend's socket is closed, i.e. after it has seen the proxy close.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a backend does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Greeting,
    Deferred,
    /// Echoes, and at the client's EOF keeps its own side open, sending
    /// nothing more, until killed: a peer that never finishes a
    /// half-closed session.
    HalfOpen,
}

pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    mode: Mode,
    open: AtomicU64,
    accepted: AtomicU64,
    /// Cancelled to kill every open connection; replaced afterwards.
    conns: Mutex<CancellationToken>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Backend {
    /// A pure echo backend.
    pub async fn echo(name: &str) -> Backend {
        Backend::start(name, Mode::Echo).await
    }

    /// Greets with `hello from <name>\n`, then echoes.
    pub async fn greeting(name: &str) -> Backend {
        Backend::start(name, Mode::Greeting).await
    }

    /// Echoes everything only after the client's EOF.
    pub async fn deferred(name: &str) -> Backend {
        Backend::start(name, Mode::Deferred).await
    }

    /// Echoes, and never closes its side after the client's EOF.
    pub async fn half_open(name: &str) -> Backend {
        Backend::start(name, Mode::HalfOpen).await
    }

    pub async fn start(name: &str, mode: Mode) -> Backend {
        let listener = super::listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind backend");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            name: name.to_string(),
            mode,
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            conns: Mutex::new(CancellationToken::new()),
            listener: Mutex::new(None),
        });
        *inner.listener.lock().unwrap() = Some(tokio::spawn(accept_loop(listener, inner.clone())));
        Backend {
            name: name.to_string(),
            addr,
            inner,
        }
    }

    /// Connections open right now, as this backend sees them.
    pub fn open(&self) -> u64 {
        self.inner.open.load(SeqCst)
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(SeqCst)
    }

    /// Closes the listening socket: new connects are refused. Open
    /// connections are left alone.
    pub async fn stop(&self) {
        let task = self.inner.listener.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await; // the listener is dropped once this returns
        }
    }

    /// Listens again on the same port (retrying while the port is busy).
    pub async fn restart(&self) {
        self.stop().await;
        let started = Instant::now();
        let listener = loop {
            match super::listen(self.addr) {
                Ok(l) => break l,
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("cannot rebind backend {} on {}: {e}", self.name, self.addr),
            }
        };
        *self.inner.listener.lock().unwrap() =
            Some(tokio::spawn(accept_loop(listener, self.inner.clone())));
    }

    /// Closes every open connection of this backend.
    pub fn kill_connections(&self) {
        let mut token = self.inner.conns.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }
}

impl Drop for Backend {
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
        inner.accepted.fetch_add(1, SeqCst);
        inner.open.fetch_add(1, SeqCst);
        let kill = inner.conns.lock().unwrap().clone();
        let inner = inner.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            tokio::select! {
                _ = kill.cancelled() => {}
                _ = serve(stream, &inner) => {}
            }
            // The socket is owned by `serve`'s future, dropped (closed) when
            // the select ends, so the gauge never counts a closed socket.
            inner.open.fetch_sub(1, SeqCst);
        });
    }
}

async fn serve(mut stream: TcpStream, inner: &Inner) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    match inner.mode {
        Mode::Echo | Mode::Greeting => {
            if inner.mode == Mode::Greeting {
                stream
                    .write_all(format!("hello from {}\n", inner.name).as_bytes())
                    .await?;
            }
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return stream.shutdown().await;
                }
                stream.write_all(&buf[..n]).await?;
            }
        }
        Mode::HalfOpen => {
            while let n @ 1.. = stream.read(&mut buf).await? {
                stream.write_all(&buf[..n]).await?;
            }
            // Hold the socket (its write side open) until killed.
            std::future::pending().await
        }
        Mode::Deferred => {
            let mut all = Vec::new();
            stream.read_to_end(&mut all).await?;
            stream.write_all(&all).await?;
            stream.shutdown().await
        }
    }
}
