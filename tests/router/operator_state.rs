//! Operator state across restarts (docs/operations.md, `[state] file`) with the real
//! binary:
//! - routing off with its message, monitoring off and backends drained or
//!   disabled by PATCH are written to the file (valid JSON, no temporary
//!   left behind) on every change, and after SIGTERM and a restart with the
//!   same config (same file, same ports) `/v0/cluster`, `/v0/backends` and
//!   `/v0/state` show exactly the same decisions before any client
//!   connects; monitoring restored off freezes the active the startup
//!   verdicts elected (no probes after them); a client, and the very first
//!   connection the restarted proxy accepts, is closed at once without
//!   dialling a backend although an active is elected;
//! - a corrupt, empty or unreadable state file makes `run` exit 2 with one
//!   line on stderr naming the file, before any proxy port is bound, and
//!   leaves the file as it was;
//! - an absent file is a clean start: routing and monitoring on, every
//!   backend enabled, sessions routed.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(10);
/// The admin states (and messages) of db-0, db-1, db-2 the test decides.
const DECIDED: [(&str, &str); 3] = [
    ("enabled", ""),
    ("drain", "upgrade"),
    ("disabled", "broken disk"),
];
/// How fast a connection must be closed to count as "at once".
const AT_ONCE: Duration = Duration::from_millis(500);

/// The operator decisions as the three read endpoints show them.
async fn operator_view(sb: &Switchboard) -> Value {
    let cluster = sb.json("/v0/cluster").await;
    let list = sb.json("/v0/backends").await;
    let state = sb.state().await;
    let admin = |b: &Value| {
        json!({
            "name": b["name"],
            "adminState": b["adminState"],
            "adminMessage": b["adminMessage"],
        })
    };
    json!({
        "cluster": {
            "trafficEnabled": cluster["trafficEnabled"],
            "message": cluster["message"],
        },
        "backends": list.as_array().expect("backends array").iter().map(|b| {
            let mut v = admin(b);
            v["trafficEnabled"] = b["trafficEnabled"].clone();
            v
        }).collect::<Vec<_>>(),
        "state": {
            "routing": {
                "enabled": state["routing"]["enabled"],
                "message": state["routing"]["message"],
            },
            "monitoring": state["monitoring"]["enabled"],
            "backends": state["backends"].as_array().expect("state backends")
                .iter().map(admin).collect::<Vec<_>>(),
        },
    })
}

/// The view of `routing` (None: on, else off with that message),
/// `monitoring`, and `admin` (state, message) of db-0, db-1, db-2.
fn expected_view(routing: Option<&str>, monitoring: bool, admin: [(&str, &str); 3]) -> Value {
    let routing_on = routing.is_none();
    let message = routing.unwrap_or("");
    let backend = |i: usize, traffic: Option<bool>| {
        let mut b = json!({
            "name": format!("db-{i}"),
            "adminState": admin[i].0,
            "adminMessage": admin[i].1,
        });
        if let Some(t) = traffic {
            b["trafficEnabled"] = json!(t);
        }
        b
    };
    json!({
        "cluster": {"trafficEnabled": routing_on, "message": message},
        "backends": (0..3)
            .map(|i| backend(i, Some(routing_on && admin[i].0 == "enabled")))
            .collect::<Vec<_>>(),
        "state": {
            "routing": {"enabled": routing_on, "message": message},
            "monitoring": monitoring,
            "backends": (0..3).map(|i| backend(i, None)).collect::<Vec<_>>(),
        },
    })
}

/// PATCHes `path`; asserts 200 and that the state file then parses as JSON
/// and contains `mentions`; returns the file's text.
async fn patch_and_read_file(sb: &Switchboard, path: &str, file: &Path, mentions: &str) -> String {
    let (status, body) = sb.patch(path, None).await;
    assert_eq!(status, 200, "PATCH {path}: {body}");
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("after PATCH {path}: no state file {}: {e}", file.display()));
    let parsed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("after PATCH {path}: state file is not JSON ({e}):\n{text}"));
    assert!(
        parsed.is_object(),
        "state file is not a JSON object:\n{text}"
    );
    assert!(
        text.contains(mentions),
        "after PATCH {path}: the state file lacks {mentions:?}:\n{text}"
    );
    text
}

