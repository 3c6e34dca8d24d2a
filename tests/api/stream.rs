//! `GET /v0/events/stream` against the real binary (docs/api.md): through a
//! failover and PATCHes the stream carries every event in order, gap-free
//! and identical to the event log; a reconnect with `Last-Event-ID` misses
//! nothing; a resume point the ring no longer holds yields one `resync`
//! frame first. Run with the default bus and with a bus of capacity 2, where
//! the stream's subscriber lags and must replay from the ring.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::sse::{Frame, SseReader};
use switchboard_harness::*;

const FRAME_WAIT: Duration = Duration::from_secs(10);

/// Opens the stream, optionally resuming after `last_id`.
async fn open_stream(sb: &Switchboard, last_id: Option<u64>) -> SseReader {
    let client = reqwest::Client::new(); // no overall timeout: the stream is long-lived
    let mut rb = client
        .get(sb.api_url("/v0/events/stream"))
        .basic_auth(USER, Some(&sb.password));
    if let Some(id) = last_id {
        rb = rb.header("Last-Event-ID", id.to_string());
    }
    let response = rb.send().await.expect("open stream");
    assert_eq!(response.status(), 200);
    let ct = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    SseReader::new(response)
}

/// Checks one frame against its JSON: `id` = index, `event` = type.
fn check_frame(f: &Frame) -> Value {
    let data = f.json();
    assert_eq!(
        f.id.as_deref().map(str::to_string),
        Some(data["index"].to_string()),
        "{f:?}"
    );
    assert_eq!(f.event.as_deref(), data["type"].as_str(), "{f:?}");
    data
}

/// Reads frames until one of type `until` (inclusive); asserts gap-free ids
/// continuing from `after`. Returns the events read.
async fn read_until(reader: &mut SseReader, mut after: Option<u64>, until: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let f = reader.next(FRAME_WAIT).await.expect("stream ended early");
        let data = check_frame(&f);
        let index = f.index();
        if let Some(prev) = after {
            assert_eq!(index, prev + 1, "gap or reorder after {prev}: {f:?}");
        }
        after = Some(index);
        let done = data["type"] == until;
        out.push(data);
        if done {
            return out;
        }
    }
    panic!("no {until} event in 10000 frames");
}

