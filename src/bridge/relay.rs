//! The byte relay of one session: copies both ways until both directions
//! have finished, honouring half-close.
//!
//! Each direction starts in **copy mode**: on readiness it `recv`s into a
//! buffer on the stack of a plain (non-async) function and `send`s it on at
//! once. A read shorter than the buffer means the socket is drained (TCP
//! hands over everything it has), so readiness is cleared right there and
//! the direction waits again: one request costs `recv` + `send`, not a third
//! `recv` that says EAGAIN. Nothing is allocated on this path; only when the
//! receiver is slower than the sender does the unsent rest go into a `Vec`
//! owned by the direction, freed once it is sent. An idle session therefore
//! holds no buffer at all: its task and its two sockets are its whole cost.
//!
//! When a read fills the whole buffer (more is waiting than one message), the
//! flow is bulk: on Linux the direction switches to `splice(2)` through a
//! pipe (`splice.rs`, which says why it is shaped as it is) and comes back to
//! copy mode when the flow turns small again. Elsewhere it keeps copying.
//!
//! Each direction, on EOF, shuts down the write side of the other socket (a
//! client that half-closes still gets its whole reply) and the other
//! direction goes on, for at most `half_close_timeout`: the one timer of a
//! session, armed only when its first direction ends, never per read, so a
//! peer that half-closes and then never finishes cannot hold the session
//! forever. An error in either direction ends both; that includes the
//! ETIMEDOUT of a socket whose keep-alive found its peer gone
//! (`keepalive.rs`). `TCP_NODELAY` is set by the session; nothing here
//! ever corks.
//!
//! An idle session waits in copy mode on both directions, so that state is
//! kept small: the wait is `poll_read_ready`, whose waker lives in the
//! socket's own slot (`readable()` keeps a waiter of its own in the
//! future), and the rare states (a receiver slower than its sender, and
//! splice mode) are boxed when entered. That took the session's future from
//! 2,000 to 1,120 bytes (BENCHMARKS.md, memory per idle session).
//!
//! [`unless_severed`] runs the relay under the session's lease without
//! touching the lease's shared locks on every wake-up.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The copy buffer: one `recv`'s worth. A read that fills it marks a flow
/// as bulk.
const CHUNK: usize = 16 * 1024;

/// Bytes moved by a session, counted as they go so a severed session still
/// reports what it moved.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Transfer {
    /// Client → backend.
    pub up: u64,
    /// Backend → client.
    pub down: u64,
}

/// Why a mode of one direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// The source sent EOF and everything read was sent.
    Eof,
    /// A read filled the copy buffer: bulk is flowing.
    Bulk,
    /// A bulk flow turned small again (splice mode only).
    Small,
}

/// Relays until both directions end (Ok) or either fails (Err), or until
/// the second direction has not ended `half_close_timeout` after the first
/// (Err, `TimedOut`).
pub(crate) async fn relay(
    client: &TcpStream,
    server: &TcpStream,
    transfer: &mut Transfer,
    half_close_timeout: Duration,
) -> io::Result<()> {
    let finished = AtomicBool::new(false);
    let mut up = pin!(pump(client, server, &mut transfer.up, &finished));
    let mut down = pin!(pump(server, client, &mut transfer.down, &finished));
    // Both directions, polled on every wake-up as `try_join!` would; no
    // timer while both are open.
    let up_ended = tokio::select! {
        biased;
        r = up.as_mut() => { r?; true }
        r = down.as_mut() => { r?; false }
    };
    let rest = if up_ended { down } else { up };
    // Not registered with the timer if the rest is already done.
    match tokio::time::timeout(half_close_timeout, rest).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "half-closed for longer than half_close_timeout",
        )),
    }
}

/// Moves `from` → `to` until EOF, then shuts down `to`'s write side,
/// unless the other direction already finished: then the session closes
/// both sockets right away, which sends the same FIN for one syscall less.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    moved: &mut u64,
    finished: &AtomicBool,
) -> io::Result<()> {
    loop {
        match copy(from, to, moved).await? {
            Flow::Eof => break,
            Flow::Bulk | Flow::Small => {
                #[cfg(target_os = "linux")]
                if let Ok(mut pipe) = crate::splice::Pipe::new() {
                    let flow =
                        Box::pin(crate::splice::pump(&mut pipe, from, to, moved, CHUNK)).await?;
                    if flow == Flow::Eof {
                        break;
                    }
                }
                // No pipe to be had (or not Linux): keep copying.
            }
        }
    }
    if finished.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    // Not-connected means the peer is already gone: fine.
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
        _ => Ok(()),
    }
}

