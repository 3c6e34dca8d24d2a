//! The HTTP side (docs/api.md): control (PATCH), reads, the SSE stream, Traffic
//! Monitor compatibility, metrics, the health port, the springboard page
//! and the dashboard assets.
//!
//! This file owns the listeners and how the routers are put together: which
//! layers wrap which routes (compression → JSON errors → `force_https` and
//! basic auth → body limit → handler); `server` runs them on the API's own
//! thread, apart from the data path. Each concept lives in its own file:
//! `auth` (the front door), `error` (JSON errors, body limit), `params` and
//! `bool_param` (control inputs), `views` and `switchboard_v0` (the Go
//! switchboard's `/v0`; with `[coordination]` a PATCH goes through the
//! `CoordinationHandle` instead of the cluster), `state`, `wire_state`,
//! `wire_coordination` and `sse` (the read model and its stream),
//! `tm_model` and `traffic_monitor` (Traffic Monitor), `metrics`,
//! `history` (the dashboard charts' 15 minutes of samples, taken on the API
//! thread), `openapi` (the OpenAPI document of the API listener,
//! `GET /v0/openapi.json`), `springboard`, `assets` and `demo`; `tls` and `tls_listener` (the API
//! and springboard listeners over TLS with `api.tls_cert`; the health and
//! metrics listeners stay plain HTTP); `server` and `connection` (every
//! listener's accept loop and connections under the `[api]` limits).
//! Handlers read the combiner's snapshot,
//! the cluster truth and the bridge's atomics, and send commands to the
//! cluster; they never take a lock the data path takes, and nothing here
//! logs a request header.

mod assets;
mod auth;
mod bool_param;
mod connection;
#[cfg(test)]
mod coordination_tests;
mod error;
mod history;
mod metrics;
mod openapi;
mod params;
mod reload;
mod rfc3339;
mod server;
mod springboard;
mod sse;
mod state;
mod switchboard_v0;
#[cfg(test)]
pub(crate) mod test_support;
mod tls;
mod tls_listener;
mod tm_model;
mod traffic_monitor;
mod views;
mod wire_coordination;
mod wire_event;
mod wire_state;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tower_http::compression::CompressionLayer;

use auth::LiveGuard;
use error::ApiError;
pub use params::parse_control_params;
use switchboard_core::cluster::Cluster;
use switchboard_core::combiner::Combiner;
use switchboard_core::coordination::CoordinationHandle;
use switchboard_core::live_config::LiveConfig;
use switchboard_core::RouteProgress;
pub use tls::TlsHandle;

/// Everything a handler may read or command.
#[derive(Clone)]
pub struct ApiContext {
    /// The configuration in force (a reload swaps it; read it per request)
    /// and the queue of reload requests.
    pub config: LiveConfig,
    /// The authoritative state and its commands.
    pub cluster: Cluster,
    /// The merged read model.
    pub combiner: Combiner,
    /// Routes of another part mounted behind the API's front door (the
    /// demo's break/heal buttons); opaque to the API.
    pub extra_routes: Option<Router>,
    /// How far the data path has applied the truth, to answer a command
    /// only once it is in force; `None` where no bridge runs (unit tests).
    pub progress: Option<RouteProgress>,
    /// `[coordination] kind = "etcd"`: the queue through which a PATCH
    /// stores its change in the shared operator state (it then applies on
    /// every instance); `None` when this instance decides alone and a
    /// PATCH commands the cluster directly.
    pub coordination: Option<CoordinationHandle>,
}

/// How long a command waits for the bridge to apply it before answering.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

impl ApiContext {
    /// Waits (bounded) until the bridge routes by the cluster's current
    /// truth, so that a PATCH answers only once the proxy acts on it: a
    /// client that connects after "routing on" returned is routed.
    pub async fn settle(&self) {
        let Some(progress) = &self.progress else {
            return;
        };
        let generation = self.cluster.truth().route_generation();
        if !progress.wait_applied(generation, SETTLE_LIMIT).await {
            tracing::warn!(generation, "the bridge has not applied a command after 1 s");
        }
    }
}

/// The running API: its bound listeners and the thread that serves them.
pub struct Api {
    /// Where each listener is bound.
    pub listeners: ApiListeners,
    /// Stops every server (graceful: open requests finish).
    stop: CancellationToken,
    /// The `switchboard-api` thread.
    thread: std::thread::JoinHandle<()>,
    /// The certificate of the TLS listeners, for reloads.
    tls: TlsHandle,
}

impl Api {
    /// The handle that re-reads the API's certificate on a config reload
    /// ([`TlsHandle::reload`]); cheap to clone, usable from any thread.
    pub fn tls(&self) -> TlsHandle {
        self.tls.clone()
    }

