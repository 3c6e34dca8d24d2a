//! Operator messages holding any Unicode and any control character (a
//! newline that would forge a log line, terminal escapes, NUL, C1 controls,
//! bidirectional overrides, quotes and markup), sent as JSON, as a form and
//! in the query string: stored exactly (the answer, `/v0/backends`,
//! `/v0/cluster`, `/v0/state`, the event log and its SSE stream, Traffic
//! Monitor's status strings, and the state file across a restart), and
//! logged safely: every stderr line is one whole log line with no raw
//! control character, the message's newline and ESC written escaped.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::sse::SseReader;
use switchboard_harness::*;

/// The messages tried, each a way to break something.
fn messages() -> Vec<String> {
    vec![
        "kernel upgrade ✓ — ünïcødé 日本語 😀 مرحبا".into(),
        "line one\n2026-12-02T00:00:00.000000Z  INFO switchboard: FORGED line".into(),
        "\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7} \u{1b}[2J".into(),
        "nul\u{0}tab\tcr\r\nlf del\u{7f} c1\u{85}\u{9b}\u{9f}".into(),
        "\u{2028}sep\u{2029} \u{202e}desrever\u{202c} zw\u{200b}j\u{feff}".into(),
        "'\"<script>alert(1)</script>&amp; \\ %00 %0A {{}} ${x}".into(),
        format!("long {}", "x✓\n".repeat(3000)),
    ]
}

/// Whether a log line may not hold `c` raw.
fn forbidden_in_log(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The newest event of `kind` in `/v0/events`.
async fn last_event(sb: &Switchboard, kind: &str) -> Value {
    let page = sb.json("/v0/events").await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["type"] == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} event in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_stored_echoed_exactly_and_logged_safely() {
    let dir = TempDir::new("messages");
    let fleet = Fleet::start(3).await;
    let mut sb = fleet
        .switchboard(Builder::new().state_file(dir.join("state.json")))
        .await;
    let stream = sb
        .get("/v0/events/stream?since=0")
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut frames = SseReader::new(stream);
    let messages = messages();
    for (i, m) in messages.iter().enumerate() {
        // Each message through one of the three ways of sending it.
        let drain = sb.request(Method::PATCH, "/v0/backends/db-1");
        let drain = match i % 3 {
            0 => drain
                .header("Content-Type", "application/json")
                .body(json!({"state": "drain", "message": m}).to_string()),
            1 => drain.form(&[("state", "drain"), ("message", m)]),
            _ => drain.query(&[("state", "drain"), ("message", m)]),
        };
        let (status, answer) = sb.call(drain).await;
        assert_eq!(status, 200, "message {i}: {answer}");
        assert_eq!(
            answer["adminMessage"].as_str(),
            Some(m.as_str()),
            "message {i}: the answer"
        );
        let one = sb.json("/v0/backends/db-1").await;
        assert_eq!(
            one["adminMessage"].as_str(),
            Some(m.as_str()),
            "message {i}: /v0/backends/db-1"
        );
        let state = sb.state().await;
        assert_eq!(
            backend(&state, "db-1")["adminMessage"].as_str(),
            Some(m.as_str()),
            "message {i}: /v0/state"
        );
        let event = last_event(&sb, "backend_state_changed").await;
        assert_eq!(
            event["message"].as_str(),
            Some(m.as_str()),
            "message {i}: the event"
        );
        assert!(
            event["description"].as_str().unwrap().contains(m.as_str()),
            "message {i}: {event}"
        );
        let cr = sb.json("/publish/CrStates").await;
        assert_eq!(
            cr["caches"]["db-1"]["status"].as_str(),
            Some(format!("ADMIN_DOWN - draining by operator: {m}").as_str()),
            "message {i}: CrStates"
        );
        // The SSE frame of the same event carries the same JSON.
        let index = event["index"].as_u64().unwrap();
        loop {
            let frame = frames
                .next(Duration::from_secs(10))
                .await
                .expect("an SSE frame");
            if frame.index() == index {
                assert_eq!(frame.json(), event, "message {i}: the SSE frame");
                break;
            }
        }

        // The same message as the routing message.
        let (status, cluster) = sb
            .call(
                sb.request(Method::PATCH, "/v0/cluster")
                    .form(&[("trafficEnabled", "false"), ("message", m)]),
            )
            .await;
        assert_eq!(status, 200, "message {i}: {cluster}");
        assert_eq!(
            sb.json("/v0/cluster").await["message"].as_str(),
            Some(m.as_str())
        );
        let (status, _) = sb
            .patch("/v0/cluster", Some(json!({"trafficEnabled": true})))
            .await;
        assert_eq!(status, 200);
    }
    drop(frames);

    // Logged safely: one whole line per event, nothing raw.
    let log = sb.stderr();
    assert!(!log.contains("panicked"), "the binary panicked");
    let bad: Vec<(usize, char)> = log
        .char_indices()
        .filter(|(_, c)| forbidden_in_log(*c))
        .collect();
    assert!(
        bad.is_empty(),
        "raw control characters in the log at {bad:?}"
    );
    for line in log.lines().filter(|l| !l.is_empty()) {
        let stamp = line.get(..5).unwrap_or("");
        assert!(
            stamp.len() == 5
                && stamp[..4].bytes().all(|b| b.is_ascii_digit())
                && stamp.ends_with('-'),
            "a line that is not a log line of its own: {line:?}"
        );
    }
    let drains: Vec<String> = log
        .lines()
        .filter(|l| l.contains("set drain by") && l.contains("event=\"backend_state_changed\""))
        .map(str::to_string)
        .collect();
    assert_eq!(drains.len(), messages.len(), "one log line per drain");
    assert!(
        drains[1].contains("line one\\n2026-12-02T00:00:00.000000Z  INFO switchboard: FORGED line"),
        "{}",
        drains[1]
    );
    assert!(drains[2].contains("\\u{1b}[31mred"), "{}", drains[2]);
    assert!(
        !log.contains("\nFORGED") && !log.contains("\n2026-12-02T00:00:00.000000Z"),
        "a forged line"
    );

    // Stored: the state file brings the last message back, exactly.
    let last = messages.last().unwrap();
    sb.stop().await;
    sb.restart().await;
    let state = sb.state().await;
    let db1 = backend(&state, "db-1");
    assert_eq!(
        (db1["adminState"].as_str(), db1["adminMessage"].as_str()),
        (Some("drain"), Some(last.as_str()))
    );
    assert_eq!(state["routing"]["enabled"], true);
}
