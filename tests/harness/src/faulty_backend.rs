//! `FaultyBackend`: a loopback backend that fails the way real database
//! servers do, for the fault-injection suite (`tests/faults/backends.rs`).
//!
//! Modes: an echo server, or one that accepts and never reads (its receive
//! window fills and every writer towards it blocks). [`FaultyBackend::kill`]
//! does what the kernel does to the sockets of a process killed with
//! SIGKILL, to every connection at once: the listener goes away (connects
//! are refused) and each connection is closed, with a FIN ([`Kill::Fin`]:
//! nothing unread), or with a reset ([`Kill::Reset`]: what a peer sees when
//! the dead process left data unread, or a host that rebooted answers).
//! It runs on the test's runtime and counts its open connections, so a test
//! compares the proxy's counts with what the backend saw.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the backend does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Echoes every byte.
    Echo,
    /// Accepts and never reads a byte (nor writes one).
    NeverRead,
}

/// How [`FaultyBackend::kill`] closes the connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// A FIN on each: the process died with nothing unread.
    Fin,
    /// A reset on each (`SO_LINGER` 0).
    Reset,
}

/// A backend that can be killed; stopped on drop.
pub struct FaultyBackend {
    pub name: String,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

struct Inner {
    behaviour: Behaviour,
    open: AtomicU64,
    accepted: AtomicU64,
    /// Cancelled by `kill`, with how.
    kill: CancellationToken,
    how: Mutex<Kill>,
}

impl FaultyBackend {
    /// Listens on a free loopback port (inside a tokio runtime).
    pub async fn start(name: &str, behaviour: Behaviour) -> FaultyBackend {
        let listener = super::listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = listener.local_addr().expect("local address");
        let inner = Arc::new(Inner {
            behaviour,
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            kill: CancellationToken::new(),
            how: Mutex::new(Kill::Fin),
        });
        let task = tokio::spawn(accept_loop(listener, inner.clone()));
        FaultyBackend {
            name: name.to_string(),
            addr,
            inner,
            listener: Mutex::new(Some(task)),
        }
    }

    /// Connections open now, as the backend sees them.
    pub fn open(&self) -> u64 {
        self.inner.open.load(SeqCst)
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.load(SeqCst)
    }

    /// Dies: the listener closes (connects are refused from now on) and
    /// every connection is closed `how`. Returns the moment it happened,
    /// once every connection is closed (at most 5 s later).
    pub async fn kill(&self, how: Kill) -> Instant {
        *self.inner.how.lock().unwrap() = how;
        let task = self.listener.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let at = Instant::now();
        self.inner.kill.cancel();
        super::wait_until(
            Duration::from_secs(5),
            "the killed backend's sockets closed",
            || async { self.open() == 0 },
        )
        .await;
        at
    }
}

impl Drop for FaultyBackend {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().unwrap().take() {
            task.abort();
        }
        self.inner.kill.cancel();
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
        let inner = inner.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let mut stream = stream;
            tokio::select! {
                _ = inner.kill.cancelled() => {
                    if *inner.how.lock().unwrap() == Kill::Reset {
                        reset_on_close(&stream);
                    }
                }
                _ = serve(&mut stream, inner.behaviour) => {}
            }
            drop(stream);
            inner.open.fetch_sub(1, SeqCst);
        });
    }
}

/// `SO_LINGER` 0: closing the socket sends a reset instead of a FIN (what
/// a client that gives up, or dies with data unread, does).
pub fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this task owns, with a valid `linger`
    // and its size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

async fn serve(stream: &mut TcpStream, behaviour: Behaviour) -> std::io::Result<()> {
    match behaviour {
        Behaviour::NeverRead => std::future::pending().await,
        Behaviour::Echo => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    return stream.shutdown().await;
                }
                stream.write_all(&buf[..n]).await?;
            }
        }
    }
}
