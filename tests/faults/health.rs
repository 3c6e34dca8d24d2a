//! Health endpoints that misbehave (docs/operations.md, "Health checks"):
//! every bad answer is an unhealthy verdict within the probe timeout, with
//! a reason that says why and is safe to show (no raw bytes, no control
//! characters); the prober closes every connection it opened, stops
//! reading a huge body at 64 KiB, never follows a redirect loop for long,
//! and a hung endpoint never delays the other backend's probes. Flapping
//! at 10 Hz is absorbed by rise/fall: the active stays where it is.
//!
//! `b0` is probed at a [`BadHealth`] endpoint that the test switches from
//! fault to fault, `b1` at a healthy one; the failover to `b1` and back is
//! how each verdict is observed.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_harness::bad_health::{Answer, BadHealth};
use switchboard_harness::*;

use super::{events_of, last_event, ms};

/// Probe interval and timeout of these tests (ms).
const INTERVAL: u64 = 100;
const TIMEOUT: u64 = 500;

/// How long an unhealthy verdict may take: the worst moment is just after
/// a probe (one interval), then a whole timeout, plus a busy debug build.
const DETECT: Duration = Duration::from_millis(INTERVAL + TIMEOUT + 1500);

/// The longest a probe's connection may stay open: the timeout plus slack.
const HELD_AT_MOST: Duration = Duration::from_millis(TIMEOUT + 400);

/// A switchboard in front of `b0` (probed at `h0`) and `b1` (healthy,
/// index 1), with `b0` active.
struct Rig {
    sb: Switchboard,
    h0: BadHealth,
    h1: HealthEndpoint,
    _b: [Backend; 2],
}

async fn rig(builder: Builder) -> Rig {
    let b0 = Backend::echo("b0").await;
    let b1 = Backend::echo("b1").await;
    let h0 = BadHealth::start(Answer::Healthy(0)).await;
    let h1 = HealthEndpoint::healthy(1).await;
    let sb = builder
        .backend_at("b0", b0.addr, &h0.url())
        .backend(&b1, &h1)
        .start()
        .await;
    sb.wait_active(Some("b0"), Duration::from_secs(10)).await;
    Rig {
        sb,
        h0,
        h1,
        _b: [b0, b1],
    }
}

/// What one fault did.
struct Seen {
    detect: Duration,
    reason: String,
    latency_ms: f64,
    longest_held: Duration,
    most_written: u64,
}

/// Switches `h0` to `answer`, waits for `b0`'s unhealthy verdict and the
/// failover, checks the reason and what the prober did to the endpoint,
/// then switches back and waits for the failback.
async fn fault(rig: &Rig, answer: Answer, expect: &[&str]) -> Seen {
    let Rig { sb, h0, h1, .. } = rig;
    let ended_before = h0.ended().len();
    let h1_before = h1.requests();
    let at = h0.set(answer);
    let state = sb
        .wait_state(DETECT, &format!("b0 unhealthy with {answer:?}"), |s| {
            backend(s, "b0")["healthy"] == false
        })
        .await;
    let detect = at.elapsed();
    let b0 = backend(&state, "b0");
    let reason = b0["reason"].as_str().unwrap_or_default().to_string();
    let latency_ms = b0["lastCheck"]["latencyMs"].as_f64().unwrap_or(f64::MAX);
    for needle in expect {
        assert!(
            reason.contains(needle),
            "{answer:?}: the reason {reason:?} should say {needle:?}"
        );
    }
    assert!(
        !reason.chars().any(char::is_control),
        "{answer:?}: the reason {reason:?} carries control characters"
    );
    assert!(
        latency_ms <= (TIMEOUT + 300) as f64,
        "{answer:?}: the probe took {latency_ms} ms, over the {TIMEOUT} ms timeout"
    );
    sb.wait_active(Some("b1"), Duration::from_secs(3)).await;
    // The other backend was probed all along, once per interval.
    let due = (ms(at.elapsed()) / u128::from(INTERVAL)) as u64;
    assert!(
        h1.requests() + 2 >= h1_before + due,
        "{answer:?} at b0's endpoint delayed b1's probes: {} in {} ms",
        h1.requests() - h1_before,
        ms(at.elapsed())
    );
    // Back to healthy, and every connection the prober opened during the
    // fault is closed by now.
    h0.set(Answer::Healthy(0));
    sb.wait_active(Some("b0"), DETECT).await;
    wait_until(
        Duration::from_secs(3),
        "the prober closed its connections to the faulty endpoint",
        || async { h0.open() == 0 },
    )
    .await;
    let ended: Vec<_> = h0
        .ended()
        .into_iter()
        .skip(ended_before)
        .filter(|e| e.0 == answer)
        .collect();
    assert!(!ended.is_empty(), "{answer:?}: no probe connection ended");
    let longest_held = ended.iter().map(|e| e.1).max().unwrap_or_default();
    let most_written = ended.iter().map(|e| e.2).max().unwrap_or_default();
    assert!(
        longest_held <= HELD_AT_MOST,
        "{answer:?}: the prober held a connection for {longest_held:?}"
    );
    let seen = Seen {
        detect,
        reason,
        latency_ms,
        longest_held,
        most_written,
    };
    println!(
        "FAULT health {answer:?}: unhealthy after {} ms, probe {:.1} ms, connection held at most {} ms, body bytes sent {}, reason {:?}",
        ms(seen.detect),
        seen.latency_ms,
        ms(seen.longest_held),
        seen.most_written,
        seen.reason
    );
    seen
}

