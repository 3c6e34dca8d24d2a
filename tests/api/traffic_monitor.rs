//! Traffic Monitor compatibility against the real binary (docs/api.md):
//! `/publish/CrStates` decoded the way Traffic Router decodes it (a missing
//! cache is down, a missing boolean field is true) in both publish modes,
//! plain and gzip, with `?raw` and trailing-slash aliases; the other
//! Traffic Monitor endpoints in their shapes.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What Traffic Router takes from CrStates: availability per cache name.
#[derive(Debug, PartialEq)]
struct RouterView {
    available: BTreeMap<String, bool>,
    ds_available: bool,
}

/// Decodes like Traffic Router: a cache missing from `caches` is down; a
/// missing `isAvailable` (or ipv4Available) counts as true.
fn decode_as_traffic_router(doc: &Value, names: &[&str], cluster: &str) -> RouterView {
    let caches = doc["caches"].as_object().expect("caches object");
    let available = names
        .iter()
        .map(|n| {
            let up = match caches.get(*n) {
                None => false,
                Some(c) => {
                    c.get("isAvailable")
                        .and_then(Value::as_bool)
                        .unwrap_or(true)
                        && c.get("ipv4Available")
                            .and_then(Value::as_bool)
                            .unwrap_or(true)
                }
            };
            (n.to_string(), up)
        })
        .collect();
    let ds = &doc["deliveryServices"][cluster];
    RouterView {
        available,
        ds_available: ds
            .get("isAvailable")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    }
}

/// Checks the full CrStates shape: every configured cache, five fields in
/// order, sorted names, `lastPoll` RFC 3339, `disabledLocations: []`.
fn check_shape(doc: &Value, names: &[&str], cluster: &str) {
    assert_eq!(keys(doc), ["caches", "deliveryServices"]);
    let caches = &doc["caches"];
    assert_eq!(keys(caches), names, "every configured cache, sorted");
    for n in names {
        let c = &caches[*n];
        assert_eq!(
            keys(c),
            [
                "isAvailable",
                "ipv4Available",
                "ipv6Available",
                "status",
                "lastPoll"
            ]
        );
        let poll = c["lastPoll"].as_str().unwrap();
        let parsed = OffsetDateTime::parse(poll, &Rfc3339).expect("lastPoll RFC 3339");
        assert!(poll.ends_with('Z'));
        assert!(parsed.year() > 2000 || poll == "0001-01-01T00:00:00Z");
    }
    assert_eq!(keys(&doc["deliveryServices"]), [cluster]);
    let ds = &doc["deliveryServices"][cluster];
    assert_eq!(keys(ds), ["disabledLocations", "isAvailable"]);
    assert_eq!(ds["disabledLocations"], json!([]));
}

