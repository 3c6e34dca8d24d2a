//! The OpenAPI document (`src/api/openapi.json`, served at
//! `GET /v0/openapi.json`) against the real binary: it is served byte for
//! byte; it is structurally valid OpenAPI 3.0 (every `$ref` resolves, every
//! path parameter is declared, operation ids are unique); every operation it
//! lists answers something other than 404/405; every route the API serves
//! (from docs/api.md's route table and from the `.route(...)` calls of
//! `src/api`) is in it; and for every documented path, the `Allow` header of
//! a 405 lists exactly the documented methods (plus the implied `HEAD`).
//! schemathesis checks the rest against a live instance (`scripts/api-fuzz`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_harness::*;

/// The document as the repository holds it.
const DOCUMENT: &str = include_str!("../../src/api/openapi.json");

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Path + upper-case methods of every operation in `doc`.
fn operations(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_ascii_uppercase())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// Every `$ref` under `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3_0() {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the document is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(
            doc.pointer(pointer).is_some(),
            "$ref {r} resolves to nothing"
        );
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let declared = |op: &Value| -> BTreeSet<String> {
            [&item["parameters"], &op["parameters"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{path}: path parameters are required");
                    p["name"].as_str().unwrap().to_string()
                })
                .collect()
        };
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            assert_eq!(declared(op), in_path, "{method} {path}: path parameters");
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no 2xx answer documented"
            );
        }
    }
}

/// `(method, path)` of every row of docs/api.md's "Routes of the API
/// listener" table, the demo's excepted; `{name}` kept, queries dropped.
fn documented_routes() -> BTreeSet<(String, String)> {
    let md = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md"))
        .expect("docs/api.md");
    let table = md
        .split("## Routes of the API listener")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the route table");
    let mut routes = BTreeSet::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or("");
        if row.contains("only in `switchboard demo`") {
            continue;
        }
        let mut method = "GET".to_string();
        for item in first.split('`').skip(1).step_by(2) {
            let mut words = item.split_whitespace();
            let (m, p) = match (words.next(), words.next()) {
                (Some(m), Some(p)) => (m.to_string(), p),
                (Some(p), None) => (method.clone(), p),
                _ => continue,
            };
            method = m.clone();
            let path = p.split('?').next().unwrap_or(p).to_string();
            routes.insert((m, path));
        }
    }
    routes
}

/// `(method, path)` of every `.route("PATH", method(..).other(..))` and
/// Traffic Monitor table entry `("PATH", method(..))` in `src/api`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files = vec![];
    let mut dirs = vec![dir];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line
                .strip_prefix(".route(\"")
                .or_else(|| line.strip_prefix("(\"/"))
                .map(|r| {
                    if line.starts_with("(\"/") {
                        format!("/{r}")
                    } else {
                        r.to_string()
                    }
                })
            else {
                continue;
            };
            let Some((path, calls)) = rest.split_once('"') else {
                continue;
            };
            let path = path.to_string();
            for m in ["get", "post", "patch", "put", "delete"] {
                if calls.contains(&format!(" {m}(")) || calls.contains(&format!(".{m}(")) {
                    routes.insert((m.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    routes
}

/// A CrConfig file, so `/publish/CrConfig` answers 200.
fn crconfig(dir: &TempDir) -> std::path::PathBuf {
    let file = dir.join("crconfig.json");
    let doc = json!({"config": {}, "contentServers": {}, "deliveryServices": {"db": {}},
        "monitors": {"switchboard": {"fqdn": "127.0.0.1", "port": 8080, "status": "ONLINE"}},
        "stats": {"CDN_name": "cdn1", "date": 1000, "tm_host": "to.example"}});
    std::fs::write(&file, doc.to_string()).unwrap();
    file
}

/// A harmless request of every documented operation.
fn request(sb: &Switchboard, method: &str, path: &str) -> reqwest::RequestBuilder {
    let path = path.replace("{name}", "db-1");
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let rb = sb.request(method.clone(), &path);
    match (method.as_str(), path.as_str()) {
        ("PATCH", "/v0/cluster") => rb.query(&[("monitoringEnabled", "true")]),
        ("PATCH", _) => rb.query(&[("state", "enabled")]),
        _ => rb,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_routes_match() {
    let doc: Value = serde_json::from_str(DOCUMENT).unwrap();
    let ops = operations(&doc);
    let dir = TempDir::new("openapi");
    let fleet = Fleet::start(2).await;
    let sb = fleet
        .switchboard(Builder {
            tm_crconfig: Some(crconfig(&dir)),
            ..Builder::new()
        })
        .await;

    // Served byte for byte, as JSON.
    let r = sb.get("/v0/openapi.json").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.text().await.unwrap(), DOCUMENT);
    let (status, _) = sb
        .call(sb.bare(Method::GET, &sb.api_url("/v0/openapi.json")))
        .await;
    assert_eq!(status, 401, "read like any other read");

    // Every documented operation is served.
    for (path, methods) in &ops {
        for method in methods {
            let r = request(&sb, method, path).send().await.unwrap();
            let status = r.status().as_u16();
            assert!(
                status != 404 && status != 405 && status < 500,
                "{method} {path} answered {status}: {}",
                if path.ends_with("/stream") {
                    String::new()
                } else {
                    r.text().await.unwrap_or_default()
                }
            );
        }
    }

    // Every route served is documented, and nothing else is allowed.
    let documented: BTreeSet<(String, String)> = ops
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(move |m| (m.clone(), p.clone())))
        .collect();
    let from_docs = documented_routes();
    assert!(
        from_docs.len() >= 25,
        "docs/api.md's table read: {from_docs:?}"
    );
    let from_source = routes_in_source();
    assert!(
        from_source.len() >= 20,
        "src/api's routes read: {from_source:?}"
    );
    for route in from_docs.iter().chain(&from_source) {
        assert!(
            documented.contains(route),
            "{route:?} is served but not in the document"
        );
        if route.1.starts_with("/publish/") || route.1.starts_with("/api/") {
            let alias = (route.0.clone(), format!("{}/", route.1));
            assert!(
                documented.contains(&alias),
                "{alias:?}: the trailing-slash alias"
            );
        }
    }
    for (path, methods) in &ops {
        let r = sb
            .request(Method::DELETE, &path.replace("{name}", "db-1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "DELETE {path}");
        let allow: BTreeSet<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| m != "HEAD")
            .collect();
        assert_eq!(&allow, methods, "Allow of {path}");
    }
    let mut sb = sb;
    sb.stop().await;
    assert!(!sb.stderr().contains("panicked"), "{}", sb.stderr());
}