    /// Stops accepting API requests now; open requests finish on the API
    /// thread (SSE streams end with the stop signal). Returns at once, so the
    /// proxy's `shutdown_delay` is counted from the signal.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stops (if not yet) and waits until the API thread has ended.
    pub async fn join(self) {
        self.stop.cancel();
        let thread = self.thread;
        // Joining blocks; do it off the async workers.
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// The bound API listeners.
pub struct ApiListeners {
    /// The API and dashboard listener.
    pub api: SocketAddr,
    /// The always-200 health listener (`api.health_listen`).
    pub health: Option<SocketAddr>,
    /// The unauthenticated `/metrics` listener (`api.metrics_listen`).
    pub metrics: Option<SocketAddr>,
    /// The springboard page (`api.aggregator_listen`).
    pub aggregator: Option<SocketAddr>,
}

/// What every handler shares: the context, the stop signal (ends SSE
/// streams) and the metrics registry. Cheap to clone.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

/// The contents of [`App`].
pub struct AppInner {
    /// What handlers read and command.
    pub ctx: ApiContext,
    /// Cancelled when the API shuts down.
    pub stop: CancellationToken,
    /// The registry `/metrics` encodes.
    pub metrics: Registry,
    /// The last 15 minutes of samples (`GET /v0/history`), filled by
    /// `history::run` on the API's runtime.
    pub(crate) history: Arc<history::History>,
    /// The Traffic Monitor endpoints' own state (their event log, fed by
    /// `traffic_monitor::follow` on the API's runtime; the CrConfig file).
    pub(crate) traffic_monitor: traffic_monitor::TmState,
}

impl Deref for App {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.inner
    }
}

impl App {
    /// The shared state of all routers.
    pub fn new(ctx: ApiContext, stop: CancellationToken) -> App {
        let metrics = metrics::registry(ctx.combiner.clone(), ctx.config.clone());
        let baseline = history::Reading::now(&ctx.combiner);
        let history = Arc::new(history::History::new(baseline));
        let traffic_monitor = traffic_monitor::TmState::new(&ctx);
        App {
            inner: Arc::new(AppInner {
                ctx,
                stop,
                metrics,
                history,
                traffic_monitor,
            }),
        }
    }
}

/// Wraps routes (and `extra`, routes of another part) in the standard
/// layers: body limit, guard, JSON errors, compression (outermost).
fn layered(router: Router<App>, extra: Option<Router>, app: &App) -> Router {
    let guard = Arc::new(LiveGuard::new(app.ctx.config.clone()));
    let mut router = router.with_state(app.clone());
    if let Some(extra) = extra {
        router = router.merge(extra);
    }
    router
        .layer(from_fn(error::limit_body))
        .layer(from_fn_with_state(guard, auth::guard))
        .layer(from_fn(error::json_errors))
        .layer(CompressionLayer::new())
}

/// The router of the API listener.
pub fn api_router(app: &App) -> Router {
    let routes = Router::new()
        .merge(switchboard_v0::routes())
        .merge(state::routes())
        .merge(reload::routes())
        .merge(history::routes())
        .merge(openapi::routes())
        .merge(sse::routes())
        .merge(traffic_monitor::routes())
        .route("/metrics", get(metrics::scrape));
    let extra = app.ctx.extra_routes.clone();
    layered(routes.fallback(fallback), extra, app)
}

/// Unknown paths: dashboard assets for GET and HEAD, a JSON 405 for
/// another method on an asset, else a JSON 404.
async fn fallback(state: State<App>, method: Method, uri: Uri) -> Response {
    if method == Method::GET || method == Method::HEAD {
        assets::serve_asset(state, uri).await
    } else if assets::exists(&state, &uri).await {
        assets::method_not_allowed()
    } else {
        not_found(uri).await
    }
}

/// A JSON 404 naming the path.
async fn not_found(uri: Uri) -> Response {
    ApiError::not_found(format!("no such path: {}", uri.path()), None).into_response()
}

/// The router of the separate metrics listener: `/metrics`, no auth.
pub fn metrics_router(app: &App) -> Router {
    Router::new()
        .route("/metrics", get(metrics::scrape))
        .fallback(not_found)
        .layer(from_fn(error::json_errors))
        .layer(CompressionLayer::new())
        .with_state(app.clone())
}

/// The router of the aggregator listener: the springboard page, behind the
/// same front door as the API.
pub fn aggregator_router(app: &App) -> Router {
    let routes = Router::new()
        .route("/", get(springboard::page))
        .fallback(not_found);
    layered(routes, None, app)
}

/// The health port: any method and path → 200 with an empty body, no auth.
pub fn health_router() -> Router {
    Router::new().fallback(|| async { StatusCode::OK })
}

/// Binds every API listener, then serves them on the API's own thread (see
/// `server`) until [`Api::shutdown`].
pub async fn serve(ctx: ApiContext) -> std::io::Result<Api> {
    let stop = CancellationToken::new();
    let app = App::new(ctx, stop.clone());
    let config = app.ctx.config.get();
    let api_cfg = &config.api;
    let (acceptor, tls) = tls::setup(api_cfg.tls.as_ref()).map_err(std::io::Error::other)?;
    let mut bound = Vec::new();
    let (api, b) = server::bind(
        "api.listen",
        api_cfg.listen,
        api_router(&app),
        acceptor.clone(),
    )?;
    bound.push(b);
    let mut listeners = ApiListeners {
        api,
        health: None,
        metrics: None,
        aggregator: None,
    };
    if let Some(addr) = api_cfg.health_listen {
        let (local, b) = server::bind("api.health_listen", addr, health_router(), None)?;
        listeners.health = Some(local);
        bound.push(b);
    }
    if let Some(addr) = api_cfg.metrics_listen {
        let (local, b) = server::bind("api.metrics_listen", addr, metrics_router(&app), None)?;
        listeners.metrics = Some(local);
        bound.push(b);
    }
    if let Some(addr) = api_cfg.aggregator_listen {
        let (local, b) = server::bind(
            "api.aggregator_listen",
            addr,
            aggregator_router(&app),
            acceptor.clone(),
        )?;
        listeners.aggregator = Some(local);
        bound.push(b);
    }
    let sampler = history::run(app.history.clone(), app.ctx.combiner.clone(), stop.clone());
    let follower = traffic_monitor::follow(app.clone());
    let background = async move {
        futures::join!(sampler, follower);
    };
    let thread = server::spawn(bound, app.ctx.config.clone(), background, stop.clone())?;
    Ok(Api {
        listeners,
        stop,
        thread,
        tls,
    })
}