/// GETs `path` without credentials, plain or asking for gzip; returns the
/// JSON and whether it came gzipped.
async fn fetch(sb: &Switchboard, path: &str, gzip: bool) -> (Value, bool) {
    let mut rb = sb.bare(Method::GET, &sb.api_url(path));
    if gzip {
        rb = rb.header("Accept-Encoding", "gzip");
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    let gzipped = r
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let bytes = r.bytes().await.unwrap();
    let text = if gzipped {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut out)
            .unwrap();
        out
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    (
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")),
        gzipped,
    )
}

/// CrStates both ways; asserts plain and gzip agree on availability.
async fn cr_states(sb: &Switchboard, names: &[&str], path: &str) -> (Value, RouterView) {
    let cluster = sb.builder().tm_cluster.clone();
    let (plain, was_gzip) = fetch(sb, path, false).await;
    assert!(!was_gzip);
    let (zipped, was_gzip) = fetch(sb, path, true).await;
    assert!(was_gzip, "gzip asked for, not given");
    check_shape(&plain, names, &cluster);
    check_shape(&zipped, names, &cluster);
    let view = decode_as_traffic_router(&plain, names, &cluster);
    assert_eq!(view, decode_as_traffic_router(&zipped, names, &cluster));
    (plain, view)
}

fn avail(v: &RouterView) -> Vec<bool> {
    v.available.values().copied().collect()
}

const NAMES: [&str; 3] = ["db-0", "db-1", "db-2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crstates_in_health_mode() {
    let fleet = Fleet::start(3).await;
    let sb = fleet
        .switchboard(Builder {
            tm_cluster: "galera".into(),
            ..Builder::new()
        })
        .await;
    let (doc, view) = cr_states(&sb, &NAMES, "/publish/CrStates").await;
    assert_eq!(avail(&view), [true, true, true]);
    assert!(view.ds_available);
    assert_eq!(
        doc["caches"]["db-1"]["status"],
        json!("REPORTED - available")
    );

    fleet.health[1].set(Health::Status503);
    sb.wait_state(Duration::from_secs(5), "db-1 unhealthy", |s| {
        s["backends"][1]["healthy"] == json!(false)
    })
    .await;
    let (doc, view) = cr_states(&sb, &NAMES, "/publish/CrStates/").await;
    assert_eq!(avail(&view), [true, false, true]);
    assert_eq!(
        doc["caches"]["db-1"]["status"],
        json!("REPORTED - unavailable: HTTP 503: failing on purpose")
    );

    let patch = sb.request(
        Method::PATCH,
        "/v0/backends/db-2?state=disabled&message=disk",
    );
    assert_eq!(sb.call(patch).await.0, 200);
    let (doc, view) = cr_states(&sb, &NAMES, "/publish/CrStates").await;
    assert_eq!(avail(&view), [true, false, false]);
    assert_eq!(
        doc["caches"]["db-2"]["status"],
        json!("ADMIN_DOWN - disabled by operator: disk")
    );
    // raw: the monitor's own view, operators aside.
    let (raw, raw_view) = cr_states(&sb, &NAMES, "/publish/CrStates?raw").await;
    assert_eq!(avail(&raw_view), [true, false, true]);
    assert_eq!(
        raw["caches"]["db-2"]["status"],
        json!("REPORTED - available")
    );

    assert_eq!(
        sb.call(sb.request(Method::PATCH, "/v0/cluster?monitoringEnabled=false"))
            .await
            .0,
        200
    );
    let (doc, view) = cr_states(&sb, &NAMES, "/publish/CrStates").await;
    assert_eq!(avail(&view), [true, false, false]);
    assert_eq!(
        doc["caches"]["db-0"]["status"],
        json!("ONLINE - monitoring paused")
    );

    assert_eq!(
        sb.call(sb.request(Method::PATCH, "/v0/cluster?trafficEnabled=false&message=mw"))
            .await
            .0,
        200
    );
    let (_, view) = cr_states(&sb, &NAMES, "/publish/CrStates").await;
    assert_eq!(avail(&view), [false, false, false]);
    assert!(!view.ds_available);

    // The other Traffic Monitor endpoints, with and without trailing slash.
    for suffix in ["", "/"] {
        let text = |p: &str| {
            let url = sb.api_url(&format!("{p}{suffix}"));
            let rb = sb.bare(Method::GET, &url);
            async move { rb.send().await.unwrap().text().await.unwrap() }
        };
        assert_eq!(text("/api/cache-count").await, "3");
        assert_eq!(text("/api/cache-available-count").await, "0");
        assert_eq!(text("/api/cache-down-count").await, "3");
        assert!(text("/api/version").await.starts_with("switchboard-"));
    }
    let (statuses, _) = fetch(&sb, "/api/cache-statuses", true).await;
    assert_eq!(keys(&statuses), NAMES);
    for n in NAMES {
        let s = &statuses[n];
        for k in [
            "status",
            "connection_count",
            "ipv4_available",
            "ipv6_available",
            "combined_available",
            "query_time_ms",
        ] {
            assert!(s.get(k).is_some(), "{n} lacks {k}: {s}");
        }
    }
    let (stats, _) = fetch(&sb, "/publish/Stats/", false).await;
    assert!(
        stats["stats"]["Version"].is_string() && stats.get("date").is_some(),
        "{stats}"
    );
    let (log, _) = fetch(&sb, "/publish/EventLog", true).await;
    let events = log["events"].as_array().unwrap();
    assert!(!events.is_empty());
    let indices: Vec<u64> = events
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert!(
        indices.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {indices:?}"
    );
    for e in events {
        assert_eq!(
            keys(e),
            [
                "time",
                "index",
                "description",
                "name",
                "hostname",
                "type",
                "isAvailable",
                "ipv4Available",
                "ipv6Available"
            ]
        );
    }
    assert!(events
        .iter()
        .any(|e| e["name"] == "db-1" && e["isAvailable"] == json!(false)));

    // Unknown Traffic Monitor paths are JSON 404s.
    let r = sb
        .bare(Method::GET, &sb.api_url("/publish/Nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crstates_in_active_only_mode_with_connection_counts() {
    let fleet = Fleet::start(3).await;
    let sb = fleet
        .switchboard(Builder {
            tm_publish: "active-only",
            ..Builder::new()
        })
        .await;
    let (doc, view) = cr_states(&sb, &NAMES, "/publish/CrStates").await;
    assert_eq!(avail(&view), [true, false, false]);
    assert_eq!(doc["caches"]["db-1"]["status"], json!("REPORTED - standby"));
    let (_, raw) = cr_states(&sb, &NAMES, "/publish/CrStates?raw").await;
    assert_eq!(avail(&raw), [true, true, true]);

    let _a = open_session(sb.ports.proxy).await;
    let _b = open_session(sb.ports.proxy).await;
    let (statuses, _) = fetch(&sb, "/api/cache-statuses/", false).await;
    assert_eq!(statuses["db-0"]["connection_count"], json!(2));
    assert_eq!(statuses["db-1"]["connection_count"], json!(0));

    fleet.health[0].set(Health::Status503);
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    let (doc, view) = cr_states(&sb, &NAMES, "/publish/CrStates").await;
    assert_eq!(avail(&view), [false, true, false]);
    assert_eq!(
        doc["caches"]["db-0"]["status"],
        json!("REPORTED - unavailable: HTTP 503: failing on purpose")
    );
    assert_eq!(doc["caches"]["db-2"]["status"], json!("REPORTED - standby"));
    let (log, _) = fetch(&sb, "/publish/EventLog/", false).await;
    assert!(log["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "db-1" && e["isAvailable"] == json!(true)));
}
