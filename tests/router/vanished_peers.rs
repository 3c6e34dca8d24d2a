//! Sessions whose peer never finishes are freed (docs/operations.md,
//! "Vanished peers"): a client that vanished without a FIN is found dead by
//! TCP keep-alive (`[proxy] tcp_keepalive`) and its session closed, both
//! sockets with it; a session that one side half-closed is closed
//! `half_close_timeout` later when the other never ends, after every byte
//! sent before that arrived. Both count as closed, never as severed.
//!
//! The keep-alive test needs a network namespace of its own (`NetNs`: a
//! stopped process would still answer the probes through its kernel),
//! hence root, `ip` and `nft`; `SWITCHBOARD_SKIP_NETNS=1` skips it where
//! those are missing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What `/v0/state` must show once the only session ended by itself.
fn closed_not_severed(s: &serde_json::Value) -> bool {
    sessions(s, "b0") == 0
        && s["totals"]["severed"] == 0
        && backend(s, "b0")["sessions"]["severed"] == 0
        && s["totals"]["connections"]["routed"] == 1
}

#[test]
fn a_client_that_vanished_without_a_fin_is_freed_by_keepalive() {
    let test = "a_client_that_vanished_without_a_fin_is_freed_by_keepalive";
    let Some(ns) = NetNs::create_or_skip(test) else {
        return;
    };
    ns.run(|ns| async move {
        let b0 = Backend::echo("b0").await;
        // A tcp check against a port of its own, so probes never count as
        // b0's connections. (Not a `HealthEndpoint`: those all run on one
        // thread of the test process, outside this namespace.)
        let health = listen(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind a check port");
        let check_port = health.local_addr().expect("check port").port();
        let check = format!("kind = \"tcp\", port = {check_port}");
        tokio::spawn(async move { while health.accept().await.is_ok() {} });
        let sb = Builder::new()
            .backend_with_check("b0", b0.addr, &check)
            .proxy_key("tcp_keepalive = \"1s\"")
            .proxy_key("tcp_keepalive_interval = \"1s\"")
            .proxy_key("tcp_keepalive_count = 2")
            .start()
            .await;
        sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
        let mut client = open_session(sb.proxy).await;
        assert_echo(&mut client, "before the client vanished").await;
        sb.wait_state(Duration::from_secs(2), "one open session", |s| {
            sessions(s, "b0") == 1
        })
        .await;
        assert_eq!(b0.open(), 1);
        // Keep-alive runs only on a connection with nothing in flight (an
        // unacknowledged reply is retransmitted instead): wait until the
        // client's (delayed) ACK of the echo has reached the proxy.
        let port = client.local_addr().expect("client address").port();
        let proxy_port = sb.proxy.port();
        wait_until(
            Duration::from_secs(2),
            "the proxy's reply acknowledged",
            || async { ns.send_queue(proxy_port, port) == Some(0) },
        )
        .await;
        // Both of the session's sockets probe: the client's (inherited from
        // the listening socket) and the backend's (set before connecting).
        for (which, filter) in [
            ("client", format!("sport = :{proxy_port}")),
            ("backend", format!("dport = :{}", b0.addr.port())),
        ] {
            let what = format!("a keep-alive timer on the proxy's {which} socket");
            wait_until(Duration::from_secs(2), &what, || async {
                let lines = ns.established(&filter);
                lines.len() == 1 && lines[0].contains("timer:(keepalive")
            })
            .await;
        }
        // The client's host is gone: not one more packet of its
        // connection gets through, either way, and it sends no FIN.
        ns.drop_tcp_port(port);
        let vanished = Instant::now();
        // 1 s idle, then 2 probes 1 s apart: dead after about 3 s.
        sb.wait_state(
            Duration::from_secs(20),
            "the vanished client's session closed (not severed)",
            closed_not_severed,
        )
        .await;
        let freed = vanished.elapsed();
        eprintln!(
            "keep-alive 1s/1s/2: the vanished client's session was freed {} after its \
             packets stopped",
            ms(freed)
        );
        assert!(
            freed >= Duration::from_millis(1500),
            "freed after {freed:?}: too soon for keep-alive, so something else closed it"
        );
        // Both sockets: the backend sees the proxy close its end.
        wait_until(
            Duration::from_secs(2),
            "the backend's socket closed",
            || async { b0.open() == 0 },
        )
        .await;
        drop(client);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_session_is_closed_after_half_close_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let b0 = Backend::half_open("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let sb = Builder::new()
        .backend(&b0, &h0)
        .proxy_key("half_close_timeout = \"500ms\"")
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;

    // An idle session with both directions open has no deadline at all.
    let mut idle = open_session(sb.proxy).await;

    let client = connect(sb.proxy).await;
    let sent: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8)
        .collect();
    let (mut rd, mut wr) = client.into_split();
    let request = sent.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&request).await.expect("send the request");
        // The client's FIN: the up direction ends, the down one goes on.
        wr.shutdown().await.expect("shutdown(write)");
        (Instant::now(), wr)
    });
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut got))
        .await
        .expect("the half-closed session was never closed");
    let eof = Instant::now();
    read.expect("the reply ends with EOF, not an error");
    let (shut_down, _wr) = writer.await.expect("writer");
    assert!(
        got == sent,
        "the reply differs: {} bytes back of {} sent",
        got.len(),
        sent.len()
    );
    let after = eof - shut_down;
    eprintln!(
        "half_close_timeout = 500ms: the half-closed session was closed {} after the client's FIN",
        ms(after)
    );
    assert!(
        after >= TIMEOUT - Duration::from_millis(10),
        "closed {after:?} after the FIN: before half_close_timeout"
    );
    assert!(
        after < TIMEOUT * 6,
        "closed {after:?} after the FIN: far past half_close_timeout"
    );
    let state = sb
        .wait_state(
            Duration::from_secs(2),
            "the half-closed session gone",
            |s| sessions(s, "b0") == 1,
        )
        .await;
    assert_eq!(state["totals"]["severed"], 0, "closed, not severed");
    assert_eq!(backend(&state, "b0")["sessions"]["severed"], 0);
    // The backend never closed its side: the timeout did.
    assert_eq!(b0.open(), 2, "the backend still holds both connections");
    // The idle session, open for longer than the timeout, still works.
    assert_echo(&mut idle, "the idle session").await;
}
