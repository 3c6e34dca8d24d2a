//! The wire type of `GET /v0/state` (`docs/api.md`, "The merged state") and
//! of the SSE `resync` frame: the read model as JSON.
//!
//! Owns the JSON contract of the merged state: camelCase names, RFC 3339
//! times, latencies in milliseconds with microsecond precision (no float
//! noise such as `0.6433260000000001`), and the `role` of every backend as
//! the read model decides it, so the dashboard shows it instead of deriving
//! it; the `coordination` object is `wire_coordination`'s. Built from one
//! snapshot; nothing here reads anything else.

use std::time::SystemTime;

use serde::Serialize;

use super::rfc3339;
use super::wire_coordination::CoordinationView;
use switchboard_core::cluster::CheckRecord;
use switchboard_core::combiner::{Sessions, State};
use switchboard_core::live_config::LiveConfig;

/// The whole merged snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateView {
    /// Bumped whenever the content changes.
    pub generation: u64,
    /// The newest event the snapshot contains: every routing, monitoring,
    /// health, election and admin event up to it, none after it. Session
    /// counts are read live with the snapshot.
    pub last_event_index: u64,
    /// Routing on/off with the operator's message.
    pub routing: RoutingView,
    /// Monitoring on/off.
    pub monitoring: MonitoringView,
    /// Name of the active port's backend.
    pub active: Option<String>,
    /// Name of the standby port's backend.
    pub standby: Option<String>,
    /// Every backend, in config order.
    pub backends: Vec<BackendStateView>,
    /// Sums over every backend.
    pub totals: TotalsView,
    /// When the process started (RFC 3339).
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
    /// The binary's version.
    pub version: &'static str,
    /// `[coordination]`: `{"kind": "none"}` alone, else the leader, this
    /// instance's role, the live instances' views and the decision.
    pub coordination: CoordinationView,
    /// The configuration in force: its checksum, load time and reloads
    /// (`/v0/state` only; the stream's snapshots leave it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigView>,
}

/// Which configuration is in force (docs/api.md, "Reload").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigView {
    /// SHA-256 of the file's bytes, hex; `built-in` for the demo's.
    pub checksum: String,
    /// When it was loaded (start or the last applied reload).
    #[serde(with = "rfc3339")]
    pub loaded_at: SystemTime,
    /// The file reloads re-read, if any.
    pub path: Option<String>,
    /// Reloads applied since start.
    pub reloads: u64,
    /// Reloads refused since start (the file was invalid; nothing changed).
    pub reloads_refused: u64,
}

impl ConfigView {
    /// The view of `live` now.
    pub(crate) fn of(live: &LiveConfig) -> ConfigView {
        let loaded = live.loaded();
        let (reloads, reloads_refused) = live.reloads();
        ConfigView {
            checksum: loaded.checksum.clone(),
            loaded_at: loaded.loaded_at,
            path: loaded.path.as_ref().map(|p| p.display().to_string()),
            reloads,
            reloads_refused,
        }
    }
}

/// Routing on/off.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoutingView {
    /// On or off.
    pub enabled: bool,
    /// The operator's message.
    pub message: String,
    /// When it last changed.
    #[serde(with = "rfc3339")]
    pub changed_at: SystemTime,
}

/// Monitoring on/off.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MonitoringView {
    /// On or paused.
    pub enabled: bool,
    /// When it last changed.
    #[serde(with = "rfc3339")]
    pub changed_at: SystemTime,
}

/// One backend in the merged state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendStateView {
    /// Its name.
    pub name: String,
    /// Configured host.
    pub host: String,
    /// Configured port.
    pub port: u16,
    /// `false` until the first probe says otherwise.
    pub healthy: bool,
    /// `true` once any probe has answered.
    pub probed: bool,
    /// The election index.
    pub index: u64,
    /// `enabled`, `drain` or `disabled`.
    pub admin_state: &'static str,
    /// The operator's reason for it.
    pub admin_message: String,
    /// `active`, `standby`, `ready`, `down`, `drained` or `disabled`.
    pub role: &'static str,
    /// Why the backend is in its health state (`HTTP 503`, ...).
    pub reason: String,
    /// When `healthy` last changed.
    #[serde(with = "rfc3339::option")]
    pub health_changed_at: Option<SystemTime>,
    /// Open sessions by port, and severs.
    pub sessions: SessionsView,
    /// The latest probe.
    pub last_check: Option<CheckView>,
    /// Recent probes, oldest first.
    pub history: Vec<CheckView>,
}