/// The state, the event log and the metrics still serve well-formed
/// answers after the faults (reasons with odd bytes included).
async fn reads_still_well_formed(sb: &Switchboard) {
    let state: Value = sb.json("/v0/state").await;
    assert!(state["backends"].is_array());
    let _: Value = sb.json("/v0/events").await;
    let metrics = sb.get("/metrics").send().await.expect("GET /metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("metrics text");
    prom::parse(&text).unwrap_or_else(|e| panic!("/metrics no longer parses: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_slow_and_dripping_endpoints_time_out() {
    let rig = rig(Builder::new().interval(INTERVAL, TIMEOUT)).await;
    let timeout = format!("timeout after {TIMEOUT}ms");
    for answer in [Answer::Hang, Answer::Slow(TIMEOUT + 400), Answer::Drip] {
        fault(&rig, answer, &[&timeout]).await;
    }
    reads_still_well_formed(&rig.sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_within_the_timeout_stays_healthy() {
    let rig = rig(Builder::new().interval(INTERVAL, TIMEOUT)).await;
    let since = last_event(&rig.sb).await;
    let before = rig.h0.requests();
    rig.h0.set(Answer::Slow(TIMEOUT / 2));
    rig.h0_wait(before, 5).await;
    let state = rig.sb.state().await;
    let latency = backend(&state, "b0")["lastCheck"]["latencyMs"]
        .as_f64()
        .expect("latencyMs");
    assert!(
        latency >= (TIMEOUT / 2) as f64,
        "the slow answer took {latency} ms"
    );
    assert!(
        events_of(&rig.sb, since, "health_changed").await.is_empty(),
        "a slow but timely answer changed b0's health"
    );
    assert_eq!(state["active"], "b0");
    println!(
        "FAULT health Slow({}): healthy throughout, probe {latency:.1} ms",
        TIMEOUT / 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_are_unhealthy_verdicts_with_a_reason() {
    let rig = rig(Builder::new().interval(INTERVAL, TIMEOUT)).await;
    fault(
        &rig,
        Answer::Status500,
        &["HTTP 500", "exploded on purpose"],
    )
    .await;
    fault(&rig, Answer::NotHttp, &["invalid HTTP version"]).await;
    fault(&rig, Answer::InvalidUtf8, &["unparsable galera status"]).await;
    fault(&rig, Answer::InvalidUtf8Status, &["HTTP 503"]).await;
    fault(
        &rig,
        Answer::CloseMidBody,
        &["end of file before message length"],
    )
    .await;
    fault(
        &rig,
        Answer::CloseMidHeaders,
        &["connection closed before message completed"],
    )
    .await;
    fault(
        &rig,
        Answer::CloseAtOnce,
        &["connection closed before message completed"],
    )
    .await;
    fault(&rig, Answer::RedirectLoop, &["too many redirects"]).await;
    reads_still_well_formed(&rig.sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_body_is_cut_at_64_kib() {
    let rig = rig(Builder::new().interval(INTERVAL, TIMEOUT)).await;
    for answer in [
        Answer::HugeWithLength,
        Answer::HugeChunked,
        Answer::HugeUntilClose,
    ] {
        let seen = fault(&rig, answer, &["body over 64 KiB"]).await;
        // What the endpoint could write before the prober let go: socket
        // buffers at most, never the 100 MiB.
        assert!(
            seen.most_written < 32 * 1024 * 1024,
            "{answer:?}: the prober read {} bytes",
            seen.most_written
        );
    }
    let seen = fault(&rig, Answer::Huge503, &["HTTP 503: xxxx"]).await;
    assert!(
        seen.reason.len() < 300,
        "the reason is not bounded: {} bytes",
        seen.reason.len()
    );
    assert!(seen.most_written < 32 * 1024 * 1024);
}

impl Rig {
    /// Waits until `h0` has answered `n` more requests than `since`.
    async fn h0_wait(&self, since: u64, n: u64) {
        let what = format!("{n} probes of b0 (had {since})");
        wait_until(Duration::from_secs(10), &what, || async {
            self.h0.requests() >= since + n
        })
        .await;
    }
}

/// The longest run of equal verdicts `healthy` in the endpoint's log.
fn longest_run(log: &[(Answer, bool)], healthy: bool) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for (answer, said) in log {
        if matches!(answer, Answer::Flapping(_)) && *said == healthy {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_at_10_hz_is_absorbed_by_rise_and_fall() {
    // A probe every 25 ms against an answer that changes every 50 ms: two
    // or three equal verdicts in a row, fewer than rise = fall = 5.
    let rig = rig(Builder::new().interval(25, TIMEOUT).rise_fall(5, 5)).await;
    let Rig { sb, h0, .. } = &rig;
    let state = sb.state().await;
    let failovers = state["totals"]["failovers"].as_u64().unwrap();
    let since = last_event(sb).await;
    let log_from = h0.log().len();
    let started = Instant::now();
    h0.set(Answer::Flapping(50));
    rig.h0_wait(h0.requests(), 100).await;
    let flapped = started.elapsed();
    let log: Vec<_> = h0.log().into_iter().skip(log_from).collect();
    let bad = log.iter().filter(|(_, healthy)| !healthy).count();
    let good = log.len() - bad;
    // The flapping really reached the prober, in runs shorter than fall.
    assert!(
        bad >= 20 && good >= 20,
        "the endpoint did not flap: {good} good, {bad} bad"
    );
    let longest_bad = longest_run(&log, false);
    assert!(
        (1..5).contains(&longest_bad),
        "longest run of bad answers: {longest_bad}"
    );
    let state = sb.state().await;
    assert_eq!(state["active"], "b0", "the active moved while b0 flapped");
    assert_eq!(backend(&state, "b0")["healthy"], true);
    assert_eq!(state["totals"]["failovers"].as_u64().unwrap(), failovers);
    assert!(events_of(sb, since, "health_changed").await.is_empty());
    assert!(events_of(sb, since, "active_changed").await.is_empty());
    println!(
        "FAULT health Flapping(50 ms) vs fall 5: {} probes in {} ms ({good} good, {bad} bad, longest bad run {longest_bad}), active stayed b0, no health event",
        log.len(),
        ms(flapped)
    );

    // Fall does bite: a steady failure fails b0 over after 5 probes.
    let at = h0.set(Answer::Status500);
    sb.wait_active(Some("b1"), Duration::from_secs(5)).await;
    println!(
        "FAULT health steady 500 vs fall 5: failed over after {} ms",
        ms(at.elapsed())
    );

    // And rise keeps flapping from bringing it back.
    let since = last_event(sb).await;
    let log_from = h0.log().len();
    h0.set(Answer::Flapping(50));
    rig.h0_wait(h0.requests(), 100).await;
    let log: Vec<_> = h0.log().into_iter().skip(log_from).collect();
    let longest_good = longest_run(&log, true);
    assert!(
        (1..5).contains(&longest_good),
        "longest run of good answers: {longest_good}"
    );
    let state = sb.state().await;
    assert_eq!(state["active"], "b1", "b0 came back while flapping");
    assert_eq!(backend(&state, "b0")["healthy"], false);
    assert!(events_of(sb, since, "health_changed").await.is_empty());
    assert!(events_of(sb, since, "active_changed").await.is_empty());
    let at = h0.set(Answer::Healthy(0));
    sb.wait_active(Some("b0"), Duration::from_secs(5)).await;
    println!(
        "FAULT health Flapping(50 ms) vs rise 5: b0 stayed down ({} probes, longest good run {longest_good}); steady healthy: back after {} ms",
        log.len(),
        ms(at.elapsed())
    );
}
