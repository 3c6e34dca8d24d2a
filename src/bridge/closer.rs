//! The closer: closes severed sessions' sockets at a lower priority, after
//! the FINs the sever's clients wait for.
//!
//! A sever wakes every session of a backend at once, and docs/performance.md times it
//! to the last client's EOF. Each session sends that EOF itself with a
//! `shutdown(SHUT_WR)` of its client socket (a FIN, never a reset); the
//! rest of its closing work (the epoll removals, the two `close`s, the
//! backend socket's FIN and the backend's answer to it) is most of the CPU
//! a sever costs and would otherwise compete, on the same cores, with the
//! FINs still to go out. So the session hands both sockets to one thread at
//! a lower priority (nice 10), which closes them as the cores free up, and
//! waits for it before its guard un-counts it: counts stay exact.
//! The price: while both cores stay saturated, a severed session's backend
//! socket (and its count) can outlive its client's EOF by more than the
//! sever itself took. Nice 10 rather than 19 bounds that lag better at no
//! measured cost: last client EOF of 9,850 severed sessions, 3 rounds each,
//! nice 0: 97-135 ms, nice 10: 59-89 ms, nice 19: 62-68 ms (was 215-280 ms
//! closing in the session). Sessions that end by themselves close in place.

use std::sync::mpsc;
use std::sync::OnceLock;

use tokio::net::TcpStream;
use tokio::sync::oneshot;

type Job = (TcpStream, TcpStream, oneshot::Sender<()>);

/// The closer thread's nice value (env `SB_CLOSER_NICE` overrides it, for
/// measuring).
const CLOSER_NICE: libc::c_int = 10;

/// Closes both sockets on the closer thread; returns once both are closed.
/// Without a closer thread (it could not be started) it closes them here.
pub(crate) async fn close_later(client: TcpStream, server: TcpStream) {
    static CLOSER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    let closer = CLOSER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sb-closer".into())
            .spawn(move || {
                lower_priority();
                for (client, server, done) in rx {
                    drop(client);
                    drop(server);
                    let _ = done.send(());
                }
            })
            .ok()
            .map(|_| tx)
    });
    let (done, closed) = oneshot::channel();
    match closer {
        Some(tx) => match tx.send((client, server, done)) {
            Ok(()) => {
                let _ = closed.await;
            }
            Err(mpsc::SendError(job)) => drop(job),
        },
        None => {
            drop(client);
            drop(server);
        }
    }
}

/// [`CLOSER_NICE`] for the calling thread (Linux: `setpriority` on a
/// thread id sets that thread only).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let nice = std::env::var("SB_CLOSER_NICE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CLOSER_NICE);
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}
