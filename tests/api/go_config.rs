//! The API as a drop-in for the Go switchboard: the real binary started
//! from the Go switchboard's own YAML file (docs/configuration.md ("Go switchboard format")) answers `/v0` in the
//! reference shapes, serves the springboard page on `API.AggregatorPort`
//! linking every `API.ProxyURIs` entry, `/metrics` on pxc's `Metrics.Port`
//! without auth, and the always-200 `HealthPort`.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchboard_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_switchboard_yaml_serves_the_whole_api() {
    let fleet = Fleet::start(2).await;
    let go = GoConfig {
        metrics: true,
        proxy_uris: vec![
            "proxy-0.sys.example.com".into(),
            "proxy-1.sys.example.com".into(),
        ],
        ..GoConfig::new(fleet.pairs(), "pa55-w0rd-for-api-tests")
    };
    let sb = go.start(TempDir::new("go"), "yml").await;
    sb.wait_active(Some("db-0"), Duration::from_secs(10)).await;

    let backends = sb.json("/v0/backends").await;
    assert_eq!(
        &keys(&backends[0])[..7],
        [
            "host",
            "port",
            "healthy",
            "name",
            "currentSessionCount",
            "active",
            "trafficEnabled"
        ]
    );
    assert_eq!(backends[0]["active"], json!(true));
    let cluster = sb.json("/v0/cluster").await;
    assert_eq!(
        keys(&cluster),
        [
            "activeBackend",
            "trafficEnabled",
            "message",
            "lastUpdated",
            "monitoringEnabled"
        ]
    );

    // A Go-switchboard operator's PATCH, query string only.
    let (status, c) = sb
        .call(sb.request(
            Method::PATCH,
            "/v0/cluster?trafficEnabled=false&message=upgrade",
        ))
        .await;
    assert_eq!((status, c["trafficEnabled"].clone()), (200, json!(false)));

    let page = sb
        .bare(Method::GET, &format!("http://{}/", sb.ports.aggregator))
        .basic_auth(USER, Some(&sb.password))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    for uri in ["proxy-0.sys.example.com", "proxy-1.sys.example.com"] {
        assert!(page.contains(&format!("href=\"https://{uri}\"")), "{page}");
    }

    let metrics = sb
        .bare(Method::GET, &format!("http://{}/metrics", sb.ports.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let parsed = prom::parse(&metrics.text().await.unwrap()).unwrap();
    assert_eq!(
        parsed.value("backend_sessions_total", &[("backend", "db-1")]),
        0.0
    );
    assert_eq!(parsed.value("switchboard_routing_enabled", &[]), 0.0);

    let health = sb
        .bare(Method::GET, &format!("http://{}/", sb.ports.health))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
