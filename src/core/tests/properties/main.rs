//! Property tests of the election and the hysteresis (issue 11, item 4),
//! through the public `Cluster` API only: any sequence of probe verdicts
//! (ok or not, with or without a Galera index), admin changes, routing and
//! monitoring flags, and reloads that add, remove and reorder backends and
//! change `rise`/`fall`/`failback`, compared step by step with the plain
//! model of `model.rs`. The case counts are bounded (`CASES`) so that
//! `cargo test -p switchboard-core` stays fast; `PROPTEST_CASES` raises
//! them for a longer hunt.

mod model;

use std::time::Duration;

use proptest::prelude::*;

use model::{Model, ModelBackend, Settings};
use switchboard_config::{Config, Format};
use switchboard_core::bus::{AdminState, Bus, EventKind};
use switchboard_core::cluster::{Cluster, OperatorState, ProbeResult, Truth};
use switchboard_core::hysteresis::Hysteresis;

/// Cases per property.
const CASES: u32 = 192;

/// The backends a configuration may name: `b0..b4`; the even ones have a
/// galera check (a probe-given index survives a reload), the odd ones tcp.
const UNIVERSE: usize = 5;

/// One thing that happens to the cluster.
#[derive(Debug, Clone)]
enum Op {
    /// A probe of the backend at this position (modulo the count).
    Probe {
        pos: usize,
        ok: bool,
        index: Option<u64>,
    },
    Admin {
        pos: usize,
        state: AdminState,
    },
    Routing(bool),
    Monitoring(bool),
    /// A reload to these backends of the universe, in this order.
    Reload {
        names: Vec<usize>,
        settings: Settings,
    },
}

fn settings() -> impl Strategy<Value = Settings> {
    (1u32..=3, 1u32..=3, any::<bool>(), any::<bool>()).prop_map(|(rise, fall, failback, hour)| {
        Settings {
            rise,
            fall,
            failback,
            failback_after_hour: hour,
        }
    })
}

fn admin_state() -> impl Strategy<Value = AdminState> {
    prop_oneof![
        3 => Just(AdminState::Enabled),
        1 => Just(AdminState::Drain),
        1 => Just(AdminState::Disabled),
    ]
}

/// A non-empty ordered subset of the universe.
fn names() -> impl Strategy<Value = Vec<usize>> {
    Just((0..UNIVERSE).collect::<Vec<usize>>())
        .prop_shuffle()
        .prop_flat_map(|all| (1..=UNIVERSE).prop_map(move |n| all[..n].to_vec()))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Few distinct indices, so equal ones are common.
        12 => (0..UNIVERSE, prop::bool::weighted(0.7), prop::option::of(0u64..3))
            .prop_map(|(pos, ok, index)| Op::Probe { pos, ok, index }),
        3 => (0..UNIVERSE, admin_state()).prop_map(|(pos, state)| Op::Admin { pos, state }),
        1 => any::<bool>().prop_map(Op::Routing),
        1 => prop::bool::weighted(0.7).prop_map(Op::Monitoring),
        1 => (names(), settings()).prop_map(|(names, settings)| Op::Reload { names, settings }),
    ]
}

/// The native configuration of `names` with `s`.
fn config(names: &[usize], s: Settings) -> Config {
    let after = if s.failback_after_hour { "1h" } else { "0s" };
    let mut text = format!(
        "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n\
         [monitor]\nrise = {}\nfall = {}\nfailback = {}\nfailback_after = \"{after}\"\n",
        s.rise, s.fall, s.failback
    );
    for &i in names {
        let check = if i % 2 == 0 {
            format!(
                "{{ kind = \"galera\", url = \"http://127.0.0.1:{}/\" }}",
                9200 + i
            )
        } else {
            "{ kind = \"tcp\" }".to_string()
        };
        text.push_str(&format!(
            "[[backends]]\nname = \"b{i}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {check}\n",
            10 + i
        ));
    }
    Config::parse(&text, Format::Toml).expect("the test config is valid")
}

fn model_backends(names: &[usize]) -> Vec<(String, bool)> {
    names
        .iter()
        .map(|i| (format!("b{i}"), i % 2 == 0))
        .collect()
}

