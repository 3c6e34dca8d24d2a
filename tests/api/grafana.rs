//! The Grafana dashboard file (`docs/grafana/switchboard.json`,
//! docs/operations.md "Grafana") against the real binary: every metric name
//! any of its queries uses (panel targets, annotations, template variables)
//! must be one that `/metrics` exports, so a renamed metric or a typo in a
//! panel fails here instead of showing "No data" in production.
//!
//! Metric names are found with a small PromQL tokenizer: identifiers used as
//! selectors, skipping strings, label matchers (`{...}`), ranges (`[...]`),
//! Grafana variables (`$job`, `${x}`, `$__rate_interval`), numbers and
//! durations, functions (an identifier followed by `(`), aggregations and
//! keywords, and the label lists of `by`/`without`/`on`/`ignoring`/
//! `group_left`/`group_right`. Exported names are every sample name of a
//! scrape plus the names each declared family's type implies (`_total` for
//! counters; `_bucket`, `_sum`, `_count` for histograms), so a family that
//! has no series yet still counts.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use switchboard_harness::prom::{self, Exposition};
use switchboard_harness::*;

/// Where the dashboard lives in the repository.
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana/switchboard.json");

/// The metrics the dashboard must chart (docs/operations.md, "Grafana").
const REQUIRED: &[&str] = &[
    "switchboard_backend_healthy",
    "switchboard_backend_active",
    "switchboard_backend_sessions",
    "switchboard_relayed_bytes_total",
    "switchboard_failovers_total",
    "switchboard_sessions_severed_total",
    "switchboard_probe_latency_seconds_bucket",
    "switchboard_connections_total",
    "switchboard_config_reloads_total",
];

/// Aggregation operators: identifiers that take `by (...)` before their `(`.
const AGGREGATIONS: &str = "sum min max avg group stddev stdvar count count_values \
    bottomk topk quantile limitk limit_ratio";

/// Keywords followed by a label list in parentheses.
const LABEL_LISTS: &str = "by without on ignoring group_left group_right";

/// Keywords and literals that are never metric names.
const KEYWORDS: &str = "and or unless bool offset atan2 inf nan";

/// Whether `word` is one of the space-separated `words`.
fn one_of(words: &str, word: &str) -> bool {
    words.split_whitespace().any(|w| w == word)
}

/// The index just after the bracket that closes the one at `open`,
/// skipping quoted strings inside.
fn skip_group(c: &[char], open: usize, close: char) -> Result<usize, String> {
    let opener = c[open];
    let mut depth = 0;
    let mut i = open;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => i = skip_string(c, i)?,
            ch if ch == opener => {
                depth += 1;
                i += 1;
            }
            ch if ch == close => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => i += 1,
        }
    }
    Err(format!("unclosed {opener:?}"))
}

/// The index just after the string that starts at `at`.
fn skip_string(c: &[char], at: usize) -> Result<usize, String> {
    let quote = c[at];
    let mut i = at + 1;
    while i < c.len() {
        if c[i] == '\\' && quote != '`' {
            i += 2;
            continue;
        }
        if c[i] == quote {
            return Ok(i + 1);
        }
        i += 1;
    }
    Err("unterminated string".into())
}

/// The next character that is not white space, from `i`.
fn peek(c: &[char], mut i: usize) -> (usize, Option<char>) {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    (i, c.get(i).copied())
}

