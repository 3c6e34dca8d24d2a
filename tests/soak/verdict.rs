//! The session checks, run once the load stopped: no byte corrupted, no
//! session escaped a sever, and no session closed without one.
//!
//! - Corruption: a session whose bytes differed, that received bytes never
//!   sent, or whose SHA-256 of what came back differs from that of what was
//!   sent (up to the same length).
//! - Escape: for every mark (backend X, port P, `from`, `seen`), every long
//!   session through P greeted by X that started connecting before `from`
//!   and was still open at `from` must have been closed by the proxy by
//!   `seen + SEVER_DEADLINE`. (One that started later may have been routed
//!   after the change and is not concerned.)
//! - Unexplained close: a session (long or churn) the proxy closed must lie
//!   in the window of a mark on its port and, when it knows it, its backend:
//!   anything else is a session lost for no reason.
//! - Stalls: a chunk or greeting that never came.

use std::time::{Duration, Instant};

use crate::churn::Cut;
use crate::log::{Mark, Port};
use crate::long_sessions::{End, SessionRecord};

/// What the checks found.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) violations: Vec<String>,
    /// (session, mark) pairs the escape rule applied to.
    pub(crate) sever_checks: u64,
    /// The longest time from a mark's `from` to a concerned session's EOF.
    pub(crate) slowest_eof: Duration,
    /// Long sessions the proxy closed, and churn sessions it cut.
    pub(crate) closed: u64,
    pub(crate) cuts: u64,
}

/// Whether `m` can explain a close on `port` (by `backend`, when known)
/// that happened somewhere in `started..=ended`.
fn explains(m: &Mark, port: Port, backend: Option<&str>, started: Instant, ended: Instant) -> bool {
    let same_backend = match backend {
        None => true,
        Some(b) => b == m.backend,
    };
    m.port == port && same_backend && m.from <= ended && started <= m.deadline()
}

/// Runs every check over one phase.
pub(crate) fn judge(records: &[SessionRecord], cuts: &[Cut], marks: &[Mark]) -> Verdict {
    let mut v = Verdict::default();
    for (i, r) in records.iter().enumerate() {
        let who = format!(
            "session {i} ({} port, {})",
            r.port.name(),
            r.backend.as_deref().unwrap_or("no greeting")
        );
        if r.end == End::Corrupt || !r.hash_ok {
            v.violations.push(format!(
                "{who}: bytes corrupted after {} bytes: {} (hashes {})",
                r.bytes,
                r.detail,
                if r.hash_ok { "match" } else { "differ" }
            ));
        }
        if r.end == End::Stalled {
            v.violations.push(format!("{who}: stalled: {}", r.detail));
        }
        if matches!(r.end, End::Closed | End::ClosedEarly) {
            v.closed += 1;
            // A close at `ended` must fall in a mark's window.
            let backend = r.backend.as_deref();
            let at = if r.end == End::Closed {
                r.ended
            } else {
                r.started
            };
            if !marks
                .iter()
                .any(|m| explains(m, r.port, backend, at, r.ended))
            {
                v.violations.push(format!(
                    "{who}: closed by the proxy after {} bytes, {:?} after it began, with no sever to explain it",
                    r.bytes,
                    r.ended - r.started
                ));
            }
        }
    }
    for m in marks {
        for (i, r) in records.iter().enumerate() {
            let concerned = r.port == m.port
                && r.backend.as_deref() == Some(m.backend.as_str())
                && r.started < m.from
                && r.ended > m.from;
            if !concerned {
                continue;
            }
            v.sever_checks += 1;
            if r.end == End::Closed {
                v.slowest_eof = v.slowest_eof.max(r.ended - m.from);
            }
            if r.ended > m.deadline() {
                v.violations.push(format!(
                    "session {i} ({} port, {}) escaped the sever \"{}\": still open {:?} after it was seen (ended {:?})",
                    m.port.name(),
                    m.backend,
                    m.why,
                    r.ended - m.seen,
                    r.end
                ));
            }
        }
    }
    for c in cuts {
        v.cuts += 1;
        if !marks
            .iter()
            .any(|m| explains(m, c.port, c.backend.as_deref(), c.started, c.ended))
        {
            v.violations.push(format!(
                "a churn session ({} port, {}) was closed by the proxy with no sever to explain it",
                c.port.name(),
                c.backend.as_deref().unwrap_or("no greeting")
            ));
        }
    }
    v
}