fn probe(ok: bool, index: Option<u64>) -> ProbeResult {
    ProbeResult {
        ok,
        index,
        reason: if ok { "up" } else { "down" }.into(),
        latency: Duration::from_millis(1),
        galera: None,
    }
}

fn name_at(t: &Truth, pos: Option<usize>) -> Option<String> {
    pos.map(|p| t.backends[p].name.clone())
}

/// A cluster and its model on the same first configuration.
fn start(names: &[usize], s: Settings) -> (Cluster, Model) {
    let cluster = Cluster::new(
        &config(names, s),
        &OperatorState::default(),
        Bus::new(64, 4096),
    );
    let backends = model_backends(names)
        .iter()
        .enumerate()
        .map(|(pos, (name, galera))| ModelBackend::fresh(name, *galera, pos))
        .collect();
    (cluster, Model::new(backends, s))
}

/// Applies `op` to both.
fn apply(c: &Cluster, m: &mut Model, op: &Op) {
    let n = m.backends.len();
    match op {
        Op::Probe { pos, ok, index } => {
            c.apply_probe(pos % n, probe(*ok, *index));
            m.probe(pos % n, *ok, *index);
        }
        Op::Admin { pos, state } => {
            let name = m.backends[pos % n].name.clone();
            c.set_admin(&name, *state, "m", "test")
                .expect("known backend");
            m.admin(pos % n, *state);
        }
        Op::Routing(on) => {
            c.set_routing(*on, "", "test").expect("no state file");
            m.routing = *on;
        }
        Op::Monitoring(on) => {
            c.set_monitoring(*on, "test").expect("no state file");
            m.monitoring = *on;
        }
        Op::Reload { names, settings } => {
            c.reconfigure(&config(names, *settings), "reload", "test");
            m.reload(&model_backends(names), *settings);
        }
    }
}

