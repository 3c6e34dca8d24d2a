//! The Go switchboard's `/v0` API (docs/api.md): `GET /v0/backends`,
//! `GET|PATCH /v0/cluster` and `GET|PATCH /v0/backends/{name}`.
//!
//! Owns the validation of control requests (which parameters, which
//! combinations, which errors with which `field`) and turns valid ones into
//! `Cluster` commands with the caller as actor, or, with `[coordination]`,
//! into an `OperatorChange` the coordinator stores for every instance (the
//! answer then lists the instances that acknowledged it; a store that
//! cannot take it is 503). Validation is the same either way and comes
//! first: nothing invalid is ever submitted. Every answer is built from one
//! read-model snapshot taken after the command is in force; it never
//! touches a socket or a lock of the data path.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::routing::get;
use axum::{Extension, Json, Router};

use super::auth::Caller;
use super::error::ApiError;
use super::params::Params;
use super::views::{self, Acknowledged, BackendView, ClusterView};
use super::App;
use switchboard_core::bus::AdminState;
use switchboard_core::cluster::CommandError;
use switchboard_core::combiner::State as Snapshot;
use switchboard_core::coordination::OperatorChange;

/// The `/v0` control and compatibility routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v0/backends", get(list_backends))
        .route("/v0/backends/{name}", get(get_backend).patch(patch_backend))
        .route("/v0/cluster", get(get_cluster).patch(patch_cluster))
}

/// `GET /v0/backends`: every backend in config order.
async fn list_backends(State(app): State<App>) -> Json<Vec<BackendView>> {
    Json(views::backends(&app.ctx.combiner.snapshot()))
}

/// `GET /v0/backends/{name}`: one backend.
async fn get_backend(
    State(app): State<App>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<BackendView>, ApiError> {
    let name = backend_name(name)?;
    let snapshot = app.ctx.combiner.snapshot();
    let pos = position(&snapshot, &name)?;
    Ok(Json(views::backend(&snapshot, pos)))
}

/// `GET /v0/cluster`: the reference cluster object.
async fn get_cluster(State(app): State<App>) -> Json<ClusterView> {
    Json(views::cluster(&app.ctx.combiner.snapshot()))
}

/// `PATCH /v0/cluster`: `trafficEnabled` (with `message`, required when
/// disabling) and/or `monitoringEnabled`, from the query, a form or JSON.
async fn patch_cluster(
    State(app): State<App>,
    caller: Option<Extension<Caller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Acknowledged<ClusterView>>, ApiError> {
    let params = Params::read(&uri, &headers, body).await?;
    let traffic = params.flag("trafficEnabled")?;
    let monitoring = params.flag("monitoringEnabled")?;
    let message = params.text("message")?.unwrap_or("").to_string();
    if traffic.is_none() && monitoring.is_none() {
        return Err(ApiError::bad_field(
            "trafficEnabled",
            "trafficEnabled or monitoringEnabled is required",
        ));
    }
    if traffic == Some(false) && message.trim().is_empty() {
        return Err(ApiError::bad_field(
            "message",
            "message is required when disabling traffic",
        ));
    }
    let actor = caller.map(|c| c.0).unwrap_or_default().actor();
    // Both flags in one change: saved and applied together, or neither.
    let acknowledged = match &app.ctx.coordination {
        Some(handle) => {
            let change = OperatorChange::Flags {
                routing: traffic.map(|t| (t, message)),
                monitoring,
            };
            Some(handle.submit(change, &actor).await.map_err(command_error)?)
        }
        None => {
            app.ctx
                .cluster
                .set_flags(traffic.map(|t| (t, message.as_str())), monitoring, &actor)
                .map_err(command_error)?;
            None
        }
    };
    app.ctx.settle().await;
    Ok(Json(Acknowledged {
        view: views::cluster(&app.ctx.combiner.snapshot()),
        acknowledged,
    }))
}

/// `PATCH /v0/backends/{name}`: `state` = `enabled|drain|disabled` and an
/// optional `message`; answers the backend object.
async fn patch_backend(
    State(app): State<App>,
    name: Result<Path<String>, PathRejection>,
    caller: Option<Extension<Caller>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Acknowledged<BackendView>>, ApiError> {
    let name = backend_name(name)?;
    position(&app.ctx.combiner.snapshot(), &name)?;
    let params = Params::read(&uri, &headers, body).await?;
    let state = params
        .choice("state", "enabled, drain or disabled", |s| {
            AdminState::parse(s).is_some()
        })?
        .and_then(AdminState::parse)
        .ok_or_else(|| {
            ApiError::bad_field("state", "state is required (enabled, drain or disabled)")
        })?;
    let message = params.text("message")?.unwrap_or("");
    let actor = caller.map(|c| c.0).unwrap_or_default().actor();
    let acknowledged = match &app.ctx.coordination {
        Some(handle) => {
            let change = OperatorChange::Admin {
                backend: name.clone(),
                state,
                message: message.to_string(),
            };
            Some(handle.submit(change, &actor).await.map_err(command_error)?)
        }
        None => {
            app.ctx
                .cluster
                .set_admin(&name, state, message, &actor)
                .map_err(command_error)?;
            None
        }
    };
    app.ctx.settle().await;
    // Looked up again: a reload may have moved it meanwhile.
    let snapshot = app.ctx.combiner.snapshot();
    let pos = position(&snapshot, &name)?;
    Ok(Json(Acknowledged {
        view: views::backend(&snapshot, pos),
        acknowledged,
    }))
}

/// The `{name}` of the path, percent-decoded; 400 naming the field when it
/// does not decode to UTF-8 (no backend can have such a name).
fn backend_name(name: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    name.map(|Path(name)| name).map_err(|_| {
        ApiError::bad_field(
            "name",
            "the backend name in the path must be valid UTF-8 once percent-decoded",
        )
    })
}

/// The position of a backend in `snapshot`, or 404 naming it.
fn position(snapshot: &Snapshot, name: &str) -> Result<usize, ApiError> {
    snapshot
        .truth
        .backends
        .iter()
        .position(|b| b.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no backend named {name:?}"), Some("name")))
}

/// A refused or half-done command as an API error.
fn command_error(e: CommandError) -> ApiError {
    match e {
        CommandError::UnknownBackend => ApiError::not_found("no such backend", Some("name")),
        CommandError::NotPersisted(why) => {
            ApiError::internal(format!("nothing was changed: {why}"))
        }
        CommandError::Unavailable(why) => ApiError::unavailable(why),
    }
}
