//! `State`: the merged, immutable read model every read endpoint serves.
//!
//! One value joins the cluster truth (health, election, operator decisions,
//! the newest event it contains), the bridge's session counters read at the
//! same moment, and the configuration's addresses, under a monotonic
//! `generation`. It is an internal type: the API maps it onto its own wire
//! types, so renaming a field here never changes the JSON contract.

use std::sync::Arc;

use crate::bus::PortRole;
use crate::cluster::Truth;
use crate::counters::Outcome;

/// The whole merged snapshot.
#[derive(Debug, Clone)]
pub struct State {
    /// Bumped whenever the content changes (truth or counters).
    pub generation: u64,
    /// Everything the cluster decided, with the index of the newest event it
    /// contains (`Truth::last_event_index`).
    pub truth: Arc<Truth>,
    /// Per backend, in config order (same positions as `truth.backends`).
    pub backends: Vec<BackendState>,
    /// What the counters said when this snapshot was built.
    pub counts: Counts,
    /// The version of the running binary.
    pub version: &'static str,
}

/// What the read model adds to a backend's truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendState {
    /// Configured host.
    pub host: String,
    /// Configured port.
    pub port: u16,
    /// What it is doing, for people; the one place this rule lives.
    pub role: Role,
}

/// What a backend is doing right now, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The active port routes here.
    Active,
    /// The standby port routes here.
    Standby,
    /// Healthy and enabled, waiting.
    Ready,
    /// Unhealthy (or not probed yet).
    Down,
    /// Admin state `drain`.
    Drained,
    /// Admin state `disabled`.
    Disabled,
}

impl Role {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Standby => "standby",
            Role::Ready => "ready",
            Role::Down => "down",
            Role::Drained => "drained",
            Role::Disabled => "disabled",
        }
    }
}

/// One backend's sessions on one proxy port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortCounts {
    /// Open now.
    pub current: u64,
    /// Opened since start.
    pub opened: u64,
    /// Severed since start.
    pub severed: u64,
}

/// One backend's sessions on both proxy ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sessions {
    /// On the active port.
    pub active: PortCounts,
    /// On the standby port.
    pub standby: PortCounts,
}

impl Sessions {
    /// The counts of one port.
    pub fn port(&self, port: PortRole) -> &PortCounts {
        match port {
            PortRole::Active => &self.active,
            PortRole::Standby => &self.standby,
        }
    }

    /// Open on both ports.
    pub fn total(&self) -> u64 {
        self.active.current + self.standby.current
    }

    /// Severed so far on both ports.
    pub fn severed(&self) -> u64 {
        self.active.severed + self.standby.severed
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counts {
    /// Per backend, in config order.
    pub sessions: Vec<Sessions>,
    /// Accepted connections by outcome, in `Outcome::ALL` order.
    pub outcomes: Vec<(Outcome, u64)>,
    /// Bytes from clients to backends, of ended sessions.
    pub bytes_up: u64,
    /// Bytes from backends to clients, of ended sessions.
    pub bytes_down: u64,
    /// Open sessions on every backend and port, those of backends a reload
    /// removed (still closing) included.
    pub open_total: u64,
    /// Sessions severed since start, on every backend ever configured.
    pub severed_total: u64,
    /// The session limit in force (`proxy.max_sessions`, or the one the
    /// open-file limit allows).
    pub max_sessions: u64,
}

impl Counts {
    /// Open sessions on every backend and port.
    pub fn open_sessions(&self) -> u64 {
        self.open_total
    }

    /// Sessions severed since start (a backend a reload removed takes its
    /// per-backend counts with it; this total keeps them).
    pub fn severed(&self) -> u64 {
        self.severed_total
    }
}

impl State {
    /// The config position of the backend with this name.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.truth.backends.iter().position(|b| b.name == name)
    }

    /// The name of the backend at `pos`, if any.
    pub fn name(&self, pos: Option<usize>) -> Option<&str> {
        pos.and_then(|p| self.truth.backends.get(p))
            .map(|b| b.name.as_str())
    }
}
