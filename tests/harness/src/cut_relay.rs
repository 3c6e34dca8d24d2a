//! `CutRelay`: a TCP relay on a free loopback port in front of one target
//! (an etcd member), which a test cuts and heals: the network between one
//! switchboard instance and its coordination store failing, while every
//! other instance still reaches the store.
//!
//! [`CutRelay::cut`] resets every relayed connection at once (`SO_LINGER`
//! 0, then close: the client sees its connection die, not a clean EOF) and
//! from then on accepts each new connection and resets it at once, so the
//! client's reconnects fail too. [`CutRelay::heal`] forwards again. It runs
//! on a runtime thread of its own, so a test runtime busy with load can
//! neither delay the relayed traffic nor a cut. It never connects anywhere
//! but its target, and never listens beyond 127.0.0.1.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::faulty_backend::reset_on_close;

/// The runtime every relay of this test process runs on.
fn runtime() -> &'static Handle {
    static RUNTIME: OnceLock<Handle> = OnceLock::new();
    RUNTIME.get_or_init(|| super::runtime_thread::spawn("cut-relays"))
}

/// A relay to one target that can be cut and healed.
pub struct CutRelay {
    /// Where it listens.
    addr: SocketAddr,
    /// Where it forwards.
    target: SocketAddr,
    /// What it shares with its tasks on the relay runtime.
    inner: Arc<Inner>,
    /// The accept loop, aborted on drop.
    listener: JoinHandle<()>,
}

/// What the accept loop and the connection tasks share with the handle.
struct Inner {
    /// Whether it is cut, and the token of the connections relayed since
    /// the last cut; one lock, so a connection accepted during a cut is
    /// either reset at once or holds the token that cut cancels.
    link: Mutex<Link>,
    /// Connections being relayed now.
    open: AtomicU64,
    /// Connections relayed since start.
    relayed: AtomicU64,
    /// Connections reset since start (cut ones and refused ones).
    reset: AtomicU64,
}

/// The relay's switch.
struct Link {
    /// Cut: new connections are reset on accept.
    cut: bool,
    /// Cancelled by a cut: every relayed connection resets both sides.
    conns: CancellationToken,
}

impl CutRelay {
    /// Listens on a free loopback port and forwards every connection to
    /// `target`.
    pub async fn start(target: SocketAddr) -> CutRelay {
        let listener = runtime()
            .spawn(async { super::listen(SocketAddr::from(([127, 0, 0, 1], 0))) })
            .await
            .expect("the relay runtime")
            .expect("bind a relay");
        let addr = listener.local_addr().expect("the relay's address");
        let inner = Arc::new(Inner {
            link: Mutex::new(Link {
                cut: false,
                conns: CancellationToken::new(),
            }),
            open: AtomicU64::new(0),
            relayed: AtomicU64::new(0),
            reset: AtomicU64::new(0),
        });
        let listener = runtime().spawn(accept_loop(listener, target, inner.clone()));
        CutRelay {
            addr,
            target,
            inner,
            listener,
        }
    }

    /// Cuts: resets every relayed connection and, until [`Self::heal`],
    /// every new one. Returns the moment of the cut, once every relayed
    /// connection is closed (at most 5 s later).
    pub async fn cut(&self) -> Instant {
        let at = {
            let mut link = self.inner.link.lock().unwrap_or_else(|p| p.into_inner());
            link.cut = true;
            link.conns.cancel();
            link.conns = CancellationToken::new();
            Instant::now()
        };
        super::wait_until(
            Duration::from_secs(5),
            "the cut relay's connections closed",
            || async { self.open() == 0 },
        )
        .await;
        at
    }

    /// Forwards new connections again; returns the moment.
    pub fn heal(&self) -> Instant {
        let mut link = self.inner.link.lock().unwrap_or_else(|p| p.into_inner());
        link.cut = false;
        Instant::now()
    }

    /// Whether it is cut now.
    pub fn is_cut(&self) -> bool {
        self.inner
            .link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cut
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the endpoint a client configures.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where it forwards.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Connections being relayed now.
    pub fn open(&self) -> u64 {
        self.inner.open.load(SeqCst)
    }

    /// Connections relayed since start.
    pub fn relayed(&self) -> u64 {
        self.inner.relayed.load(SeqCst)
    }

    /// Connections reset since start (by a cut, or accepted while cut).
    pub fn resets(&self) -> u64 {
        self.inner.reset.load(SeqCst)
    }
}

impl Drop for CutRelay {
    fn drop(&mut self) {
        self.listener.abort();
        self.inner
            .link
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .conns
            .cancel();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, inner: Arc<Inner>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        let token = {
            let link = inner.link.lock().unwrap_or_else(|p| p.into_inner());
            (!link.cut).then(|| link.conns.clone())
        };
        let Some(token) = token else {
            reset_on_close(&client);
            inner.reset.fetch_add(1, SeqCst);
            continue;
        };
        inner.open.fetch_add(1, SeqCst);
        inner.relayed.fetch_add(1, SeqCst);
        let inner = inner.clone();
        tokio::spawn(async move {
            relay(client, target, &token, &inner).await;
            inner.open.fetch_sub(1, SeqCst);
        });
    }
}

/// Relays one connection until either side ends it or a cut resets both.
async fn relay(mut client: TcpStream, target: SocketAddr, cut: &CancellationToken, inner: &Inner) {
    let _ = client.set_nodelay(true);
    let connect = tokio::select! {
        _ = cut.cancelled() => None,
        c = TcpStream::connect(target) => c.ok(),
    };
    let Some(mut upstream) = connect else {
        // A cut meanwhile, or the target is down: the client sees a reset.
        reset_on_close(&client);
        inner.reset.fetch_add(1, SeqCst);
        return;
    };
    let _ = upstream.set_nodelay(true);
    tokio::select! {
        _ = cut.cancelled() => {
            reset_on_close(&client);
            reset_on_close(&upstream);
            inner.reset.fetch_add(1, SeqCst);
        }
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
    }
}
