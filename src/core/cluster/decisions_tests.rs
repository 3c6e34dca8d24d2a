//! `Cluster::apply_decision` and `Cluster::set_coordination`: a coordinated
//! instance routes by the decision only, raises `local_disagreement` once,
//! and reports the store's transitions as events.

use std::time::Duration;

use switchboard_config::{Combine, Config, Format, OnCoordinatorLost};

use super::super::{Cluster, OperatorState, ProbeResult};
use crate::bus::{Bus, EventKind};
use crate::coordination::{CoordinationRole, CoordinationStatus};

/// Three tcp-checked backends `b0..b2` under `[coordination] kind = "etcd"`.
fn coordinated() -> Cluster {
    let mut text = String::from(
        "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n[monitor]\nrise = 1\nfall = 1\n\
         [coordination]\nkind = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\ninstance = \"proxy-0\"\n",
    );
    for i in 0..3 {
        text.push_str(&format!(
            "[[backends]]\nname = \"b{i}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {{ kind = \"tcp\" }}\n",
            10 + i
        ));
    }
    let config: Config = Config::parse(&text, Format::Toml).expect("test config is valid");
    Cluster::new(&config, &OperatorState::default(), Bus::new(64, 64))
}

fn probe(ok: bool) -> ProbeResult {
    ProbeResult {
        ok,
        index: None,
        reason: if ok { "up" } else { "refused" }.into(),
        latency: Duration::from_millis(1),
        galera: None,
    }
}

fn events_since(c: &Cluster, since: u64) -> Vec<EventKind> {
    c.bus()
        .since(since)
        .iter()
        .map(|e| e.kind.clone())
        .collect()
}

#[test]
fn a_coordinated_instance_never_elects_on_its_own() {
    let c = coordinated();
    for pos in 0..3 {
        c.apply_probe(pos, probe(true));
    }
    let t = c.truth();
    assert_eq!(t.active, None, "no decision yet: routes nowhere");
    assert_eq!(t.backends[0].healthy, Some(true), "the local view is kept");
    assert_eq!(
        t.coordination.as_ref().map(|s| s.role),
        Some(CoordinationRole::Joining)
    );

    c.apply_decision(Some("b1"), Some("b2"), "decision 1 by proxy-1");
    let t = c.truth();
    assert_eq!((t.active, t.standby), (Some(1), Some(2)));
    assert_eq!(t.active_epoch, 1);
    // A local edge moves nothing.
    let since = c.bus().last_index();
    c.apply_probe(0, probe(false));
    assert_eq!(c.truth().active, Some(1));
    assert!(events_since(&c, since)
        .iter()
        .all(|e| !matches!(e, EventKind::ActiveChanged { .. })));
}

#[test]
fn a_decision_on_a_locally_down_backend_raises_one_disagreement() {
    let c = coordinated();
    for pos in 0..3 {
        c.apply_probe(pos, probe(pos != 0));
    }
    let since = c.bus().last_index();
    c.apply_decision(Some("b0"), None, "decision 1 by proxy-1");
    assert_eq!(c.truth().active, Some(0), "routes by the decision anyway");
    c.apply_probe(0, probe(false));
    c.apply_probe(0, probe(false));
    let disagreements: Vec<_> = events_since(&c, since)
        .into_iter()
        .filter(|e| matches!(e, EventKind::LocalDisagreement { backend, .. } if backend == "b0"))
        .collect();
    assert_eq!(disagreements.len(), 1, "one event per disagreement");

    // Healthy again, then down again: a new disagreement.
    c.apply_probe(0, probe(true));
    let since = c.bus().last_index();
    c.apply_probe(0, probe(false));
    assert!(events_since(&c, since)
        .iter()
        .any(|e| matches!(e, EventKind::LocalDisagreement { .. })));
}

#[test]
fn an_unknown_backend_in_a_decision_routes_nowhere() {
    let c = coordinated();
    let since = c.bus().last_index();
    c.apply_decision(Some("db-9"), None, "decision 3 by proxy-2");
    assert_eq!(c.truth().active, None);
    assert!(events_since(&c, since)
        .iter()
        .any(|e| matches!(e, EventKind::LocalDisagreement { backend, .. } if backend == "db-9")));
}

#[test]
fn store_transitions_are_events() {
    let c = coordinated();
    let status = |role, leader: Option<&str>| CoordinationStatus {
        role,
        leader: leader.map(str::to_string),
        ..CoordinationStatus::joining("proxy-0", Combine::Majority, OnCoordinatorLost::Hold)
    };
    let since = c.bus().last_index();
    c.set_coordination(status(CoordinationRole::Follower, Some("proxy-1")), "");
    c.set_coordination(status(CoordinationRole::Lost, None), "etcd unreachable");
    c.set_coordination(
        status(CoordinationRole::Leader, Some("proxy-0")),
        "etcd answers",
    );
    let kinds: Vec<&str> = events_since(&c, since)
        .iter()
        .map(|e| e.type_name())
        .collect();
    assert_eq!(
        kinds,
        [
            "leader_changed",
            "coordinator_lost",
            "coordinator_rejoined",
            "leader_changed"
        ]
    );
}

#[test]
fn another_instances_view_changes_are_events_and_ours_are_not() {
    use crate::coordination::{PeerBackend, PeerView};
    let c = coordinated();
    let view = |instance: &str, db0: Option<bool>| PeerView {
        instance: instance.into(),
        backends: vec![PeerBackend {
            name: "b0".into(),
            healthy: db0,
            index: 0,
            reason: if db0 == Some(false) {
                "refused".into()
            } else {
                "up".into()
            },
        }],
        active: None,
        standby: None,
        epoch: 0,
        acknowledged: 0,
    };
    let status = |role, views: Vec<PeerView>| CoordinationStatus {
        role,
        views,
        ..CoordinationStatus::joining("proxy-0", Combine::Majority, OnCoordinatorLost::Hold)
    };
    use CoordinationRole::{Follower, Lost};
    c.set_coordination(status(Follower, vec![view("proxy-0", Some(true))]), "");
    let since = c.bus().last_index();
    c.set_coordination(
        status(
            Follower,
            vec![view("proxy-0", Some(false)), view("proxy-1", Some(true))],
        ),
        "",
    );
    c.set_coordination(
        status(
            Follower,
            vec![view("proxy-0", Some(false)), view("proxy-1", Some(false))],
        ),
        "",
    );
    // Lost: the views are the last known; nothing is claimed about them.
    c.set_coordination(status(Lost, vec![]), "etcd unreachable");
    c.set_coordination(
        status(Follower, vec![view("proxy-0", Some(false))]),
        "etcd answers",
    );
    c.set_coordination(
        status(
            Follower,
            vec![view("proxy-0", Some(false)), view("proxy-1", Some(false))],
        ),
        "",
    );
    c.set_coordination(status(Follower, vec![view("proxy-0", Some(false))]), "");
    let described: Vec<String> = events_since(&c, since)
        .iter()
        .filter(|e| matches!(e, EventKind::PeerViewChanged { .. }))
        .map(EventKind::describe)
        .collect();
    assert_eq!(
        described,
        [
            "proxy-1: joined",
            "proxy-1: b0 down in its probes: refused",
            "proxy-1: joined",
            "proxy-1: left (its lease ended or it stopped)",
        ]
    );
}
