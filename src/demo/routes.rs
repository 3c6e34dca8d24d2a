//! Demo control for `switchboard demo` (the dashboard's break/heal buttons):
//! `GET /v0/demo` lists the demo backends and their health modes, and
//! `POST /v0/demo/backends/{name}/health/{mode}` switches one
//! (`healthy|503|hang|unhealthy`).
//!
//! Owns these two routes only. The demo hands them to the API as an opaque
//! router, mounted behind the API's front door (auth, JSON errors) only in
//! `switchboard demo`; elsewhere they answer 404 like any unknown path. Switching
//! a mode changes what a demo backend's health endpoint answers, nothing
//! else: the monitor notices on its next probe, as with a real backend.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{DemoBackend, DemoControl, HealthMode};

/// The demo routes over `control`.
pub(crate) fn routes(control: DemoControl) -> Router {
    Router::new()
        .route("/v0/demo", get(list))
        .route("/v0/demo/backends/{name}/health/{mode}", post(set_mode))
        .with_state(control)
}

/// A JSON error in the API's shape (`{"error", "field"}`).
fn error(status: StatusCode, message: String, field: &str) -> Response {
    (status, Json(json!({ "error": message, "field": field }))).into_response()
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
async fn list(State(demo): State<DemoControl>) -> Json<Value> {
    let backends: Vec<Value> = demo.backends.iter().map(|b| backend_json(b)).collect();
    let modes: Vec<&str> = HealthMode::ALL.iter().map(|m| m.as_str()).collect();
    Json(json!({ "backends": backends, "modes": modes }))
}

/// `POST /v0/demo/backends/{name}/health/{mode}`.
async fn set_mode(
    State(demo): State<DemoControl>,
    Path((name, mode)): Path<(String, String)>,
) -> Response {
    let Some(backend) = demo.backend(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no demo backend named {name:?}"),
            "name",
        );
    };
    let Some(mode) = HealthMode::parse(&mode) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("mode must be healthy, 503, hang or unhealthy; found {mode:?}"),
            "mode",
        );
    };
    backend.set_mode(mode);
    tracing::info!(backend = %name, mode = mode.as_str(), "demo backend health switched");
    Json(backend_json(backend)).into_response()
}
