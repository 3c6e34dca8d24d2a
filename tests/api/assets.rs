//! Dashboard assets and demo control against the real binary: the embedded
//! dashboard and the `api.static_dir` override (with path checks), and
//! `switchboard demo`'s `GET /v0/demo` and
//! `POST /v0/demo/backends/{name}/health/{mode}` driving a real failover.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_dashboard_and_static_dir_override() {
    let fleet = Fleet::start(1).await;
    let sb = fleet.switchboard(Builder::new()).await;
    for (path, ct) in [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/app.js", "text/javascript"),
        ("/charts.js", "text/javascript"),
        ("/instances.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = sb.get(path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let got = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(got.starts_with(ct), "{path}: {got}");
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    let html = sb.get("/").send().await.unwrap().text().await.unwrap();
    assert!(html.contains("app.js"), "the embedded index links the app");
    let (status, body) = sb.call(sb.get("/nothing-here.js")).await;
    assert_eq!((status, body["field"].clone()), (404, Value::Null));

    // Override: files come from disk; nothing outside the directory.
    let dir = TempDir::new("static");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(
        www.join("index.html"),
        "<!doctype html><title>custom</title>",
    )
    .unwrap();
    std::fs::write(www.join("extra.css"), "body{}").unwrap();
    std::fs::write(dir.join("secret-outside.txt"), "no").unwrap();
    let sb = fleet
        .switchboard(Builder {
            static_dir: Some(www.clone()),
            ..Builder::new()
        })
        .await;
    assert!(sb
        .get("/")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains("custom"));
    let r = sb.get("/extra.css").send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert_eq!(
        sb.get("/app.js").send().await.unwrap().status(),
        404,
        "no fallback to embedded files"
    );
    // A raw request line, so no client normalises the dots away.
    let raw = raw_get(&sb, "/../secret-outside.txt").await;
    assert!(
        raw.starts_with("HTTP/1.1 404") || raw.starts_with("HTTP/1.1 400"),
        "{raw}"
    );
    assert!(!raw.contains("\r\n\r\nno"), "{raw}");
}

/// GET over a raw socket with credentials; returns the raw response.
async fn raw_get(sb: &Switchboard, path: &str) -> String {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(sb.ports.api).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", sb.password));
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_control_breaks_and_heals_backends() {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let demo = Switchboard::demo(Some(2)).await;
    let url = |p: &str| format!("http://{}{p}", demo.api);
    let get = |p: &str| {
        http.get(url(p))
            .basic_auth(USER, Some("switchboard"))
            .send()
    };
    let list: Value = get("/v0/demo").await.unwrap().json_value().await;
    assert_eq!(list["backends"].as_array().unwrap().len(), 2);
    assert_eq!(list["backends"][0]["name"], json!("demo-0"));
    assert_eq!(list["backends"][0]["mode"], json!("healthy"));
    assert_eq!(
        list["modes"],
        json!(["healthy", "503", "hang", "unhealthy"])
    );

    let post = |p: &str, auth: bool| {
        let rb = http.request(Method::POST, url(p));
        if auth {
            rb.basic_auth(USER, Some("switchboard"))
        } else {
            rb
        }
        .send()
    };
    assert_eq!(
        post("/v0/demo/backends/demo-0/health/503", false)
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        post("/v0/demo/backends/demo-0/health/sleepy", true)
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        post("/v0/demo/backends/demo-9/health/503", true)
            .await
            .unwrap()
            .status(),
        404
    );
    let r = post("/v0/demo/backends/demo-0/health/503", true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json_value().await["mode"], json!("503"));
    wait_until(
        Duration::from_secs(10),
        "demo failover to demo-1",
        || async {
            get("/v0/cluster").await.unwrap().json_value().await["activeBackend"]["name"]
                == json!("demo-1")
        },
    )
    .await;
    assert_eq!(
        post("/v0/demo/backends/demo-0/health/healthy", true)
            .await
            .unwrap()
            .status(),
        200
    );
    wait_until(
        Duration::from_secs(10),
        "demo failback to demo-0",
        || async {
            get("/v0/cluster").await.unwrap().json_value().await["activeBackend"]["name"]
                == json!("demo-0")
        },
    )
    .await;
}

/// reqwest without its `json` feature: parse the body ourselves.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_routes_do_not_exist_outside_demo_mode() {
    let fleet = Fleet::start(1).await;
    let sb = fleet.switchboard(Builder::new()).await;
    assert_eq!(sb.call(sb.get("/v0/demo")).await.0, 404);
    assert_eq!(
        sb.call(sb.request(Method::POST, "/v0/demo/backends/db-0/health/503"))
            .await
            .0,
        404
    );
    assert_eq!(sb.state().await["active"], json!("db-0"));
}
