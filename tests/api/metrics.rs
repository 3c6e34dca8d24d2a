//! `/metrics` against the real binary (docs/api.md): parsed with a strict
//! text-format parser and checked value by value against `/v0/state` after
//! sessions on both ports, a failover with severed sessions and a PATCH.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use switchboard_harness::prom::{self, Exposition};
use switchboard_harness::*;

/// Every metric that `/v0/state` also states, compared.
fn compare(m: &Exposition, s: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut eq = |what: String, metric: f64, state: f64| {
        if (metric - state).abs() > 1e-9 {
            errors.push(format!("{what}: metric {metric} != state {state}"));
        }
    };
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    for b in s["backends"].as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        let l = [("backend", name)];
        let sessions = &b["sessions"];
        for port in ["active", "standby"] {
            eq(
                format!("{name} sessions {port}"),
                m.value(
                    "switchboard_backend_sessions",
                    &[("backend", name), ("port", port)],
                ),
                sessions[port].as_f64().unwrap(),
            );
        }
        eq(
            format!("{name} pxc sessions"),
            m.value("backend_sessions_total", &l),
            sessions["total"].as_f64().unwrap(),
        );
        let severed: f64 = ["active", "standby"]
            .iter()
            .map(|p| {
                m.value(
                    "switchboard_sessions_severed_total",
                    &[("backend", name), ("port", p)],
                )
            })
            .sum();
        eq(
            format!("{name} severed"),
            severed,
            sessions["severed"].as_f64().unwrap(),
        );
        eq(
            format!("{name} healthy"),
            m.value("switchboard_backend_healthy", &l),
            flag(b["healthy"] == true),
        );
        eq(
            format!("{name} active"),
            m.value("switchboard_backend_active", &l),
            flag(s["active"] == b["name"]),
        );
        eq(
            format!("{name} standby"),
            m.value("switchboard_backend_standby", &l),
            flag(s["standby"] == b["name"]),
        );
        eq(
            format!("{name} index"),
            m.value("switchboard_backend_index", &l),
            b["index"].as_f64().unwrap(),
        );
        for st in ["enabled", "drain", "disabled"] {
            eq(
                format!("{name} admin {st}"),
                m.value(
                    "switchboard_backend_admin_state",
                    &[("backend", name), ("state", st)],
                ),
                flag(b["adminState"] == st),
            );
        }
        let count = m.value("switchboard_probe_latency_seconds_count", &l);
        eq(
            format!("{name} has probe observations"),
            flag(count >= 1.0),
            1.0,
        );
    }
    eq(
        "routing".into(),
        m.value("switchboard_routing_enabled", &[]),
        flag(s["routing"]["enabled"] == true),
    );
    eq(
        "monitoring".into(),
        m.value("switchboard_monitoring_enabled", &[]),
        flag(s["monitoring"]["enabled"] == true),
    );
    let totals = &s["totals"];
    eq(
        "failovers".into(),
        m.value("switchboard_failovers_total", &[]),
        totals["failovers"].as_f64().unwrap(),
    );
    for (outcome, n) in totals["connections"].as_object().unwrap() {
        eq(
            format!("connections {outcome}"),
            m.value("switchboard_connections_total", &[("outcome", outcome)]),
            n.as_f64().unwrap(),
        );
    }
    eq(
        "bytes up".into(),
        m.value("switchboard_relayed_bytes_total", &[("direction", "up")]),
        totals["bytesUp"].as_f64().unwrap(),
    );
    eq(
        "bytes down".into(),
        m.value("switchboard_relayed_bytes_total", &[("direction", "down")]),
        totals["bytesDown"].as_f64().unwrap(),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

async fn scrape(sb: &Switchboard, url: &str) -> Exposition {
    let r = sb.bare(Method::GET, url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        ct.starts_with("application/openmetrics-text") || ct.starts_with("text/plain"),
        "{ct}"
    );
    let text = r.text().await.unwrap();
    prom::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Retries until a scrape agrees with the states read just before and after.
async fn agree(sb: &Switchboard, url: &str) -> Exposition {
    let started = Instant::now();
    loop {
        let before = sb.state().await;
        let m = scrape(sb, url).await;
        let after = sb.state().await;
        let stable = before["totals"] == after["totals"] && before["active"] == after["active"];
        match compare(&m, &after) {
            Ok(()) if stable => return m,
            Ok(()) => {}
            Err(e) if started.elapsed() > Duration::from_secs(10) => {
                panic!("metrics disagree with /v0/state:\n{e}")
            }
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_state() {
    let fleet = Fleet::start(3).await;
    let config = Builder {
        standby: true,
        metrics_listen: true,
        ..Builder::new()
    };
    let sb = fleet.switchboard(config).await;
    let open_url = format!("http://{}/metrics", sb.ports.metrics);

    // Separate listener: no auth. API listener: auth (public_metrics off).
    let m = scrape(&sb, &open_url).await;
    let pxc = m.family("backend_sessions_total").expect("pxc gauge");
    assert_eq!(pxc.kind, "gauge");
    assert_eq!(
        pxc.help,
        "Gauge of the current sessions from this proxy to a mysql backend"
    );
    let r = sb
        .bare(Method::GET, &sb.api_url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = sb.get("/metrics").send().await.unwrap();
    assert_eq!(r.status(), 200);
    prom::parse(&r.text().await.unwrap()).unwrap();
    agree(&sb, &open_url).await;

    // Sessions on both ports, a failover that severs, a PATCH.
    let standby = sb.ports.standby;
    let mut active = vec![
        open_session(sb.ports.proxy).await,
        open_session(sb.ports.proxy).await,
        open_session(sb.ports.proxy).await,
    ];
    let _on_standby = open_session(standby).await;
    let m = agree(&sb, &open_url).await;
    assert_eq!(
        m.value("backend_sessions_total", &[("backend", "db-0")]),
        3.0
    );
    assert_eq!(
        m.value("backend_sessions_total", &[("backend", "db-2")]),
        1.0
    );

    fleet.health[0].set(Health::Status503);
    sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
    for s in &mut active {
        expect_eof_or_reset(s, Duration::from_secs(3)).await;
    }
    let _new = open_session(sb.ports.proxy).await;
    assert_eq!(
        sb.call(sb.request(Method::PATCH, "/v0/cluster?trafficEnabled=false&message=m"))
            .await
            .0,
        200
    );
    assert_eq!(
        sb.call(sb.request(Method::PATCH, "/v0/backends/db-2?state=drain"))
            .await
            .0,
        200
    );
    let m = agree(&sb, &open_url).await;
    assert_eq!(m.value("switchboard_failovers_total", &[]), 1.0);
    assert_eq!(
        m.value(
            "switchboard_sessions_severed_total",
            &[("backend", "db-0"), ("port", "active")]
        ),
        3.0
    );
    assert_eq!(m.value("switchboard_routing_enabled", &[]), 0.0);
    assert!(m.value("switchboard_relayed_bytes_total", &[("direction", "up")]) >= 3.0);
}
