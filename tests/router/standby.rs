//! The standby port (docs/configuration.md `standby_listen`, docs/operations.md): it routes to the
//! highest-index healthy backend, and each port is severed on its own: a
//! failover of the active port never touches standby sessions unless the
//! standby target changed too, and vice versa. Session counts are kept per
//! port (`sessions.active` / `sessions.standby` in `/v0/state`).

use std::time::Duration;

use switchboard_harness::*;

async fn greet_on(addr: std::net::SocketAddr, expect: &str) -> tokio::net::TcpStream {
    let (s, who) = greet(addr).await;
    assert_eq!(who, expect, "session through {addr}");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_port_is_severed_only_when_its_own_target_moves() {
    let (sb, [_b0, _b1, _b2], [h0, h1, h2]) = Greeters::start([0, 1, 2])
        .await
        .switchboard(Builder::new().interval(30, 500).standby())
        .await;
    let standby = sb.standby.expect("standby port");
    let state = sb
        .wait_state(Duration::from_secs(5), "active b0, standby b2", |s| {
            s["active"] == "b0" && s["standby"] == "b2"
        })
        .await;
    assert_eq!(backend(&state, "b2")["role"], "standby");
    let mut a = greet_on(sb.proxy, "b0").await;
    let mut s = greet_on(standby, "b2").await;
    let state = sb
        .wait_state(Duration::from_secs(2), "per-port counts", |st| {
            backend(st, "b0")["sessions"]["active"] == 1
                && backend(st, "b2")["sessions"]["standby"] == 1
        })
        .await;
    assert_eq!(backend(&state, "b0")["sessions"]["standby"], 0);
    assert_eq!(backend(&state, "b2")["sessions"]["active"], 0);

    // The middle backend fails: neither target moves, nothing is severed.
    h1.set(Health::Status503);
    sb.wait_state(Duration::from_secs(2), "b1 down", |st| {
        backend(st, "b1")["healthy"] == false
    })
    .await;
    assert_echo(&mut a, "active session when b1 failed").await;
    assert_echo(&mut s, "standby session when b1 failed").await;
    h1.set(Health::Healthy(1));
    sb.wait_state(Duration::from_secs(2), "b1 up", |st| {
        backend(st, "b1")["healthy"] == true
    })
    .await;

    // The active fails: the active port moves to b1, the standby stays on b2.
    h0.set(Health::Status503);
    sb.wait_active(Some("b1"), Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut a, Duration::from_secs(1)).await;
    assert_echo(&mut s, "standby session across an active failover").await;
    let mut a1 = greet_on(sb.proxy, "b1").await;

    // It heals: failback severs b1's active-port session, not the standby.
    h0.set(Health::Healthy(0));
    sb.wait_active(Some("b0"), Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut a1, Duration::from_secs(1)).await;
    assert_echo(&mut s, "standby session across a failback").await;
    let mut a = greet_on(sb.proxy, "b0").await;

    // The standby fails: the standby port moves to b1, the active stays.
    h2.set(Health::Status503);
    sb.wait_state(Duration::from_secs(2), "standby b1", |st| {
        st["standby"] == "b1"
    })
    .await;
    expect_eof_or_reset(&mut s, Duration::from_secs(1)).await;
    assert_echo(&mut a, "active session across a standby failover").await;
    let _s1 = greet_on(standby, "b1").await;
    let state = sb
        .wait_state(
            Duration::from_secs(2),
            "b2's severed session counted",
            |st| {
                backend(st, "b2")["sessions"]["severed"] == 1
                    && backend(st, "b2")["sessions"]["total"] == 0
            },
        )
        .await;
    assert_eq!(state["active"], "b0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_becomes_active_keeps_its_standby_sessions() {
    let (sb, [_b0, _b1], [h0, _h1]) = Greeters::start([0, 1])
        .await
        .switchboard(Builder::new().interval(30, 500).standby())
        .await;
    let standby = sb.standby.unwrap();
    sb.wait_state(Duration::from_secs(5), "active b0, standby b1", |s| {
        s["active"] == "b0" && s["standby"] == "b1"
    })
    .await;
    let mut a = greet_on(sb.proxy, "b0").await;
    let mut s = greet_on(standby, "b1").await;

    // b0 fails: b1 is now the target of both ports. Only b0's session goes.
    h0.set(Health::Status503);
    sb.wait_active(Some("b1"), Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut a, Duration::from_secs(1)).await;
    assert_echo(&mut s, "standby session on the new active").await;
    let mut a1 = greet_on(sb.proxy, "b1").await;
    let state = sb
        .wait_state(Duration::from_secs(2), "b1 on both ports", |st| {
            backend(st, "b1")["sessions"]["active"] == 1
                && backend(st, "b1")["sessions"]["standby"] == 1
        })
        .await;
    assert_eq!(state["standby"], "b1");

    // b0 heals: the active port fails back and severs b1's active-port
    // session; the standby moves to... b1 still (highest index): untouched.
    h0.set(Health::Healthy(0));
    sb.wait_active(Some("b0"), Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut a1, Duration::from_secs(1)).await;
    assert_echo(&mut s, "standby session across the failback").await;
    assert_eq!(sb.state().await["standby"], "b1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_healthy_backend_both_ports_close_at_once() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::start(Health::Status503).await;
    let sb = Builder::new()
        .interval(30, 500)
        .standby()
        .backend(&b0, &h0)
        .start()
        .await;
    let state = sb
        .wait_state(Duration::from_secs(5), "b0 probed", |s| {
            backend(s, "b0")["probed"] == true
        })
        .await;
    assert!(state["standby"].is_null() && state["active"].is_null());
    for addr in [sb.proxy, sb.standby.unwrap()] {
        let mut c = connect(addr).await;
        expect_eof_or_reset(&mut c, Duration::from_millis(500)).await;
    }
    assert_eq!(b0.accepted(), 0);
}
