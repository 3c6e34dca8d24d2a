//! Traffic Monitor compatible reads (docs/api.md): `/publish/CrStates`
//! (`?raw`), `/publish/PeerStates`, `/publish/CrConfig`, `/publish/EventLog`, `/publish/Stats`,
//! `/publish/ConfigDoc`, `/api/cache-statuses`, `/api/cache-count`,
//! `/api/cache-available-count`, `/api/cache-down-count`, `/api/version`,
//! `/api/monitor-config` and `/api/crconfig-history`, each also with a
//! trailing slash, as Traffic Monitor's `datareq.MakeDispatchMap` has them.
//!
//! Owns the wire shapes Traffic Router and Traffic Control's Go tools
//! (`tmclient`, `tmcheck`) decode, each taken from the Traffic Control type
//! named at its handler: field names, JSON types and content types as
//! `datareq` writes them; caches keyed by backend name in sorted order;
//! every configured backend present; `disabledLocations: []`. Availability
//! and status strings come from `tm_model`; with `[coordination]`, CrStates
//! (and `combined_available`) run its rules on the leader's combined
//! health, as Traffic Monitor serves its peers' combined states, while
//! `?raw`, the counts and the event log keep this instance's own, as
//! Traffic Monitor's do. PeerStates, the event log, the CrConfig
//! file, the process statistics and the monitoring config live in the
//! submodules. Reads the cluster truth, the bus and the live counters, and
//! never commands anything; gzip is applied by the router's compression
//! layer when the client asks for it.

mod crconfig;
mod event_log;
mod monitor_config;
mod peer_states;
mod stats;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;

use super::tm_model::{is_down, last_poll, verdict, verdict_of, ServerStatus, Source};
use super::{ApiContext, App};
use switchboard_core::cluster::Truth;

pub(crate) use event_log::follow;

/// The cache type every backend reports (`type` in events and statuses,
/// the server type in `/api/monitor-config`).
const CACHE_TYPE: &str = "DB";

/// The one interface each backend has in `/api/cache-statuses` and
/// `/api/monitor-config`: its data port.
const INTERFACE: &str = "data";

/// The poller that decides every verdict (Traffic Monitor's health poller).
const POLLER: &str = "health";

/// What the Traffic Monitor endpoints keep between requests.
pub(crate) struct TmState {
    /// `/publish/EventLog`'s own numbered events.
    events: event_log::EventLog,
    /// The CrConfig file, re-read when it changes, and its history.
    crconfig: crconfig::CrConfigSource,
    /// Requests answered with an error (`Error Count` in `/publish/Stats`).
    errors: AtomicU64,
}

impl TmState {
    /// Empty state; the CrConfig starts from the version read at load.
    pub(crate) fn new(ctx: &ApiContext) -> TmState {
        TmState {
            events: event_log::EventLog::default(),
            crconfig: crconfig::CrConfigSource::new(
                ctx.config.get().traffic_monitor.crconfig.as_ref(),
            ),
            errors: AtomicU64::new(0),
        }
    }

    /// Counts one request answered with an error.
    fn count_error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }
}

/// Every Traffic Monitor route, with its trailing-slash alias.
pub(crate) fn routes() -> Router<App> {
    let mut router = Router::new();
    let routes: [(&str, MethodRouter<App>); 13] = [
        ("/publish/CrStates", get(cr_states)),
        ("/publish/PeerStates", get(peer_states::peer_states)),
        ("/publish/CrConfig", get(crconfig::cr_config)),
        ("/publish/EventLog", get(event_log::event_log)),
        ("/publish/Stats", get(stats::stats)),
        ("/publish/ConfigDoc", get(monitor_config::config_doc)),
        ("/api/cache-statuses", get(cache_statuses)),
        ("/api/cache-count", get(cache_count)),
        ("/api/cache-available-count", get(cache_available_count)),
        ("/api/cache-down-count", get(cache_down_count)),
        ("/api/version", get(version)),
        ("/api/monitor-config", get(monitor_config::monitor_config)),
        ("/api/crconfig-history", get(crconfig::history)),
    ];
    for (path, method_router) in routes {
        router = router
            .route(path, method_router.clone())
            .route(&format!("{path}/"), method_router);
    }
    router
}

