//! (i) Chaos: a seeded run of random single faults (`CHAOS_SEED`, default
//! fixed and printed; `CHAOS_FAULTS`, default 100): a backend failing for
//! every instance or for one, a non-leader or the leader killed and started
//! again, an instance cut from etcd and healed, a PATCH (admin state or
//! routing) on a random instance and its undo on another. Each step applies
//! one fault, waits for its expected outcome, heals, and waits until every
//! instance is back on db-0. Throughout, from the backends' records: no
//! two live instances route new sessions to different backends for longer
//! than one interval, and every PATCH is visible on every live instance.
//! It prints the time to agreement per kind, the longest disagreement and
//! the PATCH propagation (median/max). A run that has not injected every
//! fault within [`TIME_CAP`] fails (about 95 s are needed on two cores).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::operator::{acknowledged, wait_applied};
use crate::scenario::Scenario;
use crate::timeline::{self, median_max, ms};
use crate::{AGREEMENT, BACKENDS, INSTANCES, INTERVAL, LEASE_GRACE, PATCH_BUDGET};

/// The default seed (any `CHAOS_SEED` overrides it).
const DEFAULT_SEED: u64 = 0x5eed_c0de_2026;
/// The default number of faults.
const DEFAULT_FAULTS: usize = 100;
/// No new fault after this long.
const TIME_CAP: Duration = Duration::from_secs(300);
/// How long a rejoin (after a restart or a heal) may take.
const REJOIN: Duration = Duration::from_secs(10);
/// How long a fault that must move nobody is watched.
const NO_MOVE: Duration = Duration::from_millis(500);

/// One single fault.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Backend b fails for every instance.
    BackendAll(usize),
    /// Backend b fails for instance i only.
    BackendOne { instance: usize, backend: usize },
    /// The leader (or a random follower) killed and started again.
    Kill { leader: bool },
    /// Instance i cut from etcd, then healed.
    Cut(usize),
    /// A PATCH on instance i, undone on instance `undo`.
    Patch {
        instance: usize,
        undo: usize,
        change: Change,
    },
}

/// An operator change.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Backend b set to `disabled` or `drain`.
    Admin(usize, &'static str),
    /// Routing off.
    RoutingOff,
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn pick(rng: &mut StdRng) -> Fault {
    let n = INSTANCES.len();
    match rng.gen_range(0..6) {
        0 => Fault::BackendAll(rng.gen_range(0..BACKENDS.len())),
        1 => Fault::BackendOne {
            instance: rng.gen_range(0..n),
            backend: rng.gen_range(0..BACKENDS.len()),
        },
        2 => Fault::Kill { leader: false },
        3 => Fault::Kill { leader: true },
        4 => Fault::Cut(rng.gen_range(0..n)),
        _ => Fault::Patch {
            instance: rng.gen_range(0..n),
            undo: rng.gen_range(0..n),
            change: match rng.gen_range(0..3) {
                0 => Change::Admin(rng.gen_range(0..BACKENDS.len()), "disabled"),
                1 => Change::Admin(rng.gen_range(0..BACKENDS.len()), "drain"),
                _ => Change::RoutingOff,
            },
        },
    }
}

/// The figures of a run.
#[derive(Default)]
struct Figures {
    /// Time to agreement (or to the fault's expected outcome), per kind.
    by_kind: BTreeMap<String, Vec<Duration>>,
    /// Per PATCH: until every live instance showed it.
    patches: Vec<Duration>,
}

impl Figures {
    fn add(&mut self, kind: &str, d: Duration) {
        self.by_kind.entry(kind.to_string()).or_default().push(d);
    }
}

/// Whether every live instance's combined view calls backend `b` `healthy`.
async fn combined_is(s: &Scenario, b: usize, healthy: bool) -> bool {
    for i in s.live() {
        let Some(c) = s.coordination(i).await else {
            return false;
        };
        let found = c["combined"]
            .as_array()
            .and_then(|v| v.iter().find(|x| x["name"] == BACKENDS[b]).cloned());
        if found.map(|x| x["healthy"] == healthy) != Some(true) {
            return false;
        }
    }
    true
}

/// Whether instance `i`'s own published view calls backend `b` `healthy`.
async fn own_view_is(s: &Scenario, i: usize, b: usize, healthy: bool) -> bool {
    let Some(c) = s.coordination(i).await else {
        return false;
    };
    let me = c["instances"]
        .as_array()
        .and_then(|v| v.iter().find(|p| p["self"] == true).cloned())
        .unwrap_or(Value::Null);
    me["backends"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["name"] == BACKENDS[b]).cloned())
        .map(|x| x["healthy"] == healthy)
        == Some(true)
}

