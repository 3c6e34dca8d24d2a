//! The API's limits (docs/api.md, "Limits"): slowloris clients (a header
//! byte per second) are cut after `api.header_timeout` while the API keeps
//! answering and a proxy session's echoes stay as fast as before; a request
//! head over `api.max_header_bytes` (or with too many headers) gets 431; a
//! request that outlives `api.request_timeout` gets 408, but the SSE stream
//! does not; and the connection beyond `api.max_connections` is answered
//! 503 at once, never queued, while the health port and the proxy go on.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use switchboard_harness::*;

/// The harness's credentials as a header line.
fn auth(sb: &Switchboard) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", sb.password));
    format!("Authorization: Basic {token}\r\n")
}

/// Sends `request` on a new connection and reads to EOF (at most 5 s):
/// the status (0 when nothing came back), the raw answer, and how long it
/// took from the connect.
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    (status_of(&text), text, started.elapsed())
}

/// The status code of a raw HTTP answer, 0 if there is none.
fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `GET /v0/state` with credentials, `Connection: close`.
async fn get_state(sb: &Switchboard) -> (u16, Duration) {
    let request = format!(
        "GET /v0/state HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        auth(sb)
    );
    let (status, _, took) = raw(sb.api, request.as_bytes()).await;
    (status, took)
}

/// A slowloris client: connects and sends a request head one byte per
/// second, never finishing it. Returns how long after its connect the
/// server cut it (EOF, a reset or an answer), `None` if it was not cut
/// within `give_up`.
async fn slowloris(addr: SocketAddr, give_up: Duration) -> Option<Duration> {
    let started = Instant::now();
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut rd, mut wr) = stream.into_split();
    let head = b"GET /v0/state HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut buf = [0u8; 512];
    let mut sent = 0;
    while started.elapsed() < give_up {
        let pause = if sent == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = rd.read(&mut buf) => return Some(started.elapsed()),
            () = tokio::time::sleep(pause) => {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                if wr.write_all(&[byte]).await.is_err() {
                    return Some(started.elapsed());
                }
                sent += 1;
            }
        }
    }
    None
}

/// Round trips of 16 bytes on `session` for `during`: every latency.
async fn echo_latencies(session: &mut TcpStream, during: Duration) -> Vec<Duration> {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 16];
    while started.elapsed() < during {
        let t0 = Instant::now();
        session
            .write_all(b"0123456789abcdef")
            .await
            .expect("echo write");
        session.read_exact(&mut buf).await.expect("echo read");
        out.push(t0.elapsed());
    }
    out
}

