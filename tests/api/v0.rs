//! The Go switchboard's `/v0` API against the real binary (docs/api.md):
//! shapes field by field before and after failovers, PATCHes and session
//! changes; every PATCH input class; ROUTING_OFF severing through the API;
//! monitoring off freezing the active.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::*;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const BACKEND_KEYS: [&str; 7] = [
    "host",
    "port",
    "healthy",
    "name",
    "currentSessionCount",
    "active",
    "trafficEnabled",
];

/// Checks one `/v0/backends` entry field by field.
fn check_backend(
    b: &Value,
    fleet: &Fleet,
    pos: usize,
    healthy: bool,
    sessions: u64,
    active: bool,
    traffic: bool,
) {
    let k = keys(b);
    assert_eq!(
        &k[..7],
        &BACKEND_KEYS,
        "reference keys first, in order: {b}"
    );
    assert_eq!(b["host"], json!("127.0.0.1"));
    assert_eq!(b["port"], json!(fleet.backends[pos].addr.port()));
    assert_eq!(b["healthy"], json!(healthy), "{b}");
    assert_eq!(b["name"], json!(format!("db-{pos}")));
    assert_eq!(b["currentSessionCount"], json!(sessions), "{b}");
    assert_eq!(b["active"], json!(active), "{b}");
    assert_eq!(b["trafficEnabled"], json!(traffic), "{b}");
    assert!(
        b["index"].is_u64() && b["adminState"].is_string() && b["role"].is_string(),
        "{b}"
    );
}

/// Checks `/v0/cluster`'s shape (the same for GET and PATCH answers: the
/// reference fields, then `monitoringEnabled`); returns `lastUpdated`.
fn check_cluster(
    c: &Value,
    fleet: &Fleet,
    active: Option<usize>,
    traffic: bool,
    message: &str,
) -> OffsetDateTime {
    let expected = [
        "activeBackend",
        "trafficEnabled",
        "message",
        "lastUpdated",
        "monitoringEnabled",
    ];
    assert_eq!(keys(c), expected, "{c}");
    assert!(c["monitoringEnabled"].is_boolean(), "{c}");
    match active {
        Some(pos) => {
            let a = &c["activeBackend"];
            assert_eq!(keys(a), ["host", "port", "name"]);
            assert_eq!(a["host"], json!("127.0.0.1"));
            assert_eq!(a["port"], json!(fleet.backends[pos].addr.port()));
            assert_eq!(a["name"], json!(format!("db-{pos}")));
        }
        None => assert!(c["activeBackend"].is_null(), "{c}"),
    }
    assert_eq!(c["trafficEnabled"], json!(traffic));
    assert_eq!(c["message"], json!(message));
    OffsetDateTime::parse(c["lastUpdated"].as_str().unwrap(), &Rfc3339)
        .expect("lastUpdated is RFC 3339")
}

