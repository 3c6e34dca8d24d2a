//! Traffic Monitor compatibility against the real binary (docs/api.md):
//! every endpoint's body held field by field against the Traffic Control
//! Go type that decodes it (`tc_types`, decoded by `go_json`'s mirror of
//! Go's rules, `,string` counters included); `/publish/CrStates` and `?raw`
//! decoded as Traffic Router decodes them (a missing cache is down, a
//! missing boolean is true) through a failover, a drain, a disable,
//! monitoring paused and routing off, in both publish modes, plain and
//! gzip; `router` polls CrConfig and CrStates as Traffic Router does.

mod endpoints;
mod go_json;
mod router;
mod tc_types;

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::*;

use go_json::{written_as, Go};

/// What Traffic Router takes from CrStates: availability per cache name.
#[derive(Debug, PartialEq)]
struct RouterView {
    available: BTreeMap<String, bool>,
    ds_available: bool,
}

/// Decodes like Traffic Router's `Node.setState` and
/// `DeliveryService.setState`: a cache missing from `caches` is down; a
/// missing `isAvailable` (or `ipv4Available`) counts as true.
fn decode_as_traffic_router(doc: &Value, names: &[&str], cluster: &str) -> RouterView {
    let caches = doc["caches"].as_object().expect("caches object");
    let flag = |c: &Value, k: &str| c.get(k).and_then(Value::as_bool).unwrap_or(true);
    let available = names
        .iter()
        .map(|n| {
            let up = caches
                .get(*n)
                .is_some_and(|c| flag(c, "isAvailable") && flag(c, "ipv4Available"));
            (n.to_string(), up)
        })
        .collect();
    RouterView {
        available,
        ds_available: flag(&doc["deliveryServices"][cluster], "isAvailable"),
    }
}

/// Panics unless `doc` is what Traffic Monitor writes for `ty`.
fn assert_written_as(doc: &Value, ty: Go, what: &str) {
    if let Err(e) = written_as(doc, ty, what) {
        panic!("{e}\nin {doc:#}");
    }
}

/// A GET without credentials (gzip asked for or not): status, content type,
/// whether it came gzipped, and the body text.
async fn get(sb: &Switchboard, path: &str, gzip: bool) -> (u16, String, bool, String) {
    let mut rb = sb.bare(Method::GET, &sb.api_url(path));
    if gzip {
        rb = rb.header("Accept-Encoding", "gzip");
    }
    let r = rb.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, content_type) = (r.status().as_u16(), header("content-type"));
    let gzipped = header("content-encoding") == "gzip";
    let bytes = r.bytes().await.unwrap();
    let mut text = String::new();
    if gzipped {
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
    } else {
        text = String::from_utf8(bytes.to_vec()).unwrap();
    }
    (status, content_type, gzipped, text)
}

/// A 200 JSON body of `path`, held against `ty`.
async fn fetch(sb: &Switchboard, path: &str, ty: Go) -> Value {
    let (status, content_type, _, text) = get(sb, path, true).await;
    assert_eq!(status, 200, "{path}: {text}");
    assert_eq!(content_type, "application/json", "{path}");
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    assert_written_as(&doc, ty, path);
    doc
}

/// CrStates plain and gzip, combined and `?raw`: each as Traffic Monitor
/// writes it, every configured cache present, and all four the same
/// verdicts (one instance: the local view is the combined one).
async fn cr_states(sb: &Switchboard, names: &[&str]) -> (Value, RouterView) {
    let cluster = sb.builder().tm_cluster.clone();
    let mut seen = Vec::new();
    for path in [
        "/publish/CrStates",
        "/publish/CrStates?raw",
        "/publish/CrStates/",
    ] {
        for gzip in [false, true] {
            let (status, content_type, gzipped, text) = get(sb, path, gzip).await;
            assert_eq!((status, content_type.as_str()), (200, "application/json"));
            assert_eq!(gzipped, gzip, "{path}: gzip when asked, only then");
            let doc: Value = serde_json::from_str(&text).unwrap();
            assert_written_as(&doc, tc_types::CRSTATES, path);
            assert_eq!(
                keys(&doc["caches"]),
                names,
                "every configured cache, sorted"
            );
            assert_eq!(keys(&doc["deliveryServices"]), [cluster.as_str()]);
            assert_eq!(
                doc["deliveryServices"][&cluster]["disabledLocations"],
                json!([])
            );
            seen.push(doc);
        }
    }
    let verdicts = |d: &Value| -> Vec<(Value, Value, Value, Value)> {
        names
            .iter()
            .map(|n| {
                let c = &d["caches"][*n];
                let f = |k: &str| c[k].clone();
                (
                    f("isAvailable"),
                    f("ipv4Available"),
                    f("ipv6Available"),
                    f("status"),
                )
            })
            .collect()
    };
    for doc in &seen[1..] {
        assert_eq!(verdicts(doc), verdicts(&seen[0]), "views disagree");
    }
    for n in names {
        let c = &seen[0]["caches"][*n];
        assert_eq!(c["ipv6Available"], json!(false), "{n} has no IPv6 address");
        assert_eq!(c["ipv4Available"], c["isAvailable"], "{n} is IPv4");
    }
    let view = decode_as_traffic_router(&seen[0], names, &cluster);
    (seen.swap_remove(0), view)
}

