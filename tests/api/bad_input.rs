//! Bad input against the real binary, every answer checked: wrong methods
//! (405, `Allow`, a JSON body), huge and malformed query strings, bad JSON
//! and wrong content types on the PATCHes (path traversal and backend
//! names: `bad_paths`), and the raw-socket helpers both use. Every error that reaches the router is a
//! 4xx JSON `{"error", "field"}` with a message that says what is wrong;
//! what the HTTP parser refuses first (a request head over
//! `api.max_header_bytes`, a raw null byte) is a bare 4xx; nothing changes
//! state, nothing panics and the process keeps answering.

use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use switchboard_harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer read off the socket.
pub(super) struct Raw {
    pub(super) status: u16,
    /// The head, lower-cased.
    pub(super) head: String,
    pub(super) body: String,
}

impl Raw {
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.head, self.body))
    }

    /// A 4xx JSON error with a non-empty message; returns the body.
    pub(super) fn json_error(&self, status: u16, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: {}{}", self.head, self.body);
        assert!(
            self.head.contains("content-type: application/json"),
            "{what}: {}",
            self.head
        );
        let v = self.json();
        assert!(
            v["error"].as_str().is_some_and(|e| e.len() > 5),
            "{what}: a clear message: {v}"
        );
        assert!(
            v["field"].is_null() || v["field"].is_string(),
            "{what}: {v}"
        );
        v
    }
}

