//! The data path (docs/operations.md): half-close is honoured (a client that shuts down
//! its write side still receives the backend's whole reply, which the
//! backend only sends after that EOF), 1 GiB of random bytes crosses the
//! proxy both ways byte-exact, and 200 concurrent sessions each move 1 MiB
//! byte-exact, with the proxy's byte counters matching to the byte. A
//! backend that closes its end ends the session (closed, not severed).
//!
//! Byte-exactness is checked by SHA-256 of what was sent and what came back;
//! streams are generated on the fly, nothing holds more than a chunk.

use std::time::Duration;

use switchboard_harness::data::echo_transfer;
use switchboard_harness::*;

const MIB: u64 = 1 << 20;

async fn one_backend(b0: &Backend) -> (HealthEndpoint, Switchboard) {
    let h0 = HealthEndpoint::healthy(0).await;
    // Monitoring is not under test here: a generous timeout keeps a busy
    // debug build from failing a probe in the middle of a transfer.
    let sb = Builder::new()
        .interval(500, 2000)
        .backend(b0, &h0)
        .start()
        .await;
    sb.wait_active(Some(&b0.name), Duration::from_secs(5)).await;
    (h0, sb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_client_still_reads_the_whole_reply() {
    // The backend answers only after it has seen the client's EOF.
    let b0 = Backend::deferred("b0").await;
    let (_h0, sb) = one_backend(&b0).await;
    for (seed, len) in [(1, 1), (2, 1000), (3, 4 * MIB)] {
        let t = echo_transfer(connect(sb.proxy).await, seed, len, Duration::from_secs(60)).await;
        t.assert_exact(&format!("half-closed session of {len} bytes"));
    }
    // An empty request: EOF straight away, and an empty reply then EOF.
    let t = echo_transfer(connect(sb.proxy).await, 4, 0, Duration::from_secs(10)).await;
    t.assert_exact("empty half-closed session");
    sb.wait_state(Duration::from_secs(2), "sessions closed", |s| {
        sessions(s, "b0") == 0
    })
    .await;
    wait_until(Duration::from_secs(2), "backend closed too", || async {
        b0.open() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_crosses_the_proxy_both_ways_byte_exact() {
    let b0 = Backend::echo("b0").await;
    let (_h0, sb) = one_backend(&b0).await;
    let len = 1024 * MIB;
    let t = echo_transfer(
        connect(sb.proxy).await,
        0x1_6b,
        len,
        Duration::from_secs(300),
    )
    .await;
    t.assert_exact("1 GiB echo");
    let secs = t.elapsed.as_secs_f64();
    eprintln!(
        "1 GiB up and 1 GiB down through the proxy in {secs:.2} s: {:.0} MiB/s each way (debug build)",
        1024.0 / secs
    );
    let state = sb
        .wait_state(Duration::from_secs(2), "session closed", |s| {
            sessions(s, "b0") == 0
        })
        .await;
    assert_eq!(
        state["totals"]["bytesUp"], len,
        "proxy counted every byte up"
    );
    assert_eq!(
        state["totals"]["bytesDown"], len,
        "proxy counted every byte down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sessions_each_move_one_mib_exactly() {
    let b0 = Backend::echo("b0").await;
    let (_h0, sb) = one_backend(&b0).await;
    // All 200 sessions are open at once before any byte moves.
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(201));
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let (proxy, gate) = (sb.proxy, gate.clone());
        tasks.push(tokio::spawn(async move {
            let stream = connect(proxy).await;
            gate.wait().await;
            echo_transfer(stream, 1000 + i, MIB, Duration::from_secs(120)).await
        }));
    }
    sb.wait_state(Duration::from_secs(10), "200 sessions open at once", |s| {
        sessions(s, "b0") == 200
    })
    .await;
    assert_eq!(b0.open(), 200, "the backend sees the 200 sessions too");
    gate.wait().await;
    for (i, task) in tasks.into_iter().enumerate() {
        task.await.unwrap().assert_exact(&format!("session {i}"));
    }
    let state = sb
        .wait_state(Duration::from_secs(5), "every session closed", |s| {
            sessions(s, "b0") == 0
        })
        .await;
    assert_eq!(state["totals"]["bytesUp"], 200 * MIB);
    assert_eq!(state["totals"]["bytesDown"], 200 * MIB);
    assert_eq!(state["totals"]["connections"]["routed"], 200);
    assert_eq!(b0.accepted(), 200);
    wait_until(Duration::from_secs(2), "backend closed all", || async {
        b0.open() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_closing_ends_the_session_as_closed_not_severed() {
    let b0 = Backend::greeting("b0").await;
    let (_h0, sb) = one_backend(&b0).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(greet(sb.proxy).await.0);
    }
    sb.wait_state(Duration::from_secs(2), "5 sessions", |s| {
        sessions(s, "b0") == 5
    })
    .await;
    b0.kill_connections();
    for c in &mut clients {
        expect_eof_or_reset(c, Duration::from_secs(1)).await;
    }
    // The clients close on EOF, as real ones do (until then the proxy keeps
    // their direction open: the backend may only have half-closed).
    drop(clients);
    let state = sb
        .wait_state(Duration::from_secs(2), "sessions gone", |s| {
            sessions(s, "b0") == 0
        })
        .await;
    assert_eq!(
        state["totals"]["severed"], 0,
        "the backend closed them; nothing was severed"
    );
    assert_eq!(b0.open(), 0);
}
