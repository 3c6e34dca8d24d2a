//! A reload under load: sessions open on every backend, each writing and
//! reading back a steady stream, while a SIGHUP removes one backend, adds
//! another and changes the interval. Every byte of every session the change
//! does not concern comes back intact and in order; exactly the removed
//! backend's sessions are severed; nothing else moves.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use switchboard_harness::*;

/// Sessions per backend.
const PER_BACKEND: usize = 10;

/// How a session's workload ended.
#[derive(Debug)]
enum Ended {
    /// Stopped by the test, every byte echoed exactly: the byte count.
    Intact(u64),
    /// The proxy closed it after this many bytes.
    Closed(u64),
}

/// Writes 4 KiB chunks of a seeded sequence every 5 ms and reads each back
/// before the next, comparing byte for byte, until `stop` (or EOF). At most
/// 60 s of it, whatever happens.
async fn workload(mut s: TcpStream, seed: u64, mut stop: watch::Receiver<bool>) -> Ended {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut sent = 0u64;
    let mut back = vec![0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let chunk: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if s.write_all(&chunk).await.is_err() {
            return Ended::Closed(sent);
        }
        match tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back)).await {
            Ok(Ok(_)) => assert_eq!(back, chunk, "session {seed}: bytes differ after {sent}"),
            _ => return Ended::Closed(sent),
        }
        sent += chunk.len() as u64;
        tokio::select! {
            _ = stop.changed() => return Ended::Intact(sent),
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
    panic!("session {seed}: the workload was never stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_severs_only_the_removed_backends_sessions() {
    // Indices: b3 (added later) ranks between b1 and b2, so adding it
    // moves neither the active (b1, once b0 drains) nor the standby (b2).
    let g = Greeters::start([0, 1, 5, 3]).await;
    let mut first = Builder::new()
        .interval(30, 500)
        .standby()
        .shutdown(0, 60_000);
    for i in 0..3 {
        first = first.backend(&g.backends[i], &g.health[i]);
    }
    let sb = first.start().await;
    let standby = sb.standby.expect("standby port");
    sb.wait_state(Duration::from_secs(5), "active b0, standby b2", |s| {
        s["active"] == "b0" && s["standby"] == "b2"
    })
    .await;
    let (stop, stopped) = watch::channel(false);
    let mut runs = Vec::new();
    let open = |addr, expect: &'static str, seed: u64| {
        let stopped = stopped.clone();
        async move {
            let (s, who) = greet(addr).await;
            assert_eq!(who, expect);
            (expect, tokio::spawn(workload(s, seed, stopped)))
        }
    };
    for i in 0..PER_BACKEND as u64 {
        runs.push(open(sb.proxy, "b0", i).await);
    }
    // b0 drains (its sessions stay, drain_timeout is a minute): the active
    // moves to b1.
    let (status, body) = sb
        .patch(
            "/v0/backends/b0",
            Some(serde_json::json!({"state": "drain"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    sb.wait_active(Some("b1"), Duration::from_secs(5)).await;
    for i in 0..PER_BACKEND as u64 {
        runs.push(open(sb.proxy, "b1", 100 + i).await);
        runs.push(open(standby, "b2", 200 + i).await);
    }
    sb.wait_state(Duration::from_secs(5), "sessions on every backend", |s| {
        ["b0", "b1", "b2"]
            .iter()
            .all(|b| sessions(s, b) == PER_BACKEND as u64)
    })
    .await;

    // b0 leaves, b3 joins, the interval changes; every session keeps writing.
    let mut second = Builder::new()
        .interval(50, 500)
        .standby()
        .shutdown(0, 60_000);
    for i in 1..4 {
        second = second.backend(&g.backends[i], &g.health[i]);
    }
    sb.write_config(&second, &sb.ports);
    let sent = Instant::now();
    sb.signal(libc::SIGHUP);
    let state = sb
        .wait_state(Duration::from_secs(5), "b0 out, b3 in", |s| {
            s["config"]["reloads"] == 1
                && s["backends"].as_array().is_some_and(|b| {
                    b.iter().map(|b| b["name"].as_str()).collect::<Vec<_>>()
                        == [Some("b1"), Some("b2"), Some("b3")]
                })
        })
        .await;
    let in_effect = sent.elapsed();
    assert_eq!(state["active"], "b1");
    sb.wait_state(Duration::from_secs(5), "b3 probed", |s| {
        backend(s, "b3")["healthy"] == true
    })
    .await;
    // Let the workload run on past the reload, then stop it.
    let more = Instant::now();
    wait_until(
        Duration::from_secs(5),
        "half a second of traffic",
        || async { more.elapsed() > Duration::from_millis(500) },
    )
    .await;
    stop.send(true).expect("the workloads listen");

    let (mut intact, mut closed, mut bytes) = (0, 0, 0u64);
    for (backend, run) in runs {
        match run.await.expect("workload task") {
            Ended::Intact(n) => {
                assert_ne!(backend, "b0", "a session of the removed backend survived");
                intact += 1;
                bytes += n;
            }
            Ended::Closed(n) => {
                assert_eq!(
                    backend, "b0",
                    "a session of {backend} was closed after {n} bytes"
                );
                closed += 1;
            }
        }
    }
    let state = sb.state().await;
    assert_eq!((intact, closed), (2 * PER_BACKEND, PER_BACKEND));
    assert_eq!(state["totals"]["severed"], PER_BACKEND as u64, "{state}");
    assert_eq!(state["active"], "b1");
    assert_eq!(state["standby"], "b2");
    assert_eq!(
        state["totals"]["failovers"], 1,
        "only b0's drain moved the active"
    );
    println!(
        "reload under load: SIGHUP to the new backend list {in_effect:?}; \
         {intact} sessions intact ({bytes} bytes echoed and compared), {closed} severed"
    );
}
