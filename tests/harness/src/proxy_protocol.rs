//! [`ProxyProtocolBackend`]: a loopback backend that expects every
//! connection to start with a PROXY protocol v2 header, parses it by hand
//! against the layout of the HAProxy specification (not with the crate the
//! product encodes with), records what it found, then greets
//! (`hello from <name>\n`) and echoes like [`super::Backend`].
//!
//! A connection whose first bytes are not a valid header is recorded as an
//! error and closed. Its tasks end when it is dropped.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The 12 bytes every v2 header starts with.
pub const SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// What one header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Version and command byte (0x21: version 2, PROXY).
    pub version_command: u8,
    /// Family and protocol byte (0x11 TCP/IPv4, 0x21 TCP/IPv6).
    pub family_protocol: u8,
    /// The client, as the proxy saw it.
    pub source: SocketAddr,
    /// The proxy address the client connected to.
    pub destination: SocketAddr,
}

/// A greeting backend behind a `proxy_protocol = "v2"` proxy.
pub struct ProxyProtocolBackend {
    pub name: String,
    pub addr: SocketAddr,
    /// Every connection's header (or why it was not one), in order.
    headers: Arc<Mutex<Vec<Result<ProxyHeader, String>>>>,
    task: JoinHandle<()>,
}

impl ProxyProtocolBackend {
    pub async fn start(name: &str) -> ProxyProtocolBackend {
        let listener = super::listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let headers = Arc::new(Mutex::new(Vec::new()));
        let (seen, greeting) = (headers.clone(), format!("hello from {name}\n"));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                };
                let (seen, greeting) = (seen.clone(), greeting.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &seen, &greeting).await;
                });
            }
        });
        ProxyProtocolBackend {
            name: name.to_string(),
            addr,
            headers,
            task,
        }
    }

    /// Every header received so far.
    pub fn headers(&self) -> Vec<Result<ProxyHeader, String>> {
        self.headers.lock().expect("headers lock").clone()
    }
}

impl Drop for ProxyProtocolBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    seen: &Mutex<Vec<Result<ProxyHeader, String>>>,
    greeting: &str,
) -> std::io::Result<()> {
    let header = tokio::time::timeout(Duration::from_secs(5), read_header(&mut stream))
        .await
        .unwrap_or_else(|_| Err("no header within 5 s".into()));
    let ok = header.is_ok();
    seen.lock().expect("headers lock").push(header);
    if !ok {
        return Ok(());
    }
    stream.write_all(greeting.as_bytes()).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Reads exactly one header: 16 fixed bytes, then `length` more.
async fn read_header(stream: &mut TcpStream) -> Result<ProxyHeader, String> {
    let mut fixed = [0u8; 16];
    stream
        .read_exact(&mut fixed)
        .await
        .map_err(|e| format!("short header: {e}"))?;
    let length = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
    let mut rest = vec![0u8; length];
    stream
        .read_exact(&mut rest)
        .await
        .map_err(|e| format!("short addresses: {e}"))?;
    parse(&fixed, &rest)
}

/// Parses the fixed part and the address block of a v2 header.
pub fn parse(fixed: &[u8; 16], rest: &[u8]) -> Result<ProxyHeader, String> {
    if fixed[..12] != SIGNATURE {
        return Err(format!("bad signature {:02x?}", &fixed[..12]));
    }
    let (version_command, family_protocol) = (fixed[12], fixed[13]);
    let port = |at: usize| u16::from_be_bytes([rest[at], rest[at + 1]]);
    let (source, destination) = match family_protocol {
        0x11 if rest.len() >= 12 => {
            let ip = |at: usize| Ipv4Addr::new(rest[at], rest[at + 1], rest[at + 2], rest[at + 3]);
            (
                SocketAddr::from((ip(0), port(8))),
                SocketAddr::from((ip(4), port(10))),
            )
        }
        0x21 if rest.len() >= 36 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&rest[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            (
                SocketAddr::from((ip(0), port(32))),
                SocketAddr::from((ip(16), port(34))),
            )
        }
        other => {
            return Err(format!(
                "unexpected family/protocol {other:#04x} with {} address bytes",
                rest.len()
            ))
        }
    };
    Ok(ProxyHeader {
        version_command,
        family_protocol,
        source,
        destination,
    })
}