async fn backends(sb: &Switchboard) -> Vec<Value> {
    sb.json("/v0/backends")
        .await
        .as_array()
        .expect("array")
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_follow_failovers_patches_and_sessions() {
    let fleet = Fleet::start(3).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let proxy = sb.ports.proxy;

    let list = backends(&sb).await;
    assert_eq!(list.len(), 3);
    for (pos, b) in list.iter().enumerate() {
        check_backend(b, &fleet, pos, true, 0, pos == 0, true);
    }
    let first_update = check_cluster(&sb.json("/v0/cluster").await, &fleet, Some(0), true, "");

    // Exact session counts, read right after the sessions are established.
    let mut on_db0 = Vec::new();
    for n in 1..=3u64 {
        on_db0.push(open_session(proxy).await);
        check_backend(&backends(&sb).await[0], &fleet, 0, true, n, true, true);
    }
    drop(on_db0.pop());
    wait_until(Duration::from_secs(5), "db-0 at 2 sessions", || async {
        backends(&sb).await[0]["currentSessionCount"] == json!(2)
    })
    .await;

    // Failover: db-0 fails its health check; its sessions are severed.
    fleet.health[0].set(Health::Status503);
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    for s in &mut on_db0 {
        expect_eof_or_reset(s, Duration::from_secs(3)).await;
    }
    wait_until(Duration::from_secs(5), "db-0 at 0 sessions", || async {
        backends(&sb).await[0]["currentSessionCount"] == json!(0)
    })
    .await;
    let list = backends(&sb).await;
    check_backend(&list[0], &fleet, 0, false, 0, false, true);
    check_backend(&list[1], &fleet, 1, true, 0, true, true);
    check_backend(&list[2], &fleet, 2, true, 0, false, true);
    check_cluster(&sb.json("/v0/cluster").await, &fleet, Some(1), true, "");

    let mut on_db1 = vec![open_session(proxy).await, open_session(proxy).await];
    check_backend(&backends(&sb).await[1], &fleet, 1, true, 2, true, true);

    // Drain db-1 by PATCH: the answer is the backend object, not electable.
    let (status, b) = sb
        .call(sb.request(
            Method::PATCH,
            "/v0/backends/db-1?state=drain&message=upgrade",
        ))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["adminState"], json!("drain"));
    assert_eq!(b["adminMessage"], json!("upgrade"));
    assert_eq!(&keys(&b)[..7], &BACKEND_KEYS);
    assert_eq!(b["active"], json!(false));
    assert_eq!(b["trafficEnabled"], json!(false));
    check_cluster(&sb.json("/v0/cluster").await, &fleet, Some(2), true, "");
    for s in &mut on_db1 {
        expect_eof_or_reset(s, Duration::from_secs(3)).await; // drain_timeout = 0
    }
    // A severed session's client gets its FIN first; the session is
    // uncounted once the closer has closed both its sockets, just after.
    wait_until(
        Duration::from_secs(1),
        "the drained sessions uncounted",
        || async { backends(&sb).await[1]["currentSessionCount"] == json!(0) },
    )
    .await;

    // Routing off by PATCH (JSON body): every backend's trafficEnabled false.
    let (status, c) = sb
        .call(
            sb.request(Method::PATCH, "/v0/cluster")
                .json_body(json!({"trafficEnabled": false, "message": "maint"})),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    let updated = check_cluster(&c, &fleet, Some(2), false, "maint");
    assert!(updated >= first_update);
    assert_eq!(c["monitoringEnabled"], json!(true));
    let list = backends(&sb).await;
    for (pos, b) in list.iter().enumerate() {
        check_backend(b, &fleet, pos, pos != 0, 0, pos == 2, false);
    }
    check_cluster(
        &sb.json("/v0/cluster").await,
        &fleet,
        Some(2),
        false,
        "maint",
    );

    let (status, c) = sb
        .call(sb.request(Method::PATCH, "/v0/cluster?trafficEnabled=true"))
        .await;
    assert_eq!(status, 200, "{c}");
    check_cluster(&c, &fleet, Some(2), true, "");
    let list = backends(&sb).await;
    check_backend(&list[1], &fleet, 1, true, 0, false, false); // still drained
    check_backend(&list[2], &fleet, 2, true, 0, true, true);
    let _s = open_session(proxy).await;
    check_backend(&backends(&sb).await[2], &fleet, 2, true, 1, true, true);
}

/// A JSON body on a request builder.
trait JsonBody {
    fn json_body(self, v: Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, v: Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(v.to_string())
    }
}

/// Asserts a JSON error with `status` and `field`.
fn assert_error(got: (u16, Value), status: u16, field: Option<&str>) {
    assert_eq!(got.0, status, "{}", got.1);
    assert!(
        got.1["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        got.1
    );
    assert_eq!(
        got.1["field"],
        field.map_or(Value::Null, |f| json!(f)),
        "{}",
        got.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_patch_input_class() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let patch = |q: &str| sb.request(Method::PATCH, &format!("/v0/cluster{q}"));

    // Every Go spelling, from the query string.
    for (spelling, value) in [
        ("0", false),
        ("1", true),
        ("f", false),
        ("t", true),
        ("F", false),
        ("T", true),
        ("FALSE", false),
        ("TRUE", true),
        ("false", false),
        ("true", true),
        ("False", false),
        ("True", true),
    ] {
        let (status, c) = sb
            .call(patch(&format!(
                "?trafficEnabled={spelling}&message=m-{spelling}"
            )))
            .await;
        assert_eq!(status, 200, "{spelling}: {c}");
        assert_eq!(c["trafficEnabled"], json!(value), "{spelling}");
        assert_eq!(c["message"], json!(format!("m-{spelling}")));
    }
    // Form body.
    let form = patch("")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("trafficEnabled=F&message=form+off");
    let (status, c) = sb.call(form).await;
    assert_eq!(
        (status, c["trafficEnabled"].clone(), c["message"].clone()),
        (200, json!(false), json!("form off"))
    );
    // JSON with a string and with a real boolean; monitoringEnabled alone.
    let (status, c) = sb
        .call(patch("").json_body(json!({"trafficEnabled": "True"})))
        .await;
    assert_eq!((status, c["trafficEnabled"].clone()), (200, json!(true)));
    let (status, c) = sb
        .call(patch("").json_body(json!({"monitoringEnabled": false})))
        .await;
    assert_eq!(
        (
            status,
            c["monitoringEnabled"].clone(),
            c["trafficEnabled"].clone()
        ),
        (200, json!(false), json!(true))
    );
    let (status, c) = sb.call(patch("?monitoringEnabled=1")).await;
    assert_eq!((status, c["monitoringEnabled"].clone()), (200, json!(true)));
    // Both flags at once, body wins over query.
    let both = patch("?trafficEnabled=true").json_body(
        json!({"trafficEnabled": false, "monitoringEnabled": "true", "message": "both"}),
    );
    let (status, c) = sb.call(both).await;
    assert_eq!(
        (status, c["trafficEnabled"].clone(), c["message"].clone()),
        (200, json!(false), json!("both"))
    );
    sb.call(patch("?trafficEnabled=true")).await;

    // Refusals, each with its field.
    assert_error(sb.call(patch("")).await, 400, Some("trafficEnabled"));
    assert_error(
        sb.call(patch("?message=only")).await,
        400,
        Some("trafficEnabled"),
    );
    for bad in ["yes", "", "2", "tRUE", "on"] {
        assert_error(
            sb.call(patch(&format!("?trafficEnabled={bad}&message=x")))
                .await,
            400,
            Some("trafficEnabled"),
        );
    }
    assert_error(
        sb.call(patch("?monitoringEnabled=nope")).await,
        400,
        Some("monitoringEnabled"),
    );
    assert_error(
        sb.call(patch("").json_body(json!({"trafficEnabled": [true]})))
            .await,
        400,
        Some("trafficEnabled"),
    );
    assert_error(
        sb.call(patch("?trafficEnabled=false")).await,
        400,
        Some("message"),
    );
    assert_error(
        sb.call(patch("?trafficEnabled=false&message=")).await,
        400,
        Some("message"),
    );
    assert_error(
        sb.call(patch("").json_body(json!({"trafficEnabled": false})))
            .await,
        400,
        Some("message"),
    );
    assert_error(
        sb.call(
            patch("")
                .header("Content-Type", "application/json")
                .body("{not json"),
        )
        .await,
        400,
        None,
    );
    // Nothing was applied by the refusals.
    assert_eq!(sb.json("/v0/cluster").await["trafficEnabled"], json!(true));

    // Backends.
    let backend = |q: &str| sb.request(Method::PATCH, &format!("/v0/backends/{q}"));
    assert_error(
        sb.call(backend("db-9?state=drain")).await,
        404,
        Some("name"),
    );
    assert_error(
        sb.call(backend("db-1?state=sleeping")).await,
        400,
        Some("state"),
    );
    assert_error(sb.call(backend("db-1")).await, 400, Some("state"));
    for state in ["disabled", "drain", "enabled"] {
        let (status, b) = sb
            .call(backend("db-1").json_body(json!({"state": state, "message": "m"})))
            .await;
        assert_eq!(
            (status, b["adminState"].clone(), b["name"].clone()),
            (200, json!(state), json!("db-1"))
        );
    }
    let form = backend("db-1")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("state=disabled");
    assert_eq!(sb.call(form).await.1["adminState"], json!("disabled"));

    // Oversized bodies: 413 JSON, declared or chunked.
    let big = format!("trafficEnabled=true&message={}", "x".repeat(70 * 1024));
    assert_error(
        sb.call(
            patch("")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(big),
        )
        .await,
        413,
        None,
    );
    let raw = chunked_patch(&sb, 70 * 1024).await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"error\""), "{raw}");

    // Wrong methods and unknown paths.
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let got = sb.call(sb.request(method.clone(), "/v0/cluster")).await;
        assert_error(got, 405, None);
    }
    assert_error(
        sb.call(sb.request(Method::POST, "/v0/backends")).await,
        405,
        None,
    );
    assert_error(sb.call(sb.get("/v0/nothing")).await, 404, None);
    assert_error(
        sb.call(sb.get("/v0/backends/db-7")).await,
        404,
        Some("name"),
    );
    assert_eq!(sb.json("/v0/backends/db-0").await["name"], json!("db-0"));
}

