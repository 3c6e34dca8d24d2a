//! `Cluster::reconfigure`: what a reload keeps, adds and removes, and the
//! order of the events it publishes.

use std::sync::Arc;
use std::time::Duration;

use switchboard_config::{Config, Format};

use super::super::{Cluster, OperatorState, ProbeResult};
use crate::bus::{AdminState, Bus, EventKind};

/// Backends `b{i}` (port 10 + i, tcp checks) in the given order.
fn config(backends: &[usize], rise: u32) -> Config {
    let mut text = format!(
        "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n[monitor]\nrise = {rise}\n"
    );
    for i in backends {
        text.push_str(&format!(
            "[[backends]]\nname = \"b{i}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {{ kind = \"tcp\" }}\n",
            10 + i
        ));
    }
    Config::parse(&text, Format::Toml).expect("test config is valid")
}

fn probe(ok: bool) -> ProbeResult {
    ProbeResult {
        ok,
        index: None,
        reason: if ok { "up" } else { "down" }.into(),
        latency: Duration::from_millis(1),
        galera: None,
    }
}

#[test]
fn kept_backends_keep_everything_and_a_removed_active_is_replaced() {
    let c = Cluster::new(
        &config(&[0, 1, 2], 1),
        &OperatorState::default(),
        Bus::new(64, 64),
    );
    for pos in 0..3 {
        c.apply_probe(pos, probe(true));
    }
    c.set_admin("b2", AdminState::Drain, "maintenance", "test")
        .expect("b2 exists");
    let before = c.truth();
    assert_eq!(before.active, Some(0));
    let handles_b2 = before.backends[2].handles.clone();
    let since = c.bus().last_index();

    // b0 (the active) leaves, b3 joins; b2 moves to the front.
    let done = c.reconfigure(&config(&[2, 1, 3], 2), "summary", "SIGHUP");
    assert_eq!(done.added, ["b3"]);
    assert_eq!(done.removed, ["b0"]);
    assert!(done.layout_changed);
    let t = c.truth();
    let names: Vec<&str> = t.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["b2", "b1", "b3"]);
    assert!(
        Arc::ptr_eq(&t.backends[0].handles, &handles_b2),
        "b2 is the same backend"
    );
    assert_eq!(
        t.backends[0].admin,
        AdminState::Drain,
        "admin state survives"
    );
    assert_eq!(t.backends[0].healthy, Some(true), "its verdict survives");
    assert_eq!(
        t.backends[0].index, 0,
        "a position-given index follows the new position"
    );
    assert_eq!(t.backends[2].healthy, None, "b3 is unknown until probed");
    assert_eq!(t.active, Some(1), "b1: b2 drains, b3 is not probed yet");
    assert_eq!(
        t.failovers, 1,
        "losing the active to a reload is a failover"
    );
    assert_eq!(t.layout, before.layout + 1);

    let events: Vec<EventKind> = c
        .bus()
        .since(since)
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert!(
        matches!(&events[0], EventKind::ConfigReloaded { summary, actor } if summary == "summary" && actor == "SIGHUP"),
        "config_reloaded comes first: {events:?}"
    );
    assert!(
        matches!(&events[1], EventKind::ActiveChanged { from: Some(f), to: Some(to), .. } if f == "b0" && to == "b1"),
        "the active change names the removed backend: {events:?}"
    );

    // rise = 2 now applies to the kept streaks: one good probe of an
    // unhealthy b1 is not enough any more.
    c.apply_probe(1, probe(false));
    assert_eq!(c.truth().backends[1].healthy, Some(false));
    c.apply_probe(1, probe(true));
    assert_eq!(c.truth().backends[1].healthy, Some(false));
    c.apply_probe(1, probe(true));
    assert_eq!(c.truth().backends[1].healthy, Some(true));
}

#[test]
fn a_stale_probe_of_an_older_layout_is_dropped() {
    let c = Cluster::new(
        &config(&[0, 1], 1),
        &OperatorState::default(),
        Bus::new(64, 64),
    );
    let old = c.truth().layout;
    c.reconfigure(&config(&[1, 0], 1), "swap", "test");
    // A probe of b0 made before the reload, tagged with the old layout and
    // position 0, must not land on b1 (now at position 0).
    c.apply_probe_in(old, 0, probe(false));
    assert_eq!(c.truth().backends[0].healthy, None);
    assert_eq!(c.truth().backends[0].name, "b1");
}

#[test]
fn an_unchanged_list_keeps_the_layout_and_moves_nothing() {
    let c = Cluster::new(
        &config(&[0, 1], 1),
        &OperatorState::default(),
        Bus::new(64, 64),
    );
    c.apply_probe(0, probe(true));
    c.apply_probe(1, probe(true));
    let before = c.truth();
    let done = c.reconfigure(&config(&[0, 1], 3), "rise", "test");
    assert!(!done.layout_changed && done.added.is_empty() && done.removed.is_empty());
    let t = c.truth();
    assert_eq!(
        (t.layout, t.active, t.active_epoch),
        (before.layout, before.active, before.active_epoch)
    );
}

/// Found by the election property test (src/core/tests/properties, its
/// minimal case): a reload removed the active and nothing else was
/// electable, and the active was gone without a NEW_ACTIVE event and
/// without a new `active_epoch` (the same for the standby).
#[test]
fn a_removed_active_with_no_successor_is_reported_lost() {
    let c = Cluster::new(
        &config(&[4], 1),
        &OperatorState::default(),
        Bus::new(64, 64),
    );
    c.apply_probe(0, probe(true));
    let before = c.truth();
    assert_eq!((before.active, before.standby), (Some(0), Some(0)));
    let since = c.bus().last_index();

    c.reconfigure(&config(&[0], 1), "b4 replaced by b0", "test");
    let t = c.truth();
    assert_eq!((t.active, t.standby), (None, None), "b0 is not probed yet");
    assert_eq!(t.active_epoch, before.active_epoch + 1);
    assert_eq!(t.standby_epoch, before.standby_epoch + 1);
    assert_eq!(
        t.failovers, before.failovers,
        "no successor: not a failover"
    );
    let events: Vec<EventKind> = c
        .bus()
        .since(since)
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    assert!(
        matches!(&events[0], EventKind::ConfigReloaded { .. }),
        "config_reloaded comes first: {events:?}"
    );
    assert!(
        events.iter().any(
            |e| matches!(e, EventKind::ActiveChanged { from: Some(f), to: None, .. } if f == "b4")
        ),
        "NEW_ACTIVE b4 -> none: {events:?}"
    );
    assert!(
        events.iter().any(
            |e| matches!(e, EventKind::StandbyChanged { from: Some(f), to: None, .. } if f == "b4")
        ),
        "standby b4 -> none: {events:?}"
    );

    // b0's first verdict elects it: the cluster carries on.
    c.apply_probe(0, probe(true));
    assert_eq!(c.truth().active, Some(0));
}
