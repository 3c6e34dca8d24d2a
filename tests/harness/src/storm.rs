//! The failover storm: flips the active between two greeting backends by
//! switching the first one's health, while worker tasks open connections
//! through the proxy and hold them; then lets routing settle and checks that
//! no session to a severed backend survived and that the proxy's session
//! counts equal what the backends themselves see.
//!
//! Used by `sever_race.rs` (the accept/sever race) and `bus_lag.rs` (the
//! same storm with a bus capacity of 1, so subscribers lag). Connects are
//! paced by the failovers done so far, so they are spread over the whole
//! storm instead of bunching at its start. Everything is bounded: the number
//! of failovers, the number of connects, and a deadline on every wait.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::{ms, try_eof_or_reset, try_greet, wait_until, Backend, Health, HealthEndpoint};
use super::{sessions, Switchboard};

/// A session a worker holds: its stream, who greeted it, and how many
/// flips had started when the greeting arrived.
struct Held {
    stream: TcpStream,
    who: String,
    epoch: u64,
}

/// What a storm did.
#[derive(Debug, Default)]
pub struct Report {
    pub failovers: u64,
    pub connects: u64,
    pub routed: u64,
    pub survivors: u64,
    pub severed_seen: u64,
    pub elapsed: Duration,
}

/// Runs the storm on `sb`, whose config lists `b0` (index 0, health `h0`)
/// before `b1` (index 1), both greeting backends. Ends with `b0` active.
pub async fn run(
    sb: &Switchboard,
    b0: &Backend,
    h0: &HealthEndpoint,
    b1: &Backend,
    failovers: u64,
    connects: u64,
) -> Report {
    let started = Instant::now();
    let deadline = Duration::from_secs(120);
    sb.wait_active(Some(&b0.name), Duration::from_secs(5)).await;
    let before = sb.state().await["totals"]["failovers"].as_u64().unwrap();

    let failovers = failovers + failovers % 2; // even: the last flip returns to b0
    let done = Arc::new(AtomicU64::new(0)); // failovers observed by the flipper
    let flips = Arc::new(AtomicU64::new(0)); // flips started (bumped before the switch)
    let issued = Arc::new(AtomicU64::new(0));
    let held: Arc<Mutex<Vec<Held>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (done, flips, issued, held, proxy) = (
            done.clone(),
            flips.clone(),
            issued.clone(),
            held.clone(),
            sb.proxy,
        );
        tasks.push(tokio::spawn(async move {
            let mut mine: Vec<Held> = Vec::new();
            loop {
                // Pace: connects allowed so far grow with the failovers done.
                let allowed = connects * (done.load(SeqCst) + 1) / (failovers + 1);
                let n = issued.load(SeqCst);
                if n >= connects || started.elapsed() > deadline {
                    break;
                }
                if n >= allowed || issued.compare_exchange(n, n + 1, SeqCst, SeqCst).is_err() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                if let Ok((stream, who)) = try_greet(proxy, Duration::from_secs(2)).await {
                    // Flips started before the greeting arrived.
                    let epoch = flips.load(SeqCst);
                    mine.push(Held { stream, who, epoch });
                }
                if mine.len() > 40 {
                    mine.remove(0); // the client closes its oldest session
                }
            }
            held.lock().unwrap().extend(mine);
        }));
    }

    for i in 0..failovers {
        let (health, to) = if i % 2 == 0 {
            (Health::Status503, &b1.name)
        } else {
            (Health::Healthy(0), &b0.name)
        };
        flips.fetch_add(1, SeqCst);
        h0.set(health);
        sb.wait_active(Some(to), Duration::from_secs(10)).await;
        done.fetch_add(1, SeqCst);
    }
    done.store(failovers + 1, SeqCst);
    for t in tasks {
        t.await.expect("connect worker");
    }
    let state = sb.state().await;
    assert_eq!(
        state["active"],
        b0.name.as_str(),
        "routing settled on {}",
        b0.name
    );
    let mut report = Report {
        failovers: state["totals"]["failovers"].as_u64().unwrap() - before,
        connects: issued.load(SeqCst),
        ..Report::default()
    };
    assert!(
        report.failovers >= failovers,
        "only {} failovers happened",
        report.failovers
    );

    // A session may survive only if it is on the final active and greeted
    // after the last flip (to b0) began: anything older was on b1, or on b0
    // before the last b0 -> b1 failover, and must have been severed.
    let held = std::mem::take(&mut *held.lock().unwrap());
    report.routed = held.len() as u64;
    let mut survivors = Vec::new();
    for mut h in held {
        let may_survive = h.who == b0.name && h.epoch == failovers;
        if may_survive && super::ping(&mut h.stream, b"still there?\n").await {
            survivors.push(h.stream);
            continue;
        }
        let eof = try_eof_or_reset(&mut h.stream, Duration::from_secs(5)).await;
        assert!(
            eof.is_some(),
            "a session to {} greeted after {} of {failovers} flips survived (final active {})",
            h.who,
            h.epoch,
            b0.name
        );
        report.severed_seen += 1;
    }
    report.survivors = survivors.len() as u64;

    // The backends' own view converges to the proxy's, and nothing is left
    // on the backend that lost the active role.
    let want = report.survivors;
    let what = format!(
        "backends' open connections = proxy's sessions ({want} on {}, 0 on {})",
        b0.name, b1.name
    );
    wait_until(Duration::from_secs(10), &what, || async {
        let Some(s) = sb.try_state().await else {
            return false;
        };
        b0.open() == want
            && b1.open() == 0
            && sessions(&s, &b0.name) == want
            && sessions(&s, &b1.name) == 0
    })
    .await;
    drop(survivors);
    wait_until(
        Duration::from_secs(10),
        "all sessions closed after the clients left",
        || async {
            let Some(s) = sb.try_state().await else {
                return false;
            };
            b0.open() == 0 && sessions(&s, &b0.name) == 0
        },
    )
    .await;
    report.elapsed = started.elapsed();
    eprintln!("storm: {report:?} (took {})", ms(report.elapsed));
    report
}
