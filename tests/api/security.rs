//! The API's security against the real binary (docs/api.md): missing, wrong and
//! right credentials on every route family under closed and public
//! settings; the health port open to all; `force_https` redirects before
//! auth; and a debug-level run whose stderr must not contain the password,
//! an `Authorization` header or the base64 credentials.

use std::time::Duration;

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;
use switchboard_harness::*;

const REALM: &str = "Basic realm=\"Authorization Required\"";

/// One route of each family, with a method and a harmless request.
fn routes() -> Vec<(Method, &'static str)> {
    vec![
        (Method::GET, "/v0/backends"),
        (Method::GET, "/v0/cluster"),
        (Method::GET, "/v0/backends/db-0"),
        (Method::GET, "/v0/state"),
        (Method::GET, "/v0/events?since=0"),
        (Method::GET, "/"),
        (Method::GET, "/app.js"),
        (Method::GET, "/metrics"),
        (Method::GET, "/publish/CrStates"),
        (Method::GET, "/api/cache-count"),
        (Method::PATCH, "/v0/cluster?monitoringEnabled=true"),
        (Method::PATCH, "/v0/backends/db-0?state=enabled"),
    ]
}

fn is_patch(m: &Method) -> bool {
    *m == Method::PATCH
}

/// Sends `method path` with optional credentials; returns status, the
/// `WWW-Authenticate` header and the body.
async fn send(
    sb: &Switchboard,
    method: &Method,
    url: &str,
    creds: Option<(&str, &str)>,
) -> (StatusCode, Option<String>, String) {
    let mut rb = sb.bare(method.clone(), url);
    if let Some((u, p)) = creds {
        rb = rb.basic_auth(u, Some(p));
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let realm = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    (status, realm, r.text().await.unwrap_or_default())
}

fn assert_401(got: &(StatusCode, Option<String>, String), what: &str) {
    assert_eq!(got.0, 401, "{what}: {}", got.2);
    assert_eq!(got.1.as_deref(), Some(REALM), "{what}");
    let body: serde_json::Value =
        serde_json::from_str(&got.2).unwrap_or_else(|_| panic!("{what}: not JSON: {}", got.2));
    assert!(body["error"].is_string(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_by_default_every_family_needs_credentials() {
    let fleet = Fleet::start(2).await;
    let config = Builder {
        tm_public: false,
        health_listen: true,
        aggregator_listen: true,
        proxy_uris: vec!["proxy-a.example.com".into(), "proxy-b.example.com".into()],
        ..Builder::new()
    };
    let sb = fleet.switchboard(config).await;
    let pw = sb.password.clone();
    let mut urls: Vec<(Method, String)> = routes()
        .into_iter()
        .map(|(m, p)| (m, sb.api_url(p)))
        .collect();
    urls.push((Method::GET, format!("http://{}/", sb.ports.aggregator)));
    for (method, url) in &urls {
        let what = format!("{method} {url}");
        assert_401(
            &send(&sb, method, url, None).await,
            &format!("{what} without credentials"),
        );
        assert_401(
            &send(&sb, method, url, Some((USER, "wrong"))).await,
            &format!("{what} wrong password"),
        );
        assert_401(
            &send(&sb, method, url, Some((USER, &format!("{pw}x")))).await,
            &format!("{what} longer password"),
        );
        assert_401(
            &send(&sb, method, url, Some(("root", &pw))).await,
            &format!("{what} wrong user"),
        );
        let ok = send(&sb, method, url, Some((USER, &pw))).await;
        assert!(
            ok.0.is_success(),
            "{what} with credentials: {} {}",
            ok.0,
            ok.2
        );
    }
    let page = send(
        &sb,
        &Method::GET,
        &format!("http://{}/", sb.ports.aggregator),
        Some((USER, &pw)),
    )
    .await
    .2;
    assert!(
        page.contains("href=\"https://proxy-a.example.com\"")
            && page.contains("proxy-b.example.com"),
        "{page}"
    );

    // A malformed header is simply unauthenticated.
    let r = sb
        .bare(Method::GET, &sb.api_url("/v0/state"))
        .header("Authorization", "Basic ???")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The health port: any method and path, 200, empty, no auth.
    for (method, path) in [
        (Method::GET, "/"),
        (Method::POST, "/x/y"),
        (Method::DELETE, "/v0/cluster"),
        (Method::HEAD, "/z"),
    ] {
        let r = sb
            .bare(method.clone(), &format!("http://{}{path}", sb.ports.health))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method} {path}");
        assert!(r.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_settings_open_reads_but_never_patches() {
    let fleet = Fleet::start(2).await;
    let config = Builder {
        public_reads: true,
        public_metrics: true,
        tm_public: true,
        ..Builder::new()
    };
    let sb = fleet.switchboard(config).await;
    for (method, path) in routes() {
        let url = sb.api_url(path);
        let anonymous = send(&sb, &method, &url, None).await;
        if is_patch(&method) {
            assert_401(&anonymous, &format!("{method} {path} anonymous"));
            assert_401(&send(&sb, &method, &url, Some((USER, "nope"))).await, path);
            assert!(send(&sb, &method, &url, Some((USER, &sb.password)))
                .await
                .0
                .is_success());
        } else {
            assert!(anonymous.0.is_success(), "{method} {path}: {}", anonymous.0);
        }
    }
    // Reads public, metrics private: /metrics needs auth again.
    let fleet2 = Fleet::start(1).await;
    let sb2 = fleet2
        .switchboard(Builder {
            public_reads: true,
            ..Builder::new()
        })
        .await;
    assert_401(
        &send(&sb2, &Method::GET, &sb2.api_url("/metrics"), None).await,
        "metrics",
    );
    assert!(
        send(&sb2, &Method::GET, &sb2.api_url("/publish/CrStates"), None)
            .await
            .0
            .is_success()
    );
    assert!(send(&sb2, &Method::GET, &sb2.api_url("/v0/backends"), None)
        .await
        .0
        .is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_https_redirects_before_auth() {
    let fleet = Fleet::start(1).await;
    let config = Builder {
        force_https: true,
        health_listen: true,
        ..Builder::new()
    };
    let sb = fleet.switchboard(config).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = sb.api_url("/v0/cluster?x=1");
    for proto in [
        None,
        Some("http"),
        Some("https,http"),
        Some("http, https"),
        Some(""),
    ] {
        let mut rb = no_redirects.get(&url);
        if let Some(p) = proto {
            rb = rb.header("X-Forwarded-Proto", p);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 302, "{proto:?}");
        let location = r.headers()["location"].to_str().unwrap();
        assert_eq!(
            location,
            format!("https://{}/v0/cluster?x=1", sb.ports.api),
            "{proto:?}"
        );
    }
    for proto in ["https", "https,https", "https, https"] {
        let r = no_redirects
            .get(&url)
            .header("X-Forwarded-Proto", proto)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{proto}");
        let r = no_redirects
            .get(&url)
            .header("X-Forwarded-Proto", proto)
            .basic_auth(USER, Some(&sb.password))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{proto}");
    }
    let r = no_redirects
        .get(format!("http://{}/anything", sb.ports.health))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "health port never redirects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_never_contain_credentials() {
    for level in ["debug", "trace"] {
        let fleet = Fleet::start(2).await;
        let config = Builder {
            log_level: level,
            password: "Sup3r-S3cret-Pa55".into(),
            aggregator_listen: true,
            ..Builder::new()
        };
        let sb = fleet.switchboard(config).await;
        let wrong = "An0ther-Wr0ng-Pa55";
        for _ in 0..3 {
            for (method, path) in routes() {
                let url = sb.api_url(path);
                send(&sb, &method, &url, None).await;
                send(&sb, &method, &url, Some((USER, wrong))).await;
                send(&sb, &method, &url, Some((USER, &sb.password))).await;
            }
        }
        let routing_off = sb
            .request(Method::PATCH, "/v0/cluster")
            .header("Content-Type", "application/json");
        let (status, _) = sb
            .call(
                routing_off
                    .body(json!({"trafficEnabled": false, "message": "log test"}).to_string()),
            )
            .await;
        assert_eq!(status, 200);
        sb.call(sb.request(Method::PATCH, "/v0/cluster?trafficEnabled=true"))
            .await;
        fleet.health[0].set(Health::Status503);
        sb.wait_active(Some("db-1"), Duration::from_secs(10)).await;
        let mut sb = sb;
        sb.stop().await;
        let log = sb.stderr();
        assert!(
            log.contains("routing off"),
            "the run logged its changes at {level}:\n{log}"
        );
        assert!(
            log.contains("request refused: no valid credentials"),
            "auth failures logged at {level}:\n{log}"
        );
        let b64 =
            |u: &str, p: &str| base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        for needle in [
            sb.password.clone(),
            wrong.to_string(),
            b64(USER, &sb.password),
            b64(USER, wrong),
            "Sup3r".to_string(),
        ] {
            assert!(
                !log.contains(&needle),
                "stderr at {level} contains a credential ({needle}):\n{log}"
            );
        }
        let lower = log.to_ascii_lowercase();
        assert!(
            !lower.contains("authorization"),
            "stderr at {level} mentions Authorization:\n{log}"
        );
        assert!(
            !lower.contains("basic "),
            "stderr at {level} mentions a Basic header:\n{log}"
        );
    }
}
