//! The `/v0` wire types of the Go switchboard (`docs/api.md`, "/v0"), built
//! from one read-model snapshot.
//!
//! Owns the field names and their order: a backend is `host, port, healthy,
//! name, currentSessionCount, active, trafficEnabled` followed by extras; the
//! cluster is `activeBackend, trafficEnabled, message, lastUpdated`, then
//! `monitoringEnabled` (in GET and PATCH answers alike); a coordinated
//! PATCH answer adds `acknowledged` last. Every field of one
//! answer describes the same moment: the snapshot's. Nothing here changes
//! state.

use std::time::SystemTime;

use serde::Serialize;

use super::rfc3339;
use super::wire_state::CheckView;
use switchboard_core::bus::AdminState;
use switchboard_core::combiner::State;

/// One backend as `GET /v0/backends` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendView {
    /// The backend's configured host.
    pub host: String,
    /// The backend's configured port.
    pub port: u16,
    /// The latest verdict (false until the first probe).
    pub healthy: bool,
    /// The backend's name.
    pub name: String,
    /// Open sessions on both proxy ports.
    pub current_session_count: u64,
    /// Whether the active port routes here.
    pub active: bool,
    /// Routing on and this backend's admin state `enabled`.
    pub traffic_enabled: bool,
    /// The election index (`wsrep_local_index` or config position).
    pub index: u64,
    /// The operator's switch.
    pub admin_state: &'static str,
    /// The operator's reason for it.
    pub admin_message: String,
    /// What the backend is doing, for people.
    pub role: &'static str,
    /// Why the backend is in its health state.
    pub reason: String,
    /// The latest probe, `null` before the first.
    pub last_check: Option<CheckView>,
}

/// The active backend inside the cluster object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ActiveBackendView {
    /// Configured host.
    pub host: String,
    /// Configured port.
    pub port: u16,
    /// Backend name.
    pub name: String,
}

/// The cluster as `GET /v0/cluster` and `PATCH /v0/cluster` answer it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterView {
    /// The active port's backend, `null` when none.
    pub active_backend: Option<ActiveBackendView>,
    /// Routing on or off.
    pub traffic_enabled: bool,
    /// The operator's routing message.
    pub message: String,
    /// RFC 3339: the last routing or monitoring change.
    pub last_updated: String,
    /// Monitoring on or off, after the reference fields.
    pub monitoring_enabled: bool,
}

/// A PATCH answer: the object after the change, then, with
/// `[coordination]`, the live instances that acknowledged it within one
/// second (this one first); the field is absent without coordination, so
/// the Go switchboard's clients see exactly its shape.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Acknowledged<T> {
    /// The cluster or backend object, its fields first and in their order.
    #[serde(flatten)]
    pub view: T,
    /// Instance names, or `None` (absent) when this instance decides alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Vec<String>>,
}

/// Every backend, in config order.
pub(crate) fn backends(s: &State) -> Vec<BackendView> {
    (0..s.backends.len()).map(|pos| backend(s, pos)).collect()
}

/// The backend at config position `pos`.
pub(crate) fn backend(s: &State, pos: usize) -> BackendView {
    let t = &s.truth;
    let b = &t.backends[pos];
    let extra = &s.backends[pos];
    BackendView {
        host: extra.host.clone(),
        port: extra.port,
        healthy: b.healthy == Some(true),
        name: b.name.clone(),
        current_session_count: s.counts.sessions[pos].total(),
        active: t.active == Some(pos),
        traffic_enabled: t.routing.enabled && b.admin == AdminState::Enabled,
        index: b.index,
        admin_state: b.admin.as_str(),
        admin_message: b.admin_message.clone(),
        role: extra.role.as_str(),
        reason: b.reason.clone(),
        last_check: b.last_check.as_ref().map(CheckView::from),
    }
}

/// The cluster object.
pub(crate) fn cluster(s: &State) -> ClusterView {
    let t = &s.truth;
    let active_backend = t.active.map(|pos| ActiveBackendView {
        host: s.backends[pos].host.clone(),
        port: s.backends[pos].port,
        name: t.backends[pos].name.clone(),
    });
    let updated: SystemTime = t.routing.changed_at.max(t.monitoring.changed_at);
    ClusterView {
        active_backend,
        traffic_enabled: t.routing.enabled,
        message: t.routing.message.clone(),
        last_updated: rfc3339::format(updated),
        monitoring_enabled: t.monitoring.enabled,
    }
}
