//! Traffic Monitor compatible reads (docs/api.md): `/publish/CrStates`
//! (`?raw`), `/publish/EventLog`, `/publish/Stats`, `/api/cache-statuses`,
//! `/api/cache-count`, `/api/cache-available-count`,
//! `/api/cache-down-count` and `/api/version`, each also with a trailing
//! slash.
//!
//! Owns the wire shapes Traffic Router and Traffic Monitor tools parse:
//! caches keyed by backend name in sorted order (as Go's `encoding/json`
//! writes maps), every configured backend present, `disabledLocations: []`.
//! Availability and status strings come from `tm_model`. Reads only the
//! cluster truth, the bus ring and the live counters; gzip is applied by the
//! router's compression layer when the client asks for it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::bool_param::parse_go_bool;
use super::tm_model::{last_poll, unix_seconds, verdict};
use super::App;
use switchboard_config::Publish;
use switchboard_core::bus::{AdminState, EventKind};
use switchboard_core::cluster::Truth;

/// Every Traffic Monitor route, with its trailing-slash alias.
pub(crate) fn routes() -> Router<App> {
    let mut router = Router::new();
    let routes: [(&str, MethodRouter<App>); 8] = [
        ("/publish/CrStates", get(cr_states)),
        ("/publish/EventLog", get(event_log)),
        ("/publish/Stats", get(stats)),
        ("/api/cache-statuses", get(cache_statuses)),
        ("/api/cache-count", get(cache_count)),
        ("/api/cache-available-count", get(cache_available_count)),
        ("/api/cache-down-count", get(cache_down_count)),
        ("/api/version", get(version)),
    ];
    for (path, method_router) in routes {
        router = router
            .route(path, method_router.clone())
            .route(&format!("{path}/"), method_router);
    }
    router
}

/// One cache in CrStates.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CacheState {
    is_available: bool,
    ipv4_available: bool,
    ipv6_available: bool,
    status: String,
    last_poll: String,
}

/// One delivery service in CrStates.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryServiceState {
    disabled_locations: [String; 0],
    is_available: bool,
}

/// The whole CrStates document.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CrStates {
    caches: BTreeMap<String, CacheState>,
    delivery_services: BTreeMap<String, DeliveryServiceState>,
}

/// Whether the query string asks for the raw view (`?raw`, `?raw=true`).
fn wants_raw(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == "raw" && (v.is_empty() || parse_go_bool(&v).unwrap_or(true)))
    })
}

/// `GET /publish/CrStates[?raw]`.
async fn cr_states(State(app): State<App>, uri: Uri) -> Json<CrStates> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let raw = wants_raw(&uri);
    let publish = app.ctx.config.traffic_monitor.publish;
    let caches: BTreeMap<String, CacheState> = truth
        .backends
        .iter()
        .enumerate()
        .map(|(pos, b)| {
            let v = verdict(truth, pos, publish, raw);
            let state = CacheState {
                is_available: v.available,
                ipv4_available: v.available,
                ipv6_available: v.available,
                status: v.status,
                last_poll: last_poll(truth, pos),
            };
            (b.name.clone(), state)
        })
        .collect();
    let any = caches.values().any(|c| c.is_available);
    let mut delivery_services = BTreeMap::new();
    delivery_services.insert(
        app.ctx.config.traffic_monitor.cluster.clone(),
        DeliveryServiceState {
            disabled_locations: [],
            is_available: any,
        },
    );
    Json(CrStates {
        caches,
        delivery_services,
    })
}

/// One Traffic Monitor event.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TmEvent {
    time: i64,
    index: u64,
    description: String,
    name: String,
    hostname: String,
    #[serde(rename = "type")]
    kind: &'static str,
    is_available: bool,
    ipv4_available: bool,
    ipv6_available: bool,
}

/// The cache type every backend reports.
const CACHE_TYPE: &str = "DB";

