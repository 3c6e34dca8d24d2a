//! The configuration reference and the parser agree on every key.
//!
//! Owns three checks of `docs/configuration.md` against the code: the
//! native key tables list exactly the keys the native parser accepts (the
//! `*_KEYS` lists that `deny_unknown` enforces); the Go format's tables list
//! exactly the keys its parser reads (observed through `tree::looked_up`,
//! since that format ignores unknown keys and so has no list); and every
//! documented example value passes `Config::parse`. Which tables count is
//! decided by their first header cell (see the comment in the document).
//! It never writes anywhere but its own temporary directory.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::coordination::COORDINATION_KEYS;
use super::native::{
    API_KEYS, MONITOR_KEYS, PROXY_KEYS, ROOT_KEYS, STATE_KEYS, TRAFFIC_MONITOR_KEYS,
};
use super::native_backends::{BACKEND_KEYS, CHECK_KEYS};
use super::tree::looked_up;
use super::{Config, Format};
use tables::{documented, rows, Row, Table, DOC};

#[path = "docs_tables.rs"]
mod tables;

/// The smallest valid native file, as (table, key, TOML value); `backends[]`
/// is the one `[[backends]]` entry.
const BASE: &[(&str, &str, &str)] = &[
    ("proxy", "listen", "\"0.0.0.0:3306\""),
    ("api", "password", "\"pw\""),
    ("backends[]", "name", "\"db-0\""),
    ("backends[]", "host", "\"127.0.0.1\""),
    ("backends[]", "port", "3306"),
];

/// The check tables an example is tried in (it passes if one accepts it).
/// A new check kind adds its smallest valid check table here.
const CHECK_CONTEXTS: &[&[(&str, &str)]] = &[
    &[("kind", "\"tcp\"")],
    &[
        ("kind", "\"http\""),
        ("url", "\"https://127.0.0.1:9200/health\""),
    ],
    &[
        ("kind", "\"galera\""),
        ("url", "\"https://127.0.0.1:9200/api/v1/status\""),
    ],
    &[
        ("kind", "\"mysql\""),
        ("user", "\"monitor\""),
        ("password", "\"pw\""),
        ("tls", "\"verify-full\""),
    ],
];

/// Keys whose example names a file that must exist at load: the test writes
/// this content to a temporary file and uses its path, and removes the
/// listed keys that exclude it.
const FILE_FIXTURES: &[(&str, &str, &[&str])] = &[
    ("api.password_file", "pw\n", &["api.password"]),
    ("api.tls_cert", TEST_API_CERT, &[]),
    ("api.tls_key", TEST_API_KEY, &[]),
    ("backends[].check.ca", TEST_CA, &[]),
    (
        "traffic_monitor.crconfig_file",
        "{\"stats\": {\"CDN_name\": \"cdn1\", \"date\": 1700000000}}",
        &[],
    ),
    (
        "backends[].check.password_file",
        "monitor-pw\n",
        &["backends[].check.password"],
    ),
    ("coordination.ca", TEST_CA, &[]),
    ("coordination.cert", TEST_API_CERT, &[]),
    ("coordination.key", TEST_API_KEY, &[]),
    (
        "coordination.password_file",
        "etcd-pw\n",
        &["coordination.password"],
    ),
];

/// Keys that need another key with them (both or neither): trying the
/// first one's example also sets the second, from its file fixture or
/// else from its own documented example.
const COMPANIONS: &[(&str, &str)] = &[
    ("api.tls_cert", "api.tls_key"),
    ("api.tls_key", "api.tls_cert"),
    ("coordination.cert", "coordination.key"),
    ("coordination.key", "coordination.cert"),
    ("coordination.user", "coordination.password"),
    ("coordination.password", "coordination.user"),
    ("coordination.password_file", "coordination.user"),
];

/// What every `[coordination]` example is tried with (unless it is the
/// key itself): etcd with one endpoint, and a fixed instance name rather
/// than the host's.
const COORDINATION_CONTEXT: &[(&str, &str)] = &[
    ("coordination.kind", "\"etcd\""),
    ("coordination.endpoints", "[\"http://127.0.0.1:2379\"]"),
    ("coordination.instance", "\"proxy-0\""),
];

