//! `SessionCounters`: exact per-backend, per-port session counts and the
//! data path's totals, as plain atomics.
//!
//! Sessions update them without locks; readers (API, metrics, the session
//! ticker) load them without locks. A session is counted from the moment its
//! backend connect succeeds until both of its sockets are closed, so counts
//! stay exact through severs. Nothing here allocates after construction.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::bus::PortRole;

/// Counts for one backend on one port.
#[derive(Debug, Default)]
pub struct BackendCounts {
    pub current: AtomicU64,
    pub opened: AtomicU64,
    pub closed: AtomicU64,
    pub severed: AtomicU64,
}

/// How an accepted connection ended up; the metrics' `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Connected to a backend and relayed.
    Routed,
    /// Routing was off: accepted and closed.
    RoutingOff,
    /// No backend was active: accepted and closed.
    NoBackend,
    /// The backend connect failed or timed out.
    ConnectFailed,
    /// Severed while connecting.
    SeveredConnecting,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Routed,
        Outcome::RoutingOff,
        Outcome::NoBackend,
        Outcome::ConnectFailed,
        Outcome::SeveredConnecting,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::RoutingOff => "routing_off",
            Outcome::NoBackend => "no_backend",
            Outcome::ConnectFailed => "connect_failed",
            Outcome::SeveredConnecting => "severed_connecting",
        }
    }
}

/// All counters of the data path.
#[derive(Debug)]
pub struct SessionCounters {
    active: Vec<BackendCounts>,
    standby: Vec<BackendCounts>,
    outcomes: [AtomicU64; 5],
    /// Client → backend bytes of finished sessions.
    pub bytes_up: AtomicU64,
    /// Backend → client bytes of finished sessions.
    pub bytes_down: AtomicU64,
}

impl SessionCounters {
    pub fn new(backends: usize) -> SessionCounters {
        SessionCounters {
            active: (0..backends).map(|_| BackendCounts::default()).collect(),
            standby: (0..backends).map(|_| BackendCounts::default()).collect(),
            outcomes: Default::default(),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
        }
    }

    /// The counts of one backend on one port.
    pub fn of(&self, port: PortRole, pos: usize) -> &BackendCounts {
        match port {
            PortRole::Active => &self.active[pos],
            PortRole::Standby => &self.standby[pos],
        }
    }

    /// Open sessions of one backend on both ports.
    pub fn current(&self, pos: usize) -> u64 {
        self.active[pos].current.load(Relaxed) + self.standby[pos].current.load(Relaxed)
    }

    /// Open sessions on every backend and port.
    pub fn total_current(&self) -> u64 {
        (0..self.active.len()).map(|p| self.current(p)).sum()
    }

    /// Sessions severed so far on both ports of one backend.
    pub fn severed(&self, pos: usize) -> u64 {
        self.active[pos].severed.load(Relaxed) + self.standby[pos].severed.load(Relaxed)
    }

    pub fn backends(&self) -> usize {
        self.active.len()
    }

    pub fn record(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Relaxed);
    }

    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Relaxed)
    }

    /// Counts a new session; the returned guard un-counts it when dropped.
    pub fn open(&self, port: PortRole, pos: usize) -> SessionGuard<'_> {
        let counts = self.of(port, pos);
        counts.opened.fetch_add(1, Relaxed);
        counts.current.fetch_add(1, Relaxed);
        self.record(Outcome::Routed);
        SessionGuard {
            counts,
            severed: false,
        }
    }
}

/// Keeps one session counted while it lives.
pub struct SessionGuard<'a> {
    counts: &'a BackendCounts,
    severed: bool,
}

impl SessionGuard<'_> {
    /// The session ends because it was severed, not by its peers.
    pub fn mark_severed(&mut self) {
        self.severed = true;
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if self.severed {
            self.counts.severed.fetch_add(1, Relaxed);
        } else {
            self.counts.closed.fetch_add(1, Relaxed);
        }
        self.counts.current.fetch_sub(1, Relaxed);
    }
}
