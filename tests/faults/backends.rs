//! Backends that fail under open sessions (docs/operations.md, "Failure
//! modes"): one killed mid-session (its clients see EOF at once, the
//! counts stay exact, nothing else is touched), one that accepts and never
//! reads (only its own clients' writes block; the proxy buffers nothing
//! for them, other sessions and the API go on, and a sever still ends
//! them), and one whose packets vanish (a black hole: no client is held
//! longer than `connect_timeout`, and the probe's timeout fails it over).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_harness::bad_health::{Answer, BadHealth};
use switchboard_harness::faulty_backend::{reset_on_close, Behaviour, FaultyBackend, Kill};
use switchboard_harness::fds::rss_kib;
use switchboard_harness::*;
use tokio::io::AsyncWriteExt;

use super::{ms, num};

/// Sessions on the killed backend, and on the standby port's other one.
const ON_B0: usize = 50;
const ON_B1: usize = 10;

async fn killed_mid_session(how: Kill) {
    let b0 = FaultyBackend::start("b0", Behaviour::Echo).await;
    let b1 = Backend::echo("b1").await;
    let (h0, h1) = (
        HealthEndpoint::healthy(0).await,
        HealthEndpoint::healthy(1).await,
    );
    let sb = Builder::new()
        .standby()
        .backend_at("b0", b0.addr, &h0.url())
        .backend(&b1, &h1)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(10)).await;
    let standby = sb.standby.expect("a standby port");
    let mut on_b0 = Vec::new();
    for _ in 0..ON_B0 {
        on_b0.push(open_session(sb.proxy).await);
    }
    let mut on_b1 = Vec::new();
    for _ in 0..ON_B1 {
        on_b1.push(open_session(standby).await);
    }
    sb.wait_state(Duration::from_secs(3), "every session counted", |s| {
        sessions(s, "b0") == ON_B0 as u64 && sessions(s, "b1") == ON_B1 as u64
    })
    .await;
    assert_eq!(b0.open(), ON_B0 as u64);

    // Every client of b0 waits for its EOF, then closes, as a client does.
    let readers: Vec<_> = on_b0
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let took = try_eof_or_reset(&mut stream, Duration::from_secs(10)).await;
                drop(stream);
                took.map(|_| Instant::now())
            })
        })
        .collect();
    let killed = b0.kill(how).await;
    let mut latencies = Vec::new();
    for reader in readers {
        let eof = reader
            .await
            .expect("reader")
            .expect("a client of the killed backend never saw EOF");
        latencies.push(eof.saturating_duration_since(killed));
    }
    latencies.sort();
    let (median, max) = (
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
    );
    assert!(
        max < Duration::from_secs(1),
        "EOF took up to {max:?} after the kill"
    );

    let state = sb
        .wait_state(Duration::from_secs(3), "b0's sessions closed", |s| {
            sessions(s, "b0") == 0
        })
        .await;
    let zero_after = killed.elapsed();
    // Closed, not severed: b0 is still active (its agent says healthy),
    // and b1's sessions were never touched.
    assert_eq!(state["active"], "b0");
    assert_eq!(sessions(&state, "b1"), ON_B1 as u64);
    assert_eq!(num(&state, "/totals/severed"), 0);
    assert_eq!(num(&state, "/totals/sessions"), ON_B1 as u64);
    assert_eq!(
        num(&state, "/totals/connections/routed"),
        (ON_B0 + ON_B1) as u64
    );
    for stream in &mut on_b1 {
        assert_echo(stream, "a session on the other backend").await;
    }

    // A client arriving now is refused by the dead backend and closed.
    let failed = num(&state, "/totals/connections/connect_failed");
    let closed = expect_closed_at_once(sb.proxy, Duration::from_secs(3)).await;
    sb.wait_state(Duration::from_secs(2), "the failed connect counted", |s| {
        num(s, "/totals/connections/connect_failed") == failed + 1
    })
    .await;
    // Its agent goes down too: the failover takes new clients to b1.
    let down = h0.set(Health::Status503);
    sb.wait_active(Some("b1"), Duration::from_secs(3)).await;
    let failover = down.elapsed();
    let mut fresh = open_session(sb.proxy).await;
    assert_echo(&mut fresh, "a new session after the failover").await;
    let state = sb
        .wait_state(Duration::from_secs(2), "b1 counts its new session", |s| {
            sessions(s, "b1") == ON_B1 as u64 + 1
        })
        .await;
    assert_eq!(sessions(&state, "b0"), 0);
    assert_eq!(num(&state, "/totals/severed"), 0);
    assert_eq!(b1.open(), ON_B1 as u64 + 1);
    println!(
        "FAULT backend killed ({how:?}) under {ON_B0} sessions: EOF median {} ms, max {} ms; count 0 after {} ms; next client closed in {} ms; failover {} ms after its agent went down; {ON_B1} other sessions untouched",
        ms(median),
        ms(max),
        ms(zero_after),
        ms(closed),
        ms(failover)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_session_closes_its_clients_at_once() {
    killed_mid_session(Kill::Fin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_resets_mid_session_closes_its_clients_at_once() {
    killed_mid_session(Kill::Reset).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_never_reads_blocks_only_its_own_clients() {
    let b0 = FaultyBackend::start("b0", Behaviour::NeverRead).await;
    let b1 = Backend::echo("b1").await;
    let (h0, h1) = (
        HealthEndpoint::healthy(0).await,
        HealthEndpoint::healthy(1).await,
    );
    let sb = Builder::new()
        .standby()
        .backend_at("b0", b0.addr, &h0.url())
        .backend(&b1, &h1)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(10)).await;
    let standby = sb.standby.expect("a standby port");
    let mut others = Vec::new();
    for _ in 0..ON_B1 {
        others.push(open_session(standby).await);
    }
    let rss_before = rss_kib(sb.pid());

    // One client pushes 256 MiB at b0, which reads nothing, until it
    // gives up.
    let mut stuck = connect(sb.proxy).await;
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let give_up = Arc::new(tokio::sync::Notify::new());
    let told = give_up.clone();
    let writer = tokio::spawn(async move {
        let chunk = vec![7u8; 64 * 1024];
        for _ in 0..4096 {
            tokio::select! {
                _ = told.notified() => break,
                r = stuck.write_all(&chunk) => {
                    if r.is_err() {
                        break;
                    }
                }
            }
            counter.fetch_add(chunk.len() as u64, SeqCst);
        }
        stuck
    });
    // Stalled: no progress over half a second.
    let started = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    wait_until(
        Duration::from_secs(15),
        "the writer towards b0 blocked",
        || {
            let now = written.load(SeqCst);
            let stalled = now == last.0 && last.1.elapsed() >= Duration::from_millis(500);
            if now != last.0 {
                last = (now, Instant::now());
            }
            async move { stalled }
        },
    )
    .await;
    let in_flight = written.load(SeqCst);
    let blocked_after = started.elapsed();
    assert!(
        in_flight < 256 * 1024 * 1024,
        "the writer was never blocked"
    );
    let rss_growth = rss_kib(sb.pid()).saturating_sub(rss_before);
    assert!(
        rss_growth < 16 * 1024,
        "the proxy buffered for the blocked client: RSS grew {rss_growth} KiB"
    );

    // Nothing else is blocked: the other backend's sessions, the API, and
    // new clients of b0 (accepted, never read).
    let mut worst = Duration::ZERO;
    for stream in &mut others {
        let t = Instant::now();
        assert_echo(stream, "a session on the other backend").await;
        worst = worst.max(t.elapsed());
    }
    assert!(
        worst < Duration::from_millis(500),
        "echo on b1 took {worst:?}"
    );
    let t = Instant::now();
    let _ = sb.state().await;
    let api = t.elapsed();
    assert!(api < Duration::from_secs(1), "the API took {api:?}");
    let second = connect(sb.proxy).await;
    let state = sb
        .wait_state(Duration::from_secs(3), "both clients of b0 counted", |s| {
            sessions(s, "b0") == 2 && sessions(s, "b1") == ON_B1 as u64
        })
        .await;
    assert_eq!(b0.accepted(), 2);
    assert_eq!(state["active"], "b0");

    // The blocked client gives up with a reset: its session ends at once,
    // though its relay is mid-write to b0 (closed, not severed).
    give_up.notify_one();
    let stuck = tokio::time::timeout(Duration::from_secs(5), writer)
        .await
        .expect("the writer gave up")
        .expect("writer task");
    reset_on_close(&stuck);
    drop(stuck);
    let gave_up = Instant::now();
    let state = sb
        .wait_state(Duration::from_secs(3), "the given-up session closed", |s| {
            sessions(s, "b0") == 1
        })
        .await;
    let freed_in = gave_up.elapsed();
    assert_eq!(num(&state, "/totals/severed"), 0);

    // A sever ends the other client of b0.
    let (status, _) = sb
        .patch("/v0/backends/b0?state=disabled&message=never%20reads", None)
        .await;
    assert_eq!(status, 200);
    let severed_at = Instant::now();
    let mut second = second;
    let _ = expect_eof_or_reset(&mut second, Duration::from_secs(3)).await;
    let severed_in = severed_at.elapsed();
    let state = sb
        .wait_state(Duration::from_secs(3), "b0's sessions severed", |s| {
            sessions(s, "b0") == 0
        })
        .await;
    assert_eq!(num(&state, "/totals/severed"), 1);
    assert_eq!(sessions(&state, "b1"), ON_B1 as u64);
    assert_eq!(num(&state, "/totals/sessions"), ON_B1 as u64);
    println!(
        "FAULT backend never reads: writer blocked after {} ms with {} KiB in flight; proxy RSS +{rss_growth} KiB; other echo worst {} ms, API {} ms; the client's reset freed its session in {} ms; sever ended the other in {} ms",
        ms(blocked_after),
        in_flight / 1024,
        ms(worst),
        ms(api),
        ms(freed_in),
        ms(severed_in)
    );
}

/// The black hole: inside a network namespace of the test's own, every
/// packet to `b0`'s port is dropped, so the proxy's connect gets no answer
/// at all (not even a reset).
#[test]
fn a_black_holed_backend_holds_no_client_past_connect_timeout() {
    let test = "a_black_holed_backend_holds_no_client_past_connect_timeout";
    let Some(ns) = NetNs::create_or_skip(test) else {
        return;
    };
    ns.run(|ns| async move { black_hole(ns).await });
}

/// `[proxy] connect_timeout` and the probe timing of the black-hole test.
const CONNECT_TIMEOUT_MS: u64 = 500;
const BH_INTERVAL_MS: u64 = 100;
const BH_TIMEOUT_MS: u64 = 300;
/// Clients sent into the black hole at once.
const INTO_THE_HOLE: usize = 20;

async fn black_hole(ns: &NetNs) {
    let b0 = Backend::echo("b0").await;
    let b1 = Backend::echo("b1").await;
    // Endpoints on this runtime, inside the namespace.
    let h0 = BadHealth::start(Answer::Healthy(0)).await;
    let h1 = BadHealth::start(Answer::Healthy(1)).await;
    let mut builder = Builder::new()
        .interval(BH_INTERVAL_MS, BH_TIMEOUT_MS)
        .backend_at("b0", b0.addr, &h0.url())
        .backend_at("b1", b1.addr, &h1.url());
    builder.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    let sb = builder.start().await;
    sb.wait_active(Some("b0"), Duration::from_secs(10)).await;
    let mut before = open_session(sb.proxy).await;

    // b0's data port vanishes; its agent still answers.
    ns.drop_tcp_port(b0.addr.port());
    let dropped = Instant::now();
    let clients: Vec<_> = (0..INTO_THE_HOLE)
        .map(|_| {
            let proxy = sb.proxy;
            tokio::spawn(async move {
                let started = Instant::now();
                let mut stream = connect(proxy).await;
                let port = stream.local_addr().expect("client address").port();
                let closed = try_eof_or_reset(&mut stream, Duration::from_secs(5)).await;
                (port, closed.map(|_| started.elapsed()))
            })
        })
        .collect();
    let connect_timeout = Duration::from_millis(CONNECT_TIMEOUT_MS);
    let mut held = Vec::new();
    for client in clients {
        let (port, closed) = client.await.expect("client task");
        let closed = closed.unwrap_or_else(|| panic!("client {port} was held over 5 s"));
        held.push(closed);
    }
    held.sort();
    let (shortest, longest) = (held[0], held[held.len() - 1]);
    // Held until the connect timed out (not closed early, as if refused),
    // and not a moment longer than the timeout and some slack.
    assert!(
        shortest >= connect_timeout - Duration::from_millis(20),
        "a client was closed after {shortest:?}, before connect_timeout: the packets were not dropped"
    );
    assert!(
        longest <= connect_timeout + Duration::from_millis(400),
        "a client was held {longest:?}, over connect_timeout ({connect_timeout:?})"
    );
    // No socket of the proxy is left on either side: no connect to b0 in
    // SYN-SENT, no client connection but the session from before.
    let proxy_port = sb.proxy.port();
    wait_until(
        Duration::from_secs(2),
        "the proxy's sockets of the black hole closed",
        || async {
            ns.sockets("syn-sent", &format!("dport = :{}", b0.addr.port()))
                .is_empty()
                && ns
                    .sockets("established", &format!("sport = :{proxy_port}"))
                    .len()
                    == 1
        },
    )
    .await;
    let state = sb
        .wait_state(
            Duration::from_secs(2),
            "every failed connect counted",
            |s| num(s, "/totals/connections/connect_failed") == INTO_THE_HOLE as u64,
        )
        .await;
    // Only the session from before (its packets now dropped too) remains.
    assert_eq!(sessions(&state, "b0"), 1);
    assert_eq!(
        state["active"], "b0",
        "b0's agent still answers: no failover yet"
    );
    let _ = &mut before;

    // Now its agent vanishes too: the probe times out, and b0 fails over.
    ns.drop_tcp_port(h0.addr.port());
    let agent_gone = Instant::now();
    let state = sb
        .wait_active(
            Some("b1"),
            Duration::from_millis(BH_INTERVAL_MS + BH_TIMEOUT_MS + 1500),
        )
        .await;
    let detect = agent_gone.elapsed();
    let reason = backend(&state, "b0")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains(&format!("timeout after {BH_TIMEOUT_MS}ms")),
        "b0 failed for another reason: {reason:?}"
    );
    // The failover severs the old session, and new clients reach b1.
    let severed = expect_eof_or_reset(&mut before, Duration::from_secs(2)).await;
    let mut after = open_session(sb.proxy).await;
    assert_echo(&mut after, "a session after the black hole's failover").await;
    let state = sb
        .wait_state(Duration::from_secs(3), "b0 has no session, b1 one", |s| {
            sessions(s, "b0") == 0 && sessions(s, "b1") == 1
        })
        .await;
    assert_eq!(num(&state, "/totals/severed"), 1);
    println!(
        "FAULT backend black-holed: {INTO_THE_HOLE} clients held {} to {} ms (connect_timeout {CONNECT_TIMEOUT_MS} ms), none after; agent black-holed: failover after {} ms (interval {BH_INTERVAL_MS}, timeout {BH_TIMEOUT_MS}), old session severed {} ms later; black hole set {} ms into the test",
        ms(shortest),
        ms(longest),
        ms(detect),
        ms(severed),
        ms(dropped.elapsed())
    );
}