/// `[coordination]` keys used only with `https://` endpoints: their
/// context's endpoint is `https://`.
const HTTPS_ONLY: &[&str] = &["coordination.ca", "coordination.cert", "coordination.key"];

/// Go keys whose example cannot be written in a table cell (a PEM): the
/// test uses this value instead.
const GO_FIXTURES: &[(&str, &str)] = &[
    ("GaleraAgentTLS.CA", TEST_CA),
    ("API.TLS.Certificate", TEST_API_CERT),
    ("API.TLS.PrivateKey", TEST_API_KEY),
];

/// A self-signed server certificate and its key (P-256, made for tests
/// only), for `api.tls_cert` and `api.tls_key`.
const TEST_API_CERT: &str = include_str!("test_api_cert.pem");
const TEST_API_KEY: &str = include_str!("test_api_key.pem");

/// A self-signed CA certificate (P-256, no key anywhere), for `check.ca`.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBrjCCAVOgAwIBAgIUZTtAEcpTgLUvToafvmGjaHqRkL8wCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYc3dpdGNoYm9hcmQgZG9jcyB0ZXN0IENBMCAXDTI2MTIwMTIx
MjIyMFoYDzIxMjYxMTA3MjEyMjIwWjAjMSEwHwYDVQQDDBhzd2l0Y2hib2FyZCBk
b2NzIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAStWYEzA4iCmew0
CAFheRDKbHttMJ9Di1YaVMDkEM2zSiKi2Zeg5GHcpOS8jrt5A8VLpFbfo0/7bash
Rh/g4C8uo2MwYTAdBgNVHQ4EFgQUrFHA1t6abCh0h+AM2N/6E40HFZ0wHwYDVR0j
BBgwFoAUrFHA1t6abCh0h+AM2N/6E40HFZ0wDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSQAwRgIhAIvbY3qnNjHy+mY0/XGDzvsN
w8WWUGk/yNxSOCxh91YGAiEAhR11BUeC2+XbPJv9FQEdDUlQ+bXeRPUOewf7qrJ+
tIo=
-----END CERTIFICATE-----
";

/// Panics naming every key only one side has.
fn assert_same(what: &str, documented: &BTreeSet<String>, code: &BTreeSet<String>) {
    let missing: Vec<&String> = code.difference(documented).collect();
    let extra: Vec<&String> = documented.difference(code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{DOC} and the {what} parser disagree.\n  accepted by the parser but not documented: {missing:?}\n  \
         documented but not accepted by the parser: {extra:?}"
    );
    assert!(!code.is_empty(), "the {what} parser accepts no key at all?");
}

/// Every native key the parser accepts, as the document spells it.
fn native_keys() -> BTreeSet<String> {
    let sections: [(&str, &[&str]); 7] = [
        ("proxy", PROXY_KEYS),
        ("monitor", MONITOR_KEYS),
        ("api", API_KEYS),
        ("state", STATE_KEYS),
        ("log", super::log::LOG_KEYS),
        ("traffic_monitor", TRAFFIC_MONITOR_KEYS),
        ("coordination", COORDINATION_KEYS),
    ];
    let mut keys = BTreeSet::new();
    for root in ROOT_KEYS {
        if *root == "backends" {
            for key in BACKEND_KEYS {
                match *key {
                    "check" => {
                        keys.extend(CHECK_KEYS.iter().map(|c| format!("backends[].check.{c}")))
                    }
                    key => {
                        keys.insert(format!("backends[].{key}"));
                    }
                }
            }
            continue;
        }
        let Some((_, list)) = sections.iter().find(|(s, _)| s == root) else {
            panic!("ROOT_KEYS has `{root}`, which docs_tests.rs does not know: add its key list to native_keys()");
        };
        keys.extend(list.iter().map(|k| format!("{root}.{k}")));
    }
    keys
}

#[test]
fn docs_native_tables_list_exactly_the_accepted_keys() {
    assert_same(
        "native",
        &documented(&rows(), Table::Native),
        &native_keys(),
    );
}

