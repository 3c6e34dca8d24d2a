//! The one read model (`docs/api.md`, "The merged state"): every snapshot's
//! `lastEventIndex` is exact, and clients receive what they show.
//!
//! - While routing and admin states change as fast as PATCHes go, every
//!   `/v0/state` read during the storm is compared with the event log folded
//!   up to that snapshot's `lastEventIndex`: routing, the active backend and
//!   every admin state must be exactly what those events say — a snapshot
//!   that claimed an event it did not contain (or missed one it claimed)
//!   fails here.
//! - Every event carries the server's `description`; every backend its
//!   `role`; `/v0/backends`, `/v0/cluster` and `/v0/state` agree.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_harness::*;

/// How many PATCHes the storm sends (bounded; about 1 s on 2 cores).
const PATCHES: usize = 120;

/// What the events up to some index say.
#[derive(Debug, Default, PartialEq)]
struct Folded {
    routing: Option<bool>,
    active: Option<Option<String>>,
    admin: BTreeMap<String, String>,
}

/// Folds every event with an index up to `upto`.
fn fold(events: &[Value], upto: u64) -> Folded {
    let mut f = Folded::default();
    for e in events.iter().filter(|e| e["index"].as_u64() <= Some(upto)) {
        match e["type"].as_str() {
            Some("routing_changed") => f.routing = e["enabled"].as_bool(),
            Some("active_changed") => f.active = Some(e["to"].as_str().map(str::to_string)),
            Some("backend_state_changed") => {
                let name = e["backend"].as_str().unwrap_or_default().to_string();
                let state = e["state"].as_str().unwrap_or_default().to_string();
                f.admin.insert(name, state);
            }
            _ => {}
        }
    }
    f
}

/// What a snapshot says about the same things, for the fields the fold knows.
fn observed(s: &Value, folded: &Folded) -> Folded {
    let mut admin = BTreeMap::new();
    for name in folded.admin.keys() {
        admin.insert(
            name.clone(),
            backend(s, name)["adminState"].as_str().unwrap().to_string(),
        );
    }
    Folded {
        routing: folded
            .routing
            .map(|_| s["routing"]["enabled"].as_bool().unwrap()),
        active: folded
            .active
            .as_ref()
            .map(|_| s["active"].as_str().map(str::to_string)),
        admin,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_snapshot_contains_exactly_the_events_it_claims() {
    let fleet = Fleet::start(3).await;
    let sb = fleet.switchboard(Builder::new()).await;
    sb.wait_active(Some("db-0"), Duration::from_secs(5)).await;

    let storm = async {
        for i in 0..PATCHES {
            let (status, body) = match i % 4 {
                0 => {
                    sb.patch("/v0/cluster?trafficEnabled=false&message=storm", None)
                        .await
                }
                1 => {
                    sb.patch("/v0/backends/db-0?state=drain&message=storm", None)
                        .await
                }
                2 => sb.patch("/v0/cluster?trafficEnabled=true", None).await,
                _ => sb.patch("/v0/backends/db-0?state=enabled", None).await,
            };
            assert_eq!(status, 200, "PATCH {i}: {body}");
        }
    };
    let reads = async {
        let mut snapshots = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Until the storm's last PATCH is visible (bounded by count and time).
        while snapshots.len() < 5_000 && Instant::now() < deadline {
            let s = sb.state().await;
            let done = s["routing"]["enabled"] == json!(true)
                && backend(&s, "db-0")["adminState"] == "enabled"
                && s["lastEventIndex"].as_u64() >= Some(PATCHES as u64);
            snapshots.push(s);
            if done && snapshots.len() > PATCHES {
                break;
            }
        }
        snapshots
    };
    let ((), snapshots) = tokio::join!(storm, reads);
    let page = sb.json("/v0/events?since=0").await;
    assert_eq!(page["missed"], json!(false), "the ring kept every event");
    let events = page["events"].as_array().expect("events").clone();

    let mut checked = 0;
    let mut generations = Vec::new();
    for s in &snapshots {
        let index = s["lastEventIndex"].as_u64().expect("lastEventIndex");
        let folded = fold(&events, index);
        assert_eq!(
            observed(s, &folded),
            folded,
            "snapshot of generation {} claims event {index} but does not show what the events up to it say",
            s["generation"]
        );
        generations.push(s["generation"].as_u64().unwrap());
        checked += 1;
    }
    assert!(
        generations.windows(2).all(|w| w[0] <= w[1]),
        "generation never goes back: {generations:?}"
    );
    let distinct: std::collections::BTreeSet<_> = snapshots
        .iter()
        .map(|s| s["lastEventIndex"].as_u64())
        .collect();
    // Proof the reads interleaved with the storm, not only before or after it.
    assert!(
        distinct.len() >= 10,
        "only {} distinct event indices in {checked} snapshots",
        distinct.len()
    );
    eprintln!(
        "{checked} snapshots checked against {} events, {} distinct indices",
        events.len(),
        distinct.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_receive_roles_and_descriptions_and_every_view_agrees() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    sb.wait_active(Some("db-0"), Duration::from_secs(5)).await;
    let (status, _) = sb
        .patch("/v0/backends/db-1?state=disabled&message=upgrade", None)
        .await;
    assert_eq!(status, 200);

    let state = sb.state().await;
    assert_eq!(backend(&state, "db-0")["role"], "active");
    assert_eq!(backend(&state, "db-1")["role"], "disabled");
    let v0 = sb.json("/v0/backends").await;
    assert_eq!(v0[0]["role"], "active", "{v0}");
    assert_eq!(v0[1]["role"], "disabled", "{v0}");
    let cluster = sb.json("/v0/cluster").await;
    assert_eq!(cluster["activeBackend"]["name"], state["active"]);
    assert_eq!(cluster["monitoringEnabled"], state["monitoring"]["enabled"]);

    let page = sb.json("/v0/events?since=0").await;
    let events = page["events"].as_array().expect("events");
    assert!(!events.is_empty());
    for e in events {
        let d = e["description"]
            .as_str()
            .unwrap_or_else(|| panic!("no description: {e}"));
        assert!(!d.is_empty(), "{e}");
    }
    let disabled = events
        .iter()
        .find(|e| e["type"] == "backend_state_changed")
        .expect("the disable event");
    let text = disabled["description"].as_str().unwrap_or_default();
    assert!(
        text.starts_with("db-1 set disabled by admin@127.0.0.1:") && text.ends_with(": upgrade"),
        "{disabled}"
    );
    // No float noise in latencies: at most three decimals.
    for b in state["backends"].as_array().unwrap() {
        let text = b["lastCheck"]["latencyMs"].to_string();
        let decimals = text.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 3, "latencyMs {text} has float noise");
    }
}
