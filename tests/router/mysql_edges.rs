//! Speaking a little MySQL at the edges (docs/configuration.md):
//! `refuse_with = "mysql-error"` answers a connection that cannot be routed
//! with a MySQL error packet in place of the greeting, saying why (routing
//! off with the operator's message, no healthy backend), then closes; and
//! `proxy_protocol = "v2"` starts every backend connection with a PROXY
//! protocol v2 header carrying the client's own address (a client bound to
//! 127.0.0.2 shows up as 127.0.0.2).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use switchboard_harness::*;

/// A MySQL error packet as a client reads it.
#[derive(Debug, PartialEq, Eq)]
struct ErrPacket {
    sequence: u8,
    code: u16,
    /// The SQLSTATE, when the packet carries the `#` marker.
    sqlstate: Option<String>,
    message: String,
}

/// Reads everything up to EOF (at most 1 s) and parses it as exactly one
/// error packet; `Err` says what came instead.
async fn read_err_packet(stream: &mut TcpStream) -> Result<ErrPacket, String> {
    let mut bytes = Vec::new();
    match tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut bytes)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(format!("read failed: {e}")),
        Err(_) => return Err(format!("no EOF within 1 s after {bytes:?}")),
    }
    if bytes.len() <= 7 {
        return Err(format!("too short for an error packet: {bytes:?}"));
    }
    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]) as usize;
    if length != bytes.len() - 4 {
        return Err(format!("not one packet, then EOF: {bytes:?}"));
    }
    let payload = &bytes[4..];
    if payload[0] != 0xFF {
        return Err(format!("not an ERR packet: {bytes:?}"));
    }
    let code = u16::from_le_bytes([payload[1], payload[2]]);
    let (sqlstate, message) = match payload.get(3) {
        Some(b'#') => (
            Some(String::from_utf8_lossy(&payload[4..9]).into_owned()),
            &payload[9..],
        ),
        _ => (None, &payload[3..]),
    };
    Ok(ErrPacket {
        sequence: bytes[3],
        code,
        sqlstate,
        message: String::from_utf8(message.to_vec()).map_err(|e| e.to_string())?,
    })
}

/// Connects until a connection is refused with an error packet (the route
/// table follows the state a moment later), at most 5 s.
async fn refusal(proxy: SocketAddr) -> ErrPacket {
    let mut last = String::new();
    for _ in 0..50 {
        match read_err_packet(&mut connect(proxy).await).await {
            Ok(packet) => return packet,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no error packet from {proxy}; last: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_connections_get_a_mysql_error_saying_why() {
    let (sb, [b0], [h0]) = Greeters::start([0])
        .await
        .switchboard(Builder {
            refuse_with: Some("mysql-error"),
            ..Builder::new().interval(50, 1000)
        })
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let (_, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0", "routable connections are untouched");

    let (status, _) = sb
        .patch(
            "/v0/cluster?trafficEnabled=false&message=maintenance+window",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let accepted = b0.accepted();
    let packet = refusal(sb.proxy).await;
    assert_eq!(
        packet,
        ErrPacket {
            sequence: 0,
            code: 1105,
            sqlstate: None,
            message: "switchboard: routing is off: maintenance window".into(),
        }
    );

    let (status, _) = sb.patch("/v0/cluster?trafficEnabled=true", None).await;
    assert_eq!(status, 200);
    h0.set(Health::Status503);
    sb.wait_active(None, Duration::from_secs(5)).await;
    let packet = refusal(sb.proxy).await;
    assert_eq!(packet.code, 1105);
    assert_eq!(packet.message, "switchboard: no healthy backend");
    assert_eq!(b0.accepted(), accepted, "no refused client reached b0");
}

/// Connects to `proxy` from `source` (any 127.0.0.0/8 address).
async fn connect_from(source: [u8; 4], proxy: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind the client address");
    tokio::time::timeout(IO_TIMEOUT, socket.connect(proxy))
        .await
        .expect("connect in time")
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_v2_gives_the_backend_the_clients_address() {
    let pp = ProxyProtocolBackend::start("pp").await;
    let h = HealthEndpoint::healthy(0).await;
    let sb = Builder::new()
        .backend_at(&pp.name, pp.addr, &h.url())
        .backend_keys(&pp.name, "proxy_protocol = \"v2\"")
        .start()
        .await;
    sb.wait_active(Some("pp"), Duration::from_secs(5)).await;

    let mut clients = Vec::new();
    for source in [[127, 0, 0, 2], [127, 0, 0, 1]] {
        let mut client = connect_from(source, sb.proxy).await;
        let greeting = read_line(&mut client, IO_TIMEOUT).await.expect("greeting");
        assert_eq!(greeting, "hello from pp", "the header was consumed first");
        assert_echo(&mut client, "relay after the header").await;
        clients.push(client);
    }
    let headers = pp.headers();
    assert_eq!(headers.len(), 2, "{headers:?}");
    for (client, header) in clients.iter().zip(&headers) {
        assert_eq!(
            header,
            &Ok(ProxyHeader {
                version_command: 0x21,
                family_protocol: 0x11,
                source: client.local_addr().expect("client address"),
                destination: sb.proxy,
            })
        );
    }
    assert_eq!(
        headers[0].as_ref().map(|h| h.source.ip().to_string()),
        Ok("127.0.0.2".to_string())
    );
}
