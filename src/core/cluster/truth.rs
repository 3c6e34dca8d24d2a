//! The authoritative cluster state: what the monitor decided and what the
//! operators asked for. Immutable once published; a new `Truth` replaces the
//! old one on every change (copy on write, a few backends at most).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::backend_handles::BackendHandles;
use crate::bus::AdminState;
use crate::coordination::CoordinationStatus;

/// How many probe results each backend keeps for the dashboard's history.
pub const HISTORY: usize = 20;

/// Everything that decides routes. Only `Cluster` creates new ones.
#[derive(Debug, Clone)]
pub struct Truth {
    pub routing: Routing,
    pub monitoring: Monitoring,
    /// In config order.
    pub backends: Vec<BackendTruth>,
    /// Position of the active port's backend.
    pub active: Option<usize>,
    /// Bumped every time `active` changes, so that a subscriber that missed
    /// an A → B → A round trip still knows a failover happened.
    pub active_epoch: u64,
    /// Position of the standby port's backend.
    pub standby: Option<usize>,
    pub standby_epoch: u64,
    /// Bumped on every routing change.
    pub routing_epoch: u64,
    /// Bumped when a reload changed the backend list (added, removed,
    /// moved or re-addressed backends): positions of one layout mean
    /// nothing in another, so whoever indexes by position rebuilds.
    pub layout: u64,
    /// How many times the active port moved from one backend to another.
    pub failovers: u64,
    /// Bumped on every change of any kind, probe records included.
    pub version: u64,
    /// The index of the newest bus event this truth contains: every event
    /// the cluster published up to it is reflected here, none after it.
    /// (Events the bridge publishes, `sessions_*`, are not part of the
    /// truth; the read model reads session counts live.)
    pub last_event_index: u64,
    pub started_at: SystemTime,
    /// `[coordination] kind = "etcd"`: the role, leader, views and
    /// decision this instance routes by; `None` when it decides alone.
    pub coordination: Option<Arc<CoordinationStatus>>,
}

/// Routing on/off with the operator's message.
#[derive(Debug, Clone)]
pub struct Routing {
    pub enabled: bool,
    pub message: String,
    pub changed_at: SystemTime,
}

/// Monitoring on/off.
#[derive(Debug, Clone)]
pub struct Monitoring {
    pub enabled: bool,
    pub changed_at: SystemTime,
}

/// One backend's verdict and admin state.
#[derive(Debug, Clone)]
pub struct BackendTruth {
    pub name: String,
    /// Where its data port is (the configured host and port).
    pub host: String,
    pub port: u16,
    /// Its counters, histogram and probe requests; the `Arc` is the
    /// backend's identity across reloads (`backend_handles.rs`).
    pub handles: Arc<BackendHandles>,
    /// `None` until the first probe answers; not electable until then.
    pub healthy: Option<bool>,
    /// `wsrep_local_index` for galera checks, else the config position.
    pub index: u64,
    /// Why the backend is in its current health state.
    pub reason: String,
    /// When `healthy` last changed.
    pub health_changed_at: Option<SystemTime>,
    pub last_check: Option<CheckRecord>,
    /// Recent probe results, oldest first, at most [`HISTORY`].
    pub history: VecDeque<CheckRecord>,
    pub admin: AdminState,
    pub admin_message: String,
    /// Bumped on every admin change, so a drain timer can tell whether the
    /// drain it was started for is still the current one.
    pub admin_epoch: u64,
}

impl Truth {
    /// Grows with every change that can move a route (routing, active,
    /// standby, any admin state) and with nothing else, so the API can wait
    /// until the bridge has applied its change (`Routes::wait_applied`).
    pub fn route_generation(&self) -> u64 {
        self.routing_epoch
            + self.layout
            + self.active_epoch
            + self.standby_epoch
            + self.backends.iter().map(|b| b.admin_epoch).sum::<u64>()
    }
}

impl BackendTruth {
    /// Healthy and enabled: may be elected.
    pub fn electable(&self) -> bool {
        self.healthy == Some(true) && self.admin == AdminState::Enabled
    }
}

/// One probe's result, as the dashboard and `/v0/state` show it.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    pub at: SystemTime,
    pub latency: Duration,
    pub ok: bool,
    pub reason: String,
}
