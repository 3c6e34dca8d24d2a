//! The `/v0` response shapes of the Go switchboard (SPEC 7.1), built from
//! the live cluster truth and the live session counters.
//!
//! Owns the field names and their order: a backend is `host, port, healthy,
//! name, currentSessionCount, active, trafficEnabled` followed by extras; the
//! cluster is `activeBackend, trafficEnabled, message, lastUpdated`, plus
//! `monitoringEnabled` in PATCH answers. Session counts come straight from
//! the bridge's atomics, never from a snapshot, so they are exact at the
//! moment of the request. Nothing here changes state.

use std::time::SystemTime;

use serde::Serialize;

use switchboard_config::Config;
use switchboard_core::bus::{rfc3339, AdminState};
use switchboard_core::cluster::Truth;
use switchboard_core::combiner::{check, role_of, Check, Role};
use switchboard_core::counters::SessionCounters;

/// One backend as `GET /v0/backends` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendView {
    /// The backend's configured host.
    pub host: String,
    /// The backend's configured port.
    pub port: u16,
    /// The latest verdict (false until the first probe).
    pub healthy: bool,
    /// The backend's name.
    pub name: String,
    /// Open sessions on both proxy ports, read live.
    pub current_session_count: u64,
    /// Whether the active port routes here.
    pub active: bool,
    /// Routing on and this backend's admin state `enabled`.
    pub traffic_enabled: bool,
    /// The election index (`wsrep_local_index` or config position).
    pub index: u64,
    /// The operator's switch.
    pub admin_state: AdminState,
    /// The operator's reason for it.
    pub admin_message: String,
    /// What the backend is doing, for people.
    pub role: Role,
    /// Why the backend is in its health state.
    pub reason: String,
    /// The latest probe, `null` before the first.
    pub last_check: Option<Check>,
}

/// The active backend inside the cluster object.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveBackendView {
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
pub struct ClusterView {
    /// The active port's backend, `null` when none.
    pub active_backend: Option<ActiveBackendView>,
    /// Routing on or off.
    pub traffic_enabled: bool,
    /// The operator's routing message.
    pub message: String,
    /// RFC 3339: the last routing or monitoring change.
    pub last_updated: String,
    /// Only in PATCH answers, after the reference fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring_enabled: Option<bool>,
}

/// Builds the views from one truth, so that every field of one answer
/// describes the same moment (session counts aside, which are live).
pub struct Views<'a> {
    /// Addresses come from here.
    pub config: &'a Config,
    /// The one truth every field describes.
    pub truth: &'a Truth,
    /// Live session counts.
    pub counters: &'a SessionCounters,
}

impl Views<'_> {
    /// Every backend, in config order.
    pub fn backends(&self) -> Vec<BackendView> {
        (0..self.truth.backends.len())
            .map(|pos| self.backend(pos))
            .collect()
    }

    /// The backend at config position `pos`.
    pub fn backend(&self, pos: usize) -> BackendView {
        let b = &self.truth.backends[pos];
        let cfg = &self.config.backends[pos];
        BackendView {
            host: cfg.host.clone(),
            port: cfg.port,
            healthy: b.healthy == Some(true),
            name: b.name.clone(),
            current_session_count: self.counters.current(pos),
            active: self.truth.active == Some(pos),
            traffic_enabled: self.truth.routing.enabled && b.admin == AdminState::Enabled,
            index: b.index,
            admin_state: b.admin,
            admin_message: b.admin_message.clone(),
            role: role_of(self.truth, pos),
            reason: b.reason.clone(),
            last_check: b.last_check.as_ref().map(check),
        }
    }

    /// The cluster object; `with_monitoring` adds `monitoringEnabled`.
    pub fn cluster(&self, with_monitoring: bool) -> ClusterView {
        let t = self.truth;
        let active_backend = t.active.map(|pos| {
            let cfg = &self.config.backends[pos];
            ActiveBackendView {
                host: cfg.host.clone(),
                port: cfg.port,
                name: cfg.name.clone(),
            }
        });
        let updated: SystemTime = t.routing.changed_at.max(t.monitoring.changed_at);
        ClusterView {
            active_backend,
            traffic_enabled: t.routing.enabled,
            message: t.routing.message.clone(),
            last_updated: rfc3339::format(updated),
            monitoring_enabled: with_monitoring.then_some(t.monitoring.enabled),
        }
    }
}