/// Sends one PATCH of the chaos run, checks its acknowledgement and waits
/// until every live instance shows it; returns the propagation time.
async fn patch(s: &Scenario, on: usize, change: Change, undo: bool) -> Duration {
    let (path, field, want, read) = match change {
        Change::Admin(b, state) => {
            let state = if undo { "enabled" } else { state };
            (
                format!("/v0/backends/{}?state={state}&message=chaos", BACKENDS[b]),
                "adminState",
                Value::String(state.into()),
                format!("/v0/backends/{}", BACKENDS[b]),
            )
        }
        Change::RoutingOff => (
            format!("/v0/cluster?trafficEnabled={}&message=chaos", undo),
            "trafficEnabled",
            Value::Bool(undo),
            "/v0/cluster".to_string(),
        ),
    };
    let at = Instant::now();
    let (status, body) = s.sbs[on].patch(&path, None).await;
    assert_eq!(status, 200, "PATCH {path} on {}: {body:#}", INSTANCES[on]);
    let live: Vec<String> = s.live().iter().map(|&i| INSTANCES[i].to_string()).collect();
    assert_eq!(acknowledged(&body), live, "PATCH {path}: {body:#}");
    let seen = wait_applied(s, &s.live(), at, &read, field, &want).await;
    seen.into_iter().max().unwrap_or_default()
}

