//! A Traffic Router whose only monitor is switchboard: it polls
//! `/publish/CrConfig?json` and `/publish/CrStates` as Traffic Router's
//! `PeriodicResourceUpdater` does (gzip asked for, only a 200 taken, a
//! gzipped body read line by line and the lines joined), takes the
//! snapshot as `ConfigHandler` does (a newer `stats.date`, an ONLINE
//! monitor) and the states as `TrafficRouter.setCacheStates` does (the
//! cache name up to `@`). The CrConfig file is re-read when it changes; a
//! broken, older or foreign version keeps the last good one served.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::*;

use super::{assert_written_as, decode_as_traffic_router, get, tc_types, NAMES};

/// A CrConfig in Traffic Ops' shape, pretty-printed (so that Traffic
/// Router's line joining matters), its size set by `pad`.
pub(super) fn crconfig(cdn: &str, date: i64, pad: usize) -> String {
    let server = |name: &str| {
        json!({"fqdn": format!("{name}.db.example"), "port": 3306, "ip": "127.0.0.1",
               "locationId": "galera", "status": "REPORTED", "type": "DB"})
    };
    let doc = json!({
        "config": {"domain_name": "db.example", "pad": "x".repeat(pad)},
        "contentServers": {"db-0": server("db-0"), "db-1@lab": server("db-1"), "db-2": server("db-2")},
        "deliveryServices": {"db": {}},
        "monitors": {"switchboard": {"fqdn": "127.0.0.1", "port": 8080, "status": "ONLINE"}},
        "stats": {"CDN_name": cdn, "date": date, "tm_host": "to.example"},
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

/// One poll as `PeriodicResourceUpdater.UpdateHandler.onCompleted`: the
/// body of a 200 (gzipped lines joined), nothing otherwise.
async fn poll(sb: &Switchboard, path: &str) -> Option<String> {
    let r = sb
        .bare(Method::GET, &sb.api_url(path))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    if r.status() != 200 {
        return None;
    }
    let gzip = r
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let bytes = r.bytes().await.unwrap();
    if !gzip {
        return Some(String::from_utf8(bytes.to_vec()).unwrap());
    }
    let lines = BufReader::new(flate2::read::GzDecoder::new(&bytes[..])).lines();
    Some(lines.map(Result::unwrap).collect())
}

/// `ConfigHandler.processConfig`: the snapshot's date when it is newer
/// than `last` and lists an ONLINE monitor; the content server names.
fn take_crconfig(body: &str, last: i64) -> Option<(i64, Vec<String>)> {
    let doc: Value = serde_json::from_str(body).ok()?;
    let date = doc["stats"]["date"].as_i64()?;
    let online = doc["monitors"]
        .as_object()?
        .values()
        .any(|m| m["fqdn"].is_string() && m["status"] == "ONLINE");
    let servers = doc["contentServers"].as_object()?.keys().cloned().collect();
    (date > last && online).then_some((date, servers))
}

/// `TrafficRouter.setCacheStates`: per content server, its state under
/// the name up to `@`.
fn cache_states(crstates: &str, servers: &[String]) -> Vec<bool> {
    let doc: Value = serde_json::from_str(crstates).unwrap();
    let monitor_names: Vec<String> = servers
        .iter()
        .map(|s| s.split('@').next().unwrap().to_string())
        .collect();
    let names: Vec<&str> = monitor_names.iter().map(String::as_str).collect();
    let view = decode_as_traffic_router(&doc, &names, "db");
    names.iter().map(|n| view.available[*n]).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_router_loads_crconfig_and_crstates_from_us_alone() {
    let dir = TempDir::new("crconfig");
    let file = dir.join("crconfig.json");
    let v1 = crconfig("cdn1", 1000, 1);
    std::fs::write(&file, &v1).unwrap();
    let fleet = Fleet::start(3).await;
    let sb = fleet
        .switchboard(Builder {
            tm_crconfig: Some(file.clone()),
            ..Builder::new()
        })
        .await;

    // Both documents from the same monitor, together, as Traffic Router starts.
    let body = poll(&sb, "/publish/CrConfig?json")
        .await
        .expect("CrConfig 200");
    assert_eq!(body, v1.replace('\n', ""), "passed through byte for byte");
    let (date, servers) = take_crconfig(&body, 0).expect("Traffic Router takes it");
    assert_eq!((date, servers.len()), (1000, 3));
    let states = poll(&sb, "/publish/CrStates").await.expect("CrStates 200");
    assert_eq!(cache_states(&states, &servers), [true, true, true]);
    let (_, content_type, _, _) = get(&sb, "/publish/CrConfig", false).await;
    assert_eq!(content_type, "application/json");
    let r = sb
        .bare(Method::GET, &sb.api_url("/publish/CrConfig/"))
        .send()
        .await
        .unwrap();
    let age: u64 = r.headers()["age"].to_str().unwrap().parse().unwrap();
    assert!(age < 600, "Age is seconds since this version was read");

    fleet.health[1].set(Health::Status503);
    wait_until(
        Duration::from_secs(10),
        "db-1@lab down for Traffic Router",
        || async {
            let states = poll(&sb, "/publish/CrStates").await.unwrap();
            cache_states(&states, &servers) == [true, false, true]
        },
    )
    .await;

    // A new snapshot is served once the file changes: no reload.
    let v2 = crconfig("cdn1", 2000, 22);
    std::fs::write(&file, &v2).unwrap();
    wait_until(Duration::from_secs(10), "v2 served", || async {
        poll(&sb, "/publish/CrConfig?json").await == Some(v2.replace('\n', ""))
    })
    .await;
    let body = poll(&sb, "/publish/CrConfig?json").await.unwrap();
    assert_eq!(take_crconfig(&body, date).map(|t| t.0), Some(2000));

    // Broken, older, another CDN, gone: each refused once, v2 served on.
    let refusals = |sb: &Switchboard| sb.log_lines("new version refused").len();
    for (n, bad) in [
        "{\"stats\": ".to_string(),
        crconfig("cdn1", 1500, 333),
        crconfig("cdn2", 3000, 4444),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&file, &bad).unwrap();
        wait_until(Duration::from_secs(10), "refusal logged", || async {
            poll(&sb, "/publish/CrConfig").await == Some(v2.replace('\n', ""))
                && refusals(&sb) == n + 1
        })
        .await;
    }
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        poll(&sb, "/publish/CrConfig").await,
        Some(v2.replace('\n', ""))
    );
    assert_eq!(
        poll(&sb, "/publish/CrConfig").await.map(|b| b.len()),
        Some(v2.len() - v2.matches('\n').count())
    );
    assert_eq!(
        refusals(&sb),
        4,
        "a gone file is refused once:\n{}",
        sb.stderr()
    );

    let history = get(&sb, "/api/crconfig-history", true).await.3;
    let history: Value = serde_json::from_str(&history).unwrap();
    assert_written_as(&history, tc_types::CRCONFIG_HISTORY, "history");
    let dates: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["stats"]["date"])
        .collect();
    assert_eq!(
        dates,
        [&json!(1000), &json!(2000)],
        "the versions served, oldest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_crconfig_file_traffic_router_gets_no_200() {
    let fleet = Fleet::start(1).await;
    let sb = fleet.switchboard(Builder::new()).await;
    assert_eq!(poll(&sb, "/publish/CrConfig?json").await, None);
    let (status, _, _, text) = get(&sb, "/publish/CrConfig", false).await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("crconfig_file"), "{text}");
    let (status, _, _, text) = get(&sb, "/api/crconfig-history", false).await;
    assert_eq!((status, text.as_str()), (200, "[]"));
    let _ = NAMES;
}