/// One cache in CrStates (`lib/go-tc/crstates.go`, `IsAvailable`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CacheState {
    is_available: bool,
    ipv4_available: bool,
    ipv6_available: bool,
    status: String,
    last_poll: String,
}

/// One delivery service in CrStates (`CRStatesDeliveryService`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryServiceState {
    disabled_locations: [String; 0],
    is_available: bool,
}

/// The whole CrStates document (`CRStates`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CrStates {
    caches: BTreeMap<String, CacheState>,
    delivery_services: BTreeMap<String, DeliveryServiceState>,
}

/// Whose health CrStates publishes: the leader's combined health when
/// coordinated and a decision exists, else this instance's own.
fn published(truth: &Truth) -> Source<'_> {
    truth
        .coordination
        .as_ref()
        .and_then(|s| s.decision.as_ref())
        .map_or(Source::Local, Source::Combined)
}

/// Whether the query has a `raw` parameter, whatever its value (Traffic
/// Monitor's `_, raw := params["raw"]`).
fn wants_raw(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "raw"))
}

/// `GET /publish/CrStates[?raw]` (`datareq/crstate.go`): the combined view
/// (with `[coordination]`: the leader's combined health by backend name,
/// the local verdict for a backend the decision lacks), or with `?raw`
/// this instance's local view, every rule applied to both. Alone, both are
/// the local view.
async fn cr_states(State(app): State<App>, uri: Uri) -> Json<CrStates> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let config = app.ctx.config.get();
    let publish = config.traffic_monitor.publish;
    let source = if wants_raw(&uri) {
        Source::Local
    } else {
        published(truth)
    };
    let caches: BTreeMap<String, CacheState> = truth
        .backends
        .iter()
        .enumerate()
        .map(|(pos, b)| {
            let v = verdict_of(truth, pos, publish, source);
            let state = CacheState {
                is_available: v.available,
                ipv4_available: v.ipv4,
                ipv6_available: v.ipv6,
                status: v.status,
                last_poll: last_poll(truth, pos),
            };
            (b.name.clone(), state)
        })
        .collect();
    let any = caches.values().any(|c| c.is_available);
    let mut delivery_services = BTreeMap::new();
    delivery_services.insert(
        config.traffic_monitor.cluster.clone(),
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

/// A body with the content type `datareq` gives it.
fn body(content_type: &'static str, text: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

/// A bare count: `datareq`'s `WrapBytes(…, rfc.ApplicationJSON)`, so
/// `application/json` (a JSON number), as `tmclient.getInt` parses it.
fn count(n: usize) -> Response {
    body("application/json", n.to_string())
}

/// Available caches in the published view.
fn available(app: &App, truth: &Truth) -> usize {
    let publish = app.ctx.config.get().traffic_monitor.publish;
    (0..truth.backends.len())
        .filter(|pos| verdict(truth, *pos, publish).available)
        .count()
}

/// `GET /api/cache-count` (`datareq/cachecount.go`): every cache.
async fn cache_count(State(app): State<App>) -> Response {
    count(app.ctx.combiner.snapshot().truth.backends.len())
}

/// `GET /api/cache-available-count` (`datareq/cacheavailablecount.go`).
async fn cache_available_count(State(app): State<App>) -> Response {
    let snap = app.ctx.combiner.snapshot();
    count(available(&app, &snap.truth))
}

/// `GET /api/cache-down-count` (`datareq/cachedowncount.go`): unavailable
/// caches whose server status is `REPORTED` (`tm_model::is_down`).
async fn cache_down_count(State(app): State<App>) -> Response {
    let snap = app.ctx.combiner.snapshot();
    let publish = app.ctx.config.get().traffic_monitor.publish;
    let truth = &snap.truth;
    count(
        (0..truth.backends.len())
            .filter(|pos| is_down(truth, *pos, publish))
            .count(),
    )
}

/// `GET /api/version` (`datareq/version.go`): `name-version` in
/// `text/plain`, as Traffic Monitor writes `traffic_monitor-<version>.<rev>`.
async fn version() -> Response {
    body(
        "text/plain",
        format!("switchboard-{}", env!("CARGO_PKG_VERSION")),
    )
}

/// One interface of `/api/cache-statuses` (`datareq.CacheInterfaceStatus`).
#[derive(Serialize)]
struct InterfaceStatus {
    status: String,
    status_poller: &'static str,
    bandwidth_kbps: f64,
    available: bool,
}

/// One cache of `/api/cache-statuses` (`datareq.CacheStatus`, every field
/// set, in its order).
#[derive(Serialize)]
struct CacheStatus {
    #[serde(rename = "type")]
    kind: &'static str,
    load_average: f64,
    query_time_ms: i64,
    health_time_ms: i64,
    stat_time_ms: i64,
    stat_span_ms: i64,
    health_span_ms: i64,
    status: String,
    status_poller: &'static str,
    bandwidth_kbps: f64,
    bandwidth_capacity_kbps: f64,
    connection_count: i64,
    ipv4_available: bool,
    ipv6_available: bool,
    combined_available: bool,
    interfaces: BTreeMap<&'static str, InterfaceStatus>,
}

/// Milliseconds of `d` as Go's `int64(d / time.Millisecond)`.
fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The time between the last two probes of backend `pos` (Traffic
/// Monitor's "last health duration" and "health span"), 0 before two.
pub(crate) fn last_interval(truth: &Truth, pos: usize) -> i64 {
    let history = &truth.backends[pos].history;
    match (history.iter().nth_back(0), history.iter().nth_back(1)) {
        (Some(last), Some(before)) => last.at.duration_since(before.at).map(millis).unwrap_or(0),
        _ => 0,
    }
}

/// `GET /api/cache-statuses` (`datareq/cachestate.go`): per cache, Traffic
/// Monitor's status fields with `connection_count` = open sessions.
async fn cache_statuses(State(app): State<App>) -> Json<BTreeMap<String, CacheStatus>> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let publish = app.ctx.config.get().traffic_monitor.publish;
    let mut out = BTreeMap::new();
    for (pos, b) in truth.backends.iter().enumerate() {
        let v = verdict(truth, pos, publish);
        // The latest probe that answered (Traffic Monitor's "latest
        // unerrored result").
        let health_ms = b
            .history
            .iter()
            .rev()
            .find(|c| c.ok)
            .map_or(0, |c| millis(c.latency));
        let interface = InterfaceStatus {
            status: match v.server_status {
                ServerStatus::Online => "available - server ONLINE".into(),
                _ if b.healthy == Some(true) => "available".into(),
                _ => format!("unavailable: {}", b.reason),
            },
            status_poller: POLLER,
            bandwidth_kbps: 0.0,
            available: v.server_status == ServerStatus::Online || b.healthy == Some(true),
        };
        let interval = last_interval(truth, pos);
        let sessions = snap.counts.sessions.get(pos).map_or(0, |s| s.total());
        out.insert(
            b.name.clone(),
            CacheStatus {
                kind: CACHE_TYPE,
                load_average: 0.0,
                query_time_ms: interval,
                health_time_ms: health_ms,
                stat_time_ms: 0,
                stat_span_ms: 0,
                health_span_ms: interval,
                status: v.status,
                status_poller: POLLER,
                bandwidth_kbps: 0.0,
                bandwidth_capacity_kbps: 0.0,
                connection_count: i64::try_from(sessions).unwrap_or(i64::MAX),
                ipv4_available: v.ipv4,
                ipv6_available: v.ipv6,
                combined_available: verdict_of(truth, pos, publish, published(truth)).available,
                interfaces: BTreeMap::from([(INTERFACE, interface)]),
            },
        );
    }
    Json(out)
}
