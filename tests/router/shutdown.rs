//! Shutdown on SIGTERM/SIGINT, to the letter of docs/operations.md: the API port closes
//! at once; the proxy port keeps accepting and routing for
//! `shutdown_delay`; then it refuses connects; open sessions keep working
//! until `drain_timeout`, then are severed; the process exits 0. A session
//! that ends by itself during the drain lets the process exit early.

use std::time::{Duration, Instant};

use switchboard_harness::*;

const DELAY_MS: u64 = 1000;
const DRAIN_MS: u64 = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_delays_then_drains_then_severs_and_exits_0() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let mut sb = Builder::new()
        .shutdown(DELAY_MS, DRAIN_MS)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let (mut open, _) = greet(sb.proxy).await;

    let t0 = Instant::now();
    sb.signal(libc::SIGTERM);
    let api = sb.api;
    let api_closed = wait_until(Duration::from_millis(500), "API port refuses", || {
        refused(api)
    })
    .await;
    eprintln!(
        "SIGTERM: the API port refused connects after {}",
        ms(api_closed)
    );

    // The proxy port routes until shutdown_delay has passed, then refuses.
    let mut last_routed = Duration::ZERO;
    let mut routed = 0;
    let first_refused = loop {
        let at = t0.elapsed();
        match try_greet(sb.proxy, Duration::from_secs(1)).await {
            Ok((_s, who)) => {
                assert_eq!(who, "b0");
                last_routed = t0.elapsed();
                routed += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break at,
            // A connect that reaches the listening socket's backlog in the
            // instant it closes (after the backlog was served) is reset by
            // the kernel instead of refused: the port is closed either way,
            // but only once shutdown_delay is over.
            Err(e)
                if e.kind() == std::io::ErrorKind::ConnectionReset
                    && at >= Duration::from_millis(DELAY_MS) =>
            {
                break at
            }
            Err(e) => panic!(
                "during shutdown_delay a connect failed with {e} at {}",
                ms(at)
            ),
        }
        assert!(
            t0.elapsed() < Duration::from_millis(DELAY_MS + 2000),
            "the proxy port never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "SIGTERM: {routed} sessions routed during shutdown_delay, the last at {}; connects refused from {}",
        ms(last_routed),
        ms(first_refused)
    );
    assert!(
        last_routed >= Duration::from_millis(DELAY_MS - 100),
        "stopped routing early, at {}",
        ms(last_routed)
    );
    assert!(
        first_refused <= Duration::from_millis(DELAY_MS + 300),
        "refused only from {}",
        ms(first_refused)
    );

    // The open session still works during the drain, then is severed.
    assert_echo(&mut open, "session during drain").await;
    let limit = Duration::from_millis(DELAY_MS + DRAIN_MS + 1000).saturating_sub(t0.elapsed());
    expect_eof_or_reset(&mut open, limit).await;
    let severed_at = t0.elapsed();
    eprintln!(
        "SIGTERM: the open session was severed at {}",
        ms(severed_at)
    );
    assert!(
        severed_at >= Duration::from_millis(DELAY_MS + DRAIN_MS - 100),
        "severed before drain_timeout, at {}",
        ms(severed_at)
    );
    let status = sb.wait_exit(Duration::from_secs(3)).await;
    eprintln!("SIGTERM: exited with {status} at {}", ms(t0.elapsed()));
    assert_eq!(status.code(), Some(0));
    assert!(refused(sb.proxy).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_closing_during_the_drain_lets_the_process_exit_early() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let mut sb = Builder::new()
        .shutdown(0, 30_000)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let (mut open, _) = greet(sb.proxy).await;

    sb.signal(libc::SIGTERM);
    let proxy = sb.proxy;
    wait_until(Duration::from_secs(1), "proxy port refuses", || {
        refused(proxy)
    })
    .await;
    assert_echo(&mut open, "session during drain").await;
    assert!(!sb.exited(), "the process must wait for the open session");
    let closed = Instant::now();
    drop(open);
    let status = sb.wait_exit(Duration::from_secs(5)).await;
    eprintln!(
        "drain: exited {} after the last session closed (drain_timeout 30 s)",
        ms(closed.elapsed())
    );
    assert_eq!(status.code(), Some(0));
    assert!(closed.elapsed() < Duration::from_secs(2));
}

/// How many sessions are open when the last test's SIGTERM severs them.
const SEVERED_AT_EXIT: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_exits_only_after_the_last_severed_session_closed() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let mut sb = Builder::new()
        .shutdown(0, 0)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let mut open = Vec::new();
    for _ in 0..SEVERED_AT_EXIT {
        open.push(greet(sb.proxy).await.0);
    }
    sb.signal(libc::SIGTERM);
    for s in &mut open {
        expect_eof_or_reset(s, Duration::from_secs(3)).await;
    }
    let status = sb.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(0));
    // The last line is written after every session task and every
    // background task ended: the severed sessions had closed both their
    // sockets (their closer jobs done) and were uncounted by then.
    let done = sb.log_lines("shutdown complete");
    assert_eq!(done.len(), 1, "{}", sb.stderr());
    assert!(
        done[0].contains("still_open=0") && done[0].contains(&format!("severed={SEVERED_AT_EXIT}")),
        "{}",
        done[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_is_logged_and_ignored_sessions_keep_flowing() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let mut sb = Builder::new().backend(&b0, &h0).start().await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let (mut open, _) = greet(sb.proxy).await;
    sb.signal(libc::SIGHUP);
    wait_until(Duration::from_secs(2), "the SIGHUP log line", || async {
        !sb.log_lines("SIGHUP received").is_empty()
    })
    .await;
    assert!(!sb.exited(), "SIGHUP must not end the process");
    assert_echo(&mut open, "session after SIGHUP").await;
    assert_eq!(greet(sb.proxy).await.1, "b0");
    sb.signal(libc::SIGTERM);
    assert_eq!(sb.wait_exit(Duration::from_secs(5)).await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_with_nothing_open_exits_0_promptly() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let mut sb = Builder::new()
        .shutdown(0, 5_000)
        .backend(&b0, &h0)
        .start()
        .await;
    let t0 = Instant::now();
    sb.signal(libc::SIGINT);
    let status = sb.wait_exit(Duration::from_secs(3)).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "took {}",
        ms(t0.elapsed())
    );
}

/// Connects racing the end of `shutdown_delay` are either served or
/// refused: a connect the kernel completed just before the port closed is
/// served from the backlog, never reset after it succeeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_racing_the_port_closing_are_served_or_refused_never_reset() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let delay = Duration::from_millis(500);
    let sb = Builder::new()
        .shutdown(500, 5_000)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let t0 = Instant::now();
    sb.signal(libc::SIGTERM);
    tokio::time::sleep_until((t0 + delay - Duration::from_millis(40)).into()).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let proxy = sb.proxy;
            tokio::spawn(async move {
                let (mut served, mut refused_n, mut reset) = (0, 0, Vec::new());
                // Bounded: at most 80 ms past the nominal close, 500 tries.
                for _ in 0..500 {
                    if t0.elapsed() > delay + Duration::from_millis(80) {
                        break;
                    }
                    match tokio::net::TcpStream::connect(proxy).await {
                        // A SYN still mid-handshake when the port closes is
                        // answered with RST: connect() fails, no session was
                        // ever established, exactly as for a refusal.
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::ConnectionRefused
                                    | std::io::ErrorKind::ConnectionReset
                            ) =>
                        {
                            refused_n += 1
                        }
                        Err(e) => reset.push(format!("connect: {e}")),
                        Ok(mut s) => match read_line(&mut s, Duration::from_secs(2)).await {
                            Ok(_) => served += 1,
                            Err(e) => reset.push(format!("{e} at {}", ms(t0.elapsed()))),
                        },
                    }
                }
                (served, refused_n, reset)
            })
        })
        .collect();
    let (mut served, mut refused_n, mut reset) = (0, 0, Vec::new());
    for t in tasks {
        let (s, r, e) = t.await.unwrap();
        served += s;
        refused_n += r;
        reset.extend(e);
    }
    eprintln!(
        "racing the close: {served} served, {refused_n} refused, {} reset",
        reset.len()
    );
    assert!(
        served > 0 && refused_n > 0,
        "the burst did not straddle the close"
    );
    assert!(
        reset.is_empty(),
        "connects accepted by the kernel were reset: {reset:?}"
    );
}