/// Every metric name a PromQL expression selects.
fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let c: Vec<char> = expr.chars().collect();
    let ident_start = |ch: char| ch.is_ascii_alphabetic() || ch == '_' || ch == ':';
    let ident_rest = |ch: char| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '"' || ch == '\'' || ch == '`' {
            i = skip_string(&c, i)?;
        } else if ch == '{' {
            let end = skip_group(&c, i, '}')?;
            let matchers: String = c[i..end].iter().collect();
            if matchers.contains("__name__") {
                return Err(format!("{expr}: a __name__ matcher cannot be checked"));
            }
            i = end;
        } else if ch == '[' {
            i = skip_group(&c, i, ']')?;
        } else if ch == '#' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '$' {
            i += 1;
            if c.get(i) == Some(&'{') {
                i = skip_group(&c, i, '}')?;
            } else {
                while i < c.len() && ident_rest(c[i]) {
                    i += 1;
                }
            }
        } else if ch.is_ascii_digit()
            || (ch == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // A number or a duration (0.99, 1e-3, 5m, 0x1f).
            i += 1;
            while i < c.len()
                && (ident_rest(c[i])
                    || c[i] == '.'
                    || ((c[i] == '+' || c[i] == '-') && matches!(c[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_rest(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            let lower = word.to_ascii_lowercase();
            let (next_at, next) = peek(&c, i);
            if one_of(LABEL_LISTS, &lower) {
                if next == Some('(') {
                    i = skip_group(&c, next_at, ')')?;
                }
            } else if one_of(AGGREGATIONS, &lower) || one_of(KEYWORDS, &lower) || next == Some('(')
            {
                // An aggregation, a keyword or a function call.
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    Ok(names)
}

/// The PromQL part of a Grafana template variable's query:
/// `label_values(SELECTOR, label)` → `SELECTOR`, `query_result(EXPR)` →
/// `EXPR`, `label_values(label)` → nothing.
fn variable_promql(query: &str) -> Option<String> {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        // The last top-level comma separates the selector from the label.
        let mut depth = 0;
        let mut split = None;
        for (i, ch) in inner.char_indices() {
            match ch {
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                ',' if depth == 0 => split = Some(i),
                _ => {}
            }
        }
        return split.map(|at| inner[..at].to_string());
    }
    if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some(inner.to_string());
    }
    Some(q.to_string())
}

/// Every `(where, PromQL)` of the dashboard: each `expr` anywhere (panel
/// targets, annotations), named by the nearest title and refId, and each
/// template variable's query.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(v: &Value, place: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                let here = match (map.get("title").or(map.get("name")), map.get("refId")) {
                    (Some(t), _) => t.as_str().unwrap_or(place).to_string(),
                    (None, Some(r)) => format!("{place} [{}]", r.as_str().unwrap_or("?")),
                    (None, None) => place.to_string(),
                };
                for (k, child) in map {
                    match (k.as_str(), child) {
                        ("expr", Value::String(e)) => out.push((here.clone(), e.clone())),
                        _ => walk(child, &here, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, place, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], "panels", &mut out);
    walk(&dashboard["annotations"], "annotations", &mut out);
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let query = match &var["query"] {
            Value::String(q) => Some(q.clone()),
            Value::Object(o) => o.get("query").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        if let Some(promql) = query.as_deref().and_then(variable_promql) {
            out.push((
                format!("variable ${}", var["name"].as_str().unwrap_or("?")),
                promql,
            ));
        }
    }
    out
}

/// Every name a PromQL query can select in this scrape.
fn exported(m: &Exposition) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for f in &m.families {
        let implied: &[&str] = match f.kind.as_str() {
            "counter" => &["_total"],
            "histogram" | "gaugehistogram" => &["_bucket", "_sum", "_count"],
            "summary" => &["", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        names.extend(implied.iter().map(|s| format!("{}{s}", f.name)));
        names.extend(f.samples.iter().map(|s| s.name.clone()));
    }
    names
}

/// Every metric the dashboard queries; `Err` lists each query that names a
/// metric outside `exported`, names none, or cannot be tokenised.
fn check(dashboard: &Value, exported: &BTreeSet<String>) -> Result<BTreeSet<String>, String> {
    let mut used = BTreeSet::new();
    let mut errors = Vec::new();
    for (place, expr) in queries(dashboard) {
        match metric_names(&expr) {
            Err(e) => errors.push(format!("{place}: {e}")),
            Ok(names) if names.is_empty() => {
                errors.push(format!("{place}: no metric name in {expr:?}"))
            }
            Ok(names) => {
                for n in names {
                    if !exported.contains(&n) {
                        errors.push(format!("{place}: {n} is not exported by /metrics ({expr})"));
                    }
                    used.insert(n);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(used)
    } else {
        Err(errors.join("\n"))
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_tokenizer_finds_metric_names_and_nothing_else() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"histogram_quantile(0.99, sum by (backend, le) (rate(x_bucket{job=~"$job", le!="+Inf"}[$__rate_interval])))"#,
            &["x_bucket"],
        ),
        (
            "sum by (backend) (rate(a_sum[5m])) / on (backend) group_left (port) sum without (instance) (rate(a_count[5m] offset 1h))",
            &["a_sum", "a_count"],
        ),
        ("up == 1 and bool other:recorded", &["up", "other:recorded"]),
        (r#"label_replace(m{a="b"}, "dst", "$1", "src", "(.*)") * 1e-3"#, &["m"]),
        ("topk(3, max(g) by (backend)) > 0.5", &["g"]),
        ("vector(1)", &[]),
        ("count(q{x='}'}) # sum(comment)", &["q"]),
    ];
    for (expr, want) in cases {
        assert_eq!(metric_names(expr).unwrap(), set(want), "{expr}");
    }
    assert!(metric_names(r#"{__name__=~"sw.*"}"#).is_err());
    assert!(
        metric_names("rate(x[5m]").is_ok(),
        "an unclosed ( is not our problem"
    );
    assert!(metric_names("x{a=\"b}").is_err());
    assert_eq!(
        variable_promql(r#"label_values(switchboard_build_info{job=~"$job"}, instance)"#),
        Some(r#"switchboard_build_info{job=~"$job"}"#.into())
    );
    assert_eq!(variable_promql("label_values(job)"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_names_a_metric_the_binary_exports() {
    let text = std::fs::read_to_string(DASHBOARD).expect("docs/grafana/switchboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");

    // Importable anywhere: one Prometheus input, used by every query.
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "{inputs:?}"
    );
    let mut ids = BTreeSet::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        assert!(
            ids.insert(p["id"].as_u64().expect("panel id")),
            "repeated id {p}"
        );
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", p["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{}", p["title"]);
        }
    }

    // Standby port on, so the `port="standby"` series exist too.
    let fleet = Fleet::start(2).await;
    let sb = fleet
        .switchboard(Builder {
            standby: true,
            metrics_listen: true,
            ..Builder::new()
        })
        .await;
    let body = sb
        .bare(
            reqwest::Method::GET,
            &format!("http://{}/metrics", sb.ports.metrics),
        )
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("scrape body");
    let scrape = prom::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let names = exported(&scrape);

    let used = check(&dashboard, &names).unwrap_or_else(|e| {
        panic!("the dashboard queries metrics /metrics lacks:\n{e}\n--- exported: {names:?}")
    });
    let missing: Vec<_> = REQUIRED.iter().filter(|n| !used.contains(**n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard charts none of {missing:?}"
    );

    // The check itself can fail: one more panel with a name nobody exports.
    let mut bad = dashboard.clone();
    bad["panels"].as_array_mut().unwrap().push(json!({
        "id": 999, "type": "timeseries", "title": "typo",
        "targets": [{"refId": "A", "expr": "sum(rate(switchboard_failover_total[5m]))"}],
    }));
    let err = check(&bad, &names).expect_err("a name /metrics lacks must fail the check");
    assert!(
        err.contains("typo [A]: switchboard_failover_total is not exported"),
        "{err}"
    );
}
