//! Operator control through the docs/api.md API (`PATCH /v0/cluster`,
//! `PATCH /v0/backends/{name}`), black-box:
//! - routing off severs every session on both ports and closes new ones at
//!   once; routing on (and a repeated "on") severs nothing;
//! - monitoring off stops probing (the health endpoint's counter stands
//!   still) and freezes the active even when it breaks; on again resumes;
//! - `drain` takes a backend out of the election but lets its sessions run
//!   until `drain_timeout`, then severs them; `disabled` severs at once;
//!   `enabled` makes it electable again; an unknown name is 404.

use std::time::{Duration, Instant};

use serde_json::json;

use switchboard_harness::*;

/// b0 (index 0, active) and b1 (index 1, standby), with a standby port.
async fn pair(
    drain_ms: u64,
) -> (
    Switchboard,
    Backend,
    Backend,
    HealthEndpoint,
    HealthEndpoint,
) {
    let (sb, [b0, b1], [h0, h1]) = Greeters::start([0, 1])
        .await
        .switchboard(
            Builder::new()
                .interval(30, 500)
                .standby()
                .shutdown(0, drain_ms),
        )
        .await;
    sb.wait_state(Duration::from_secs(5), "active b0, standby b1", |s| {
        s["active"] == "b0" && s["standby"] == "b1"
    })
    .await;
    (sb, b0, b1, h0, h1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn routing_off_severs_both_ports_and_closes_new_sessions_routing_on_severs_nothing() {
    let (sb, b0, b1, _h0, _h1) = pair(0).await;
    let standby = sb.standby.unwrap();
    let (mut a, _) = greet(sb.proxy).await;
    let (mut s, _) = greet(standby).await;

    let (status, body) = sb
        .patch("/v0/cluster?trafficEnabled=false&message=maintenance", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["trafficEnabled"], false);
    assert_eq!(body["message"], "maintenance");
    expect_eof_or_reset(&mut a, Duration::from_millis(500)).await;
    expect_eof_or_reset(&mut s, Duration::from_millis(500)).await;
    let accepted = (b0.accepted(), b1.accepted());
    for addr in [sb.proxy, standby] {
        let mut c = connect(addr).await;
        let took = expect_eof_or_reset(&mut c, Duration::from_millis(500)).await;
        assert!(took < Duration::from_millis(500));
    }
    assert_eq!(
        (b0.accepted(), b1.accepted()),
        accepted,
        "routing off dialled a backend"
    );
    let state = sb.state().await;
    assert_eq!(state["routing"]["enabled"], false);
    assert_eq!(state["routing"]["message"], "maintenance");

    let (status, _) = sb
        .patch("/v0/cluster?trafficEnabled=true&message=back", None)
        .await;
    assert_eq!(status, 200);
    // The bridge applies the change just after the PATCH answers.
    let (mut a, _) = wait_greeting_from(sb.proxy, "b0", Duration::from_secs(1)).await;
    let (mut s, _) = wait_greeting_from(standby, "b1", Duration::from_secs(1)).await;
    let severed = sb.state().await["totals"]["severed"].clone();
    // "On" again, with a new message: still nothing is severed.
    let (status, _) = sb
        .patch(
            "/v0/cluster",
            Some(json!({"trafficEnabled": true, "message": "still on"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_echo(&mut a, "active session after routing on").await;
    assert_echo(&mut s, "standby session after routing on").await;
    assert_eq!(sb.state().await["totals"]["severed"], severed);
    // Disabling without a message is refused.
    let (status, body) = sb.patch("/v0/cluster?trafficEnabled=false", None).await;
    assert_eq!(status, 400, "{body}");
    assert_echo(&mut a, "active session after a refused PATCH").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn monitoring_off_stops_probes_and_freezes_the_active() {
    let (sb, _b0, _b1, h0, _h1) = pair(0).await;
    let (mut a, _) = greet(sb.proxy).await;
    let (status, body) = sb.patch("/v0/cluster?monitoringEnabled=false", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["monitoringEnabled"], false);
    // A probe may have been in flight: let it land, then count.
    let before = h0.requests();
    h0.set(Health::Status503);
    // Deliberate wait: 10 probe intervals (30 ms) pass with monitoring off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        h0.requests() <= before + 1,
        "probes went on: {} -> {}",
        before,
        h0.requests()
    );
    let state = sb.state().await;
    assert_eq!(state["monitoring"]["enabled"], false);
    assert_eq!(
        state["active"], "b0",
        "the active stays while monitoring is off"
    );
    assert_echo(&mut a, "session while monitoring is off").await;

    let (status, _) = sb.patch("/v0/cluster?monitoringEnabled=true", None).await;
    assert_eq!(status, 200);
    sb.wait_active(Some("b1"), Duration::from_secs(2)).await;
    expect_eof_or_reset(&mut a, Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn drain_lets_sessions_finish_until_drain_timeout_then_severs() {
    let drain = Duration::from_millis(800);
    let (sb, _b0, _b1, _h0, _h1) = pair(drain.as_millis() as u64).await;
    let (mut a, _) = greet(sb.proxy).await;
    let (mut short, _) = greet(sb.proxy).await;

    let t0 = Instant::now();
    let (status, body) = sb
        .patch(
            "/v0/backends/b0",
            Some(json!({"state": "drain", "message": "upgrade"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "b0");
    sb.wait_active(Some("b1"), Duration::from_secs(1)).await;
    // A drained backend gets no new sessions.
    wait_greeting_from(sb.proxy, "b1", Duration::from_secs(1)).await;
    assert_echo(&mut a, "draining session").await;
    assert_echo(&mut short, "draining session").await;
    drop(short); // ends by itself during the drain
    let state = sb.state().await;
    assert_eq!(backend(&state, "b0")["adminState"], "drain");

    expect_eof_or_reset(&mut a, drain + Duration::from_secs(1)).await;
    let took = t0.elapsed();
    eprintln!(
        "drain: the draining session was severed {} after the PATCH (drain_timeout {})",
        ms(took),
        ms(drain)
    );
    assert!(
        took >= drain - Duration::from_millis(50),
        "severed early, at {}",
        ms(took)
    );
    let state = sb
        .wait_state(Duration::from_secs(1), "b0 has no sessions", |s| {
            sessions(s, "b0") == 0
        })
        .await;
    assert_eq!(
        backend(&state, "b0")["sessions"]["severed"],
        1,
        "only the session still open was severed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn disable_severs_at_once_and_enable_makes_the_backend_electable_again() {
    let (sb, _b0, b1, _h0, _h1) = pair(5_000).await;
    let (mut a, _) = greet(sb.proxy).await;
    let (status, _) = sb
        .patch(
            "/v0/backends/b0",
            Some(json!({"state": "disabled", "message": "broken disk"})),
        )
        .await;
    assert_eq!(status, 200);
    expect_eof_or_reset(&mut a, Duration::from_millis(500)).await;
    let state = sb.wait_active(Some("b1"), Duration::from_secs(1)).await;
    assert_eq!(backend(&state, "b0")["adminState"], "disabled");
    let (mut on_b1, _) = wait_greeting_from(sb.proxy, "b1", Duration::from_secs(1)).await;

    let (status, _) = sb
        .patch(
            "/v0/backends/b0",
            Some(json!({"state": "enabled", "message": "fixed"})),
        )
        .await;
    assert_eq!(status, 200);
    sb.wait_active(Some("b0"), Duration::from_secs(1)).await;
    expect_eof_or_reset(&mut on_b1, Duration::from_secs(1)).await;
    assert!(b1.accepted() >= 1);

    let (status, body) = sb
        .patch(
            "/v0/backends/nope",
            Some(json!({"state": "drain", "message": "x"})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}