/// The event log after `since`.
async fn log_after(sb: &Switchboard, since: u64) -> Vec<Value> {
    sb.json(&format!("/v0/events?since={since}")).await["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn stream_through_failover_and_patches(config: Builder) -> Switchboard {
    let fleet = Fleet::start(3).await;
    let sb = fleet.switchboard(config).await;
    let mut sessions = vec![
        open_session(sb.ports.proxy).await,
        open_session(sb.ports.proxy).await,
    ];
    let mut reader = open_stream(&sb, None).await;

    fleet.health[0].set(Health::Status503);
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    for s in &mut sessions {
        expect_eof_or_reset(s, Duration::from_secs(3)).await;
    }
    let patches = [
        "/v0/cluster?trafficEnabled=false&message=stream+test",
        "/v0/backends/db-2?state=disabled&message=broken+disk",
        "/v0/cluster?trafficEnabled=true",
        "/v0/cluster?monitoringEnabled=false",
    ];
    for p in patches {
        let (status, body) = sb.call(sb.request(Method::PATCH, p)).await;
        assert_eq!(status, 200, "{p}: {body}");
    }
    let seen = read_until(&mut reader, None, "monitoring_changed").await;
    let first = seen[0]["index"].as_u64().unwrap();
    let last = seen.last().unwrap()["index"].as_u64().unwrap();
    let log: Vec<Value> = log_after(&sb, first - 1)
        .await
        .into_iter()
        .filter(|e| e["index"].as_u64().unwrap() <= last)
        .collect();
    assert_eq!(seen, log, "the stream must equal the event log");
    let types: Vec<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let pos = |t: &str| {
        types
            .iter()
            .position(|x| *x == t)
            .unwrap_or_else(|| panic!("no {t} in {types:?}"))
    };
    assert!(pos("health_changed") < pos("active_changed"), "{types:?}");
    assert!(pos("active_changed") < pos("routing_changed"), "{types:?}");
    assert!(
        pos("routing_changed") < pos("backend_state_changed"),
        "{types:?}"
    );
    let failover = &seen[pos("active_changed")];
    assert_eq!(
        (failover["from"].clone(), failover["to"].clone()),
        (json!("db-0"), json!("db-1"))
    );
    assert_eq!(seen[pos("health_changed")]["backend"], json!("db-0"));
    assert_eq!(seen[pos("backend_state_changed")]["backend"], json!("db-2"));
    assert!(
        types.contains(&"sessions_severed") || types.contains(&"sessions_changed"),
        "{types:?}"
    );
    drop(reader);

    // While disconnected: more changes, including a failback.
    for p in [
        "/v0/cluster?monitoringEnabled=true",
        "/v0/backends/db-2?state=enabled",
    ] {
        assert_eq!(sb.call(sb.request(Method::PATCH, p)).await.0, 200);
    }
    fleet.health[0].set(Health::Healthy(0));
    sb.wait_active(Some("db-0"), Duration::from_secs(10)).await;
    let missed = log_after(&sb, last).await;
    assert!(
        missed
            .iter()
            .any(|e| e["type"] == "active_changed" && e["to"] == "db-0"),
        "{missed:?}"
    );

    // Resume: the first frame is the one after `last`, and nothing is lost.
    let mut reader = open_stream(&sb, Some(last)).await;
    let mut resumed = Vec::new();
    let mut prev = last;
    while resumed.len() < missed.len() {
        let f = reader.next(FRAME_WAIT).await.expect("stream ended");
        assert_eq!(f.index(), prev + 1, "{f:?}");
        prev = f.index();
        resumed.push(check_frame(&f));
    }
    assert_eq!(resumed, missed);

    // And it keeps following live.
    assert_eq!(
        sb.call(sb.request(Method::PATCH, "/v0/cluster?monitoringEnabled=false"))
            .await
            .0,
        200
    );
    let live = read_until(&mut reader, Some(prev), "monitoring_changed").await;
    assert_eq!(live.last().unwrap()["enabled"], json!(false));
    sb
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_sees_every_event_and_resumes() {
    stream_through_failover_and_patches(Builder::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_replays_from_the_ring_when_its_subscriber_lags() {
    let config = Builder {
        env: vec![("SWITCHBOARD_BUS_CAPACITY".into(), "2".into())],
        log_level: "debug",
        ..Builder::new()
    };
    let sb = stream_through_failover_and_patches(config).await;

    // Bursts of concurrent PATCHes until the stream's subscriber has lagged
    // at least once (bounded); the stream must still equal the event log.
    let start = sb.json("/v0/events").await["lastIndex"].as_u64().unwrap();
    let mut reader = open_stream(&sb, Some(start)).await;
    let mut lagged = sb.stderr().contains("event stream lagged on the bus");
    for round in 0..20 {
        if lagged {
            break;
        }
        let states = if round % 2 == 0 {
            ["drain", "disabled", "enabled"]
        } else {
            ["enabled", "drain", "disabled"]
        };
        let burst = (0..24).map(|i| {
            let path = format!(
                "/v0/backends/db-{}?state={}&message=burst-{round}-{i}",
                i % 3,
                states[i % 3]
            );
            sb.call(sb.request(Method::PATCH, &path))
        });
        for (status, body) in futures::future::join_all(burst).await {
            assert_eq!(status, 200, "{body}");
        }
        lagged = sb.stderr().contains("event stream lagged on the bus");
    }
    assert!(lagged, "the stream's subscriber never lagged in 20 bursts");
    let last = sb.json("/v0/events").await["lastIndex"].as_u64().unwrap();
    let expected = log_after(&sb, start).await;
    let mut got = Vec::new();
    let mut prev = start;
    while prev < last {
        let f = reader.next(FRAME_WAIT).await.expect("stream ended");
        assert_eq!(f.index(), prev + 1, "gap or reorder: {f:?}");
        prev = f.index();
        got.push(check_frame(&f));
    }
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_resume_points_get_a_resync_frame() {
    let fleet = Fleet::start(1).await;
    let sb = fleet.switchboard(Builder::new()).await;
    // Push the ring (1024 events) past index 2.
    for i in 0..1100 {
        let on = if i % 2 == 0 { "false" } else { "true" };
        let (status, _) = sb
            .call(sb.request(
                Method::PATCH,
                &format!("/v0/cluster?monitoringEnabled={on}"),
            ))
            .await;
        assert_eq!(status, 200);
    }
    let page = sb.json("/v0/events?since=1").await;
    assert_eq!(page["missed"], json!(true));
    let oldest = page["oldestIndex"].as_u64().unwrap();
    assert!(oldest > 2, "{oldest}");

    let mut reader = open_stream(&sb, Some(1)).await;
    let f = reader.next(FRAME_WAIT).await.unwrap();
    assert_eq!(f.event.as_deref(), Some("resync"));
    assert_eq!(f.id, None);
    let data = f.json();
    assert_eq!(data["missedFrom"], json!(2));
    assert_eq!(data["missedTo"], json!(oldest - 1));
    assert!(data["state"]["generation"].is_u64(), "{data}");
    let next = reader.next(FRAME_WAIT).await.unwrap();
    assert_eq!(next.index(), oldest);

    // An index from the future (a restarted server): resync, then the ring.
    let mut reader = open_stream(&sb, Some(10_000_000)).await;
    let f = reader.next(FRAME_WAIT).await.unwrap();
    assert_eq!(f.event.as_deref(), Some("resync"));
    assert_eq!(reader.next(FRAME_WAIT).await.unwrap().index(), oldest);
}
