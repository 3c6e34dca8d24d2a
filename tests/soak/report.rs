//! The soak's report: what the load did (sessions, bytes, failovers,
//! drains, reloads, API reads), what the product says it did, what the
//! checks found, and the process's memory and descriptors before and after.
//! Plain text, one figure per line, for a CI log and the closing note.

use std::fmt::Write as _;

use serde_json::Value;

use switchboard_harness::ms;

use crate::long_sessions::End;
use crate::proc_stats::{mib, rss_limit, Reading};
use crate::verdict::Verdict;
use crate::Phase;

/// Everything the report is made of.
pub(crate) struct Inputs<'a> {
    pub(crate) seconds: u64,
    pub(crate) warm: &'a Phase,
    pub(crate) soak: &'a Phase,
    pub(crate) warm_verdict: &'a Verdict,
    pub(crate) soak_verdict: &'a Verdict,
    /// `/v0/state` at the end.
    pub(crate) state: &'a Value,
    pub(crate) before: Reading,
    pub(crate) after: Reading,
    pub(crate) violations: &'a [String],
}

/// The report's text.
pub(crate) fn render(i: &Inputs<'_>) -> String {
    let (p, v) = (i.soak, i.soak_verdict);
    let mut t = String::new();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let _ = writeln!(
        t,
        "== soak report: SOAK_SECONDS={}, {profile} build; load phase {:.1} s after a {:.1} s warm-up",
        i.seconds,
        p.elapsed.as_secs_f64(),
        i.warm.elapsed.as_secs_f64()
    );
    let count = |end: End| p.records.iter().filter(|r| r.end == end).count();
    let on_standby = p
        .records
        .iter()
        .filter(|r| r.port == crate::log::Port::Standby)
        .count();
    let bytes: u64 = p.records.iter().map(|r| r.bytes).sum();
    let line = |t: &mut String, what: &str, figure: String| {
        let _ = writeln!(t, "  {what:<28} {figure}");
    };
    line(
        &mut t,
        "long sessions opened",
        format!(
            "{} ({} on the standby port): {} closed by a sever ({} before the greeting), {} stopped at the end",
            p.records.len(),
            on_standby,
            count(End::Closed) + count(End::ClosedEarly),
            count(End::ClosedEarly),
            count(End::Stopped)
        ),
    );
    line(
        &mut t,
        "bytes echoed and compared",
        format!(
            "{bytes} ({}) in long sessions (SHA-256 both ways) + {} in churn",
            mib(bytes / 1024),
            p.churn.bytes
        ),
    );
    line(
        &mut t,
        "churn connects",
        format!(
            "{} ({} completed, {} cut by a sever, {} ticks skipped at the in-flight bound)",
            p.churn.attempts,
            p.churn.completed,
            p.churn.cuts.len(),
            p.churn.skipped
        ),
    );
    let c = &p.chaos;
    line(
        &mut t,
        "failovers (health 503)",
        format!(
            "{} of the active, {} of the standby (each and its recovery; slowest {})",
            c.active_failovers,
            c.standby_failovers,
            ms(c.slowest_failover)
        ),
    );
    line(
        &mut t,
        "drains",
        format!(
            "{} (PATCH drain then enabled: {} before drain_timeout, {} after it severed the rest)",
            c.drains_cancelled + c.drains_expired,
            c.drains_cancelled,
            c.drains_expired
        ),
    );
    line(
        &mut t,
        "reloads",
        format!(
            "{} ({} SIGHUP, {} POST /v0/reload; interval toggled, spare added/removed)",
            c.reloads_signal + c.reloads_api,
            c.reloads_signal,
            c.reloads_api
        ),
    );
    let a = &p.api;
    line(
        &mut t,
        "API reads",
        format!(
            "{} ({} /v0/state, {} /metrics, {} /v0/events, {} event-log polls); {} failed; slowest {}",
            a.state + a.metrics + a.events + p.observer.reads,
            a.state,
            a.metrics,
            a.events,
            p.observer.reads,
            a.failed,
            ms(a.slowest)
        ),
    );
    let o = &p.observer;
    line(
        &mut t,
        "events observed",
        format!(
            "{} ({} active and {} standby changes, {} reloads, {} sessions severed by the events)",
            o.events, o.active_changes, o.standby_changes, o.reloads_by_events, o.severed_by_events
        ),
    );
    line(
        &mut t,
        "severs checked",
        format!(
            "{} marks, {} (session, sever) pairs; slowest EOF {} after the change (deadline {})",
            p.log.marks().len(),
            v.sever_checks,
            ms(v.slowest_eof),
            ms(crate::log::SEVER_DEADLINE)
        ),
    );
    let totals = &i.state["totals"];
    line(
        &mut t,
        "product counters at the end",
        format!(
            "failovers {}, severed {}, routed {}, open sessions {}, reloads {}",
            totals["failovers"],
            totals["severed"],
            totals["connections"]["routed"],
            totals["sessions"],
            i.state["config"]["reloads"]
        ),
    );
    let (b, f) = (i.before, i.after);
    line(
        &mut t,
        "memory (VmRSS)",
        format!(
            "before {}, after {} (limit {}); peak {}",
            mib(b.rss_kib),
            mib(f.rss_kib),
            mib(rss_limit(b.rss_kib)),
            mib(f.peak_kib)
        ),
    );
    line(
        &mut t,
        "descriptors",
        format!("before {}, after {}", b.fds, f.fds),
    );
    line(
        &mut t,
        "threads",
        format!("before {}, after {}", b.threads, f.threads),
    );
    let w = i.warm_verdict;
    line(
        &mut t,
        "warm-up",
        format!(
            "{} long sessions, {} churn connects, {} severs checked",
            i.warm.records.len(),
            i.warm.churn.attempts,
            w.sever_checks
        ),
    );
    let lost = if i.violations.is_empty() {
        "nothing".to_string()
    } else {
        format!("{} violation(s), listed below", i.violations.len())
    };
    line(&mut t, "lost", lost);
    for violation in i.violations {
        let _ = writeln!(t, "    - {violation}");
    }
    t
}