/// Copy mode: until EOF, or until a read fills the whole buffer.
async fn copy(from: &TcpStream, to: &TcpStream, moved: &mut u64) -> io::Result<Flow> {
    // The part of a read the receiver could not take yet.
    let mut unsent: Vec<u8> = Vec::new();
    loop {
        if !unsent.is_empty() {
            Box::pin(flush(from, to, &unsent, moved)).await?;
            unsent = Vec::new();
        }
        std::future::poll_fn(|cx| from.poll_read_ready(cx)).await?;
        match copy_once(from, to, &mut unsent, moved)? {
            Read::Eof if unsent.is_empty() => return Ok(Flow::Eof),
            Read::Eof => {
                Box::pin(flush(from, to, &unsent, moved)).await?;
                return Ok(Flow::Eof);
            }
            Read::Full if unsent.is_empty() => return Ok(Flow::Bulk),
            Read::Full | Read::Some | Read::Dry => {}
        }
    }
}

enum Read {
    Eof,
    /// Read less than the buffer: the socket is drained.
    Some,
    /// Read the whole buffer: more is waiting.
    Full,
    /// Nothing to read (readiness cleared).
    Dry,
}

/// One `recv` into a stack buffer and as much `send` as the receiver takes;
/// the rest is appended to `unsent`. Not async: the buffer never lives in
/// the session's future.
fn copy_once(
    from: &TcpStream,
    to: &TcpStream,
    unsent: &mut Vec<u8>,
    moved: &mut u64,
) -> io::Result<Read> {
    let mut buf = [const { MaybeUninit::<u8>::uninit() }; CHUNK];
    let mut got = 0;
    let read = from.try_io(Interest::READABLE, || {
        got = socket2::SockRef::from(from).recv(&mut buf)?;
        if got > 0 && got < CHUNK {
            // Short read: the socket is drained. Saying WouldBlock makes
            // tokio clear the readiness now instead of after one more recv.
            // (EOF and errors are never lost: tokio keeps "closed" ready.)
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(got)
    });
    match read {
        Ok(0) => return Ok(Read::Eof),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => {}
        Err(e)
            if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted =>
        {
            return Ok(Read::Dry)
        }
        Err(e) => return Err(e),
    }
    // SAFETY: recv initialised the first `got` bytes of `buf`.
    let data = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got) };
    let mut sent = 0;
    while sent < got {
        match to.try_write(&data[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    *moved += sent as u64;
    unsent.extend_from_slice(&data[sent..]);
    Ok(if got == CHUNK { Read::Full } else { Read::Some })
}

/// Sends all of `bytes` (read from `from`), waiting for the receiver as
/// needed.
async fn flush(
    from: &TcpStream,
    to: &TcpStream,
    mut bytes: &[u8],
    moved: &mut u64,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match to.try_write(bytes) {
            Ok(n) => {
                bytes = &bytes[n..];
                *moved += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                writable_or_source_failed(to, from).await?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Waits until `to` takes bytes again, or fails with `from`'s error when
/// `from` (whose bytes are waiting for `to`) is reset or timed out
/// meanwhile. Without it, a client that gives up (a reset, or keep-alive
/// finding it gone) while its direction waits on a backend that never
/// reads would go unnoticed: neither direction polls the client's socket
/// then, and the session would hold both sockets for as long as the
/// backend keeps its window shut (tests/faults/backends.rs).
pub(crate) async fn writable_or_source_failed(to: &TcpStream, from: &TcpStream) -> io::Result<()> {
    tokio::select! {
        biased;
        r = to.writable() => r,
        r = from.ready(Interest::ERROR) => {
            r?;
            Err(from
                .take_error()?
                .unwrap_or_else(|| io::ErrorKind::ConnectionReset.into()))
        }
    }
}

/// Runs `work` until it finishes (`Some`) or `lease` is cancelled (`None`,
/// checked first, so a severed session stops at once).
///
/// Why not `select!` on `lease.cancelled()`: that future is polled on every
/// wake-up of the session, and each poll locks the lease's mutex and its
/// `Notify`'s waiter list, both shared by every session of that backend.
/// Here the lease future is polled with a waker of its own, and only again
/// when that waker fired, so the relay's wake-ups touch no shared lock.
/// (A struct, not an `async fn`: that would hold `work` twice.)
pub(crate) fn unless_severed<F: Future>(
    lease: &CancellationToken,
    work: F,
) -> UnlessSevered<'_, F> {
    let signal = Arc::new(LeaseSignal {
        fired: AtomicBool::new(true),
        task: AtomicWaker::new(),
    });
    UnlessSevered {
        work,
        cancelled: lease.cancelled(),
        lease_waker: Waker::from(signal.clone()),
        signal,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`unless_severed`].
    pub struct UnlessSevered<'a, F> {
        #[pin]
        work: F,
        #[pin]
        cancelled: WaitForCancellationFuture<'a>,
        signal: Arc<LeaseSignal>,
        lease_waker: Waker,
    }
}

impl<F: Future> Future for UnlessSevered<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.signal.task.register(cx.waker());
        if this.signal.fired.swap(false, Ordering::AcqRel)
            && this
                .cancelled
                .poll(&mut Context::from_waker(this.lease_waker))
                .is_ready()
        {
            return Poll::Ready(None);
        }
        this.work.poll(cx).map(Some)
    }
}

/// Wakes the session when its lease is cancelled, and remembers that it did.
struct LeaseSignal {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for LeaseSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}
