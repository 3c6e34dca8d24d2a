//! The one event type that travels on the bus.
//!
//! Every event names the backends involved by `name` and carries a human
//! reason, so that a log line, an SSE frame and a dashboard row can all be
//! written from it alone. Events describe what already happened to the
//! authoritative state; a subscriber must never treat one as a command.

use serde::Serialize;
use std::time::SystemTime;

/// A bus event with its place in the global order.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Monotonic, gap-free position in the event log (starts at 1).
    pub index: u64,
    /// When it was published, RFC 3339 in JSON.
    #[serde(with = "crate::bus::rfc3339")]
    pub time: SystemTime,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Which proxy listener an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum PortRole {
    Active,
    Standby,
}

impl PortRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PortRole::Active => "active",
            PortRole::Standby => "standby",
        }
    }
}

/// An operator's per-backend switch (SPEC 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdminState {
    /// Electable, sessions flow.
    #[default]
    Enabled,
    /// Not electable; open sessions may finish until `drain_timeout`.
    Drain,
    /// Not electable; open sessions are severed at once.
    Disabled,
}

impl AdminState {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Enabled => "enabled",
            AdminState::Drain => "drain",
            AdminState::Disabled => "disabled",
        }
    }

    /// Parses the API's spelling (`enabled`, `drain`, `disabled`).
    pub fn parse(s: &str) -> Option<AdminState> {
        match s {
            "enabled" => Some(AdminState::Enabled),
            "drain" => Some(AdminState::Drain),
            "disabled" => Some(AdminState::Disabled),
            _ => None,
        }
    }
}

/// What happened. The serde tag is the SSE `event:` name.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// NEW_ACTIVE: the elected backend of the active port changed.
    ActiveChanged {
        from: Option<String>,
        to: Option<String>,
        reason: String,
    },
    /// The standby port's backend changed.
    StandbyChanged {
        from: Option<String>,
        to: Option<String>,
        reason: String,
    },
    /// A backend crossed its rise/fall threshold.
    HealthChanged {
        backend: String,
        healthy: bool,
        reason: String,
    },
    /// ROUTING_ON / ROUTING_OFF.
    RoutingChanged {
        enabled: bool,
        message: String,
        actor: String,
    },
    /// MONITORING_ON / MONITORING_OFF.
    MonitoringChanged { enabled: bool, actor: String },
    /// BACKEND_STATE: an operator changed a backend's admin state.
    BackendStateChanged {
        backend: String,
        state: AdminState,
        message: String,
        actor: String,
    },
    /// Sessions opened, closed or severed on one backend and port since the
    /// last such event (coalesced, see `bridge::session_ticker`).
    SessionsChanged {
        backend: String,
        port: PortRole,
        opened: u64,
        closed: u64,
        severed: u64,
        current: u64,
    },
    /// The bridge closed a backend's sessions on one port, and why.
    SessionsSevered {
        backend: String,
        port: PortRole,
        /// Sessions open at the moment of the sever.
        sessions: u64,
        reason: String,
    },
}

impl EventKind {
    /// The snake-case type name (the SSE `event:` line).
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ActiveChanged { .. } => "active_changed",
            EventKind::StandbyChanged { .. } => "standby_changed",
            EventKind::HealthChanged { .. } => "health_changed",
            EventKind::RoutingChanged { .. } => "routing_changed",
            EventKind::MonitoringChanged { .. } => "monitoring_changed",
            EventKind::BackendStateChanged { .. } => "backend_state_changed",
            EventKind::SessionsChanged { .. } => "sessions_changed",
            EventKind::SessionsSevered { .. } => "sessions_severed",
        }
    }

    /// Whether this event can change a route (the bridge reconciles on these).
    pub fn affects_routes(&self) -> bool {
        matches!(
            self,
            EventKind::ActiveChanged { .. }
                | EventKind::StandbyChanged { .. }
                | EventKind::RoutingChanged { .. }
                | EventKind::BackendStateChanged { .. }
        )
    }

    /// One line for humans: the log line and the EventLog description.
    pub fn describe(&self) -> String {
        let name = |o: &Option<String>| o.clone().unwrap_or_else(|| "none".into());
        match self {
            EventKind::ActiveChanged { from, to, reason } => {
                format!("active {} -> {}: {reason}", name(from), name(to))
            }
            EventKind::StandbyChanged { from, to, reason } => {
                format!("standby {} -> {}: {reason}", name(from), name(to))
            }
            EventKind::HealthChanged {
                backend,
                healthy,
                reason,
            } => format!(
                "{backend} is {}: {reason}",
                if *healthy { "healthy" } else { "unhealthy" }
            ),
            EventKind::RoutingChanged {
                enabled,
                message,
                actor,
            } => format!(
                "routing {} by {actor}{}",
                if *enabled { "on" } else { "off" },
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
            EventKind::MonitoringChanged { enabled, actor } => {
                format!(
                    "monitoring {} by {actor}",
                    if *enabled { "on" } else { "off" }
                )
            }
            EventKind::BackendStateChanged {
                backend,
                state,
                message,
                actor,
            } => format!(
                "{backend} set {} by {actor}{}",
                state.as_str(),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
            EventKind::SessionsChanged {
                backend,
                port,
                opened,
                closed,
                severed,
                current,
            } => format!(
                "{backend} ({} port): {current} sessions (+{opened} -{closed}, {severed} severed)",
                port.as_str()
            ),
            EventKind::SessionsSevered {
                backend,
                port,
                sessions,
                reason,
            } => format!(
                "{backend} ({} port): {sessions} sessions severed: {reason}",
                port.as_str()
            ),
        }
    }
}
