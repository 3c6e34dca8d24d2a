//! The one event type that travels on the bus.
//!
//! Every event names the backends involved by `name` and carries a human
//! reason, so that a log line, an SSE frame and a dashboard row can all be
//! written from it alone. Events describe what already happened to the
//! authoritative state; a subscriber must never treat one as a command.
//! This is an internal type: the API's wire types decide the JSON.

use std::time::SystemTime;

/// A bus event with its place in the global order.
#[derive(Debug, Clone)]
pub struct Event {
    /// Monotonic, gap-free position in the event log (starts at 1).
    pub index: u64,
    /// When it was published.
    pub time: SystemTime,
    /// What happened.
    pub kind: EventKind,
}

/// Which proxy listener an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// An operator's per-backend switch (`docs/operations.md`, "Drain and
/// disable"). Serde is for the operator state file only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
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

/// What happened; [`EventKind::type_name`] is the SSE `event:` name.
#[derive(Debug, Clone)]
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
    /// A reload put a new configuration in force.
    ConfigReloaded {
        /// One line: what changed.
        summary: String,
        actor: String,
    },
    /// `[coordination]`: etcd has been unreachable for `lease_ttl`; the
    /// reason says what this instance does meanwhile (`hold` or `refuse`).
    CoordinatorLost { reason: String },
    /// `[coordination]`: etcd answers again and this instance routes by
    /// the shared decision once more.
    CoordinatorRejoined { reason: String },
    /// `[coordination]`: another instance (or none) leads: `from` and `to`
    /// are instance names, not backends.
    LeaderChanged {
        from: Option<String>,
        to: Option<String>,
    },
    /// `[coordination]`: the shared decision routes to a backend this
    /// instance's own probes call unhealthy (or do not know). Nothing else
    /// changes: connections fail as they would.
    LocalDisagreement { backend: String, reason: String },
    /// `[coordination]`: another instance's published view changed: it
    /// joined, left (its lease ended), or a backend's health in its own
    /// probes changed (`backend` names it).
    PeerViewChanged {
        instance: String,
        backend: Option<String>,
        change: String,
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
            EventKind::ConfigReloaded { .. } => "config_reloaded",
            EventKind::CoordinatorLost { .. } => "coordinator_lost",
            EventKind::CoordinatorRejoined { .. } => "coordinator_rejoined",
            EventKind::LeaderChanged { .. } => "leader_changed",
            EventKind::LocalDisagreement { .. } => "local_disagreement",
            EventKind::PeerViewChanged { .. } => "peer_view_changed",
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
                | EventKind::ConfigReloaded { .. }
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
                "{backend} ({} port): {} (+{opened} -{closed}, {severed} severed)",
                port.as_str(),
                sessions(*current)
            ),
            EventKind::SessionsSevered {
                backend,
                port,
                sessions,
                reason,
            } => format!(
                "{backend} ({} port): {} severed: {reason}",
                port.as_str(),
                self::sessions(*sessions)
            ),
            EventKind::ConfigReloaded { summary, actor } => {
                format!("configuration reloaded by {actor}: {summary}")
            }
            EventKind::CoordinatorLost { reason } => format!("coordinator lost: {reason}"),
            EventKind::CoordinatorRejoined { reason } => {
                format!("coordinator rejoined: {reason}")
            }
            EventKind::LeaderChanged { from, to } => {
                format!("coordination leader {} -> {}", name(from), name(to))
            }
            EventKind::PeerViewChanged {
                instance, change, ..
            } => format!("{instance}: {change}"),
            EventKind::LocalDisagreement { backend, reason } => {
                format!("the shared decision routes to {backend}, which this instance's probes call down: {reason}")
            }
        }
    }
}

/// "1 session", "2 sessions".
pub fn sessions(n: u64) -> String {
    if n == 1 {
        "1 session".to_string()
    } else {
        format!("{n} sessions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_counts_read_as_english() {
        let severed = EventKind::SessionsSevered {
            backend: "db-0".into(),
            port: PortRole::Active,
            sessions: 1,
            reason: "failover".into(),
        };
        assert_eq!(
            severed.describe(),
            "db-0 (active port): 1 session severed: failover"
        );
        let changed = EventKind::SessionsChanged {
            backend: "db-0".into(),
            port: PortRole::Standby,
            opened: 2,
            closed: 0,
            severed: 0,
            current: 2,
        };
        assert_eq!(
            changed.describe(),
            "db-0 (standby port): 2 sessions (+2 -0, 0 severed)"
        );
    }
}