/// Everything the properties say about one step, from the truth `before`
/// and `after` it and the events it published.
fn check_step(
    before: &Truth,
    after: &Truth,
    m: &Model,
    op: &Op,
    c: &Cluster,
) -> Result<(), TestCaseError> {
    let names: Vec<&str> = after.backends.iter().map(|b| b.name.as_str()).collect();
    let want: Vec<&str> = m.backends.iter().map(|b| b.name.as_str()).collect();
    prop_assert_eq!(&names, &want, "backend list after {:?}", op);
    // The hysteresis: exactly rise/fall consecutive opposite results.
    for (b, mb) in after.backends.iter().zip(&m.backends) {
        prop_assert_eq!(b.healthy, mb.healthy, "{} healthy after {:?}", &b.name, op);
        prop_assert_eq!(b.admin, mb.admin, "{} admin", &b.name);
    }
    prop_assert_eq!(after.routing.enabled, m.routing);
    prop_assert_eq!(after.monitoring.enabled, m.monitoring);
    // Exactly one active or none, at a real position, and never one that
    // is unhealthy, drained or disabled.
    prop_assert!(after.active.iter().all(|&p| p < after.backends.len()));
    prop_assert!(after.standby.iter().all(|&p| p < after.backends.len()));
    if let Some(p) = after.active {
        prop_assert!(after.backends[p].electable(), "active {} not electable", p);
    }
    if let Some(p) = after.standby {
        prop_assert!(after.backends[p].electable(), "standby {} not electable", p);
    }
    // Once the first election happened: an active exactly when some
    // backend is electable.
    let any_electable = after.backends.iter().any(|b| b.electable());
    if m.started {
        prop_assert_eq!(after.active.is_some(), any_electable, "after {:?}", op);
    } else {
        prop_assert_eq!(after.active, None, "nothing elected before startup");
    }
    // The exact choice (failback order, sticky mode, the startup rule).
    prop_assert_eq!(
        name_at(after, after.active),
        m.active.clone(),
        "active after {:?}",
        op
    );
    prop_assert_eq!(
        name_at(after, after.standby),
        m.standby(),
        "standby after {:?}",
        op
    );
    // The epoch moves exactly when the active backend changes, by one, and
    // one NEW_ACTIVE event says so; a failover is a move between two.
    let (was, now) = (name_at(before, before.active), name_at(after, after.active));
    let moved = was != now;
    prop_assert_eq!(
        after.active_epoch - before.active_epoch,
        u64::from(moved),
        "epoch after {:?}",
        op
    );
    let changes: Vec<(Option<String>, Option<String>)> = c
        .bus()
        .since(before.last_event_index)
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActiveChanged { from, to, .. } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    let want_changes = if moved {
        vec![(was.clone(), now.clone())]
    } else {
        vec![]
    };
    prop_assert_eq!(changes, want_changes, "NEW_ACTIVE events of {:?}", op);
    let failover = u64::from(moved && was.is_some() && now.is_some());
    prop_assert_eq!(
        after.failovers - before.failovers,
        failover,
        "failovers after {:?}",
        op
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Any sequence, step by step against the model.
    #[test]
    fn the_election_follows_its_rules_through_any_sequence(
        first in names(),
        s in settings(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let (c, mut m) = start(&first, s);
        for op in &ops {
            let before = c.truth();
            apply(&c, &mut m, op);
            check_step(&before, &c.truth(), &m, op, &c)?;
        }
    }

    /// No flap: once the same verdicts have been applied long enough to
    /// settle (`max(rise, fall)` times), applying them again changes
    /// neither the active, the standby, their epochs nor the failovers, and
    /// publishes nothing, whatever happened before, equal indices included.
    #[test]
    fn the_same_verdicts_again_change_nothing(
        first in names(),
        s in settings(),
        ops in prop::collection::vec(op(), 0..40),
        verdicts in prop::collection::vec((prop::bool::weighted(0.7), prop::option::of(0u64..2)), UNIVERSE),
        equal_index in any::<bool>(),
        repeats in 1usize..6,
    ) {
        let (c, mut m) = start(&first, s);
        for op in &ops {
            apply(&c, &mut m, op);
        }
        c.set_monitoring(true, "test").expect("no state file");
        let n = c.truth().backends.len();
        let round = |c: &Cluster| {
            for (pos, (ok, index)) in verdicts.iter().take(n).enumerate() {
                let index = if equal_index { Some(1) } else { *index };
                c.apply_probe(pos, probe(*ok, index));
            }
        };
        for _ in 0..3 {
            round(&c);
        }
        let settled = c.truth();
        for _ in 0..repeats {
            round(&c);
        }
        let t = c.truth();
        prop_assert_eq!(t.active, settled.active);
        prop_assert_eq!(t.active_epoch, settled.active_epoch);
        prop_assert_eq!(t.standby, settled.standby);
        prop_assert_eq!(t.standby_epoch, settled.standby_epoch);
        prop_assert_eq!(t.failovers, settled.failovers);
        prop_assert_eq!(t.last_event_index, settled.last_event_index, "no event");
        for (b, (ok, _)) in t.backends.iter().zip(&verdicts) {
            prop_assert_eq!(b.healthy, Some(*ok), "settled on its verdict");
        }
    }

    /// The hysteresis alone: a state changes only after exactly `rise`
    /// (up) or `fall` (down) consecutive opposite results, the first result
    /// decides, and a changed threshold applies to the running count.
    #[test]
    fn hysteresis_changes_state_after_exactly_rise_or_fall(
        rise in 1u32..5,
        fall in 1u32..5,
        results in prop::collection::vec(any::<bool>(), 1..80),
        retune in prop::option::of((1u32..5, 1u32..5, 0usize..80)),
    ) {
        let mut h = Hysteresis::new(rise, fall);
        let (mut r, mut f) = (rise, fall);
        let mut state: Option<bool> = None;
        let mut run = 0u32;
        for (i, &ok) in results.iter().enumerate() {
            if let Some((r2, f2, at)) = retune {
                if at == i {
                    h = h.with_thresholds(r2, f2);
                    (r, f) = (r2, f2);
                }
            }
            let edge = h.observe(ok);
            let want = match state {
                None => Some(ok),
                Some(s) if s == ok => {
                    run = 0;
                    None
                }
                Some(_) => {
                    run += 1;
                    (run >= if ok { r } else { f }).then_some(ok)
                }
            };
            if want.is_some() {
                state = want;
                run = 0;
            }
            prop_assert_eq!(edge, want, "result {} ({})", i, ok);
        }
    }
}
