//! The soak (issue 11, item 5): the real binary in front of loopback
//! backends under a mixed load for `SOAK_SECONDS` (default 60, CI's
//! version; `scripts/soak 1800` is the 30-minute run), then the checks that
//! nothing was lost and nothing stayed behind.
//!
//! The load, every part bounded in rate, count and time and stopping by
//! itself: long sessions with hashed payloads (`long_sessions`), connection
//! churn (`churn`), failovers, drains and reloads on a schedule (`chaos`),
//! API reads (`api_reads`) and the event observer that marks every sever
//! (`observer`). A warm-up (one compressed chaos cycle under the same load)
//! comes first; the baseline of the process's memory and descriptors is
//! taken after it, once every session closed.
//!
//! The checks: every long session's bytes came back exactly (SHA-256 both
//! ways); every session on a backend when it failed over saw EOF within
//! the deadline, and no backend that is neither active nor standby kept a
//! connection, by its own count; no session closed without a sever to
//! explain it; session counts in `/v0/state` end at zero; the descriptors
//! return exactly to the baseline and resident memory within +20 % or
//! +8 MiB (`proc_stats`). The report is printed (and written to
//! `SOAK_REPORT` when set) before the test fails on any violation.
//!
//! Run alone (`scripts/soak`; `scripts/test` excludes it from the general
//! nextest run): it saturates the loopback and measures the process.

mod api_reads;
mod chaos;
mod churn;
mod log;
mod long_sessions;
mod observer;
mod proc_stats;
mod report;
mod verdict;

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use switchboard_harness::{poll_until, sessions};

use chaos::{Chaos, Rig};
use log::{Log, Port};
use long_sessions::Workers;

/// Long sessions held on the active port.
const ACTIVE_SESSIONS: usize = 12;
/// Long sessions held on the standby port.
const STANDBY_SESSIONS: usize = 4;
/// Churn connects per second (one in five on the standby port).
const CHURN_PER_SECOND: u32 = 25;
/// How long closing everything may take after the load stopped.
const QUIESCE: Duration = Duration::from_secs(30);

/// `SOAK_SECONDS`, the length of the measured load phase.
fn soak_seconds() -> u64 {
    match std::env::var("SOAK_SECONDS") {
        Err(_) => 60,
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= 10 => n,
            _ => panic!("SOAK_SECONDS must be a whole number of seconds, at least 10; found {v:?}"),
        },
    }
}

/// What one phase of load did.
pub(crate) struct Phase {
    pub(crate) elapsed: Duration,
    pub(crate) records: Vec<long_sessions::SessionRecord>,
    pub(crate) churn: churn::ChurnStats,
    pub(crate) api: api_reads::ApiStats,
    pub(crate) observer: observer::ObserverStats,
    pub(crate) chaos: chaos::ChaosStats,
    pub(crate) log: Log,
}

/// Runs the whole load until the chaos driver is done (cycles of `period`
/// until `until`, or one), then stops it and collects everything.
async fn phase(
    rig: &Rig,
    chaos: &mut Chaos<'_>,
    period: Duration,
    until: Option<Instant>,
    seed: u64,
) -> Phase {
    let log = Log::default();
    let started = Instant::now();
    let hard = until
        .unwrap_or(started)
        .min(started + Duration::from_secs(7200))
        + Duration::from_secs(300);
    let standby = rig.sb.standby.expect("the standby port");
    let (stop_tx, stop) = watch::channel(false);
    let observer = observer::Observer::start(&rig.sb).await;
    let mut workers = Workers::new();
    let proxy = rig.sb.proxy;
    long_sessions::spawn(
        proxy,
        Port::Active,
        ACTIVE_SESSIONS,
        seed,
        &stop,
        hard,
        &mut workers,
    );
    long_sessions::spawn(
        standby,
        Port::Standby,
        STANDBY_SESSIONS,
        seed + 1,
        &stop,
        hard,
        &mut workers,
    );
    let churn = tokio::spawn(churn::run(
        proxy,
        standby,
        CHURN_PER_SECOND,
        seed,
        stop.clone(),
        hard,
        log.clone(),
    ));
    let driver = async {
        chaos.run(&log, period, until).await;
        let _ = stop_tx.send(true);
    };
    let ((), api, observer) = tokio::join!(
        driver,
        api_reads::run(&rig.sb, stop.clone(), log.clone()),
        observer.run(&rig.sb, stop.clone(), log.clone()),
    );
    let records = workers.join(Duration::from_secs(60)).await;
    let churn = churn.await.expect("the churn task panicked");
    Phase {
        elapsed: started.elapsed(),
        records,
        churn,
        api,
        observer,
        chaos: std::mem::take(&mut chaos.stats),
        log,
    }
}