/// Open sessions by port, and severs so far.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionsView {
    /// On the active port.
    pub active: u64,
    /// On the standby port.
    pub standby: u64,
    /// On both.
    pub total: u64,
    /// Severed so far.
    pub severed: u64,
}

impl From<&Sessions> for SessionsView {
    fn from(s: &Sessions) -> SessionsView {
        SessionsView {
            active: s.active.current,
            standby: s.standby.current,
            total: s.total(),
            severed: s.severed(),
        }
    }
}

/// One probe as shown to people.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckView {
    /// When it ended.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// Its verdict.
    pub ok: bool,
    /// How long it took, in ms with microsecond precision.
    pub latency_ms: f64,
    /// What it found.
    pub reason: String,
}

impl From<&CheckRecord> for CheckView {
    fn from(r: &CheckRecord) -> CheckView {
        CheckView {
            at: r.at,
            ok: r.ok,
            latency_ms: millis(r.latency),
            reason: r.reason.clone(),
        }
    }
}

/// A duration in milliseconds, rounded to whole microseconds, so that it
/// prints as `0.643`, never `0.6433260000000001`.
pub(crate) fn millis(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// Sums over every backend.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TotalsView {
    /// Open sessions.
    pub sessions: u64,
    /// Times the active port moved from one backend to another.
    pub failovers: u64,
    /// Sessions severed.
    pub severed: u64,
    /// Accepted connections by outcome (`routed`, `routing_off`, ...).
    pub connections: serde_json::Map<String, serde_json::Value>,
    /// Bytes from clients, of ended sessions.
    pub bytes_up: u64,
    /// Bytes to clients, of ended sessions.
    pub bytes_down: u64,
    /// The session limit in force (`proxy.max_sessions`, or the one the
    /// open-file limit allows): beyond it a client is closed at once.
    pub max_sessions: u64,
}

impl From<&State> for StateView {
    fn from(s: &State) -> StateView {
        let t = &s.truth;
        let backends = t
            .backends
            .iter()
            .zip(&s.backends)
            .zip(&s.counts.sessions)
            .map(|((b, extra), sessions)| BackendStateView {
                name: b.name.clone(),
                host: extra.host.clone(),
                port: extra.port,
                healthy: b.healthy == Some(true),
                probed: b.healthy.is_some(),
                index: b.index,
                admin_state: b.admin.as_str(),
                admin_message: b.admin_message.clone(),
                role: extra.role.as_str(),
                reason: b.reason.clone(),
                health_changed_at: b.health_changed_at,
                sessions: sessions.into(),
                last_check: b.last_check.as_ref().map(CheckView::from),
                history: b.history.iter().map(CheckView::from).collect(),
            })
            .collect();
        StateView {
            generation: s.generation,
            last_event_index: t.last_event_index,
            routing: RoutingView {
                enabled: t.routing.enabled,
                message: t.routing.message.clone(),
                changed_at: t.routing.changed_at,
            },
            monitoring: MonitoringView {
                enabled: t.monitoring.enabled,
                changed_at: t.monitoring.changed_at,
            },
            active: s.name(t.active).map(str::to_string),
            standby: s.name(t.standby).map(str::to_string),
            backends,
            totals: TotalsView {
                sessions: s.counts.open_sessions(),
                failovers: t.failovers,
                severed: s.counts.severed(),
                connections: s
                    .counts
                    .outcomes
                    .iter()
                    .map(|(o, n)| (o.as_str().to_string(), (*n).into()))
                    .collect(),
                bytes_up: s.counts.bytes_up,
                bytes_down: s.counts.bytes_down,
                max_sessions: s.counts.max_sessions,
            },
            started_at: t.started_at,
            version: s.version,
            coordination: CoordinationView::of(t.coordination.as_deref()),
            config: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latencies_have_no_float_noise() {
        let json = serde_json::to_string(&millis(Duration::from_nanos(643_326))).unwrap();
        assert_eq!(json, "0.643");
        let json = serde_json::to_string(&millis(Duration::from_micros(1_500))).unwrap();
        assert_eq!(json, "1.5");
    }
}
