//! Read latency under load (docs/performance.md: `GET /v0/state` under 2,000 req/s
//! while proxying, p99 ≤ 5 ms), measured, not asserted: ignored by default.
//!
//! Run: `cargo test --release --test api_latency -- --ignored --nocapture`
//!
//! Open loop: requests are started on a fixed schedule (2,000/s for 5 s per
//! endpoint, 10,000 requests, bounded) whatever the answers do. Latency is
//! reported from the send, and its p99 also from the scheduled start (which
//! adds the client timer's lateness, about 1 ms, but hides no stall). Meanwhile 16 proxied sessions run 64-byte
//! request/response loops through the router.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RATE: u64 = 2_000;
const SECONDS: u64 = 5;

/// Latency percentiles in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Drives `url` at RATE for SECONDS; returns sorted latencies measured
/// from the send and from the scheduled start (timer lateness included),
/// and the number of errors.
async fn drive_url(
    client: &reqwest::Client,
    url: &str,
    password: &str,
) -> (Vec<Duration>, Vec<Duration>, u64) {
    let total = RATE * SECONDS;
    let period = Duration::from_nanos(1_000_000_000 / RATE);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + period * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let rb = client.get(url).basic_auth(USER, Some(password));
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = match rb.send().await {
                Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                _ => false,
            };
            (sent.elapsed(), scheduled.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut from_schedule = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        let (d, s, ok) = tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("request stuck")
            .unwrap();
        if ok {
            latencies.push(d);
            from_schedule.push(s);
        } else {
            errors += 1;
        }
    }
    latencies.sort();
    from_schedule.sort();
    (latencies, from_schedule, errors)
}

/// 16 sessions doing 64-byte request/response until `stop`, each at most
/// `per_session` round trips per second (0: as fast as they can); counts
/// round trips.
fn proxy_load(
    proxy: std::net::SocketAddr,
    per_session: u64,
    stop: Arc<AtomicBool>,
    trips: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..16)
        .map(|_| {
            let (stop, trips) = (stop.clone(), trips.clone());
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(proxy).await.unwrap();
                s.set_nodelay(true).unwrap();
                let msg = [7u8; 64];
                let mut buf = [0u8; 64];
                let mut tick = (per_session > 0).then(|| {
                    let mut t =
                        tokio::time::interval(Duration::from_nanos(1_000_000_000 / per_session));
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    t
                });
                while !stop.load(Ordering::Relaxed) {
                    if let Some(t) = tick.as_mut() {
                        t.tick().await;
                    }
                    if s.write_all(&msg).await.is_err() || s.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    trips.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release --ignored --nocapture"]
async fn read_latency_while_proxying() {
    let fleet = Fleet::start(3).await;
    let sb = fleet
        .switchboard(Builder {
            interval_ms: 1000,
            timeout_ms: 500,
            ..Builder::new()
        })
        .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let _ = drive_short(&sb, &client).await;
    println!("\nread latency, open loop at {RATE} req/s for {SECONDS} s per endpoint (from the send; sched = from the scheduled start):");
    println!(
        "{:<22} {:<18} {:>7} {:>7} {:>7} {:>7} {:>13} {:>8} {:>6}",
        "proxy load",
        "endpoint",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "sched p99 ms",
        "trips/s",
        "errors"
    );
    for (label, per_session) in [
        ("none", None),
        ("16 x 250 trips/s", Some(250)),
        ("16 sessions flat out", Some(0)),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let trips = Arc::new(AtomicU64::new(0));
        let load = match per_session {
            Some(rate) => proxy_load(sb.ports.proxy, rate, stop.clone(), trips.clone()),
            None => Vec::new(),
        };
        let want = load.len();
        wait_until(Duration::from_secs(5), "sessions proxied", || async {
            sb.json("/v0/backends").await[0]["currentSessionCount"] == want
        })
        .await;
        // Let the load reach its steady state (one second) before measuring.
        let warm = Instant::now();
        while warm.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for path in [
            "/v0/state",
            "/publish/CrStates",
            "/v0/backends",
            "/v0/state",
        ] {
            let before = trips.load(Ordering::Relaxed);
            let t0 = Instant::now();
            let (lat, sched, errors) = drive_on_own_thread(&sb, path).await;
            let rate = (trips.load(Ordering::Relaxed) - before) as f64 / t0.elapsed().as_secs_f64();
            println!(
                "{:<22} {:<18} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>13.3} {:>8.0} {:>6}",
                label,
                path,
                percentile(&lat, 0.50),
                percentile(&lat, 0.90),
                percentile(&lat, 0.99),
                percentile(&lat, 1.0),
                percentile(&sched, 0.99),
                rate,
                errors
            );
            assert_eq!(errors, 0);
        }
        stop.store(true, Ordering::Relaxed);
        for t in load {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// Runs [`drive`] on a thread of its own with its own runtime, so that the
/// measuring client never waits behind the proxy load's tasks.
async fn drive_on_own_thread(sb: &Switchboard, path: &str) -> (Vec<Duration>, Vec<Duration>, u64) {
    let url = sb.api_url(path);
    let password = sb.password.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            for _ in 0..200 {
                let _ = client
                    .get(&url)
                    .basic_auth(USER, Some(&password))
                    .send()
                    .await;
            }
            drive_url(&client, &url, &password).await
        });
        let _ = tx.send(result);
    });
    tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("driver stuck")
        .unwrap()
}

/// A short warm-up burst.
async fn drive_short(sb: &Switchboard, client: &reqwest::Client) -> usize {
    let mut n = 0;
    for _ in 0..200 {
        if client
            .get(sb.api_url("/v0/state"))
            .basic_auth(USER, Some(&sb.password))
            .send()
            .await
            .is_ok()
        {
            n += 1;
        }
    }
    n
}