/// Sends `head` (request line and headers, without the final CRLF; with
/// credentials and `Connection: close` added) and `body` as bytes, so no
/// client normalises anything; reads the whole answer.
pub(super) async fn raw(sb: &Switchboard, head: &[u8], body: &[u8]) -> Raw {
    let mut s = tokio::net::TcpStream::connect(sb.api).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", sb.password));
    let mut req = head.to_vec();
    req.extend_from_slice(
        format!("\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n").as_bytes(),
    );
    if !body.is_empty() {
        req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    // The server may answer (and close) before reading all of a refused body.
    let _ = s.write_all(&req).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Raw {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// `METHOD path` with a body of `content_type` (none when empty).
pub(super) async fn send(
    sb: &Switchboard,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> Raw {
    let mut head = format!("{method} {path} HTTP/1.1").into_bytes();
    if !content_type.is_empty() {
        head.extend_from_slice(format!("\r\nContent-Type: {content_type}").as_bytes());
    }
    raw(sb, &head, body).await
}

/// The process still answers, kept its state, and never panicked.
pub(super) async fn still_fine(sb: &Switchboard) {
    let state = sb.state().await;
    assert_eq!(
        state["routing"]["enabled"], true,
        "routing untouched: {state}"
    );
    assert_eq!(state["monitoring"]["enabled"], true);
    for b in state["backends"].as_array().unwrap() {
        assert_eq!(b["adminState"], "enabled", "{b}");
    }
    assert!(!sb.stderr().contains("panicked"), "{}", sb.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_are_405_with_allow_and_json() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    for (method, path, allow) in [
        ("DELETE", "/v0/cluster", "GET,HEAD,PATCH"),
        ("PUT", "/v0/backends/db-0", "GET,HEAD,PATCH"),
        ("POST", "/v0/backends", "GET,HEAD"),
        ("POST", "/v0/state", "GET,HEAD"),
        ("PATCH", "/v0/events", "GET,HEAD"),
        ("POST", "/v0/events/stream", "GET,HEAD"),
        ("GET", "/v0/reload", "POST"),
        ("PUT", "/v0/history", "GET,HEAD"),
        ("DELETE", "/v0/openapi.json", "GET,HEAD"),
        ("POST", "/publish/CrStates", "GET,HEAD"),
        ("PUT", "/api/cache-count/", "GET,HEAD"),
        ("DELETE", "/metrics", "GET,HEAD"),
        ("POST", "/", "GET,HEAD"),
        ("PATCH", "/app.js", "GET,HEAD"),
        ("OPTIONS", "/v0/cluster", "GET,HEAD,PATCH"),
        ("TRACE", "/index.html", "GET,HEAD"),
        ("FROBNICATE", "/v0/state", "GET,HEAD"),
    ] {
        let what = format!("{method} {path}");
        let r = send(&sb, method, path, "", b"").await;
        let v = r.json_error(405, &what);
        assert_eq!(
            v,
            json!({"error": "method not allowed", "field": null}),
            "{what}"
        );
        assert!(
            r.head
                .contains(&format!("allow: {}", allow.to_ascii_lowercase())),
            "{what}: {}",
            r.head
        );
    }
    // A method on an unknown path is a 404 naming the path, not a 405.
    let v = send(&sb, "POST", "/nothing/here", "", b"")
        .await
        .json_error(404, "POST unknown");
    assert!(
        v["error"].as_str().unwrap().contains("/nothing/here"),
        "{v}"
    );
    still_fine(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_malformed_query_strings() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    // Under the head limit: unknown parameters are ignored, bad ones named.
    let junk = "x=1&".repeat(2000);
    let r = send(&sb, "GET", &format!("/v0/events?{junk}since=0"), "", b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let digits = "9".repeat(8000);
    let v = send(&sb, "GET", &format!("/v0/events?since={digits}"), "", b"")
        .await
        .json_error(400, "since");
    assert_eq!(v["field"], "since");
    // Over `api.max_header_bytes` (16 KiB): the HTTP parser refuses the head.
    for size in [20_000, 1_000_000] {
        let r = send(
            &sb,
            "GET",
            &format!("/v0/events?since=0&q={}", "a".repeat(size)),
            "",
            b"",
        )
        .await;
        assert_eq!(r.status, 431, "{size} bytes: {}", r.head);
        let r = send(
            &sb,
            "PATCH",
            &format!("/v0/cluster?message={}", "m".repeat(size)),
            "",
            b"",
        )
        .await;
        assert_eq!(r.status, 431, "{size} bytes: {}", r.head);
    }
    for (path, field) in [
        ("/v0/events?since=", "since"),
        ("/v0/events?since=-1", "since"),
        ("/v0/events?since=1.5", "since"),
        ("/v0/events?since=%zz", "since"),
        ("/v0/events?since=%FF%FE", "since"),
        ("/v0/events?since=1%00", "since"),
        ("/v0/events?since=18446744073709551616", "since"),
        ("/v0/events/stream?since=abc", "since"),
        ("/v0/events/stream?history=yes", "history"),
        ("/v0/events/stream?history=", "history"),
    ] {
        let v = send(&sb, "GET", path, "", b"").await.json_error(400, path);
        assert_eq!(v["field"], field, "{path}: {v}");
    }
    for (query, field) in [
        ("trafficEnabled=%", "trafficEnabled"),
        ("trafficEnabled=tr%00ue", "trafficEnabled"),
        ("trafficEnabled=%FF", "trafficEnabled"),
        ("trafficEnabled=true&trafficEnabled=maybe", "trafficEnabled"),
        ("monitoringEnabled=+true", "monitoringEnabled"),
        ("%%%&&&===", "trafficEnabled"),
        ("trafficEnabled=false&message=%20%09", "message"),
        ("trafficEnabled=false", "message"),
    ] {
        let path = format!("/v0/cluster?{query}");
        let v = send(&sb, "PATCH", &path, "", b"")
            .await
            .json_error(400, &path);
        assert_eq!(v["field"], field, "{path}: {v}");
    }
    // An invalid value is refused even when the body overrides it.
    let r = send(
        &sb,
        "PATCH",
        "/v0/backends/db-0?state=sleep",
        "application/x-www-form-urlencoded",
        b"state=drain",
    )
    .await;
    assert_eq!(r.json_error(400, "query state")["field"], "state");
    still_fine(&sb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_json_and_wrong_content_types_on_the_patches() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let deep = "[".repeat(50_000);
    let bodies: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("application/json", b"{".to_vec(), None),
        (
            "application/json",
            b"{\"trafficEnabled\": tru}".to_vec(),
            None,
        ),
        ("application/json", b"[true]".to_vec(), None),
        ("application/json", b"\"trafficEnabled\"".to_vec(), None),
        ("application/json", b"null".to_vec(), None),
        (
            "application/json",
            b"{\"trafficEnabled\": false}}".to_vec(),
            None,
        ),
        ("application/json", deep.as_bytes().to_vec(), None),
        ("application/json", b"\xff\xfe{}".to_vec(), None),
        (
            "application/json",
            b"{\"trafficEnabled\": 1e999}".to_vec(),
            None,
        ),
        (
            "application/json",
            b"{\"trafficEnabled\": [true]}".to_vec(),
            Some("trafficEnabled"),
        ),
        (
            "application/json",
            b"{\"trafficEnabled\": {\"a\": 1}}".to_vec(),
            Some("trafficEnabled"),
        ),
        (
            "application/json",
            b"{\"trafficEnabled\": 2}".to_vec(),
            Some("trafficEnabled"),
        ),
        (
            "application/json",
            b"{\"trafficEnabled\": \"yes\"}".to_vec(),
            Some("trafficEnabled"),
        ),
        (
            "application/json",
            b"{\"trafficEnabled\": false, \"message\": 7}".to_vec(),
            Some("message"),
        ),
        (
            "application/json",
            b"{\"trafficEnabled\": false, \"message\": true}".to_vec(),
            Some("message"),
        ),
        (
            "application/problem+json",
            b"{\"monitoringEnabled\": \"maybe\"}".to_vec(),
            Some("monitoringEnabled"),
        ),
        (
            "text/xml",
            b"<trafficEnabled>false</trafficEnabled>".to_vec(),
            None,
        ),
        (
            "application/octet-stream",
            b"trafficEnabled=false".to_vec(),
            None,
        ),
        (
            "multipart/form-data; boundary=x",
            b"--x\r\n\r\ntrue\r\n--x--".to_vec(),
            None,
        ),
        ("image/png", b"\x89PNG".to_vec(), None),
        (
            "application/x-www-form-urlencoded",
            b"{\"trafficEnabled\": false}".to_vec(),
            Some("trafficEnabled"),
        ),
        (
            "application/x-www-form-urlencoded",
            b"trafficEnabled=%ZZ".to_vec(),
            Some("trafficEnabled"),
        ),
    ];
    for (content_type, body, field) in &bodies {
        let what = format!(
            "{content_type} {:?}",
            String::from_utf8_lossy(&body[..body.len().min(40)])
        );
        for path in ["/v0/cluster", "/v0/backends/db-0"] {
            let v = send(&sb, "PATCH", path, content_type, body)
                .await
                .json_error(400, &format!("{path} {what}"));
            if path == "/v0/cluster" {
                assert_eq!(v["field"].as_str(), *field, "{what}: {v}");
            }
            if content_type.starts_with("text/xml") {
                assert!(
                    v["error"]
                        .as_str()
                        .unwrap()
                        .contains("unsupported body type text/xml"),
                    "{v}"
                );
            }
        }
    }
    // Over the body limit, declared or chunked: 413 before anything is read.
    let big = vec![b'{'; 70 * 1024];
    let v = send(&sb, "PATCH", "/v0/cluster", "application/json", &big)
        .await
        .json_error(413, "declared");
    assert_eq!(v["error"], "request body over 64 KiB");
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let mut s = tokio::net::TcpStream::connect(sb.api).await.unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{}", sb.password));
    let head = format!("PATCH /v0/cluster HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(&chunked).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(out.contains("request body over 64 KiB"), "{out}");
    still_fine(&sb).await;
}
