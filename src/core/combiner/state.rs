//! `State`: the merged, immutable read model every read endpoint serves.
//!
//! It joins the cluster truth (health, election, operator decisions), the
//! bridge's session counters and the configuration's addresses into one
//! JSON-ready value with a monotonic `generation`. Field names are the
//! API's (camelCase); this file owns that shape.

use std::time::SystemTime;

use serde::Serialize;

use crate::bus::{rfc3339, AdminState};

/// The whole merged snapshot (`GET /v0/state`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Bumped on every new snapshot.
    pub generation: u64,
    /// The newest bus event folded into this snapshot.
    pub last_event_index: u64,
    pub routing: RoutingState,
    pub monitoring: MonitoringState,
    /// Name of the active port's backend.
    pub active: Option<String>,
    /// Name of the standby port's backend.
    pub standby: Option<String>,
    pub backends: Vec<BackendState>,
    pub totals: Totals,
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingState {
    pub enabled: bool,
    pub message: String,
    #[serde(with = "rfc3339")]
    pub changed_at: SystemTime,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringState {
    pub enabled: bool,
    #[serde(with = "rfc3339")]
    pub changed_at: SystemTime,
}

/// What a backend is doing right now, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Active,
    Standby,
    /// Healthy and enabled, waiting.
    Ready,
    Down,
    Drained,
    Disabled,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendState {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// `false` until the first probe says otherwise.
    pub healthy: bool,
    /// `true` once any probe has answered.
    pub probed: bool,
    pub index: u64,
    pub admin_state: AdminState,
    pub admin_message: String,
    pub role: Role,
    /// Why the backend is in its health state (`HTTP 503`, ...).
    pub reason: String,
    #[serde(with = "rfc3339::option")]
    pub health_changed_at: Option<SystemTime>,
    pub sessions: Sessions,
    pub last_check: Option<Check>,
    /// Recent probes, oldest first.
    pub history: Vec<Check>,
}

/// Open sessions by port, and severs so far.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sessions {
    pub active: u64,
    pub standby: u64,
    pub total: u64,
    pub severed: u64,
}

/// One probe as shown to people.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    pub ok: bool,
    pub latency_ms: f64,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub sessions: u64,
    pub failovers: u64,
    pub severed: u64,
    /// Accepted connections by outcome (`routed`, `routing_off`, ...).
    pub connections: serde_json::Map<String, serde_json::Value>,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl State {
    /// The backend with this name.
    pub fn backend(&self, name: &str) -> Option<&BackendState> {
        self.backends.iter().find(|b| b.name == name)
    }
}
