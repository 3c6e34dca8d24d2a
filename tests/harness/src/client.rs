//! Client helpers: connect through the proxy, read a backend's greeting,
//! round-trip bytes, open a session proven established by an echo, and
//! expect EOF or a reset, each bounded by a deadline.
//!
//! Every helper either returns within its timeout or panics saying what it
//! waited for; none of them sleeps.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long a single read or connect may take before a helper gives up.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects within [`IO_TIMEOUT`].
pub async fn try_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Connects or panics.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    try_connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
}

/// Whether a connect to `addr` is refused right now.
pub async fn refused(addr: SocketAddr) -> bool {
    matches!(
        timeout(IO_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused
    )
}

/// Reads one `\n`-terminated line (without the newline). EOF or a reset
/// before the newline is an error.
pub async fn read_line(stream: &mut TcpStream, within: Duration) -> io::Result<String> {
    let mut line = Vec::new();
    let deadline = Instant::now() + within;
    loop {
        let mut byte = [0u8; 1];
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.read(&mut byte)).await {
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no full line in time",
                ))
            }
            Ok(Ok(0)) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "EOF before newline",
                ))
            }
            Ok(Ok(_)) if byte[0] == b'\n' => return Ok(String::from_utf8_lossy(&line).into_owned()),
            Ok(Ok(_)) => line.push(byte[0]),
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// Connects and reads a greeting backend's `hello from <name>`; returns the
/// stream and the backend's name.
pub async fn try_greet(addr: SocketAddr, within: Duration) -> io::Result<(TcpStream, String)> {
    let mut stream = try_connect(addr).await?;
    let line = read_line(&mut stream, within).await?;
    let name = line.strip_prefix("hello from ").ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a greeting: {line:?}"),
        )
    })?;
    Ok((stream, name.to_string()))
}

/// [`try_greet`] or panic.
pub async fn greet(addr: SocketAddr) -> (TcpStream, String) {
    try_greet(addr, IO_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("greeting through {addr}: {e}"))
}

/// Connects through `addr` until a session greets from `name`, at most
/// `within`; returns how long it took. Sessions to other backends are closed.
pub async fn wait_greeting_from(
    addr: SocketAddr,
    name: &str,
    within: Duration,
) -> (TcpStream, Duration) {
    let started = Instant::now();
    let mut last;
    loop {
        match try_greet(addr, Duration::from_secs(1)).await {
            Ok((stream, who)) if who == name => return (stream, started.elapsed()),
            Ok((_, who)) => last = format!("greeted by {who}"),
            Err(e) => last = e.to_string(),
        }
        if started.elapsed() > within {
            panic!("no session reached {name} through {addr} within {within:?} (last: {last})");
        }
        tokio::time::sleep(super::POLL).await;
    }
}

/// Writes `msg` and reads the same bytes back; `false` on EOF, reset or a
/// timeout.
pub async fn ping(stream: &mut TcpStream, msg: &[u8]) -> bool {
    if stream.write_all(msg).await.is_err() {
        return false;
    }
    let mut back = vec![0u8; msg.len()];
    matches!(
        timeout(IO_TIMEOUT, stream.read_exact(&mut back)).await,
        Ok(Ok(_))
    ) && back == msg
}

/// [`ping`] or panic.
pub async fn assert_echo(stream: &mut TcpStream, what: &str) {
    assert!(
        ping(stream, b"ping\n").await,
        "{what}: the session should still echo"
    );
}

/// Connects to `addr` and round-trips one echo, so the proxy has certainly
/// connected to a backend and counted the session when this returns. For
/// echo backends (a greeting would arrive first).
pub async fn open_session(addr: SocketAddr) -> TcpStream {
    let mut stream = connect(addr).await;
    assert!(
        ping(&mut stream, b"x").await,
        "session through {addr} closed before the echo (routing off or no backend?)"
    );
    stream
}

/// Connects to `addr` and expects the proxy to close the connection at once
/// (routing off, no active): EOF or a reset within `within`, which is
/// returned.
pub async fn expect_closed_at_once(addr: SocketAddr, within: Duration) -> Duration {
    let mut stream = connect(addr).await;
    expect_eof_or_reset(&mut stream, within).await
}

/// Reads (and discards) until EOF or a reset; panics after `within`.
/// Returns how long it took.
pub async fn expect_eof_or_reset(stream: &mut TcpStream, within: Duration) -> Duration {
    match try_eof_or_reset(stream, within).await {
        Some(took) => took,
        None => panic!("the session stayed open for {within:?}; expected EOF or a reset"),
    }
}

/// Like [`expect_eof_or_reset`] but returns `None` on timeout.
pub async fn try_eof_or_reset(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether the session is still open: nothing to read and no EOF within a
/// few ms (a severed session is already at EOF when this is asked).
pub async fn still_open(stream: &mut TcpStream) -> bool {
    ping(stream, b"alive?\n").await
}
