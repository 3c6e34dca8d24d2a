//! `SessionCounters`: the data path's totals, and the guard that keeps one
//! session counted in its backend's [`BackendCounts`] (which live in the
//! backend's [`BackendHandles`], so they follow it through a reload).
//!
//! Sessions update them without locks; readers (API, metrics, the session
//! ticker) load them without locks. A session is counted from the moment its
//! backend connect succeeds until both of its sockets are closed, so counts
//! stay exact through severs and reloads. Apart from those, every accepted
//! connection holds one *admission* from its accept until it ends
//! (connecting and refused ones too): `proxy.max_sessions` bounds the
//! admissions, with one compare-and-swap on the accept path. Nothing here
//! allocates after construction.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use crate::backend_handles::BackendHandles;
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
    /// `proxy.max_sessions` connections were open: accepted and closed.
    MaxSessions,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Routed,
        Outcome::RoutingOff,
        Outcome::NoBackend,
        Outcome::ConnectFailed,
        Outcome::SeveredConnecting,
        Outcome::MaxSessions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Routed => "routed",
            Outcome::RoutingOff => "routing_off",
            Outcome::NoBackend => "no_backend",
            Outcome::ConnectFailed => "connect_failed",
            Outcome::SeveredConnecting => "severed_connecting",
            Outcome::MaxSessions => "max_sessions",
        }
    }
}

/// The data path's totals (per-backend counts are in [`BackendHandles`]).
#[derive(Debug, Default)]
pub struct SessionCounters {
    /// Sessions open on any backend, removed ones included (shutdown's
    /// "still open" figure).
    open: AtomicU64,
    /// Sessions severed since start, on any backend.
    severed: AtomicU64,
    outcomes: [AtomicU64; Outcome::ALL.len()],
    /// Accepted connections not yet ended, connecting and refused ones
    /// included: what `proxy.max_sessions` bounds.
    admitted: AtomicU64,
    /// The session limit in force (the bridge sets it at start and at
    /// every reload), for the read model.
    max_sessions: AtomicU64,
    /// Client → backend bytes of finished sessions.
    pub bytes_up: AtomicU64,
    /// Backend → client bytes of finished sessions.
    pub bytes_down: AtomicU64,
}

impl SessionCounters {
    pub fn new() -> SessionCounters {
        SessionCounters::default()
    }

    /// Open sessions on every backend and port.
    pub fn total_current(&self) -> u64 {
        self.open.load(Relaxed)
    }

    /// Sessions severed since start, on every backend ever configured.
    pub fn total_severed(&self) -> u64 {
        self.severed.load(Relaxed)
    }

    /// Admits one more accepted connection if fewer than `limit` are
    /// admitted, and says whether it did. One load and, when admitted, one
    /// compare-and-swap: no lock, and a refusal writes nothing, so a flood
    /// at the limit does not slow the sessions' own counting. Every `true`
    /// must be paired with one [`SessionCounters::release`].
    pub fn try_admit(&self, limit: u64) -> bool {
        self.admitted
            .fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1))
            .is_ok()
    }

    /// Ends an admission taken by [`SessionCounters::try_admit`].
    pub fn release(&self) {
        self.admitted.fetch_sub(1, Relaxed);
    }

    /// Accepted connections not yet ended (what the limit counts).
    pub fn admitted(&self) -> u64 {
        self.admitted.load(Relaxed)
    }

    /// Records the session limit in force, for readers.
    pub fn set_max_sessions(&self, limit: u64) {
        self.max_sessions.store(limit, Relaxed);
    }

    /// The session limit in force (0 before the bridge started).
    pub fn max_sessions(&self) -> u64 {
        self.max_sessions.load(Relaxed)
    }

    pub fn record(&self, outcome: Outcome) {
        self.outcomes[outcome as usize].fetch_add(1, Relaxed);
    }

    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome as usize].load(Relaxed)
    }

    /// Counts a new session on `backend`'s `port`; the returned guard
    /// un-counts it when dropped.
    pub fn open(&self, backend: Arc<BackendHandles>, port: PortRole) -> SessionGuard<'_> {
        let counts = backend.counts(port);
        counts.opened.fetch_add(1, Relaxed);
        counts.current.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
        self.record(Outcome::Routed);
        SessionGuard {
            totals: self,
            backend,
            port,
            severed: false,
        }
    }
}

/// Keeps one session counted while it lives.
pub struct SessionGuard<'a> {
    totals: &'a SessionCounters,
    backend: Arc<BackendHandles>,
    port: PortRole,
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
        let counts = self.backend.counts(self.port);
        if self.severed {
            counts.severed.fetch_add(1, Relaxed);
            self.totals.severed.fetch_add(1, Relaxed);
        } else {
            counts.closed.fetch_add(1, Relaxed);
        }
        counts.current.fetch_sub(1, Relaxed);
        self.totals.open.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions_stop_at_the_limit_and_resume_when_released() {
        let c = SessionCounters::new();
        assert!(c.try_admit(2));
        assert!(c.try_admit(2));
        assert!(!c.try_admit(2), "a third beyond a limit of two");
        assert_eq!(c.admitted(), 2, "a refusal takes no place");
        c.release();
        assert!(c.try_admit(2));
        assert!(c.try_admit(3), "a raised limit admits more at once");
        assert_eq!(c.admitted(), 3);
    }
}