/// The 99th percentile of `samples`.
fn p99(mut samples: Vec<Duration>) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_while_the_api_and_the_proxy_go_on() {
    const CLIENTS: usize = 200;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let fleet = Fleet::start(1).await;
    let sb = fleet
        .switchboard(Builder::new().api_key("header_timeout = \"2s\""))
        .await;
    let mut session = open_session(sb.proxy).await;
    let before = p99(echo_latencies(&mut session, Duration::from_secs(2)).await);

    let attack: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(slowloris(sb.api, Duration::from_secs(10))))
        .collect();
    // While they drip: the API answers, the proxy echoes.
    let during = p99(echo_latencies(&mut session, Duration::from_millis(1500)).await);
    let (status, took) = get_state(&sb).await;
    assert_eq!(status, 200, "the API answers during the attack");
    assert!(took < Duration::from_secs(1), "GET /v0/state took {took:?}");

    let mut cut = Vec::new();
    for a in attack {
        cut.push(
            a.await
                .expect("slowloris task")
                .expect("a slowloris client was never cut"),
        );
    }
    let (first, last) = (cut.iter().min().unwrap(), cut.iter().max().unwrap());
    eprintln!(
        "{CLIENTS} slowloris clients cut after {first:?}..{last:?}; echo p99 before {before:?}, during {during:?}; GET /v0/state during: {took:?}"
    );
    assert!(
        *first >= HEADER_TIMEOUT - Duration::from_millis(100),
        "cut early: {first:?}"
    );
    assert!(
        *last < HEADER_TIMEOUT + Duration::from_millis(1500),
        "cut late: {last:?}"
    );
    assert!(
        during <= (before * 10).max(Duration::from_millis(25)),
        "echo p99 {during:?} during the attack vs {before:?} before"
    );
    let (status, _) = get_state(&sb).await;
    assert_eq!(status, 200, "the API answers after the attack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_get_431() {
    let fleet = Fleet::start(1).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let with_header = |value: &str| {
        format!(
            "GET /v0/state HTTP/1.1\r\nHost: x\r\n{}X-Big: {value}\r\nConnection: close\r\n\r\n",
            auth(&sb)
        )
    };
    // The default limit is 16 KiB.
    let (status, answer, _) = raw(sb.api, with_header(&"a".repeat(12 * 1024)).as_bytes()).await;
    assert_eq!(status, 200, "a 12 KiB head is served: {answer}");
    let (status, answer, _) = raw(sb.api, with_header(&"a".repeat(20 * 1024)).as_bytes()).await;
    assert_eq!(status, 431, "{answer}");
    let many: String = (0..120).map(|i| format!("X-H{i}: v\r\n")).collect();
    let request = format!("GET /v0/state HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    let (status, answer, _) = raw(sb.api, request.as_bytes()).await;
    assert_eq!(status, 431, "120 headers: {answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_gets_408_but_the_event_stream_lives_on() {
    let fleet = Fleet::start(1).await;
    let sb = fleet
        .switchboard(Builder::new().api_key("request_timeout = \"1s\""))
        .await;
    // A body announced, barely begun.
    let request = format!(
        "PATCH /v0/cluster HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\nContent-Length: 60\r\n\r\n{{\"traff",
        auth(&sb)
    );
    let (status, answer, took) = raw(sb.api, request.as_bytes()).await;
    eprintln!("slow body answered {status} after {took:?}");
    assert_eq!(status, 408, "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");

    let request = format!(
        "GET /v0/events/stream HTTP/1.1\r\nHost: x\r\n{}Accept: text/event-stream\r\n\r\n",
        auth(&sb)
    );
    let mut stream = TcpStream::connect(sb.api).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_millis(2500) {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => panic!(
                "the event stream ended after {:?}: {}",
                started.elapsed(),
                String::from_utf8_lossy(&seen)
            ),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(status_of(&text), 200, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_beyond_max_connections_is_refused_at_once() {
    const MAX: usize = 8;
    let fleet = Fleet::start(1).await;
    let sb = fleet
        .switchboard(Builder {
            health_listen: true,
            ..Builder::new()
                .api_key(&format!("max_connections = {MAX}"))
                .api_key("header_timeout = \"30s\"")
        })
        .await;
    // Idle connections hold places (the harness's own client may hold
    // one already) until the listener refuses one: it answers at once.
    let mut held = Vec::new();
    let mut buf = [0u8; 512];
    let refusal = loop {
        assert!(held.len() <= MAX, "more than {MAX} connections held");
        let mut s = connect(sb.api).await;
        match tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
            Err(_) => held.push(s),
            Ok(Ok(n)) => break String::from_utf8_lossy(&buf[..n]).into_owned(),
            Ok(Err(e)) => panic!("the refused connection was reset: {e}"),
        }
    };
    assert!(
        held.len() >= MAX - 1,
        "refused after {} connections",
        held.len()
    );
    assert_eq!(status_of(&refusal), 503, "{refusal}");
    assert!(refusal.contains("Retry-After: 1"), "{refusal}");

    // A request beyond the limit: answered at once, not queued.
    let request = format!(
        "GET /v0/state HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        auth(&sb)
    );
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let (status, answer, took) = raw(sb.api, request.as_bytes()).await;
        assert!(status == 503 || status == 0, "{answer}");
        slowest = slowest.max(took);
    }
    eprintln!("API refusals beyond max_connections: slowest of 10 {slowest:?}");
    assert!(slowest < Duration::from_millis(100), "{slowest:?}");

    // Other listeners and the proxy are not affected.
    let (status, answer, _) = raw(
        sb.ports.health,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "the health port: {answer}");
    let mut session = open_session(sb.proxy).await;
    assert_echo(&mut session, "the proxy while the API is full").await;

    // A connection that leaves gives its place back.
    drop(held.pop());
    wait_until(Duration::from_secs(2), "a place after a close", || async {
        get_state(&sb).await.0 == 200
    })
    .await;
}
