//! The API with `[coordination]`, through the API router as a client sees
//! it: `/v0/state`'s `coordination` object, PATCHes that go through the
//! coordinator (acknowledged, or 503 with nothing changed; validated
//! before anything is submitted), CrStates combined vs `?raw`, PeerStates,
//! the coordination events and the metrics that exist only when
//! coordinated. The coordinator is a fake that answers the handle's queue.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::test_support::{answer_requests, call, context, coordinated, sample_status};
use super::App;
use switchboard_core::bus::AdminState;
use switchboard_core::cluster::{Cluster, CommandError, ProbeResult};
use switchboard_core::coordination::OperatorChange;

/// The two instances the fake coordinator says acknowledged a change.
fn both() -> Vec<String> {
    vec!["proxy-0".into(), "proxy-1".into()]
}

/// An app over `ctx` that no server runs.
fn app(ctx: super::ApiContext) -> App {
    App::new(ctx, CancellationToken::new())
}

/// One probe of backend `pos` with verdict `ok`.
fn probe(cluster: &Cluster, pos: usize, ok: bool) {
    cluster.apply_probe(
        pos,
        ProbeResult {
            ok,
            index: None,
            reason: if ok {
                "healthy".into()
            } else {
                "HTTP 503".into()
            },
            latency: Duration::from_millis(1),
            galera: None,
        },
    );
}

/// The keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn state_shows_the_coordination() {
    let (status, state) = call(&app(context(2)), "GET", "/v0/state").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["coordination"], json!({"kind": "none"}));

    let (ctx, _requests) = coordinated(2);
    let cluster = ctx.cluster.clone();
    let app = app(ctx);
    let (_, state) = call(&app, "GET", "/v0/state").await;
    assert_eq!(state["coordination"]["kind"], "etcd");
    assert_eq!(
        state["coordination"]["role"], "joining",
        "before the store answers"
    );
    assert_eq!(state["coordination"]["decision"], Value::Null);

    cluster.set_coordination(sample_status(), "");
    let (_, state) = call(&app, "GET", "/v0/state").await;
    let c = &state["coordination"];
    assert_eq!(
        (&c["instance"], &c["role"], &c["connected"], &c["leader"]),
        (
            &json!("proxy-0"),
            &json!("leader"),
            &json!(true),
            &json!("proxy-0")
        )
    );
    assert_eq!((&c["epoch"], &c["lostCount"]), (&json!(4), &json!(1)));
    assert_eq!(
        (&c["combine"], &c["onCoordinatorLost"]),
        (&json!("majority"), &json!("hold"))
    );
    assert_eq!(c["decision"]["active"], "db-0");
    let instances: Vec<(&Value, &Value)> = c["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (&i["instance"], &i["self"]))
        .collect();
    assert_eq!(
        instances,
        [
            (&json!("proxy-0"), &json!(true)),
            (&json!("proxy-1"), &json!(false))
        ]
    );
    assert_eq!(c["combined"].as_array().unwrap().len(), 2);

    // The transition is an event on the log, with instance names.
    let (_, page) = call(&app, "GET", "/v0/events").await;
    let leader = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "leader_changed")
        .cloned()
        .expect("a leader_changed event");
    assert_eq!(
        (&leader["from"], &leader["to"]),
        (&Value::Null, &json!("proxy-0"))
    );
}