/// `GET /publish/EventLog`: availability changes from the ring, newest first.
async fn event_log(State(app): State<App>) -> Json<Value> {
    let config = &app.ctx.config;
    let host = |name: &str| {
        config
            .backend_position(name)
            .map(|p| config.backends[p].host.clone())
            .unwrap_or_default()
    };
    let mut events = Vec::new();
    for e in app.ctx.cluster.bus().since(0).iter().rev() {
        let mut push = |name: &str, available: bool, description: String| {
            events.push(TmEvent {
                time: unix_seconds(e.time),
                index: e.index,
                description,
                name: name.to_string(),
                hostname: host(name),
                kind: CACHE_TYPE,
                is_available: available,
                ipv4_available: available,
                ipv6_available: available,
            })
        };
        match &e.kind {
            EventKind::HealthChanged {
                backend,
                healthy,
                reason,
            } => {
                let status = if *healthy {
                    "REPORTED - available"
                } else {
                    "REPORTED - unavailable"
                };
                push(backend, *healthy, format!("{status}: {reason}"));
            }
            EventKind::BackendStateChanged {
                backend,
                state,
                message,
                actor,
            } => {
                let available = *state == AdminState::Enabled;
                let text = format!("ADMIN {} by {actor}", state.as_str());
                push(
                    backend,
                    available,
                    if message.is_empty() {
                        text
                    } else {
                        format!("{text}: {message}")
                    },
                );
            }
            EventKind::ActiveChanged { from, to, reason }
                if config.traffic_monitor.publish == Publish::ActiveOnly =>
            {
                if let Some(to) = to {
                    push(
                        to,
                        true,
                        format!("REPORTED - available (now active): {reason}"),
                    );
                }
                if let Some(from) = from {
                    push(
                        from,
                        false,
                        format!("REPORTED - standby (no longer active): {reason}"),
                    );
                }
            }
            _ => {}
        }
    }
    Json(json!({ "events": events }))
}

/// Counts of (all, available) caches in the published view.
fn counts(app: &App, truth: &Truth) -> (usize, usize) {
    let publish = app.ctx.config.traffic_monitor.publish;
    let available = (0..truth.backends.len())
        .filter(|pos| verdict(truth, *pos, publish, false).available)
        .count();
    (truth.backends.len(), available)
}

/// A bare number, as Traffic Monitor writes its counts.
fn number(n: usize) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        n.to_string(),
    )
}

/// `GET /api/cache-count`.
async fn cache_count(State(app): State<App>) -> impl IntoResponse {
    number(app.ctx.config.backends.len())
}

/// `GET /api/cache-available-count`.
async fn cache_available_count(State(app): State<App>) -> impl IntoResponse {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    number(counts(&app, truth).1)
}

/// `GET /api/cache-down-count`.
async fn cache_down_count(State(app): State<App>) -> impl IntoResponse {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let (all, available) = counts(&app, truth);
    number(all - available)
}

/// `GET /api/version`.
async fn version() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("switchboard-{}", env!("CARGO_PKG_VERSION")),
    )
}

/// `GET /api/cache-statuses`: per cache, Traffic Monitor's status fields
/// with `connection_count` = open sessions.
async fn cache_statuses(State(app): State<App>) -> Json<Value> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let publish = app.ctx.config.traffic_monitor.publish;
    let now = SystemTime::now();
    let mut out = BTreeMap::new();
    for (pos, b) in truth.backends.iter().enumerate() {
        let v = verdict(truth, pos, publish, false);
        let (query_ms, span_ms) = match &b.last_check {
            Some(c) => (
                c.latency.as_millis() as u64,
                now.duration_since(c.at)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0),
            ),
            None => (0, 0),
        };
        out.insert(
            b.name.clone(),
            json!({
                "type": CACHE_TYPE,
                "load_average": 0.0,
                "query_time_ms": query_ms,
                "health_time_ms": query_ms,
                "stat_time_ms": 0,
                "stat_span_ms": 0,
                "health_span_ms": span_ms,
                "status": v.status,
                "status_poller": "health",
                "bandwidth_kbps": 0.0,
                "bandwidth_capacity_kbps": 0.0,
                "connection_count": snap.counts.sessions[pos].total(),
                "ipv4_available": v.available,
                "ipv6_available": v.available,
                "combined_available": v.available,
            }),
        );
    }
    Json(json!(out))
}

/// `GET /publish/Stats`: Traffic Monitor's process statistics.
async fn stats(State(app): State<App>) -> Json<Value> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let now = SystemTime::now();
    let uptime = now
        .duration_since(truth.started_at)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let slowest = truth
        .backends
        .iter()
        .filter_map(|b| b.last_check.as_ref().map(|c| (c.latency, b.name.as_str())))
        .max();
    let date = time::OffsetDateTime::from(now)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let interval_ms = app.ctx.config.monitor.interval.as_millis() as u64;
    Json(json!({
        "pp": "",
        "date": date,
        "stats": {
            "Name": "switchboard",
            "Version": env!("CARGO_PKG_VERSION"),
            "Uptime": uptime,
            "Error Count": 0,
            "Iteration Count": truth.version,
            "Query Interval Target": interval_ms,
            "Slowest Cache": slowest.map(|s| s.1).unwrap_or(""),
            "Last Query Interval": slowest.map(|s| s.0.as_millis() as u64).unwrap_or(0),
            "Caches": truth.backends.len(),
            "connection_count": snap.counts.open_sessions(),
        }
    }))
}