/// Waits until no session is open, by the proxy's counts and by the
/// backends' own; the last state.
async fn quiesce(rig: &Rig, log: &Log) -> Value {
    let quiet = || async {
        rig.sb.try_state().await.is_some_and(|s| {
            s["totals"]["sessions"] == 0
                && s["backends"]
                    .as_array()
                    .is_some_and(|bs| bs.iter().all(|b| b["sessions"]["total"] == 0))
        })
    };
    if !poll_until(QUIESCE, quiet).await {
        log.violation(format!(
            "sessions still counted in /v0/state {QUIESCE:?} after the load stopped"
        ));
    }
    let backends = || async { rig.backends.iter().all(|b| b.open() == 0) };
    if !poll_until(QUIESCE, backends).await {
        let open: Vec<String> = rig
            .backends
            .iter()
            .map(|b| format!("{} {}", b.name, b.open()))
            .collect();
        log.violation(format!(
            "backends still hold connections after the load stopped: {open:?}"
        ));
    }
    let state = rig.sb.state().await;
    for b in ["b0", "b1", "b2"] {
        let n = sessions(&state, b);
        if n != 0 {
            log.violation(format!("/v0/state counts {n} sessions on {b} at the end"));
        }
    }
    state
}

/// The soak: warm-up, baseline, `SOAK_SECONDS` of mixed load, then every
/// check; the report is printed before any failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_mixed_load_loses_nothing_and_returns_to_baseline() {
    let seconds = soak_seconds();
    let rig = Rig::start().await;
    let pid = rig.sb.pid();
    let mut chaos = Chaos::new(&rig);

    let warm = phase(&rig, &mut chaos, Duration::from_secs(5), None, 1).await;
    quiesce(&rig, &warm.log).await;
    let before = proc_stats::settled(pid, Duration::from_secs(2)).await;

    let period = Duration::from_secs(if seconds >= 600 { 20 } else { 8 });
    let until = Instant::now() + Duration::from_secs(seconds);
    let soak = phase(&rig, &mut chaos, period, Some(until), 1000).await;
    let state = quiesce(&rig, &soak.log).await;
    let (after, returned) = proc_stats::returned(pid, before, Duration::from_secs(30)).await;

    let mut violations = warm.log.violations();
    violations.extend(soak.log.violations());
    let warm_verdict = verdict::judge(&warm.records, &warm.churn.cuts, &warm.log.marks());
    let soak_verdict = verdict::judge(&soak.records, &soak.churn.cuts, &soak.log.marks());
    violations.extend(warm_verdict.violations.iter().cloned());
    violations.extend(soak_verdict.violations.iter().cloned());
    if !returned {
        violations.push(format!(
            "the process did not return to its baseline: {} fds (baseline {}), RSS {} (limit {})",
            after.fds,
            before.fds,
            proc_stats::mib(after.rss_kib),
            proc_stats::mib(proc_stats::rss_limit(before.rss_kib)),
        ));
    }
    let text = report::render(&report::Inputs {
        seconds,
        warm: &warm,
        soak: &soak,
        soak_verdict: &soak_verdict,
        warm_verdict: &warm_verdict,
        state: &state,
        before,
        after,
        violations: &violations,
    });
    println!("{text}");
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("soak: cannot write the report to {path}: {e}");
        }
    }
    assert!(
        violations.is_empty(),
        "the soak found {} violation(s):\n{}",
        violations.len(),
        violations.join("\n")
    );
}
