//! The PROXY protocol v2 header a backend with `proxy_protocol = "v2"` gets
//! before any byte of the client's (docs/configuration.md): the client's
//! address and port as the source, the proxy port it connected to as the
//! destination, so MariaDB (`proxy_protocol_networks`) sees and grants by
//! the real client host.
//!
//! Encoding is the `ppp` crate's; this file only picks the addresses: both
//! in one family, IPv4-mapped IPv6 addresses (a dual-stack listener's view
//! of an IPv4 client) as plain IPv4. It never reads from either socket.

use std::io;
use std::net::{IpAddr, SocketAddr};

use ppp::v2::{Builder, Command, Protocol, Version};
use tokio::net::TcpStream;

/// The header for a connection from `client` to the proxy port `local`.
pub(crate) fn encode(client: SocketAddr, local: SocketAddr) -> io::Result<Vec<u8>> {
    let (source, destination) = same_family(client, local);
    Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (source, destination),
    )
    .build()
}

/// Writes the header to a freshly connected backend socket (its send
/// buffer is empty, so this is one write in practice).
pub(crate) async fn send(
    server: &TcpStream,
    client: SocketAddr,
    local: SocketAddr,
) -> io::Result<()> {
    let header = encode(client, local)?;
    let mut sent = 0;
    // Bounded: every round writes at least one byte or fails.
    while sent < header.len() {
        server.writable().await?;
        match server.try_write(&header[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Both addresses canonical (`::ffff:a.b.c.d` is IPv4) and, if that leaves
/// them in different families, both IPv6.
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canonical = |s: SocketAddr| SocketAddr::new(s.ip().to_canonical(), s.port());
    let (a, b) = (canonical(a), canonical(b));
    let v6 = |s: SocketAddr| match s.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), s.port()),
        IpAddr::V6(_) => s,
    };
    if a.is_ipv4() == b.is_ipv4() {
        (a, b)
    } else {
        (v6(a), v6(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 12-byte signature every v2 header starts with.
    const SIGNATURE: [u8; 12] = [
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
    ];

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn ipv4_layout() {
        let header = encode(addr("127.0.0.2:50000"), addr("127.0.0.1:3306")).expect("encodes");
        let mut expected = SIGNATURE.to_vec();
        expected.extend([0x21, 0x11, 0x00, 12]); // v2 PROXY, TCP over IPv4, 12 bytes
        expected.extend([127, 0, 0, 2, 127, 0, 0, 1]); // source, destination
        expected.extend(50000u16.to_be_bytes());
        expected.extend(3306u16.to_be_bytes());
        assert_eq!(header, expected);
    }

    #[test]
    fn ipv6_layout() {
        let header = encode(addr("[2001:db8::7]:40000"), addr("[::1]:3306")).expect("encodes");
        let mut expected = SIGNATURE.to_vec();
        expected.extend([0x21, 0x21, 0x00, 36]); // v2 PROXY, TCP over IPv6, 36 bytes
        let source: std::net::Ipv6Addr = "2001:db8::7".parse().expect("v6");
        expected.extend(source.octets());
        expected.extend(std::net::Ipv6Addr::LOCALHOST.octets());
        expected.extend(40000u16.to_be_bytes());
        expected.extend(3306u16.to_be_bytes());
        assert_eq!(header, expected);
    }

    #[test]
    fn mapped_addresses_are_ipv4_and_mixed_families_become_ipv6() {
        let header = encode(
            addr("[::ffff:10.1.2.3]:1234"),
            addr("[::ffff:10.0.0.1]:3306"),
        )
        .expect("encodes");
        assert_eq!(&header[12..14], &[0x21, 0x11], "IPv4 after canonicalising");
        assert_eq!(&header[16..20], &[10, 1, 2, 3]);
        let header = encode(addr("10.1.2.3:1234"), addr("[2001:db8::1]:3306")).expect("encodes");
        assert_eq!(&header[12..16], &[0x21, 0x21, 0x00, 36], "both IPv6");
        assert_eq!(
            &header[16..32],
            &std::net::Ipv4Addr::new(10, 1, 2, 3)
                .to_ipv6_mapped()
                .octets()
        );
    }
}