#[tokio::test]
async fn a_patch_goes_through_the_coordinator_and_says_who_acknowledged() {
    let (ctx, requests) = coordinated(2);
    let cluster = ctx.cluster.clone();
    let fake = answer_requests(requests, cluster.clone(), Ok(both()));
    let app = app(ctx);

    // Validation first: nothing invalid reaches the coordinator.
    let (status, body) = call(&app, "PATCH", "/v0/cluster").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "trafficEnabled");
    let (status, _) = call(&app, "PATCH", "/v0/cluster?trafficEnabled=false").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&app, "PATCH", "/v0/backends/db-9?state=drain").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, "PATCH", "/v0/backends/db-1?state=sleep").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = call(
        &app,
        "PATCH",
        "/v0/cluster?trafficEnabled=false&message=maintenance",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys(&body),
        [
            "activeBackend",
            "trafficEnabled",
            "message",
            "lastUpdated",
            "monitoringEnabled",
            "acknowledged"
        ]
    );
    assert_eq!(body["trafficEnabled"], false, "answered once applied");
    assert_eq!(body["acknowledged"], json!(["proxy-0", "proxy-1"]));

    let (status, body) = call(&app, "PATCH", "/v0/backends/db-1?state=drain&message=disk").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["name"], &body["adminState"]),
        (&json!("db-1"), &json!("drain"))
    );
    assert_eq!(keys(&body).last(), Some(&"acknowledged"));
    assert_eq!(cluster.truth().backends[1].admin, AdminState::Drain);

    drop(app);
    let seen = tokio::time::timeout(Duration::from_secs(5), fake)
        .await
        .expect("the fake ends with the handle")
        .unwrap();
    assert_eq!(
        seen,
        [
            OperatorChange::Flags {
                routing: Some((false, "maintenance".into())),
                monitoring: None,
            },
            OperatorChange::Admin {
                backend: "db-1".into(),
                state: AdminState::Drain,
                message: "disk".into(),
            }
        ]
    );
}

#[tokio::test]
async fn an_unavailable_store_is_503_and_changes_nothing() {
    let (ctx, requests) = coordinated(2);
    let cluster = ctx.cluster.clone();
    let why = "etcd is unreachable; nothing was changed";
    let _fake = answer_requests(
        requests,
        cluster.clone(),
        Err(CommandError::Unavailable(why.into())),
    );
    let app = app(ctx);
    for uri in [
        "/v0/cluster?monitoringEnabled=false",
        "/v0/backends/db-0?state=disabled",
    ] {
        let (status, body) = call(&app, "PATCH", uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(body, json!({"error": why, "field": null}), "{uri}");
    }
    let truth = cluster.truth();
    assert!(truth.monitoring.enabled);
    assert_eq!(truth.backends[0].admin, AdminState::Enabled);
}

#[tokio::test]
async fn alone_a_patch_answers_without_acknowledged() {
    let app = app(context(2));
    let (status, body) = call(&app, "PATCH", "/v0/cluster?monitoringEnabled=false").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["monitoringEnabled"], false);
    assert!(body.get("acknowledged").is_none(), "{body}");
    let (_, body) = call(&app, "PATCH", "/v0/backends/db-0?state=enabled").await;
    assert!(body.get("acknowledged").is_none(), "{body}");
}

