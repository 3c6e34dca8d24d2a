//! Probe verdicts and `rise`/`fall` hysteresis (docs/operations.md).
//!
//! With rise = 3 and fall = 2, after the first verdict exactly 2 consecutive
//! bad probes take a backend down and exactly 3 consecutive good ones bring
//! it back; an opposite result in between resets the count. Exactness is
//! read from the backend's probe history in `/v0/state`: the health edge is
//! stamped with the time of the probe that caused it (`healthChangedAt`),
//! so the probes before that entry show how many it took. The health
//! endpoint's own answer log confirms the sequence it served.
//! Every kind of bad answer (503, hang, `healthy:false`, garbage, a body
//! over 64 KiB with or without Content-Length, refused) is a bad verdict
//! with a reason that says why.

use std::time::Duration;

use serde_json::Value;

use switchboard_harness::*;

/// The probe history of `name` and the index of the probe that caused its
/// last health edge.
fn edge(state: &Value, name: &str) -> (Vec<bool>, usize) {
    let b = backend(state, name);
    let history = b["history"].as_array().expect("history");
    let oks: Vec<bool> = history.iter().map(|c| c["ok"].as_bool().unwrap()).collect();
    let at = &b["healthChangedAt"];
    let k = history
        .iter()
        .position(|c| &c["at"] == at)
        .unwrap_or_else(|| panic!("the edge at {at} is no longer in {name}'s history: {b:#}"));
    (oks, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rise_and_fall_count_exactly() {
    let (sb, [_b0, _b1], [h0, _h1]) = Greeters::start([0, 1])
        .await
        .switchboard(Builder::new().interval(40, 200).rise_fall(3, 2))
        .await;
    let state = sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let first_edge = backend(&state, "b0")["healthChangedAt"].clone();
    let first_severed = state["totals"]["severed"].clone();

    // Lone bad probes between good ones never reach fall = 2.
    let bad = Health::Status503;
    let good = Health::Healthy(0);
    let since = h0.script(&[bad, good, bad, good, bad], good);
    wait_until(
        Duration::from_secs(5),
        "the script and 3 more probes",
        || async {
            assert_eq!(
                sb.active().await.as_deref(),
                Some("b0"),
                "a lone bad probe moved the active"
            );
            h0.requests() >= since + 8
        },
    )
    .await;
    let state = sb.state().await;
    assert_eq!(
        backend(&state, "b0")["healthy"],
        true,
        "lone bad probes took b0 down"
    );
    assert_eq!(
        backend(&state, "b0")["healthChangedAt"],
        first_edge,
        "no health edge"
    );
    let served: Vec<Health> = h0
        .log()
        .iter()
        .skip(since as usize)
        .take(5)
        .map(|(_, h)| *h)
        .collect();
    assert_eq!(
        served,
        [bad, good, bad, good, bad],
        "the endpoint served the script in order"
    );

    // fall = 2: the edge is the second consecutive bad probe.
    h0.set(bad);
    let state = sb
        .wait_state(Duration::from_secs(5), "b0 unhealthy", |s| {
            backend(s, "b0")["healthy"] == false
        })
        .await;
    let (oks, k) = edge(&state, "b0");
    assert!(k >= 2, "history too short: {oks:?}");
    assert_eq!(
        &oks[k - 2..=k],
        &[true, false, false],
        "down after exactly 2 bad probes: {oks:?} (edge at {k})"
    );
    sb.wait_active(Some("b1"), Duration::from_secs(1)).await;

    // Two good probes and a bad one: rise = 3 is not reached.
    let edge_down = backend(&state, "b0")["healthChangedAt"].clone();
    let since = h0.script(&[good, good], bad);
    h0.wait_requests(since, 5, Duration::from_secs(5)).await;
    let state = sb.state().await;
    assert_eq!(
        backend(&state, "b0")["healthy"],
        false,
        "2 good probes brought b0 back"
    );
    assert_eq!(backend(&state, "b0")["healthChangedAt"], edge_down);
    assert_eq!(state["active"], "b1");

    // rise = 3: the edge is the third consecutive good probe.
    h0.set(good);
    let state = sb
        .wait_state(Duration::from_secs(5), "b0 healthy again", |s| {
            backend(s, "b0")["healthy"] == true
        })
        .await;
    let (oks, k) = edge(&state, "b0");
    assert!(k >= 3, "history too short: {oks:?}");
    assert_eq!(
        &oks[k - 3..=k],
        &[false, true, true, true],
        "up after exactly 3 good probes: {oks:?} (edge at {k})"
    );
    sb.wait_active(Some("b0"), Duration::from_secs(1)).await;
    assert_eq!(
        state["totals"]["severed"], first_severed,
        "no session existed to sever"
    );
}

/// Every bad answer is a bad verdict with its reason; healing restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_answer_is_an_unhealthy_verdict_with_a_reason() {
    let b0 = Backend::greeting("b0").await;
    let h0 = HealthEndpoint::healthy(0).await;
    let sb = Builder::new()
        .interval(30, 150)
        .backend(&b0, &h0)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    let cases = [
        (Some(Health::Status503), "HTTP 503"),
        (Some(Health::Hang), "timeout after 150ms"),
        (Some(Health::Unhealthy), "healthy: false"),
        (Some(Health::Garbage), "unparsable"),
        (Some(Health::Oversized), "64 KiB"),
        (Some(Health::OversizedChunked), "64 KiB"),
        (None, "connection refused"),
    ];
    for (answer, reason) in cases {
        match answer {
            Some(h) => {
                h0.set(h);
            }
            None => {
                h0.stop().await;
            }
        }
        let state = sb
            .wait_state(
                Duration::from_secs(3),
                &format!("b0 unhealthy on {answer:?}"),
                |s| backend(s, "b0")["healthy"] == false,
            )
            .await;
        let why = backend(&state, "b0")["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            why.contains(reason),
            "{answer:?}: reason {why:?} should mention {reason:?}"
        );
        assert!(
            state["active"].is_null(),
            "{answer:?}: the only backend is down"
        );
        let mut s = connect(sb.proxy).await;
        expect_eof_or_reset(&mut s, Duration::from_millis(500)).await;

        if answer.is_none() {
            h0.restart().await;
        }
        h0.set(Health::Healthy(0));
        sb.wait_active(Some("b0"), Duration::from_secs(3)).await;
        // The bridge applies the new route just after the truth changes.
        wait_greeting_from(sb.proxy, "b0", Duration::from_millis(500)).await;
    }
}
