//! Routing at steady state (docs/operations.md election, docs/operations.md bridge): the lowest
//! `wsrep_local_index` wins at startup whatever the config order, concurrent
//! clients all reach it, a long-lived session keeps working while probes
//! succeed and other clients come and go, and with no healthy backend a
//! connection is accepted and closed at once until a backend heals. A burst
//! of 1,000 simultaneous connects (every client of a severed backend
//! reconnecting at once) gets in without a single SYN being dropped.

use std::time::Duration;

use switchboard_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_elects_the_lowest_index_and_every_client_reaches_it() {
    // Config order b0, b1, b2; galera indices 2, 0, 1: b1 must win.
    let (sb, [b0, _b1, b2], [_h0, _h1, _h2]) = Greeters::start([2, 0, 1])
        .await
        .switchboard(Builder::new())
        .await;

    let state = sb.wait_active(Some("b1"), Duration::from_secs(5)).await;
    for (name, index) in [("b0", 2), ("b1", 0), ("b2", 1)] {
        assert_eq!(backend(&state, name)["index"], index, "{name}'s index");
        assert_eq!(backend(&state, name)["healthy"], true, "{name} healthy");
    }
    let clients: Vec<_> = (0..3).map(|_| tokio::spawn(greet(sb.proxy))).collect();
    let mut streams = Vec::new();
    for c in clients {
        let (stream, who) = c.await.unwrap();
        assert_eq!(who, "b1", "every client reaches the lowest index");
        streams.push(stream);
    }
    for s in &mut streams {
        assert_echo(s, "concurrent client").await;
    }
    assert_eq!(
        (b0.accepted(), b2.accepted()),
        (0, 0),
        "nobody else got a connection"
    );
    sb.wait_state(Duration::from_secs(2), "3 sessions on b1", |s| {
        sessions(s, "b1") == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_session_outlives_probes_and_client_churn() {
    let (sb, [b0, _b1], [h0, _h1]) = Greeters::start([0, 1])
        .await
        .switchboard(Builder::new().interval(20, 500))
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;

    let (mut long, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0");
    let probes = h0.requests();
    // 100 short clients while the active keeps being probed.
    for i in 0..100 {
        let (mut s, who) = greet(sb.proxy).await;
        assert_eq!(who, "b0", "client {i}");
        assert_echo(&mut s, "short client").await;
        if i % 10 == 0 {
            assert_echo(&mut long, "long-lived session during churn").await;
        }
    }
    // At least 25 more probe rounds pass with the long session open.
    h0.wait_requests(probes, 25, Duration::from_secs(10)).await;
    assert_echo(&mut long, "long-lived session after 25 probe rounds").await;
    let state = sb
        .wait_state(Duration::from_secs(2), "only the long session left", |s| {
            sessions(s, "b0") == 1
        })
        .await;
    assert_eq!(state["active"], "b0");
    assert_eq!(state["totals"]["severed"], 0, "nothing was severed");
    assert_eq!(state["totals"]["failovers"], 0);
    wait_until(
        Duration::from_secs(2),
        "the backend sees exactly the long session",
        || async { b0.open() == 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_healthy_backend_closes_connections_until_one_heals() {
    let (b0, b1) = (Backend::greeting("b0").await, Backend::greeting("b1").await);
    let (h0, h1) = (
        HealthEndpoint::start(Health::Status503).await,
        HealthEndpoint::start(Health::Unhealthy).await,
    );
    let sb = Builder::new()
        .interval(50, 500)
        .backend(&b0, &h0)
        .backend(&b1, &h1)
        .start()
        .await;
    let state = sb
        .wait_state(Duration::from_secs(5), "both probed", |s| {
            s["backends"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["probed"] == true)
        })
        .await;
    assert!(state["active"].is_null(), "no active: {state:#}");

    for _ in 0..5 {
        let mut s = connect(sb.proxy).await;
        let took = expect_eof_or_reset(&mut s, Duration::from_millis(500)).await;
        assert!(
            took < Duration::from_millis(500),
            "EOF came after {}",
            ms(took)
        );
    }
    assert_eq!(
        (b0.accepted(), b1.accepted()),
        (0, 0),
        "no backend was dialled"
    );

    h1.set(Health::Healthy(1));
    let (_s, took) = wait_greeting_from(sb.proxy, "b1", Duration::from_secs(2)).await;
    eprintln!(
        "recovery: a session reached b1 {} after it healed",
        ms(took)
    );
    let state = sb.state().await;
    assert_eq!(state["active"], "b1");
    assert!(
        state["totals"]["connections"]["no_backend"]
            .as_u64()
            .unwrap()
            >= 5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_1000_connects_gets_in_without_a_syn_retransmit() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let sb = Builder::new()
        .interval(500, 2000)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (gate, proxy) = (gate.clone(), sb.proxy);
            tokio::spawn(async move {
                gate.wait().await;
                let started = std::time::Instant::now();
                let mut s = connect(proxy).await;
                let took = started.elapsed();
                let line = read_line(&mut s, Duration::from_secs(10))
                    .await
                    .expect("greeting");
                assert_eq!(line, "hello from b0");
                (took, s)
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    let mut streams = Vec::new();
    for t in tasks {
        let (took, s) = t.await.unwrap();
        worst = worst.max(took);
        streams.push(s);
    }
    eprintln!("1000 simultaneous connects: the slowest took {}", ms(worst));
    // A dropped SYN is retransmitted after 1 s.
    assert!(
        worst < Duration::from_millis(900),
        "a connect took {}: SYNs were dropped",
        ms(worst)
    );
    sb.wait_state(Duration::from_secs(5), "1000 sessions", |s| {
        sessions(s, "b0") == 1000
    })
    .await;
}
