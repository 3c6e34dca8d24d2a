//! The merged read model: `GET /v0/state` (the combiner's snapshot) and
//! `GET /v0/events?since=N` (the bus ring).
//!
//! Owns the shape of the event log answer. Both handlers are one atomic
//! load or one short copy of the ring; they never wait on the data path and
//! never change state.

use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::wire_event::event_json;
use super::wire_state::{ConfigView, StateView};
use super::App;

/// The read-model routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v0/state", get(state))
        .route("/v0/events", get(events))
}

/// `GET /v0/state`: the read model as of now.
async fn state(State(app): State<App>) -> Json<StateView> {
    let mut view = StateView::from(&*app.ctx.combiner.snapshot());
    view.config = Some(ConfigView::of(&app.ctx.config));
    Json(view)
}

/// The answer of `GET /v0/events`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsPage {
    /// The oldest index still in the ring (0 before the first event).
    pub oldest_index: u64,
    /// The newest index published (0 before the first event).
    pub last_index: u64,
    /// True when events after `since` were already dropped from the ring:
    /// the reader must resync from `/v0/state`.
    pub missed: bool,
    /// Events with an index above `since`, oldest first (`wire_event`).
    pub events: Vec<Value>,
}

/// `GET /v0/events?since=N`: the ring's events after N (all when absent).
async fn events(State(app): State<App>, uri: Uri) -> Result<Json<EventsPage>, ApiError> {
    let since = query_index(&uri, "since")?.unwrap_or(0);
    let bus = app.ctx.cluster.bus();
    let events = bus.since(since);
    let missed = events.first().is_some_and(|e| e.index > since + 1);
    Ok(Json(EventsPage {
        oldest_index: bus.oldest_index(),
        last_index: bus.last_index(),
        missed,
        events: events.iter().map(|e| event_json(e)).collect(),
    }))
}

/// An event index from the query string (`since=N`); 400 naming the field
/// when it is not a whole number (an empty `since=` included: absent is
/// absent, not empty).
pub(crate) fn query_index(uri: &Uri, field: &'static str) -> Result<Option<u64>, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let Some((_, value)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == field)
    else {
        return Ok(None);
    };
    value.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bad_field(
            field,
            format!("{field} must be an event index (a whole number); found {value:?}"),
        )
    })
}