/// A PATCH with a chunked body of `size` bytes over a raw socket; returns
/// the raw response head and body.
async fn chunked_patch(sb: &Switchboard, size: usize) -> String {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sb.ports.api).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", sb.password));
    let head = format!(
        "PATCH /v0/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 8192];
    let mut sent = 0;
    while sent < size {
        let frame = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk.clone(),
            b"\r\n".to_vec(),
        ]
        .concat();
        if s.write_all(&frame).await.is_err() {
            break; // the server answered and closed early
        }
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_off_by_api_severs_every_session() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(open_session(sb.ports.proxy).await);
    }
    assert_eq!(backends(&sb).await[0]["currentSessionCount"], json!(4));
    let (status, c) = sb
        .call(sb.request(
            Method::PATCH,
            "/v0/cluster?trafficEnabled=0&message=maintenance+window",
        ))
        .await;
    assert_eq!((status, c["trafficEnabled"].clone()), (200, json!(false)));
    for s in &mut sessions {
        expect_eof_or_reset(s, Duration::from_secs(3)).await;
    }
    expect_closed_at_once(sb.ports.proxy, Duration::from_secs(3)).await;
    wait_until(Duration::from_secs(5), "all session counts 0", || async {
        backends(&sb)
            .await
            .iter()
            .all(|b| b["currentSessionCount"] == json!(0))
    })
    .await;
    wait_until(
        Duration::from_secs(5),
        "echo backend sees no connection",
        || async { fleet.backends[0].open() == 0 },
    )
    .await;
    let events = sb.json("/v0/events").await;
    let routing: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "routing_changed")
        .collect();
    assert_eq!(routing.len(), 1);
    assert_eq!(routing[0]["enabled"], json!(false));
    assert_eq!(routing[0]["message"], json!("maintenance window"));
    assert!(
        routing[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin@127.0.0.1:"),
        "{}",
        routing[0]
    );

    sb.call(sb.request(Method::PATCH, "/v0/cluster?trafficEnabled=1"))
        .await;
    // The PATCH answers once the proxy acts on it: the very next session is routed.
    let _s = open_session(sb.ports.proxy).await;
    assert_eq!(backends(&sb).await[0]["currentSessionCount"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_off_freezes_the_active_while_its_health_fails() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let (status, c) = sb
        .call(sb.request(Method::PATCH, "/v0/cluster?monitoringEnabled=false"))
        .await;
    assert_eq!(
        (status, c["monitoringEnabled"].clone()),
        (200, json!(false))
    );
    fleet.health[0].set(Health::Status503);
    // Observe for ten probe intervals: nothing may move.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(10 * sb.builder().interval_ms) {
        let list = backends(&sb).await;
        assert_eq!(list[0]["active"], json!(true), "{list:?}");
        assert_eq!(list[0]["healthy"], json!(true), "{list:?}");
        tokio::time::sleep(POLL).await;
    }
    let state = sb.state().await;
    assert_eq!(state["monitoring"]["enabled"], json!(false));
    let _s = open_session(sb.ports.proxy).await;
    assert_eq!(backends(&sb).await[0]["currentSessionCount"], json!(1));

    let (status, c) = sb
        .call(sb.request(Method::PATCH, "/v0/cluster?monitoringEnabled=true"))
        .await;
    assert_eq!((status, c["monitoringEnabled"].clone()), (200, json!(true)));
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    let c = sb.json("/v0/cluster").await;
    assert_eq!(c["activeBackend"]["name"], json!("db-1"));
}