/// Connects to `addr` as soon as it accepts (retrying refused connects for
/// at most `within`), sends a line and returns whether the connection was
/// closed without a single byte back within [`AT_ONCE`], and how long the
/// close took. A routed session would echo the line.
async fn first_connection_closed(addr: std::net::SocketAddr, within: Duration) -> (bool, Duration) {
    let started = Instant::now();
    let mut stream = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => break s,
            Err(e) if started.elapsed() > within => panic!("never connected to {addr}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    };
    let accepted = Instant::now();
    let _ = stream.write_all(b"anyone there?\n").await;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(AT_ONCE, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => (true, accepted.elapsed()),
        Ok(Ok(_)) | Err(_) => (false, accepted.elapsed()),
    }
}

fn accepted(fleet: &Fleet) -> Vec<u64> {
    fleet.backends.iter().map(Backend::accepted).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_monitoring_and_admin_states_survive_a_restart() {
    let fleet = Fleet::start(3).await;
    let dir = TempDir::new("opstate");
    let file = dir.join("state.json");
    let mut sb = fleet
        .switchboard(Builder::new().state_file(file.clone()))
        .await;
    let fresh = expected_view(None, true, [("enabled", ""); 3]);
    assert_eq!(operator_view(&sb).await, fresh);

    patch_and_read_file(
        &sb,
        "/v0/cluster?trafficEnabled=false&message=maintenance+window",
        &file,
        "maintenance window",
    )
    .await;
    patch_and_read_file(&sb, "/v0/cluster?monitoringEnabled=false", &file, "{").await;
    patch_and_read_file(
        &sb,
        "/v0/backends/db-1?state=drain&message=upgrade",
        &file,
        "upgrade",
    )
    .await;
    let text = patch_and_read_file(
        &sb,
        "/v0/backends/db-2?state=disabled&message=broken+disk",
        &file,
        "broken disk",
    )
    .await;
    for needle in ["maintenance window", "db-1", "upgrade", "db-2"] {
        assert!(
            text.contains(needle),
            "state file lacks {needle:?}:\n{text}"
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state.json")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let decided = expected_view(Some("maintenance window"), false, DECIDED);
    assert_eq!(operator_view(&sb).await, decided);

    // Restart 1: everything restored before anyone connects.
    let status = sb.stop().await;
    assert!(status.success(), "SIGTERM exit: {status}");
    sb.restart().await;
    assert_eq!(
        operator_view(&sb).await,
        decided,
        "after a restart; stderr:\n{}",
        sb.stderr()
    );
    // The verdicts of startup elected db-0 (db-1 drains, db-2 is disabled)
    // before the freeze was restored; from then on nothing is probed.
    assert_eq!(sb.state().await["active"], "db-0", "active after restart 1");
    let probes: Vec<u64> = fleet.health.iter().map(HealthEndpoint::requests).collect();
    let window = Duration::from_millis(5 * sb.builder().interval_ms);
    let started = Instant::now();
    while started.elapsed() < window {
        let now: Vec<u64> = fleet.health.iter().map(HealthEndpoint::requests).collect();
        assert_eq!(now, probes, "probed while monitoring is off");
        tokio::time::sleep(POLL).await;
    }
    let dialled = accepted(&fleet);
    let took = expect_closed_at_once(sb.proxy, AT_ONCE).await;
    eprintln!("restart 1: a client was closed after {}", ms(took));
    assert_eq!(accepted(&fleet), dialled, "routing off dialled a backend");
    assert_eq!(sb.state().await["active"], "db-0", "the active is frozen");

    // Monitoring back on, routing still off.
    patch_and_read_file(&sb, "/v0/cluster?monitoringEnabled=true", &file, "{").await;
    sb.wait_active(Some("db-0"), WAIT).await;
    let monitored = expected_view(Some("maintenance window"), true, DECIDED);
    assert_eq!(operator_view(&sb).await, monitored);

    // Restart 2 with an active elected before the proxy port opens: the
    // very first connection it accepts is closed, for routing is off.
    let status = sb.stop().await;
    assert!(status.success(), "SIGTERM exit: {status}");
    let dialled = accepted(&fleet);
    let proxy = sb.proxy;
    let first = tokio::spawn(first_connection_closed(proxy, Duration::from_secs(30)));
    sb.restart().await;
    let (closed, took) = first.await.unwrap();
    assert!(
        closed,
        "the first connection after the restart was not closed at once (after {})",
        ms(took)
    );
    eprintln!(
        "restart 2: the first connection was closed after {}",
        ms(took)
    );
    assert_eq!(accepted(&fleet), dialled, "routing off dialled a backend");
    assert_eq!(operator_view(&sb).await, monitored, "after restart 2");
    sb.wait_active(Some("db-0"), WAIT).await;
    expect_closed_at_once(sb.proxy, AT_ONCE).await;
    assert_eq!(accepted(&fleet), dialled, "routing off dialled a backend");

    // Routing on: sessions reach db-0 again, and that survives a restart.
    patch_and_read_file(&sb, "/v0/cluster?trafficEnabled=true", &file, "{").await;
    let _session = open_session(sb.proxy).await;
    assert_eq!(fleet.backends[0].accepted(), dialled[0] + 1);
    drop(_session);
    let status = sb.stop().await;
    assert!(status.success(), "SIGTERM exit: {status}");
    sb.restart().await;
    let routed = expected_view(None, true, DECIDED);
    assert_eq!(operator_view(&sb).await, routed, "after restart 3");
    sb.wait_active(Some("db-0"), WAIT).await;
    let _session = open_session(sb.proxy).await;
}

/// A config for `fleet` with `file` as state file, with the proxy port held
/// by this test; `run` on it; returns (exit code, stderr).
fn run_with_state_file(fleet: &Fleet, file: &Path) -> (Option<i32>, String) {
    let dir = TempDir::new("opstate-bad");
    let ports = Ports::fresh();
    // Held: a run that bound its proxy port before reading the state file
    // would fail on it with exit 1 ("cannot bind") instead of exit 2.
    let _held = std::net::TcpListener::bind(ports.proxy).expect("hold the proxy port");
    let config = dir.join("switchboard.toml");
    let toml = fleet
        .config(Builder::new().state_file(file.into()))
        .toml(&ports);
    std::fs::write(&config, toml).unwrap();
    let (code, _stdout, stderr) = run_cli(
        &["run", "--config", config.to_str().unwrap()],
        Duration::from_secs(20),
    );
    (code, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_unreadable_state_file_is_a_configuration_error() {
    let fleet = Fleet::start(2).await;
    let dir = TempDir::new("opstate-corrupt");
    for (name, content) in [
        ("garbage.json", Some("{not json")),
        ("empty.json", Some("")),
        ("truncated.json", Some("{\"routing_enabled\": fal")),
        ("a-directory.json", None),
    ] {
        let file = dir.join(name);
        match content {
            Some(text) => std::fs::write(&file, text).unwrap(),
            None => std::fs::create_dir(&file).unwrap(),
        }
        let (code, stderr) = run_with_state_file(&fleet, &file);
        assert_eq!(code, Some(2), "{name}: exit code; stderr:\n{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: one line on stderr:\n{stderr}");
        assert!(
            lines[0].contains(&file.display().to_string()),
            "{name}: the line names the file: {}",
            lines[0]
        );
        assert!(
            lines[0].contains("configuration error"),
            "{name}: {}",
            lines[0]
        );
        if let Some(text) = content {
            assert_eq!(
                std::fs::read_to_string(&file).unwrap(),
                text,
                "{name}: the file was changed"
            );
        }
    }
    let untouched: Vec<u64> = fleet.backends.iter().map(Backend::accepted).collect();
    assert_eq!(untouched, [0, 0], "a failed start dialled a backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_state_file_is_a_clean_start() {
    let fleet = Fleet::start(3).await;
    let dir = TempDir::new("opstate-absent");
    let file = dir.join("state.json");
    let sb = fleet.switchboard(Builder::new().state_file(file)).await;
    assert_eq!(
        operator_view(&sb).await,
        expected_view(None, true, [("enabled", ""); 3])
    );
    let state = sb.state().await;
    assert_eq!(state["active"], "db-0");
    let _session = open_session(sb.proxy).await;
    let list = sb.json("/v0/backends").await;
    assert_eq!(list[0]["currentSessionCount"], 1, "{list}");
}