/// A Go format document holding every example of `rows` (list keys `X[]`
/// get one entry).
fn go_document<'r>(rows: impl Iterator<Item = &'r Row>) -> Value {
    let mut doc = Value::Object(Map::new());
    for r in rows {
        let example = r
            .example
            .as_deref()
            .unwrap_or_else(|| panic!("`{}` has no example", r.key));
        let fixture = GO_FIXTURES.iter().find(|(k, _)| *k == r.key);
        let value: Value = match fixture {
            Some((_, text)) => Value::String(text.to_string()),
            None => serde_norway::from_str(example)
                .unwrap_or_else(|e| panic!("`{}`: example `{example}` is not YAML: {e}", r.key)),
        };
        let mut at = &mut doc;
        for part in r.key.split('.') {
            let (name, list) = match part.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (part, false),
            };
            let Value::Object(map) = at else {
                panic!("`{}`: {part} is not inside a map", r.key)
            };
            at = map.entry(name).or_insert_with(|| {
                if list {
                    Value::Array(vec![Value::Object(Map::new())])
                } else {
                    Value::Object(Map::new())
                }
            });
            if let Value::Array(items) = at {
                at = &mut items[0];
            }
        }
        *at = value;
    }
    doc
}

/// Parses a Go format document; returns the outcome and every path looked up.
fn parse_go(doc: &Value) -> (Result<Config, super::ConfigErrors>, BTreeSet<String>) {
    looked_up::take();
    let result = Config::parse(&doc.to_string(), Format::Json);
    let paths = looked_up::take()
        .into_iter()
        .map(|p| {
            // `Proxy.Backends[0].Host` is documented as `Proxy.Backends[].Host`.
            let mut out = String::new();
            let mut in_index = false;
            for c in p.chars() {
                match c {
                    '[' => {
                        in_index = true;
                        out.push_str("[]");
                    }
                    ']' => in_index = false,
                    _ if in_index => {}
                    c => out.push(c),
                }
            }
            out
        })
        .collect();
    (result, paths)
}

#[test]
fn docs_go_format_tables_list_exactly_the_read_keys() {
    let rows = rows();
    let doc = go_document(rows.iter().filter(|r| r.table == Table::GoRead));
    let (result, paths) = parse_go(&doc);
    // A table's own path is looked up too; only the keys inside it are keys.
    let leaves: BTreeSet<String> = paths
        .iter()
        .filter(|p| {
            !paths
                .iter()
                .any(|q| q.starts_with(&format!("{p}.")) || q.starts_with(&format!("{p}[")))
        })
        .cloned()
        .collect();
    assert_same("Go format", &documented(&rows, Table::GoRead), &leaves);
    let config = match &result {
        Ok(config) => format!("{config:?}"),
        Err(e) => panic!("{DOC}: the Go key examples together are refused:\n{e}"),
    };

    let ignored = documented(&rows, Table::GoIgnored);
    let read: Vec<&String> = ignored.iter().filter(|k| paths.contains(*k)).collect();
    assert!(
        read.is_empty(),
        "{DOC} calls these Go keys ignored, but the parser reads them: {read:?}"
    );
    let with_ignored = go_document(rows.iter().filter(|r| r.table != Table::Native));
    let (result, _) = parse_go(&with_ignored);
    let same = result.map(|c| format!("{c:?}") == config);
    assert_eq!(
        same,
        Ok(true),
        "the ignored Go keys' examples change or break the configuration"
    );
}

/// Removes the test's temporary directory, also when the test fails.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `(table, key)` of a documented native key: `backends[].check.kind` is
/// key `kind` of table `backends[].check`.
fn split_key(key: &str) -> (String, String) {
    match key.rsplit_once('.') {
        Some((table, key)) => (table.to_string(), key.to_string()),
        None => (String::new(), key.to_string()),
    }
}

