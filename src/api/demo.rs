//! Demo control for `switchboard demo` (the dashboard's break/heal buttons):
//! `GET /v0/demo` lists the demo backends and their health modes, and
//! `POST /v0/demo/backends/{name}/health/{mode}` switches one
//! (`healthy|503|hang|unhealthy`).
//!
//! Owns these two routes only; they exist only when the API runs with a
//! `DemoControl` (otherwise they answer 404 like any unknown path). Switching
//! a mode changes what a demo backend's health endpoint answers, nothing
//! else: the monitor notices on its next probe, as with a real backend.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::App;
use crate::runner::demo::{DemoBackend, HealthMode};

/// The demo routes (mounted only in demo mode).
pub fn routes() -> Router<App> {
    Router::new()
        .route("/v0/demo", get(list))
        .route("/v0/demo/backends/{name}/health/{mode}", post(set_mode))
}

/// One demo backend as JSON.
fn backend_json(b: &DemoBackend) -> Value {
    json!({
        "name": b.name,
        "mode": b.mode().as_str(),
        "echoAddr": b.echo_addr.to_string(),
        "healthUrl": format!("http://{}/api/v1/status", b.health_addr),
    })
}

/// `GET /v0/demo`.
async fn list(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let demo = app
        .ctx
        .demo
        .as_ref()
        .ok_or_else(|| ApiError::not_found("not running in demo mode", None))?;
    let backends: Vec<Value> = demo.backends.iter().map(|b| backend_json(b)).collect();
    let modes: Vec<&str> = HealthMode::ALL.iter().map(|m| m.as_str()).collect();
    Ok(Json(json!({ "backends": backends, "modes": modes })))
}

/// `POST /v0/demo/backends/{name}/health/{mode}`.
async fn set_mode(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    Path((name, mode)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let demo = app
        .ctx
        .demo
        .as_ref()
        .ok_or_else(|| ApiError::not_found("not running in demo mode", None))?;
    let backend = demo.backend(&name).ok_or_else(|| {
        ApiError::not_found(format!("no demo backend named {name:?}"), Some("name"))
    })?;
    let mode = HealthMode::parse(&mode).ok_or_else(|| {
        ApiError::bad_field(
            "mode",
            format!("mode must be healthy, 503, hang or unhealthy; found {mode:?}"),
        )
    })?;
    backend.set_mode(mode);
    let actor = caller.map(|c| c.0).unwrap_or_default().actor();
    tracing::info!(backend = %name, mode = mode.as_str(), actor = %actor, "demo backend health switched");
    Ok(Json(backend_json(backend)))
}