#[tokio::test]
async fn crstates_serves_the_combined_view_and_raw_the_local_one() {
    let (ctx, _requests) = coordinated(3);
    let cluster = ctx.cluster.clone();
    for pos in 0..3 {
        probe(&cluster, pos, true);
    }
    let app = app(ctx);
    // Before a decision, both are the local view.
    let (_, combined) = call(&app, "GET", "/publish/CrStates").await;
    let (_, raw) = call(&app, "GET", "/publish/CrStates?raw").await;
    assert_eq!(combined, raw);
    assert_eq!(combined["caches"]["db-1"]["isAvailable"], true);

    // db-1 is healthy here but in 1 of 2 views only; db-2 is not in the
    // decision, so it keeps its local verdict.
    cluster.set_coordination(sample_status(), "");
    let (_, combined) = call(&app, "GET", "/publish/CrStates").await;
    let cache = |doc: &Value, name: &str| {
        let c = &doc["caches"][name];
        (
            c["isAvailable"].as_bool().unwrap(),
            c["status"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(
        cache(&combined, "db-0"),
        (true, "REPORTED - available".into())
    );
    assert_eq!(
        cache(&combined, "db-1"),
        (
            false,
            "REPORTED - unavailable: healthy in 1 of 2 views".into()
        )
    );
    assert_eq!(
        cache(&combined, "db-2"),
        (true, "REPORTED - available".into())
    );
    let (_, raw) = call(&app, "GET", "/publish/CrStates/?raw=1").await;
    assert_eq!(cache(&raw, "db-1"), (true, "REPORTED - available".into()));

    // Operator states rule both views, as today.
    cluster
        .set_admin("db-0", AdminState::Disabled, "disk", "t")
        .unwrap();
    let (_, combined) = call(&app, "GET", "/publish/CrStates").await;
    assert_eq!(
        cache(&combined, "db-0"),
        (false, "ADMIN_DOWN - disabled by operator: disk".into())
    );

    let (_, statuses) = call(&app, "GET", "/api/cache-statuses").await;
    assert_eq!(statuses["db-1"]["combined_available"], false);
    assert_eq!(statuses["db-1"]["ipv4_available"], true, "local");
}

#[tokio::test]
async fn peer_states_lists_the_other_instances_views() {
    let (_, alone) = call(&app(context(2)), "GET", "/publish/PeerStates").await;
    assert_eq!(alone["peers"], json!({}));
    assert_eq!(keys(&alone), ["pp", "date", "peers"]);

    let (ctx, _requests) = coordinated(3);
    let cluster = ctx.cluster.clone();
    let app = app(ctx);
    cluster.set_coordination(sample_status(), "");
    let (status, doc) = call(&app, "GET", "/publish/PeerStates/?hc=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["pp"], "hc=[1]");
    assert!(doc["date"].as_str().unwrap().contains(" UTC "), "{doc}");
    let available = json!([{"value": true, "ipv4Available": true, "ipv6Available": false}]);
    let down = json!([{"value": false, "ipv4Available": false, "ipv6Available": false}]);
    assert_eq!(
        doc["peers"],
        json!({"proxy-1": {"db-0": available, "db-1": available, "db-2": down}}),
        "this instance is never listed; db-2 is not in proxy-1's view"
    );
}

#[tokio::test]
async fn coordination_metrics_exist_only_when_coordinated() {
    let app_alone = app(context(2));
    let text = |app: &App| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &app.metrics).unwrap();
        text
    };
    assert!(!text(&app_alone).contains("switchboard_coordination_"));

    let (ctx, _requests) = coordinated(2);
    let cluster = ctx.cluster.clone();
    let app = app(ctx);
    let joining = text(&app);
    assert!(
        joining.contains("switchboard_coordination_connected 0\n"),
        "{joining}"
    );
    cluster.set_coordination(sample_status(), "");
    let text = text(&app);
    for line in [
        "switchboard_coordination_connected 1\n",
        "switchboard_coordination_leader 1\n",
        "switchboard_coordination_instances 2\n",
        "switchboard_coordination_epoch 4\n",
        "# TYPE switchboard_coordination_lost counter\n",
        "switchboard_coordination_lost_total 1\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
}

/// The fields of the OpenAPI schema `name` that every answer carries.
fn required(doc: &Value, name: &str) -> Vec<String> {
    let mut fields: Vec<String> = doc["components"]["schemas"][name]["required"]
        .as_array()
        .unwrap_or_else(|| panic!("schema {name}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    fields.sort();
    fields
}

/// The sorted keys of a JSON object.
fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = keys(v).into_iter().map(str::to_string).collect();
    k.sort();
    k
}

#[tokio::test]
async fn the_openapi_document_names_every_coordination_field() {
    let doc: Value = serde_json::from_str(super::openapi::DOCUMENT).unwrap();
    let (ctx, _requests) = coordinated(2);
    let cluster = ctx.cluster.clone();
    let app = app(ctx);
    cluster.set_coordination(sample_status(), "");
    let (_, state) = call(&app, "GET", "/v0/state").await;
    let c = &state["coordination"];
    assert_eq!(sorted_keys(c), required(&doc, "CoordinationEtcd"));
    assert_eq!(
        sorted_keys(&c["decision"]),
        required(&doc, "CoordinationDecision")
    );
    assert_eq!(
        sorted_keys(&c["instances"][0]),
        required(&doc, "CoordinationInstance")
    );
    assert_eq!(
        sorted_keys(&c["instances"][0]["backends"][0]),
        required(&doc, "CoordinationPeerBackend")
    );
    assert_eq!(
        sorted_keys(&c["combined"][0]),
        required(&doc, "CoordinationCombined")
    );
    let (_, peers) = call(&app, "GET", "/publish/PeerStates").await;
    assert_eq!(sorted_keys(&peers), required(&doc, "PeerStates"));
    let events = &doc["components"]["schemas"]["Event"]["properties"]["type"]["enum"];
    for kind in [
        "coordinator_lost",
        "coordinator_rejoined",
        "leader_changed",
        "local_disagreement",
    ] {
        assert!(events.as_array().unwrap().contains(&json!(kind)), "{kind}");
    }
}
