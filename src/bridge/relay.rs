//! The byte relay of one session: copies both ways until both directions
//! have finished, honouring half-close.
//!
//! Shaped for many mostly idle sessions: a direction owns no buffer while it
//! waits; it borrows one only while bytes are flowing and returns it when the
//! socket runs dry, so an idle session costs its task and two sockets, not
//! 2 × 16 KiB. Each direction, on EOF, shuts down the write side of the other
//! socket (the client that half-closes still gets its whole reply) and the
//! other direction goes on. An error in either direction ends both.
//! `TCP_NODELAY` is set by the session; nothing here ever corks.

use std::io;
use std::net::Shutdown;

use tokio::net::TcpStream;

/// How much one relay buffer holds: one read syscall's worth.
const CHUNK: usize = 16 * 1024;

/// Bytes moved by a session, counted as they go so a severed session still
/// reports what it moved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Transfer {
    /// Client → backend.
    pub up: u64,
    /// Backend → client.
    pub down: u64,
}

/// Relays until both directions end (Ok) or either fails (Err).
pub async fn relay(client: &TcpStream, server: &TcpStream, transfer: &mut Transfer) -> io::Result<()> {
    let (up, down) = (&mut transfer.up, &mut transfer.down);
    tokio::try_join!(pump(client, server, up), pump(server, client, down))?;
    Ok(())
}

/// Copies `from` → `to` until EOF, then shuts down `to`'s write side.
async fn pump(from: &TcpStream, to: &TcpStream, moved: &mut u64) -> io::Result<()> {
    loop {
        from.readable().await?;
        // Uninitialised capacity: `try_read_buf` fills it without zeroing.
        let mut buf = Vec::with_capacity(CHUNK);
        loop {
            buf.clear();
            match from.try_read_buf(&mut buf) {
                Ok(0) => {
                    // Not-connected means the peer is already gone: fine.
                    return match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
                        Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(e),
                        _ => Ok(()),
                    };
                }
                Ok(n) => {
                    write_all(to, &buf).await?;
                    *moved += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // The socket ran dry: `buf` is freed here, before waiting again.
    }
}

async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match to.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
