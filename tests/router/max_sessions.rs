//! `[proxy] max_sessions` (docs/configuration.md): beyond the limit a new
//! client is accepted and closed at once, never queued, with MySQL's own
//! "too many connections" error (1040) under `refuse_with = "mysql-error"`,
//! and counted as the `max_sessions` outcome; closing a session admits a
//! new one; a reload that raises the limit admits more at once; and
//! sessions still connecting to their backend hold their places too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use switchboard_harness::*;

/// The slowest refusal allowed: "at once".
const AT_ONCE: Duration = Duration::from_millis(100);

/// Reads until EOF (at most 1 s): the bytes, and how long it took.
async fn read_until_eof(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut bytes = Vec::new();
    match tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut bytes)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("read failed: {e}"),
        Err(_) => panic!("no EOF within 1 s (got {bytes:?}): the client was kept"),
    }
    (bytes, started.elapsed())
}

/// The code and message of the one MySQL error packet in `bytes`.
fn err_packet(bytes: &[u8]) -> (u16, String) {
    assert!(bytes.len() > 7, "not an error packet: {bytes:?}");
    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]) as usize;
    assert_eq!(length, bytes.len() - 4, "one packet, then EOF: {bytes:?}");
    assert_eq!(
        (bytes[3], bytes[4]),
        (0, 0xFF),
        "sequence 0, ERR: {bytes:?}"
    );
    let code = u16::from_le_bytes([bytes[5], bytes[6]]);
    (code, String::from_utf8_lossy(&bytes[7..]).into_owned())
}

/// How many clients were turned away for the limit, per `/v0/state`.
async fn refused(sb: &Switchboard) -> u64 {
    sb.state().await["totals"]["connections"]["max_sessions"]
        .as_u64()
        .expect("totals.connections.max_sessions")
}

/// Connects and echoes once; `None` if the proxy closed the connection.
async fn try_session(addr: SocketAddr) -> Option<TcpStream> {
    let mut stream = connect(addr).await;
    ping(&mut stream, b"x").await.then_some(stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_sessions_clients_are_refused_at_once_until_a_close_or_a_reload() {
    let fleet = Fleet::start(1).await;
    let builder = Builder {
        refuse_with: Some("mysql-error"),
        ..Builder::new()
    }
    .proxy_key("max_sessions = 3");
    let sb = fleet.switchboard(builder).await;
    assert_eq!(sb.state().await["totals"]["maxSessions"], 3);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(open_session(sb.proxy).await);
    }

    // Every client beyond the limit: error 1040 and EOF at once.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let t0 = Instant::now();
        let mut client = connect(sb.proxy).await;
        let (bytes, _) = read_until_eof(&mut client).await;
        slowest = slowest.max(t0.elapsed());
        let (code, message) = err_packet(&bytes);
        assert_eq!(code, 1040, "ER_CON_COUNT_ERROR");
        assert_eq!(
            message,
            "switchboard: too many connections (proxy.max_sessions reached)"
        );
    }
    eprintln!("max_sessions refusal, connect to EOF: slowest of 20 {slowest:?}");
    assert!(slowest < AT_ONCE, "a refusal took {slowest:?}");
    assert_eq!(refused(&sb).await, 20, "every refusal is counted");
    assert_eq!(
        fleet.backends[0].accepted(),
        3,
        "no refused client reached the backend"
    );
    let metrics = sb.get("/metrics").send().await.expect("GET /metrics");
    let text = metrics.text().await.expect("metrics text");
    assert!(
        text.contains("switchboard_connections_total{outcome=\"max_sessions\"} 20"),
        "{text}"
    );
    assert!(text.contains("switchboard_max_sessions 3"), "{text}");
    for s in &mut open {
        assert_echo(s, "an admitted session, beside the refusals").await;
    }

    // A session that ends gives its place to the next client.
    drop(open.pop());
    let took = wait_for(Duration::from_secs(2), "a place after a close", || async {
        try_session(sb.proxy).await
    })
    .await;
    open.push(took);
    let mut client = connect(sb.proxy).await;
    assert_eq!(err_packet(&read_until_eof(&mut client).await.0).0, 1040);

    // A reload that raises the limit (and turns refusals into plain
    // closes) admits more at once; open sessions are untouched.
    let mut raised = sb.builder().clone();
    raised.proxy_keys = vec!["max_sessions = 5".into()];
    raised.refuse_with = None;
    sb.write_config(&raised, &sb.ports);
    let (status, body) = sb.reload().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sb.state().await["totals"]["maxSessions"], 5);
    for _ in 0..2 {
        open.push(open_session(sb.proxy).await);
    }
    let before = refused(&sb).await;
    let mut client = connect(sb.proxy).await;
    let (bytes, took) = read_until_eof(&mut client).await;
    assert!(
        bytes.is_empty(),
        "refuse_with = close sends nothing: {bytes:?}"
    );
    assert!(took < AT_ONCE, "a refusal took {took:?}");
    assert_eq!(refused(&sb).await, before + 1);
    for s in &mut open {
        assert_echo(s, "after the reload").await;
    }
    assert_eq!(sb.state().await["totals"]["sessions"], 5);
}

/// A loopback address whose connects hang: a listener with an accept queue
/// of one, filled, that never accepts (the kernel drops further SYNs).
async fn black_hole() -> (TcpListener, Vec<TcpStream>, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().unwrap()).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let hangs = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await;
    assert!(hangs.is_err(), "the black hole answered a connect");
    (listener, fillers, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_still_connecting_hold_their_places() {
    let (_hole, _fillers, addr) = black_hole().await;
    let health = HealthEndpoint::healthy(0).await;
    let sb = Builder {
        connect_timeout_ms: 5_000,
        ..Builder::new()
    }
    .proxy_key("max_sessions = 2")
    .backend_at("hole", addr, &health.url())
    .start()
    .await;
    sb.wait_active(Some("hole"), Duration::from_secs(5)).await;
    // Two clients whose backend connects hang: not yet sessions, but
    // admitted (the proxy accepts in connect order).
    let _connecting = [connect(sb.proxy).await, connect(sb.proxy).await];
    let mut third = connect(sb.proxy).await;
    let took = expect_eof_or_reset(&mut third, Duration::from_secs(1)).await;
    assert!(took < AT_ONCE, "the third client waited {took:?}");
    assert_eq!(refused(&sb).await, 1, "refused for the limit, not queued");
    assert_eq!(sb.state().await["totals"]["sessions"], 0);
}
