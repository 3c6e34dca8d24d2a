//! Reload (docs/operations.md, "Reload"): SIGHUP, `POST /v0/reload` and
//! `switchboard reload` re-read the file and apply it without a restart.
//! Sessions a change does not concern flow on byte for byte; only those of
//! a removed backend are severed; an invalid file changes nothing and
//! names every problem; operator state survives; a moved proxy port is
//! served by the new socket before the old one closes.

use std::time::{Duration, Instant};

use switchboard_harness::*;

/// The `config_reloaded` events so far.
async fn reload_events(sb: &Switchboard) -> Vec<serde_json::Value> {
    let events = sb.json("/v0/events").await;
    events["events"]
        .as_array()
        .or_else(|| events.as_array())
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["type"] == "config_reloaded")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_and_removes_backends_and_severs_only_the_removed_ones() {
    let g = Greeters::start([0, 1, 2]).await;
    let first = Builder::new()
        .interval(30, 500)
        .standby()
        .backend(&g.backends[0], &g.health[0])
        .backend(&g.backends[1], &g.health[1]);
    let sb = first.clone().start().await;
    let standby = sb.standby.expect("standby port");
    sb.wait_state(Duration::from_secs(5), "active b0, standby b1", |s| {
        s["active"] == "b0" && s["standby"] == "b1"
    })
    .await;
    let checksum = sb.state().await["config"]["checksum"].clone();

    // Three sessions on the kept backend, open through the reload (bytes
    // moving during one: reload_load.rs); three on the backend it removes.
    let mut kept = Vec::new();
    for _ in 0..3 {
        let (s, who) = greet(sb.proxy).await;
        assert_eq!(who, "b0");
        kept.push(s);
    }
    let mut doomed = Vec::new();
    for _ in 0..3 {
        let (s, who) = greet(standby).await;
        assert_eq!(who, "b1");
        doomed.push(s);
    }
    sb.wait_state(Duration::from_secs(5), "six sessions", |s| {
        sessions(s, "b0") == 3 && sessions(s, "b1") == 3
    })
    .await;

    // b1 leaves, b2 joins, the interval changes.
    let second = Builder::new()
        .interval(50, 500)
        .standby()
        .backend(&g.backends[0], &g.health[0])
        .backend(&g.backends[2], &g.health[2]);
    sb.write_config(&second, &sb.ports);
    let sent = Instant::now();
    sb.signal(libc::SIGHUP);
    let state = sb
        .wait_state(Duration::from_secs(5), "b2 in, b1 out", |s| {
            s["config"]["reloads"] == 1
                && s["backends"]
                    .as_array()
                    .is_some_and(|b| b.len() == 2 && b[0]["name"] == "b0" && b[1]["name"] == "b2")
        })
        .await;
    let in_effect = sent.elapsed();
    assert_ne!(state["config"]["checksum"], checksum, "a new checksum");
    assert_eq!(state["active"], "b0", "the active did not move");
    let state = sb
        .wait_state(Duration::from_secs(5), "standby b2 once probed", |s| {
            s["standby"] == "b2"
        })
        .await;
    println!("SIGHUP to the new backend list in /v0/state: {in_effect:?}");

    for mut s in doomed {
        expect_eof_or_reset(&mut s, Duration::from_secs(2)).await;
    }
    // The kept sessions carry on, byte for byte.
    for (i, s) in kept.into_iter().enumerate() {
        data::echo_transfer(s, i as u64, 8 << 20, Duration::from_secs(60))
            .await
            .assert_exact(&format!("kept session {i} after the reload"));
    }
    assert_eq!(
        state["totals"]["severed"], 3,
        "exactly the removed backend's sessions were severed: {state}"
    );
    let events = reload_events(&sb).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let summary = events[0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("added b2") && summary.contains("removed b1"),
        "{summary}"
    );
    assert!(summary.contains("interval"), "{summary}");
    assert_eq!(events[0]["actor"], "SIGHUP");

    // The new standby serves new sessions.
    let (_s, who) = greet(standby).await;
    assert_eq!(who, "b2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_file_changes_nothing_and_names_every_problem() {
    let fleet = Fleet::start(2).await;
    let builder = Builder::new().interval(30, 500);
    let sb = fleet.switchboard(builder.clone()).await;
    let before = sb.state().await;
    let mut session = open_session(sb.proxy).await;

    let mut text = builder.clone();
    text.interval_ms = 0;
    text.connect_timeout_ms = 0;
    let bad = fleet
        .config(text)
        .toml(&sb.ports)
        .replace("port = ", "port = 7");
    std::fs::write(sb.config_path(), bad).unwrap();
    let (status, body) = sb.reload().await;
    assert_eq!(status, 400, "{body}");
    let problems = body["problems"].as_array().expect("a problem list");
    assert!(problems.len() >= 3, "every problem, one each: {body}");
    for field in ["monitor.interval", "backends[0].port", "backends[1].port"] {
        assert!(
            problems
                .iter()
                .any(|p| p.as_str().unwrap_or("").contains(field)),
            "{field} named: {body}"
        );
    }
    assert!(!body.to_string().contains("test-secret-pw"), "no secret");

    let after = sb.state().await;
    assert_eq!(after["config"]["checksum"], before["config"]["checksum"]);
    assert_eq!(after["config"]["reloadsRefused"], 1);
    assert_eq!(after["config"]["reloads"], 0);
    let names = |s: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value)> {
        s["backends"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| (b["name"].clone(), b["port"].clone()))
            .collect()
    };
    assert_eq!(names(&after), names(&before));
    assert_echo(&mut session, "session across a refused reload").await;
    let text = sb
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metrics = prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let refused = [("outcome", "refused")];
    assert_eq!(
        metrics.value("switchboard_config_reloads_total", &refused),
        1.0
    );
    assert!(reload_events(&sb).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_state_survives_and_a_moved_port_binds_before_the_old_one_closes() {
    let fleet = Fleet::start(2).await;
    let builder = Builder::new().interval(30, 500);
    let sb = fleet.switchboard(builder.clone()).await;
    let (status, body) = sb
        .patch(
            "/v0/backends/db-1",
            Some(serde_json::json!({"state": "disabled", "message": "maintenance"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sb
        .patch(
            "/v0/cluster",
            Some(serde_json::json!({"trafficEnabled": false, "message": "frozen"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    sb.patch(
        "/v0/cluster",
        Some(serde_json::json!({"trafficEnabled": true, "message": "back"})),
    )
    .await;
    let mut session = open_session(sb.proxy).await;

    let mut ports = sb.ports;
    ports.proxy = free_addr();
    let mut moved = fleet.config(builder.clone());
    moved.interval_ms = 40;
    sb.write_config(&moved, &ports);
    let (status, body) = sb.reload().await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["summary"].as_str().unwrap_or("").contains("proxy"),
        "{body}"
    );

    // The new port serves; the old one no longer accepts; the open session
    // carries on.
    let mut fresh = open_session(ports.proxy).await;
    assert_echo(&mut fresh, "a session on the new port").await;
    wait_until(Duration::from_secs(2), "the old port closed", || async {
        refused(sb.proxy).await
    })
    .await;
    assert_echo(&mut session, "a session of the old port after the move").await;

    let state = sb.state().await;
    assert_eq!(backend(&state, "db-1")["adminState"], "disabled", "{state}");
    assert_eq!(backend(&state, "db-1")["adminMessage"], "maintenance");
    assert_eq!(state["routing"]["message"], "back");
    assert_eq!(state["active"], "db-0");

    // A restart-only setting is refused, nothing else applied.
    let mut other = moved.clone();
    other.interval_ms = 70;
    let mut api_moved = ports;
    api_moved.api = free_addr();
    sb.write_config(&other, &api_moved);
    let (status, body) = sb.reload().await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("api.listen"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_command_asks_the_running_instance() {
    let fleet = Fleet::start(1).await;
    let builder = Builder::new().interval(30, 500);
    let sb = fleet.switchboard(builder.clone()).await;
    let path = sb.config_path();
    let path = path.to_str().unwrap();
    let mut changed = fleet.config(builder.clone());
    changed.rise = 2;
    sb.write_config(&changed, &sb.ports);
    let (code, out, err) = run_cli(&["reload", "--config", path], Duration::from_secs(20));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("reloaded: monitor rise/fall 1/1 -> 2/1"),
        "{out}"
    );
    assert!(out.contains("checksum: "), "{out}");

    // The file's log level applies at once.
    let unauthenticated = || async {
        let url = sb.api_url("/v0/state");
        let r = sb.bare(reqwest::Method::GET, &url).send().await.unwrap();
        assert_eq!(r.status(), 401);
    };
    unauthenticated().await;
    assert!(
        sb.log_lines("no valid credentials").is_empty(),
        "not at info"
    );
    let text = changed.toml(&sb.ports) + "[log]\nlevel = \"debug\"\n";
    std::fs::write(sb.config_path(), text).unwrap();
    let (code, out, err) = run_cli(&["reload", "--config", path], Duration::from_secs(20));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("log level (flag) -> debug"), "{out}");
    unauthenticated().await;
    wait_until(Duration::from_secs(2), "a debug line", || async {
        !sb.log_lines("no valid credentials").is_empty()
    })
    .await;

    let mut bad = changed.clone();
    bad.rise = 0;
    sb.write_config(&bad, &sb.ports);
    let (code, out, err) = run_cli(&["reload", "--config", path], Duration::from_secs(20));
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("monitor.rise"), "{err}");
    assert!(!err.contains("test-secret-pw") && !out.contains("test-secret-pw"));
    assert_eq!(sb.state().await["config"]["reloads"], 2);
}