fn avail(v: &RouterView) -> Vec<bool> {
    v.available.values().copied().collect()
}

fn status(doc: &Value, name: &str) -> String {
    doc["caches"][name]["status"].as_str().unwrap().to_string()
}

/// A bare count as `tmclient.getInt` reads it, with `datareq`'s type.
async fn count(sb: &Switchboard, path: &str) -> i64 {
    let (status, content_type, _, text) = get(sb, path, false).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    text.parse()
        .unwrap_or_else(|e| panic!("{path}: {text:?}: {e}"))
}

async fn patch(sb: &Switchboard, path: &str) {
    assert_eq!(
        sb.call(sb.request(Method::PATCH, path)).await.0,
        200,
        "{path}"
    );
}

const NAMES: [&str; 3] = ["db-0", "db-1", "db-2"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crstates_through_failover_drain_disable_and_pause() {
    let fleet = Fleet::start(3).await;
    let sb = fleet
        .switchboard(Builder {
            tm_cluster: "galera".into(),
            ..Builder::new()
        })
        .await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!((avail(&view), view.ds_available), (vec![true; 3], true));
    assert_eq!(status(&doc, "db-1"), "REPORTED - available");

    // A failover: the active fails its health check.
    fleet.health[0].set(Health::Status503);
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!(avail(&view), [false, true, true]);
    assert_eq!(
        status(&doc, "db-0"),
        "REPORTED - unavailable: HTTP 503: failing on purpose"
    );

    // A drain and a disable: ADMIN_DOWN, in the raw view too.
    patch(&sb, "/v0/backends/db-1?state=drain&message=patch").await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!(avail(&view), [false, false, true]);
    assert_eq!(
        status(&doc, "db-1"),
        "ADMIN_DOWN - draining by operator: patch"
    );
    patch(&sb, "/v0/backends/db-2?state=disabled&message=disk").await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!((avail(&view), view.ds_available), (vec![false; 3], false));
    assert_eq!(
        status(&doc, "db-2"),
        "ADMIN_DOWN - disabled by operator: disk"
    );
    // Traffic Monitor's counts: only db-0 is down (REPORTED and unhealthy).
    assert_eq!(count(&sb, "/api/cache-count").await, 3);
    assert_eq!(count(&sb, "/api/cache-available-count/").await, 0);
    assert_eq!(count(&sb, "/api/cache-down-count").await, 1);

    // Everything back, then monitoring paused: the frozen verdicts, ONLINE.
    patch(&sb, "/v0/backends/db-1?state=enabled").await;
    patch(&sb, "/v0/backends/db-2?state=enabled").await;
    fleet.health[0].set(Health::Healthy(0));
    sb.wait_active(Some("db-0"), Duration::from_secs(10)).await;
    patch(&sb, "/v0/cluster?monitoringEnabled=false").await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!(avail(&view), [true; 3]);
    for n in NAMES {
        assert_eq!(status(&doc, n), "ONLINE - monitoring paused");
    }
    assert_eq!(count(&sb, "/api/cache-down-count").await, 0);

    patch(&sb, "/v0/cluster?trafficEnabled=false&message=mw").await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!((avail(&view), view.ds_available), (vec![false; 3], false));
    assert_eq!(
        status(&doc, "db-0"),
        "ADMIN_DOWN - traffic disabled by operator: mw"
    );
    assert_eq!(count(&sb, "/api/cache-available-count").await, 0);

    let r = sb
        .bare(Method::GET, &sb.api_url("/publish/Nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "unknown Traffic Monitor paths are 404s");
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
    // `?raw` too: a peer combining our local view must not resurrect standbys.
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!(avail(&view), [true, false, false]);
    assert_eq!(status(&doc, "db-1"), "REPORTED - standby");
    assert_eq!(
        count(&sb, "/api/cache-down-count").await,
        0,
        "standbys are not down"
    );

    let _a = open_session(sb.ports.proxy).await;
    let _b = open_session(sb.ports.proxy).await;
    let statuses = fetch(&sb, "/api/cache-statuses/", tc_types::CACHE_STATUSES).await;
    assert_eq!(statuses["db-0"]["connection_count"], json!(2));
    assert_eq!(statuses["db-1"]["connection_count"], json!(0));

    fleet.health[0].set(Health::Status503);
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    let (doc, view) = cr_states(&sb, &NAMES).await;
    assert_eq!(avail(&view), [false, true, false]);
    assert_eq!(
        status(&doc, "db-0"),
        "REPORTED - unavailable: HTTP 503: failing on purpose"
    );
    assert_eq!(status(&doc, "db-2"), "REPORTED - standby");
    assert_eq!(count(&sb, "/api/cache-down-count").await, 1);
    let log = fetch(&sb, "/publish/EventLog/", tc_types::JSON_EVENTS).await;
    let events = log["events"].as_array().unwrap();
    assert_eq!(events[0]["name"], "db-1", "newest first: {log}");
    assert_eq!(events[0]["isAvailable"], json!(true));
}