/// Applies `fault`, checks its outcome, heals it and waits until every
/// instance is back on db-0; adds its figures.
async fn step(s: &mut Scenario, rng: &mut StdRng, fault: Fault, f: &mut Figures) {
    match fault {
        Fault::BackendAll(b) => {
            let at = s.fail_all(b);
            let to = if b == 0 { 1 } else { 0 };
            switchboard_harness::wait_until(
                AGREEMENT,
                "the combined view sees the failure",
                || combined_is(s, b, false),
            )
            .await;
            let kind = if b == 0 {
                "active fails for all"
            } else {
                "other fails for all"
            };
            f.add(kind, s.wait_agreement(kind, at, to, AGREEMENT).await);
            let at = s.heal_all(b);
            switchboard_harness::wait_until(AGREEMENT, "the combined view sees the heal", || {
                combined_is(s, b, true)
            })
            .await;
            let took = s.wait_agreement("healed", at, 0, AGREEMENT).await;
            if b == 0 {
                f.add("failback", took);
            }
        }
        Fault::BackendOne { instance, backend } => {
            let at = s.fail_one(instance, backend);
            switchboard_harness::wait_until(AGREEMENT, "its own view sees the failure", || {
                own_view_is(s, instance, backend, false)
            })
            .await;
            s.assert_no_move("fails for one", at, at.elapsed() + NO_MOVE, 0)
                .await;
            f.add(
                "fails for one (no move)",
                s.wait_agreement("fails for one", at, 0, AGREEMENT).await,
            );
            s.heal_one(instance, backend);
            switchboard_harness::wait_until(AGREEMENT, "its own view sees the heal", || {
                own_view_is(s, instance, backend, true)
            })
            .await;
        }
        Fault::Kill { leader } => {
            let lead = s.wait_joined(REJOIN).await;
            let victim = if leader {
                lead
            } else {
                let others: Vec<usize> = s.live().into_iter().filter(|&i| i != lead).collect();
                others[rng.gen_range(0..others.len())]
            };
            let at = s.kill(victim).await;
            if leader {
                s.wait_joined(LEASE_GRACE + Duration::from_secs(2)).await;
                let took = at.elapsed();
                assert!(took <= LEASE_GRACE, "a new leader took {}", ms(took));
                f.add("new leader after the leader was killed", took);
            }
            f.add(
                "survivors agree after a kill",
                s.wait_agreement("kill", at, 0, AGREEMENT).await,
            );
            let restarted = Instant::now();
            s.restart(victim).await;
            s.wait_joined(REJOIN).await;
            f.add(
                "killed instance restarted and routing",
                s.wait_agreement("restart", restarted, 0, REJOIN).await,
            );
        }
        Fault::Cut(i) => {
            let at = s.relays[i].cut().await;
            s.wait_coordination(i, LEASE_GRACE, "lost", |c| c["role"] == "lost")
                .await;
            f.add("cut instance says lost", at.elapsed());
            let others: Vec<usize> = s.live().into_iter().filter(|&k| k != i).collect();
            s.wait_joined_among(&others, LEASE_GRACE + Duration::from_secs(2))
                .await;
            f.add(
                "agreement while cut (hold)",
                s.wait_agreement("cut", at, 0, AGREEMENT).await,
            );
            let healed = s.relays[i].heal();
            s.wait_joined(REJOIN).await;
            f.add("rejoined after the heal", healed.elapsed());
        }
        Fault::Patch {
            instance,
            undo,
            change,
        } => {
            let at = Instant::now();
            f.patches.push(patch(s, instance, change, false).await);
            match change {
                Change::Admin(b, _) => {
                    let to = if b == 0 { 1 } else { 0 };
                    f.add(
                        "admin PATCH",
                        s.wait_agreement("admin PATCH", at, to, PATCH_BUDGET).await,
                    );
                }
                Change::RoutingOff => {
                    let settle = at + PATCH_BUDGET + Duration::from_millis(200);
                    tokio::time::sleep(settle.saturating_duration_since(Instant::now())).await;
                    let hits = s.hits_since(at);
                    for i in s.live() {
                        let last = timeline::of(&hits, i, at)
                            .last()
                            .map_or(Duration::ZERO, |h| h.at - at);
                        assert!(
                            last <= PATCH_BUDGET,
                            "{} routed {} after routing off",
                            INSTANCES[i],
                            ms(last)
                        );
                    }
                }
            }
            let back = Instant::now();
            f.patches.push(patch(s, undo, change, true).await);
            f.add(
                "undo PATCH",
                s.wait_agreement("undo PATCH", back, 0, PATCH_BUDGET).await,
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_of_single_faults_never_splits_the_instances() {
    let seed = env_or("CHAOS_SEED", DEFAULT_SEED);
    let faults = env_or("CHAOS_FAULTS", DEFAULT_FAULTS);
    eprintln!("COORD chaos: CHAOS_SEED={seed} CHAOS_FAULTS={faults}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = Scenario::start("hold").await;
    let started = Instant::now();
    s.wait_agreement("startup", started, 0, AGREEMENT).await;

    let mut figures = Figures::default();
    let mut done = 0;
    for n in 0..faults {
        if started.elapsed() > TIME_CAP {
            eprintln!("COORD chaos: time cap {TIME_CAP:?} reached after {n} of {faults} faults");
            break;
        }
        let fault = pick(&mut rng);
        eprintln!(
            "COORD chaos step {n}: {fault:?} at {}",
            ms(started.elapsed())
        );
        let from = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(started);
        step(&mut s, &mut rng, fault, &mut figures).await;
        done += 1;
        let (worst, pair) = timeline::longest_disagreement(&s.hits_since(from), from);
        assert!(
            worst <= INTERVAL,
            "after step {n} ({fault:?}): two instances routed to different backends for {} (> {}): {pair:?}\n{}",
            ms(worst),
            ms(INTERVAL),
            s.summary()
        );
    }

    assert_eq!(
        done, faults,
        "only {done} of {faults} faults were injected within {TIME_CAP:?}"
    );
    // Nothing committed was lost: every instance shows the baseline.
    for i in s.live() {
        let cluster = s.sbs[i].json("/v0/cluster").await;
        assert_eq!(
            cluster["trafficEnabled"], true,
            "{}: {cluster:#}",
            INSTANCES[i]
        );
        for b in BACKENDS {
            let v = s.sbs[i].json(&format!("/v0/backends/{b}")).await;
            assert_eq!(v["adminState"], "enabled", "{}: {v:#}", INSTANCES[i]);
        }
    }
    let (worst, pair) = timeline::longest_disagreement(&s.hits(), started);
    eprintln!(
        "COORD chaos: seed {seed}, {done} faults in {}; longest disagreement {} (bound {}) {pair:?}",
        ms(started.elapsed()),
        ms(worst),
        ms(INTERVAL)
    );
    for (kind, ds) in &figures.by_kind {
        eprintln!("COORD chaos: {kind}: {}", median_max(ds));
    }
    eprintln!(
        "COORD chaos: PATCH propagation to every live instance: {}",
        median_max(&figures.patches)
    );
    eprintln!("COORD chaos: {}", s.summary());
    assert!(worst <= INTERVAL, "longest disagreement {}", ms(worst));
}
