//! The API over TLS against the real binary (docs/api.md, "TLS"): with
//! `[api] tls_cert`/`tls_key` (and pxc's inline `API.TLS`) the API and
//! springboard listeners speak only TLS, with the same basic auth and the
//! same routes, `force_https` redirects nothing there; the health and
//! metrics listeners stay plain HTTP; a plain-HTTP client, a client that
//! rejects the certificate and a client that sends garbage each fail on
//! their own without hurting the next client or logging an error; and a
//! renewed certificate is served after SIGHUP without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA whose server certificate is for 127.0.0.1, written as
/// `api.crt`/`api.key` in `dir`.
fn api_cert(dir: &TempDir) -> (TestCa, PathBuf, PathBuf) {
    let ca = TestCa::new(&["127.0.0.1"]);
    let (cert, key) = (dir.join("api.crt"), dir.join("api.key"));
    ca.write_server_files(&cert, &key);
    (ca, cert, key)
}

/// A client that trusts only `ca_pem` (no pooled connections).
fn client_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

/// `GET url` with optional credentials: (status, body).
async fn get(http: &reqwest::Client, url: &str, creds: bool, pw: &str) -> (StatusCode, String) {
    let mut rb = http.get(url);
    if creds {
        rb = rb.basic_auth(USER, Some(pw));
    }
    let r = rb.send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status();
    (status, r.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_basic_auth_work_over_tls() {
    let fleet = Fleet::start(2).await;
    let dir = TempDir::new("api-tls");
    let (ca, cert, key) = api_cert(&dir);
    let config = Builder {
        force_https: true,
        health_listen: true,
        metrics_listen: true,
        aggregator_listen: true,
        proxy_uris: vec!["proxy-a.example.com".into()],
        log_level: "debug",
        ..Builder::new()
    }
    .api_tls(cert, key, &ca.ca_pem);
    let sb = fleet.switchboard(config).await;
    assert!(sb.api_url("/").starts_with("https://"));
    let pw = sb.password.clone();
    let tls = client_trusting(&ca.ca_pem);

    // Basic auth as on plain HTTP; no X-Forwarded-Proto, yet no redirect:
    // a request on the TLS listener is https already.
    let url = sb.api_url("/v0/state");
    let (status, body) = get(&tls, &url, false, &pw).await;
    assert_eq!(status, 401, "{body}");
    let wrong = tls
        .get(&url)
        .basic_auth(USER, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"Authorization Required\""
    );
    let (status, body) = get(&tls, &url, true, &pw).await;
    assert_eq!(status, 200, "{body}");
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["active"], json!("db-0"));

    let backends = sb.json("/v0/backends").await;
    assert_eq!(backends.as_array().map(Vec::len), Some(2));
    let (status, b) = sb
        .call(sb.request(Method::PATCH, "/v0/backends/db-1?state=drain&message=tls"))
        .await;
    assert_eq!((status, &b["adminState"]), (200, &json!("drain")));
    let (status, c) = sb
        .patch(
            "/v0/cluster",
            Some(json!({"trafficEnabled": false, "message": "over tls"})),
        )
        .await;
    assert_eq!((status, &c["trafficEnabled"]), (200, &json!(false)));
    let (status, _) = sb
        .call(sb.request(Method::PATCH, "/v0/cluster?trafficEnabled=true"))
        .await;
    assert_eq!(status, 200);
    let dashboard = sb.get("/").send().await.unwrap();
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));

    // The springboard page is TLS too, behind the same credentials.
    let springboard = format!("https://{}/", sb.ports.aggregator);
    assert_eq!(get(&tls, &springboard, false, &pw).await.0, 401);
    let (status, page) = get(&tls, &springboard, true, &pw).await;
    assert_eq!(status, 200);
    assert!(page.contains("proxy-a.example.com"), "{page}");

    // Health and metrics listeners stay plain HTTP.
    let plain = reqwest::Client::new();
    let health = format!("http://{}/", sb.ports.health);
    assert_eq!(plain.get(&health).send().await.unwrap().status(), 200);
    let metrics = format!("http://{}/metrics", sb.ports.metrics);
    let scrape = plain.get(&metrics).send().await.unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(scrape.text().await.unwrap().contains("switchboard_"));

    // Plain HTTP on the TLS port: a clean 400 that says why, no hang.
    let r = plain
        .get(format!("http://{}/v0/state", sb.api))
        .send()
        .await;
    let r = r.expect("an answer, not a reset");
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("HTTP request to an HTTPS server"));

    // A client that does not trust the certificate fails its handshake.
    let stranger = TestCa::new(&["127.0.0.1"]);
    let e = peer_certificate(sb.api, &[&stranger.ca_pem])
        .await
        .expect_err("an untrusted certificate");
    assert!(e.contains("handshake"), "{e}");

    // Garbage that looks like a TLS record, then silence and a close.
    let mut raw = tokio::net::TcpStream::connect(sb.api).await.unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .await
        .unwrap();
    let mut sink = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut sink)).await;
    assert!(read.is_ok(), "the server closes a garbage handshake");

    // The listener is unharmed: the next TLS client is served, and it sees
    // the configured certificate.
    let (status, _) = get(&tls, &url, true, &pw).await;
    assert_eq!(status, 200);
    let presented = peer_certificate(sb.api, &[&ca.ca_pem]).await.unwrap();
    assert_eq!(presented, ca.cert_der());

    // Failed handshakes are debug lines, never errors.
    let failures = sb.log_lines("API TLS handshake failed");
    assert!(
        !failures.is_empty(),
        "failed handshakes are logged at debug"
    );
    assert!(
        failures.iter().all(|l| l.contains("DEBUG")),
        "{failures:#?}"
    );
    assert_eq!(sb.log_lines(" ERROR "), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pxc_api_tls_with_inline_pems_serves_https() {
    let fleet = Fleet::start(1).await;
    let ca = TestCa::new(&["127.0.0.1"]);
    let go = GoConfig {
        api_tls: Some(&ca),
        ..GoConfig::new(fleet.pairs(), "pa55-w0rd-tls")
    };
    let sb = go.start(TempDir::new("go-tls"), "yml").await;
    sb.wait_active(Some("db-0"), Duration::from_secs(10)).await;
    assert_eq!(sb.json("/v0/cluster").await["trafficEnabled"], json!(true));
    let presented = peer_certificate(sb.api, &[&ca.ca_pem]).await.unwrap();
    assert_eq!(presented, ca.cert_der());
    let aggregator: SocketAddr = sb.ports.aggregator;
    let presented = peer_certificate(aggregator, &[&ca.ca_pem]).await.unwrap();
    assert_eq!(presented, ca.cert_der());
    let health = format!("http://{}/", sb.ports.health);
    let r = reqwest::Client::new().get(&health).send().await.unwrap();
    assert_eq!(r.status(), 200, "the health port stays plain HTTP");
}

/// Needs the runner's reload on SIGHUP to call the API's `TlsHandle::reload`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_after_sighup() {
    let fleet = Fleet::start(1).await;
    let dir = TempDir::new("api-tls-reload");
    let (old, cert, key) = api_cert(&dir);
    let config = Builder::new().api_tls(cert.clone(), key.clone(), &old.ca_pem);
    let sb = fleet.switchboard(config).await;
    let presented = peer_certificate(sb.api, &[&old.ca_pem]).await.unwrap();
    assert_eq!(presented, old.cert_der());

    let new = TestCa::new(&["127.0.0.1"]);
    new.write_server_files(&cert, &key);
    sb.signal(libc::SIGHUP);
    let roots = [old.ca_pem.as_str(), new.ca_pem.as_str()];
    wait_for(
        Duration::from_secs(10),
        "the renewed certificate",
        || async {
            match peer_certificate(sb.api, &roots).await {
                Ok(der) if der == new.cert_der() => Some(()),
                _ => None,
            }
        },
    )
    .await;

    // Same process, same API: a client trusting only the new CA is served.
    let tls = client_trusting(&new.ca_pem);
    let (status, body) = get(&tls, &sb.api_url("/v0/state"), true, &sb.password).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sb.log_lines("switchboard started").len(), 1, "no restart");
}
