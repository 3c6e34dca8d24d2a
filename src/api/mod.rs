//! The HTTP side: control (PATCH), reads, Traffic Monitor compatibility,
//! metrics, the health port and the dashboard assets.
//!
//! Handlers read the combiner's snapshot and the bridge's atomics, and send
//! commands to the cluster; they never take a lock the data path takes.
//! This first version serves only the health port, `/v0/state` and a
//! placeholder page; the full API is its own piece of work.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State as Extract;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::bridge::SessionCounters;
use crate::cluster::Cluster;
use crate::combiner::Combiner;
use crate::config::Config;
use crate::runner::demo::DemoControl;

/// Everything a handler may read or command.
#[derive(Clone)]
pub struct ApiContext {
    pub config: Arc<Config>,
    pub cluster: Cluster,
    pub combiner: Combiner,
    pub counters: Arc<SessionCounters>,
    /// Present in `switchboard demo`: breaks and heals demo backends.
    pub demo: Option<DemoControl>,
}

/// The bound API listeners.
pub struct ApiListeners {
    pub api: SocketAddr,
    pub health: Option<SocketAddr>,
}

/// Binds the API and health listeners and serves them until `stop`.
pub async fn serve(ctx: ApiContext, stop: CancellationToken) -> std::io::Result<ApiListeners> {
    let api = bind("api.listen", ctx.config.api.listen).await?;
    let api_addr = api.local_addr()?;
    let router = Router::new()
        .route("/", get(placeholder))
        .route("/v0/state", get(state))
        .with_state(ctx.clone());
    spawn_server(api, router, stop.clone());

    let mut health_addr = None;
    if let Some(addr) = ctx.config.api.health_listen {
        let health = bind("api.health_listen", addr).await?;
        health_addr = Some(health.local_addr()?);
        spawn_server(health, Router::new().fallback(|| async { "" }), stop.clone());
    }
    Ok(ApiListeners {
        api: api_addr,
        health: health_addr,
    })
}

async fn bind(what: &str, addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {what} {addr}: {e}")))
}

fn spawn_server(listener: TcpListener, router: Router, stop: CancellationToken) {
    tokio::spawn(async move {
        let shutdown = async move { stop.cancelled().await };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
}

async fn state(Extract(ctx): Extract<ApiContext>) -> impl IntoResponse {
    Json(ctx.combiner.state())
}

async fn placeholder() -> Html<&'static str> {
    Html("<!doctype html><title>switchboard</title><p>switchboard is running. See <a href=\"/v0/state\">/v0/state</a>.</p>")
}
