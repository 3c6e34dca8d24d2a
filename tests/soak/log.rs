//! What the soak's checks are measured against, shared by its tasks: the
//! severs that happened (marks: which backend's sessions on which port had
//! to end, and from when to when), and the violations found on the way.
//!
//! The marks come from two independent sources: the event observer (an
//! `active_changed` or `standby_changed` away from a backend that is not
//! draining) and the chaos driver (a drain that it let expire, a backend it
//! removed by a reload). Nothing here decides whether a session was lost;
//! `verdict.rs` does, after the load stopped.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long after the test knew of a sever every session it concerns may
/// still be open: generous for a debug build on a shared 2-core machine
/// (the product sends the FIN at once; operations.md, "What severs what").
pub(crate) const SEVER_DEADLINE: Duration = Duration::from_secs(3);

/// The proxy port a session came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Port {
    Active,
    Standby,
}

impl Port {
    /// The name the events use (`"active"`, `"standby"`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Port::Active => "active",
            Port::Standby => "standby",
        }
    }
}

/// A sever every session of `backend` on `port` open at `from` must have
/// seen (EOF within [`SEVER_DEADLINE`] of `seen`).
#[derive(Clone, Debug)]
pub(crate) struct Mark {
    pub(crate) backend: String,
    pub(crate) port: Port,
    /// No session can have been severed by this change before this moment
    /// (the change happened after it).
    pub(crate) from: Instant,
    /// The test knew of the change by this moment.
    pub(crate) seen: Instant,
    /// What caused it, for the messages.
    pub(crate) why: String,
}

impl Mark {
    /// The last moment a session this mark concerns may still be open.
    pub(crate) fn deadline(&self) -> Instant {
        self.seen + SEVER_DEADLINE
    }
}

/// The marks and violations of one phase, shared by every task of it.
#[derive(Clone, Default)]
pub(crate) struct Log {
    marks: Arc<Mutex<Vec<Mark>>>,
    violations: Arc<Mutex<Vec<String>>>,
}

/// Locks a mutex whose holder may have panicked (the panic is reported
/// elsewhere; the data is still worth reading).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Log {
    /// Records a sever to check sessions against.
    pub(crate) fn mark(&self, backend: &str, port: Port, from: Instant, seen: Instant, why: &str) {
        lock(&self.marks).push(Mark {
            backend: backend.to_string(),
            port,
            from,
            seen,
            why: why.to_string(),
        });
    }

    /// Records something the product must not do; the test fails at the
    /// end, after the report.
    pub(crate) fn violation(&self, what: String) {
        eprintln!("soak: VIOLATION: {what}");
        lock(&self.violations).push(what);
    }

    /// Every mark so far.
    pub(crate) fn marks(&self) -> Vec<Mark> {
        lock(&self.marks).clone()
    }

    /// Every violation so far.
    pub(crate) fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }
}
