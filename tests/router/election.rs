//! The election (docs/operations.md): equal `wsrep_local_index` values never flap (the
//! Go switchboard's random tie-break did), `failback = true` returns the
//! active to the lower index and severs the sessions on the higher one, and
//! `failback = false` keeps the current active while it stays healthy.

use std::time::Duration;

use switchboard_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_indices_never_flap_over_50_probe_rounds() {
    let (sb, [_b0, _b1], [h0, h1]) = Greeters::start([0, 0])
        .await
        .switchboard(Builder::new().interval(20, 500))
        .await;
    let state = sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    assert_eq!(
        backend(&state, "b0")["index"],
        backend(&state, "b1")["index"]
    );
    let (mut s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0", "the tie goes to config order");
    let active_lines = sb.log_lines("active_changed").len();
    let (p0, p1) = (h0.requests(), h1.requests());

    // 50 probe rounds of both backends, watching the active all along.
    let polls = std::cell::Cell::new(0u32);
    wait_until(
        Duration::from_secs(20),
        "50 probe rounds of both backends",
        || async {
            polls.set(polls.get() + 1);
            assert_eq!(
                sb.active().await.as_deref(),
                Some("b0"),
                "the active flapped"
            );
            h0.requests() >= p0 + 50 && h1.requests() >= p1 + 50
        },
    )
    .await;
    eprintln!(
        "equal indices: {} + {} probes, {} state polls, active stayed b0",
        h0.requests() - p0,
        h1.requests() - p1,
        polls.get()
    );
    let state = sb.state().await;
    assert_eq!(state["active"], "b0");
    assert_eq!(state["totals"]["failovers"], 0);
    assert_eq!(state["totals"]["severed"], 0);
    assert_eq!(
        sb.log_lines("active_changed").len(),
        active_lines,
        "an active change was logged"
    );
    assert_echo(&mut s, "session through 50 rounds").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_elects_the_lowest_index_even_when_a_higher_one_answers_first() {
    // b0's first answer is slow, b1's instant; sticky mode must not keep b1.
    let greeters = Greeters::start([0, 1]).await;
    greeters.health[0].script(&[Health::Delayed(0, 100)], Health::Healthy(0));
    let (sb, [_b0, _b1], [_h0, _h1]) = greeters
        .switchboard(Builder::new().interval(50, 300).failback(false))
        .await;
    let state = sb.wait_active(Some("b0"), Duration::from_secs(2)).await;
    assert_eq!(
        state["totals"]["failovers"], 0,
        "the startup election is not a failover"
    );
    assert_eq!(
        sb.log_lines("active_changed").len(),
        1,
        "one startup election: {:?}",
        sb.log_lines("active_changed")
    );
    let (_s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_configured_off_still_elects_at_startup_then_freezes() {
    let (b0, b1) = (Backend::greeting("b0").await, Backend::greeting("b1").await);
    let (h0, h1) = (
        HealthEndpoint::healthy(0).await,
        HealthEndpoint::healthy(1).await,
    );
    let sb = Builder {
        monitoring: false,
        ..Builder::new()
    }
    .interval(50, 300)
    .backend(&b0, &h0)
    .backend(&b1, &h1)
    .start()
    .await;
    let state = sb.state().await;
    assert_eq!(state["active"], "b0", "the startup round elects: {state}");
    assert_eq!(state["monitoring"]["enabled"], false, "{state}");
    let (_s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0");
    // Frozen: b0 breaks, no probe sees it, the active stays.
    let probes = h0.requests();
    h0.set(Health::Status503);
    // Deliberately let 10 probe intervals pass: with monitoring on, b0
    // would have been probed and failed over within the first one.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h0.requests(), probes, "no probe after the startup round");
    let (_s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0", "the active stays frozen");
}

/// b0 (index 0) fails, b1 (index 1) takes over with a session on it, then
/// b0 heals. Returns what is needed to check the aftermath.
async fn fail_and_heal_b0(
    failback: bool,
) -> (
    Switchboard,
    Backend,
    Backend,
    HealthEndpoint,
    HealthEndpoint,
    tokio::net::TcpStream,
) {
    let (sb, [b0, b1], [h0, h1]) = Greeters::start([0, 1])
        .await
        .switchboard(Builder::new().interval(30, 500).failback(failback))
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    h0.set(Health::Status503);
    sb.wait_active(Some("b1"), Duration::from_secs(2)).await;
    let (on_b1, _) = wait_greeting_from(sb.proxy, "b1", Duration::from_secs(1)).await;
    sb.wait_state(Duration::from_secs(2), "1 session on b1", |s| {
        sessions(s, "b1") == 1
    })
    .await;
    h0.set(Health::Healthy(0));
    sb.wait_state(Duration::from_secs(2), "b0 healthy", |s| {
        backend(s, "b0")["healthy"] == true
    })
    .await;
    (sb, b0, b1, h0, h1, on_b1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failback_returns_to_the_lower_index_and_severs_the_higher() {
    let (sb, _b0, b1, _h0, _h1, mut on_b1) = fail_and_heal_b0(true).await;
    sb.wait_active(Some("b0"), Duration::from_secs(1)).await;
    expect_eof_or_reset(&mut on_b1, Duration::from_secs(1)).await;
    let (_s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0", "new sessions go back to b0");
    let state = sb
        .wait_state(Duration::from_secs(2), "b1's session uncounted", |s| {
            sessions(s, "b1") == 0
        })
        .await;
    assert_eq!(backend(&state, "b1")["sessions"]["severed"], 1);
    assert_eq!(state["totals"]["failovers"], 2);
    wait_until(Duration::from_secs(2), "b1 sees no connection", || async {
        b1.open() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_failback_the_active_stays_while_healthy() {
    let (sb, b0, b1, h0, h1, mut on_b1) = fail_and_heal_b0(false).await;
    // Give failback every chance: 20 healthy probe rounds of b0.
    let since = h0.requests();
    wait_until(
        Duration::from_secs(10),
        "20 healthy probes of b0",
        || async {
            assert_eq!(
                sb.active().await.as_deref(),
                Some("b1"),
                "sticky mode failed back"
            );
            h0.requests() >= since + 20
        },
    )
    .await;
    assert_echo(&mut on_b1, "session on the sticky active").await;
    let (_s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b1", "new sessions stay on b1");
    assert_eq!(b0.accepted(), 0, "nothing reached b0 since the start");
    let state = sb.state().await;
    assert_eq!(state["totals"]["failovers"], 1);
    assert_eq!(backend(&state, "b1")["sessions"]["severed"], 0);

    // Only when b1 fails does the active move back.
    h1.set(Health::Status503);
    sb.wait_active(Some("b0"), Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut on_b1, Duration::from_secs(1)).await;
    assert!(b1.accepted() >= 2);
}
