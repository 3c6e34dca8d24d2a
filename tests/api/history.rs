//! `GET /v0/history` and the event stream's `?history=1` frames against the
//! real binary (docs/api.md, "History"): the documented shape, a bounded
//! ring of consecutive samples, open sessions and bytes per second that
//! follow real proxied traffic, probe latency per backend, the same
//! credentials as every other read, and no `history` frame on a stream
//! that did not ask for them. Samples come every 5 s, so this test waits
//! for three of them (about 15 s), on the stream, never by sleeping.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use switchboard_harness::sse::{Frame, SseReader};
use switchboard_harness::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longer than one sample period, with room for a loaded machine.
const SAMPLE_WAIT: Duration = Duration::from_secs(15);

/// Opens the event stream (with `query`), with credentials.
async fn open_stream(sb: &Switchboard, query: &str) -> SseReader {
    let response = reqwest::Client::new() // no overall timeout: the stream is long-lived
        .get(sb.api_url(&format!("/v0/events/stream{query}")))
        .basic_auth(USER, Some(&sb.password))
        .send()
        .await
        .expect("open stream");
    assert_eq!(response.status(), 200);
    SseReader::new(response)
}

/// Reads the stream until a `history` frame whose sample satisfies `want`;
/// every frame without an `id` must be a `history` frame.
async fn sample_where(reader: &mut SseReader, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + SAMPLE_WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(
            !left.is_zero(),
            "no history sample with {what} within {SAMPLE_WAIT:?}"
        );
        let f: Frame = reader.next(left).await.expect("stream ended early");
        if f.event.as_deref() != Some("history") {
            assert!(
                f.id.is_some(),
                "a frame without id that is not history: {f:?}"
            );
            continue;
        }
        assert_eq!(f.id, None, "history frames carry no id: {f:?}");
        let sample = f.json();
        check_sample(&sample);
        if want(&sample) {
            return sample;
        }
    }
}

/// The documented shape of one sample.
fn check_sample(s: &Value) {
    assert_eq!(
        keys(s),
        [
            "seq",
            "at",
            "sessions",
            "bytesUpPerSec",
            "bytesDownPerSec",
            "backends"
        ],
        "{s}"
    );
    assert!(s["seq"].as_u64().is_some_and(|n| n >= 1), "{s}");
    time_of(s);
    assert!(s["bytesUpPerSec"].as_f64().is_some_and(|r| r >= 0.0), "{s}");
    assert!(
        s["bytesDownPerSec"].as_f64().is_some_and(|r| r >= 0.0),
        "{s}"
    );
    let backends = s["backends"].as_array().expect("backends");
    let names: Vec<&str> = backends
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-0", "db-1"], "configuration order");
    let mut total = 0;
    for b in backends {
        assert_eq!(keys(b), ["name", "sessions", "probeLatencyMs"], "{b}");
        total += b["sessions"].as_u64().expect("sessions");
        let latency = &b["probeLatencyMs"];
        assert!(
            latency.is_null() || latency.as_f64().is_some_and(|l| l > 0.0),
            "{b}"
        );
    }
    assert_eq!(s["sessions"].as_u64(), Some(total), "{s}");
}

/// A sample's `at`.
fn time_of(s: &Value) -> OffsetDateTime {
    let at = s["at"].as_str().expect("at");
    OffsetDateTime::parse(at, &Rfc3339).unwrap_or_else(|e| panic!("{at}: {e}"))
}

fn sessions_of(s: &Value, backend: usize) -> u64 {
    s["backends"][backend]["sessions"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_samples_sessions_bytes_and_latency_behind_auth() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;

    // The same credentials as every read.
    for path in ["/v0/history", "/v0/events/stream?history=1"] {
        let r = sb
            .bare(Method::GET, &sb.api_url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        assert!(r.headers().contains_key("www-authenticate"), "{path}");
    }
    let (status, body) = sb.call(sb.get("/v0/events/stream?history=maybe")).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("history")),
        "{body}"
    );

    let first = sb.json("/v0/history").await;
    assert_eq!(keys(&first), ["periodMs", "capacity", "samples"]);
    assert_eq!(first["periodMs"], 5000);
    assert_eq!(first["capacity"], 180, "15 minutes of 5 s samples");
    assert!(first["samples"].as_array().unwrap().len() <= 180);

    let mut with_history = open_stream(&sb, "?history=1").await;
    let mut plain = open_stream(&sb, "").await;

    // An open session shows in the next sample; so does the probe latency.
    let mut session = open_session(sb.ports.proxy).await;
    let payload = vec![b'z'; 50_000];
    session.write_all(&payload).await.unwrap();
    let mut echoed = vec![0; payload.len()];
    session.read_exact(&mut echoed).await.unwrap();
    let open = sample_where(&mut with_history, "db-0's open session", |s| {
        sessions_of(s, 0) == 1
    })
    .await;
    assert_eq!(open["sessions"], 1);
    for b in open["backends"].as_array().unwrap() {
        let latency = b["probeLatencyMs"].as_f64();
        assert!(
            latency.is_some_and(|l| l > 0.0 && l < 1000.0),
            "probes every 200 ms: {b}"
        );
    }

    // Bytes count when the session ends: the next sample has them, per second.
    drop(session);
    let sent = (payload.len() + 1) as f64; // and the harness's 1-byte ping
    let ended = sample_where(&mut with_history, "the ended session's bytes", |s| {
        s["bytesUpPerSec"].as_f64().is_some_and(|r| r > 0.0)
    })
    .await;
    assert_eq!(ended["sessions"], 0, "{ended}");

    // The ring: consecutive, in order, bounded, and what the stream sent.
    let all = sb.json("/v0/history").await;
    let samples = all["samples"].as_array().unwrap();
    assert!(samples.len() >= 2 && samples.len() <= 180, "{all}");
    for pair in samples.windows(2) {
        check_sample(&pair[1]);
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|n| n + 1)
        );
        let gap = time_of(&pair[1]) - time_of(&pair[0]);
        assert!(gap > time::Duration::seconds(4), "samples 5 s apart: {gap}");
    }
    let at = samples.iter().position(|s| s["seq"] == ended["seq"]);
    let at = at.expect("the stream's sample is in the ring");
    assert_eq!(
        samples[at], ended,
        "the stream's frame is the ring's sample"
    );

    // Per second over the period since the sample before (wall clock, close
    // to the sampler's monotonic one).
    let seconds = (time_of(&ended) - time_of(&samples[at - 1])).as_seconds_f64();
    for field in ["bytesUpPerSec", "bytesDownPerSec"] {
        let moved = ended[field].as_f64().unwrap() * seconds;
        assert!(
            (moved - sent).abs() < sent * 0.05,
            "{field}: {moved} bytes over {seconds} s, expected {sent}: {ended}"
        );
    }

    // A stream that did not ask gets no history frame: the next frame after
    // these samples is the event a PATCH causes.
    let (status, _) = sb.patch("/v0/backends/db-1?state=drain", None).await;
    assert_eq!(status, 200);
    loop {
        let f = plain.next(SAMPLE_WAIT).await.expect("plain stream ended");
        assert!(
            f.id.is_some() && f.event.as_deref() != Some("history"),
            "{f:?}"
        );
        if f.event.as_deref() == Some("backend_state_changed") {
            break;
        }
    }
}