/// A native file from (table, key, value) entries; tables under
/// `backends[]` become inline tables of the one backend.
fn render(entries: &[(String, String, String)]) -> String {
    let mut tables: Vec<&str> = Vec::new();
    for (t, _, _) in entries {
        if !tables.contains(&t.as_str()) {
            tables.push(t);
        }
    }
    tables.sort_by_key(|t| (!t.is_empty(), t.starts_with("backends[]")));
    let lines = |t: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|(e, _, _)| e == t)
            .map(|(_, k, v)| format!("{k} = {v}"))
            .collect()
    };
    let mut text = String::new();
    for t in tables.iter().filter(|t| !t.starts_with("backends[].")) {
        match *t {
            "" => {}
            "backends[]" => text.push_str("[[backends]]\n"),
            t => text.push_str(&format!("[{t}]\n")),
        }
        text.extend(lines(t).into_iter().map(|l| l + "\n"));
        if *t == "backends[]" {
            for sub in tables.iter().filter_map(|s| s.strip_prefix("backends[].")) {
                let inline = lines(&format!("backends[].{sub}"));
                text.push_str(&format!("{sub} = {{ {} }}\n", inline.join(", ")));
            }
        }
    }
    text
}

#[test]
fn docs_native_examples_are_accepted() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("switchboard-docs-tests-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap_or_else(|e| panic!("{}: {e}", dir.0.display()));
    let rows = rows();
    let mut failures = Vec::new();
    let mut tried = 0;
    for r in rows.iter().filter(|r| r.table == Table::Native) {
        let Some(example) = &r.example else {
            failures.push(format!("`{}` has no example", r.key));
            continue;
        };
        let (mut value, mut removed) = (example.clone(), Vec::new());
        let fixture = |key: &str| {
            let (_, content, excludes) = FILE_FIXTURES.iter().find(|(k, _, _)| *k == key)?;
            let path = dir.0.join(key.replace(['[', ']'], ""));
            std::fs::write(&path, content).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Some((format!("\"{}\"", path.display()), *excludes))
        };
        if let Some((path, excludes)) = fixture(&r.key) {
            value = path;
            removed.extend(excludes.iter().map(|k| split_key(k)));
        }
        let companions: Vec<(String, String, String)> = COMPANIONS
            .iter()
            .filter(|(k, _)| *k == r.key)
            .map(|(_, other)| {
                let value = match fixture(other) {
                    Some((path, _)) => path,
                    None => rows
                        .iter()
                        .find(|o| o.key == *other)
                        .and_then(|o| o.example.clone())
                        .unwrap_or_else(|| {
                            panic!("companion `{other}` has no file fixture and no example")
                        }),
                };
                let (table, key) = split_key(other);
                (table, key, value)
            })
            .collect();
        let context: Vec<(String, String, String)> = COORDINATION_CONTEXT
            .iter()
            .filter(|_| r.key.starts_with("coordination."))
            .filter(|(k, _)| *k != r.key && !COMPANIONS.contains(&(r.key.as_str(), *k)))
            .map(|(k, v)| {
                let (table, key) = split_key(k);
                let v = if HTTPS_ONLY.contains(&r.key.as_str()) {
                    v.replace("http://", "https://")
                } else {
                    v.to_string()
                };
                (table, key, v)
            })
            .collect();
        let target = split_key(&r.key);
        let mut problems = Vec::new();
        let accepted = CHECK_CONTEXTS.iter().any(|check| {
            let mut entries: Vec<(String, String, String)> = BASE
                .iter()
                .map(|(t, k, v)| (t.to_string(), k.to_string(), v.to_string()))
                .chain(
                    check
                        .iter()
                        .map(|(k, v)| ("backends[].check".into(), k.to_string(), v.to_string())),
                )
                .filter(|(t, k, _)| {
                    (t, k) != (&target.0, &target.1) && !removed.contains(&(t.clone(), k.clone()))
                })
                .collect();
            entries.extend(context.iter().cloned());
            entries.push((target.0.clone(), target.1.clone(), value.clone()));
            entries.extend(companions.iter().cloned());
            match Config::parse(&render(&entries), Format::Toml) {
                Ok(_) => true,
                Err(e) => {
                    problems.push(e.to_string().replace('\n', "; "));
                    false
                }
            }
        });
        tried += 1;
        problems.dedup();
        if !accepted {
            failures.push(format!(
                "`{}` = {value} is refused: {}",
                r.key,
                problems.join(" | ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{DOC}: native examples that do not load:\n{}",
        failures.join("\n")
    );
    assert!(tried > 0, "no native example was tried");
}
