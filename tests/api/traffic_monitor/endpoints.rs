//! Every Traffic Monitor endpoint at once, held against the Traffic
//! Control type that decodes it (`tc_types`): names, JSON types, the
//! `,string` counters, time formats, order; content types as `datareq`
//! sets them; event indices contiguous from 0, newest first; each path also
//! with a trailing slash.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_harness::*;

use super::router::crconfig;
use super::{count, fetch, get, tc_types, NAMES};

/// A `,string` counter's number.
fn quoted(stats: &Value, key: &str) -> i64 {
    let text = stats[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is quoted: {stats}"));
    text.parse()
        .unwrap_or_else(|e| panic!("{key} = {text:?}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_decodes_as_traffic_control() {
    let dir = TempDir::new("tm-endpoints");
    let file = dir.join("crconfig.json");
    std::fs::write(&file, crconfig("cdn1", 1000, 0)).unwrap();
    let fleet = Fleet::start(3).await;
    let sb = fleet
        .switchboard(Builder {
            tm_crconfig: Some(file),
            ..Builder::new()
        })
        .await;
    fleet.health[1].set(Health::Status503);
    sb.wait_state(Duration::from_secs(10), "db-1 unhealthy", |s| {
        s["backends"][1]["healthy"] == json!(false)
    })
    .await;

    let stats = fetch(&sb, "/publish/Stats", tc_types::JSON_STATS).await;
    let s = &stats["stats"];
    assert_eq!(
        (s["name"].as_str(), s["version"].as_str()),
        (Some("switchboard"), Some(env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(quoted(s, "Query Interval Target"), 200);
    assert!(
        quoted(s, "uptime") < 600 && quoted(s, "Error Count") == 0,
        "{s}"
    );
    assert!(
        quoted(s, "Fetch Count") >= 3 && quoted(s, "Iteration Count") >= 1,
        "{s}"
    );
    assert_eq!(
        quoted(s, "Last Query Interval"),
        quoted(s, "Query Interval Actual").max(200)
    );
    assert!(s["Goroutines"].as_i64().unwrap() > 0, "threads: {s}");

    let log = fetch(&sb, "/publish/EventLog", tc_types::JSON_EVENTS).await;
    let events = log["events"].as_array().unwrap();
    let indices: Vec<u64> = events
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..events.len() as u64).rev().collect();
    assert_eq!(indices, expected, "contiguous from 0, newest first");
    for e in events {
        assert_eq!(
            e["hostname"], e["name"],
            "the cache name, as Traffic Monitor writes it"
        );
        assert_eq!(
            (e["type"].as_str(), &e["ipv6Available"]),
            (Some("DB"), &json!(false))
        );
    }
    let oldest: Vec<&Value> = events.iter().rev().take(3).map(|e| &e["name"]).collect();
    assert_eq!(
        oldest,
        NAMES.map(|n| json!(n)).iter().collect::<Vec<_>>(),
        "each available at start"
    );
    let newest = &events[0];
    assert_eq!(
        (newest["name"].as_str(), &newest["isAvailable"]),
        (Some("db-1"), &json!(false))
    );
    assert!(newest["description"]
        .as_str()
        .unwrap()
        .starts_with("REPORTED - unavailable: HTTP 503"));

    let statuses = fetch(&sb, "/api/cache-statuses", tc_types::CACHE_STATUSES).await;
    assert_eq!(keys(&statuses), NAMES);
    assert_eq!(statuses["db-1"]["combined_available"], json!(false));
    assert_eq!(
        statuses["db-1"]["interfaces"]["data"]["available"],
        json!(false)
    );
    assert_eq!(statuses["db-0"]["status"], "REPORTED - available");
    assert_eq!(statuses["db-0"]["status_poller"], "health");

    assert_eq!(
        (
            count(&sb, "/api/cache-count").await,
            count(&sb, "/api/cache-available-count").await
        ),
        (3, 2)
    );
    assert_eq!(count(&sb, "/api/cache-down-count").await, 1);
    let (status, content_type, _, version) = get(&sb, "/api/version", false).await;
    assert_eq!((status, content_type.as_str()), (200, "text/plain"));
    assert_eq!(
        version,
        format!("switchboard-{}", env!("CARGO_PKG_VERSION"))
    );

    let history = fetch(&sb, "/api/crconfig-history", tc_types::CRCONFIG_HISTORY).await;
    assert_eq!(
        history,
        json!([{"error": null, "request_address": "127.0.0.1",
                "request_time": history[0]["request_time"],
                "stats": {"CDN_name": "cdn1", "date": 1000, "tm_host": "to.example"}}])
    );

    let mc = fetch(&sb, "/api/monitor-config", tc_types::MONITOR_CONFIG).await;
    assert_eq!(keys(&mc["TrafficServer"]), NAMES);
    let db1 = &mc["TrafficServer"]["db-1"];
    assert_eq!(
        (db1["status"].as_str(), db1["type"].as_str()),
        (Some("REPORTED"), Some("DB"))
    );
    assert_eq!(db1["port"], json!(fleet.backends[1].addr.port()));
    assert_eq!(
        db1["interfaces"][0]["ipAddresses"][0]["address"],
        "127.0.0.1"
    );
    let url =
        mc["Profile"][db1["profile"].as_str().unwrap()]["parameters"]["health.polling.url"].clone();
    assert_eq!(url, json!(fleet.health[1].url()));

    let doc = fetch(&sb, "/publish/ConfigDoc", tc_types::OPS_CONFIG).await;
    assert_eq!(
        (doc["cdnName"].as_str(), &doc["password"]),
        (Some("cdn1"), &json!(""))
    );

    for path in [
        "/publish/CrConfig",
        "/publish/CrStates",
        "/publish/EventLog",
        "/publish/Stats",
        "/publish/ConfigDoc",
        "/api/cache-statuses",
        "/api/cache-count",
        "/api/cache-available-count",
        "/api/cache-down-count",
        "/api/version",
        "/api/monitor-config",
        "/api/crconfig-history",
    ] {
        for p in [path.to_string(), format!("{path}/")] {
            assert_eq!(get(&sb, &p, false).await.0, 200, "{p}");
        }
    }
}
