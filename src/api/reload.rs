//! `POST /v0/reload`: asks the runner to re-read the configuration file
//! (docs/api.md, "Reload"; the same reload as SIGHUP).
//!
//! The API cannot reach the runner; it sends a request through the
//! core's [`LiveConfig`](switchboard_core::live_config::LiveConfig) and
//! answers with what came back: 200 with the summary and the new checksum,
//! or 400 with every problem of a file that changed nothing. Must never
//! echo a secret: problems come from the config validator, which redacts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::rfc3339;
use super::App;

/// The reload route (auth: a write).
pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v0/reload", post(reload))
}

/// `POST /v0/reload`.
async fn reload(State(app): State<App>, caller: Option<Extension<Caller>>) -> Response {
    let actor = caller.map(|c| c.0).unwrap_or_default().actor();
    match app.ctx.config.request_reload(&actor).await {
        Some(Ok(summary)) => {
            let loaded = app.ctx.config.loaded();
            Json(json!({
                "status": "reloaded",
                "summary": summary,
                "checksum": loaded.checksum,
                "loadedAt": rfc3339::format(loaded.loaded_at),
            }))
            .into_response()
        }
        Some(Err(problems)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "the configuration was not reloaded; nothing changed",
                "problems": problems,
            })),
        )
            .into_response(),
        None => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "reload is not available (busy, or no configuration file)".into(),
            field: None,
        }
        .into_response(),
    }
}
