//! The Linux fast path for bulk data: `splice(2)` through a pipe, so the
//! bytes of a bulk flow never enter user space.
//!
//! Why it is shaped like this:
//!
//! - **Only for bulk.** Most database traffic is small requests and replies;
//!   for those `recv` + `send` through a stack buffer costs the same two
//!   syscalls as splice in + splice out, and needs no pipe. So a direction
//!   starts in copy mode (`relay.rs`) and comes here only when a read fills
//!   the whole copy buffer, i.e. when more is waiting than one message.
//! - **Pipes only while bulk flows.** A direction gets its pipe pair when it
//!   enters bulk mode and drops it when the flow turns small again (a
//!   wake-up that moves less than one copy buffer and leaves the pipe
//!   empty). Idle sessions hold no pipes, so 10,000 of them cost no extra
//!   descriptors or kernel pipe buffers. If no pipe can be had (EMFILE),
//!   the direction simply keeps copying.
//! - **Driven by tokio readiness.** Every splice runs inside `try_io` on the
//!   socket it reads or writes, so tokio clears that socket's readiness
//!   exactly when the kernel says EAGAIN, and the direction then waits with
//!   `readable()` / `writable()`. No threads, no blocking calls.
//! - **EAGAIN is only trusted when it is unambiguous.** With
//!   `SPLICE_F_NONBLOCK`, splicing socket → pipe answers EAGAIN both when the
//!   socket is empty and when the pipe is full (its slots hold one skb
//!   fragment each, so it can be "full" below its byte size). Only an EAGAIN
//!   with an empty pipe clears the socket's readiness; otherwise the pipe is
//!   drained first and the read retried.
//! - **Big pipe.** The pipe is raised to [`PIPE_SIZE`] where the system
//!   allows it (fewer syscalls per byte); the default 64 KiB works too.
//! - **Never corks.** No `SPLICE_F_MORE`: what arrives is sent at once.
//! - **Fair.** A direction that always finds more data yields to the
//!   scheduler every [`SPINS`] rounds, so one bulk flow cannot starve the
//!   other sessions on its worker thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::relay::Flow;

/// The pipe size asked for (`F_SETPIPE_SZ`); unprivileged processes may go
/// up to `/proc/sys/fs/pipe-max-size` (1 MiB by default).
pub(crate) const PIPE_SIZE: usize = 256 * 1024;

/// Rounds of splice in / splice out without waiting, before yielding.
const SPINS: u32 = 16;

/// A pipe pair that carries one direction's bytes from socket to socket,
/// and how many bytes are in it now.
pub(crate) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    len: usize,
}

impl Pipe {
    /// A new non-blocking, close-on-exec pipe, as large as allowed up to
    /// [`PIPE_SIZE`].
    pub(crate) fn new() -> io::Result<Pipe> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are open descriptors we own.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a descriptor we own; failure leaves the default size.
        let capacity = unsafe {
            let raised = libc::fcntl(
                write.as_raw_fd(),
                libc::F_SETPIPE_SZ,
                PIPE_SIZE as libc::c_int,
            );
            if raised > 0 {
                raised as usize
            } else {
                libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ).max(4096) as usize
            }
        };
        Ok(Pipe {
            read,
            write,
            capacity,
            len: 0,
        })
    }

    /// Socket → pipe. `Some(0)` is EOF; `None` means the pipe is full
    /// (or the socket is empty but the pipe still holds bytes: we cannot
    /// tell, so readiness is left alone and the caller drains first).
    fn fill(&mut self, from: &TcpStream) -> io::Result<Option<usize>> {
        let room = self.capacity - self.len;
        let pipe_had_bytes = self.len > 0;
        let mut ambiguous = false;
        let moved = from.try_io(Interest::READABLE, || {
            match splice(from.as_raw_fd(), self.write.as_raw_fd(), room) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && pipe_had_bytes => {
                    ambiguous = true;
                    Ok(0)
                }
                other => other,
            }
        })?;
        if ambiguous {
            return Ok(None);
        }
        self.len += moved;
        Ok(Some(moved))
    }

    /// Pipe → socket; returns the bytes sent. WouldBlock: the socket is full.
    fn drain(&mut self, to: &TcpStream) -> io::Result<usize> {
        let len = self.len;
        let sent = to.try_io(Interest::WRITABLE, || {
            splice(self.read.as_raw_fd(), to.as_raw_fd(), len)
        })?;
        self.len -= sent;
        Ok(sent)
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: plain syscall on open descriptors; null offsets (sockets and pipes).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Moves `from` → `to` through `pipe` until EOF (`Flow::Eof`, pipe
/// flushed) or until the flow turns small (`Flow::Small`, pipe empty: the
/// caller drops it and goes back to copying). Counts sent bytes in `moved`.
pub(crate) async fn pump(
    pipe: &mut Pipe,
    from: &TcpStream,
    to: &TcpStream,
    moved: &mut u64,
    small: usize,
) -> io::Result<Flow> {
    let mut eof = false;
    // Bytes read from `from` since we last waited for it.
    let mut burst = 0usize;
    let mut spins = 0u32;
    loop {
        let mut source_dry = false;
        let mut pipe_full = pipe.len == pipe.capacity;
        if !eof && !pipe_full {
            match pipe.fill(from) {
                Ok(Some(0)) => eof = true,
                Ok(Some(n)) => burst += n,
                Ok(None) => pipe_full = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => source_dry = true,
                Err(e) => return Err(e),
            }
        }
        let mut sink_full = false;
        if pipe.len > 0 {
            match pipe.drain(to) {
                Ok(n) => *moved += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => sink_full = true,
                Err(e) => return Err(e),
            }
        }
        if pipe.len == 0 && eof {
            return Ok(Flow::Eof);
        }
        if pipe.len == 0 && source_dry {
            if burst < small {
                return Ok(Flow::Small);
            }
            burst = 0;
            spins = 0;
            from.readable().await?;
            continue;
        }
        if sink_full && (source_dry || eof || pipe_full) {
            // Nothing more can go in until the sink takes some (or the
            // source fails meanwhile: `relay.rs`).
            spins = 0;
            crate::relay::writable_or_source_failed(to, from).await?;
            continue;
        }
        // Progress was made and more may be possible right away.
        spins += 1;
        if spins >= SPINS {
            spins = 0;
            tokio::task::yield_now().await;
        }
    }
}
