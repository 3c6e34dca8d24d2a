//! Bad paths against the real binary: path traversal on the static files
//! (`..`, `%2e%2e`, encoded slashes, backslashes, null bytes, absolute
//! paths, hidden files), with `api.static_dir` and with the built-in
//! dashboard, never answering a byte from outside; and unknown or
//! undecodable backend names, a 404 or 400 JSON naming the `name` field.
//! Requests go over a raw socket (`bad_input::raw`), so no client
//! normalises a path.

use reqwest::Method;
use serde_json::json;
use switchboard_harness::*;

use super::bad_input::{raw, send, still_fine};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_never_leaves_the_static_files() {
    let dir = TempDir::new("traversal");
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::write(www.join("index.html"), "<title>inside</title>").unwrap();
    std::fs::write(www.join("sub/page.css"), "body{}").unwrap();
    std::fs::write(www.join(".hidden"), "HIDDEN-CONTENT").unwrap();
    std::fs::write(dir.join("secret.txt"), "SECRET-CONTENT").unwrap();
    let fleet = Fleet::start(1).await;
    for static_dir in [Some(www.clone()), None] {
        let embedded = static_dir.is_none();
        let sb = fleet
            .switchboard(Builder {
                static_dir,
                ..Builder::new()
            })
            .await;
        assert_eq!(
            send(&sb, "GET", "/sub/page.css", "", b"").await.status,
            if embedded { 404 } else { 200 }
        );
        let secret = dir.join("secret.txt").display().to_string();
        let secret_enc = secret.replace('/', "%2F");
        for path in [
            "/../secret.txt",
            "/sub/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/%2e%2e%2fsecret.txt",
            "/..%2fsecret.txt",
            "/..%5csecret.txt",
            "/..\\secret.txt",
            "/sub/%2e%2e/%2e%2e/secret.txt",
            "/....//secret.txt",
            "/.%2e/secret.txt",
            "/%252e%252e/secret.txt",
            "/.hidden",
            "/sub/../.hidden",
            "/%2ehidden",
            "/index.html%00.js",
            "/index.html%00",
            "/%00",
            "//etc/passwd",
            "/etc/passwd",
            "/%2Fetc%2Fpasswd",
            &secret,
            &format!("/{secret_enc}"),
            &format!("/..{secret}"),
        ] {
            let r = send(&sb, "GET", path, "", b"").await;
            assert!(
                matches!(r.status, 400 | 404),
                "{path}: {} {}",
                r.head,
                r.body
            );
            assert!(
                !r.body.contains("SECRET")
                    && !r.body.contains("HIDDEN")
                    && !r.body.contains("root:"),
                "{path}: {}",
                r.body
            );
            if r.status == 404 {
                r.json_error(404, path);
            }
        }
        // A raw null byte or control character in the request line never
        // reaches the router: the parser answers 400 and closes.
        for line in [
            &b"GET /index.html\x00 HTTP/1.1"[..],
            b"GET /\x01 HTTP/1.1",
            b"GET /a b HTTP/1.1",
        ] {
            let r = raw(&sb, line, b"").await;
            assert_eq!(
                r.status,
                400,
                "{:?}: {}",
                String::from_utf8_lossy(line),
                r.head
            );
        }
        still_fine(&sb).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_undecodable_backend_names() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let long = "n".repeat(8000);
    for (name, shown) in [
        ("db-9", "db-9"),
        ("DB-0", "DB-0"),
        ("db-0%20", "db-0 "),
        ("%C3%A9t%C3%A9", "été"),
        ("db-0%2Fx", "db-0/x"),
        ("%00", "\\0"),
        ("%0A%1B", "\\n\\u{1b}"),
        (long.as_str(), long.as_str()),
    ] {
        for method in ["GET", "PATCH"] {
            let path = format!("/v0/backends/{name}?state=drain");
            let v = send(&sb, method, &path, "", b"")
                .await
                .json_error(404, &path);
            assert_eq!(v["field"], "name", "{v}");
            let error = v["error"].as_str().unwrap();
            assert!(error.contains(shown), "{method} {name}: {error}");
        }
    }
    for name in ["%FF", "%C3", "a%ED%A0%80"] {
        for method in ["GET", "PATCH"] {
            let path = format!("/v0/backends/{name}?state=drain");
            let v = send(&sb, method, &path, "", b"")
                .await
                .json_error(400, &path);
            assert_eq!(
                v,
                json!({"error": "the backend name in the path must be valid UTF-8 once percent-decoded", "field": "name"})
            );
        }
    }
    for path in [
        "/v0/backends/db-0/extra",
        "/v0/backends//db-0",
        "/v0/backend/db-0",
    ] {
        send(&sb, "GET", path, "", b"").await.json_error(404, path);
    }
    // A valid change to an unknown name changes nothing.
    let (status, _) = sb
        .patch("/v0/backends/db-9", Some(json!({"state": "disabled"})))
        .await;
    assert_eq!(status, 404);
    let r = sb
        .request(Method::GET, "/v0/backends")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    still_fine(&sb).await;
}
