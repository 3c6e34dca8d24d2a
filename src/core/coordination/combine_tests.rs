//! `combine` and `decide`: the leader's rules over live views.

use switchboard_config::{Combine, Config, Format};

use super::*;
use crate::bus::{AdminState, Bus};
use crate::cluster::{Cluster, OperatorState, ProbeResult, Truth};
use crate::coordination::PeerBackend;

fn view(instance: &str, health: &[Option<bool>]) -> PeerView {
    PeerView {
        instance: instance.into(),
        backends: health
            .iter()
            .enumerate()
            .map(|(i, h)| PeerBackend {
                name: format!("b{i}"),
                healthy: *h,
                index: i as u64,
                reason: String::new(),
            })
            .collect(),
        active: None,
        standby: None,
        epoch: 0,
        acknowledged: 0,
    }
}

const NAMES: [&str; 3] = ["b0", "b1", "b2"];

fn healthy(rule: Combine, views: &[PeerView]) -> Vec<Option<bool>> {
    combine(rule, &NAMES, views)
        .into_iter()
        .map(|c| c.healthy)
        .collect()
}

#[test]
fn majority_needs_more_than_half_of_the_live_views() {
    let t = Some(true);
    let f = Some(false);
    let views = [
        view("p0", &[t, t, f]),
        view("p1", &[f, t, f]),
        view("p2", &[t, f, None]),
    ];
    assert_eq!(healthy(Combine::Majority, &views), [t, t, f]);
    assert_eq!(healthy(Combine::Any, &views), [t, t, f]);
    assert_eq!(healthy(Combine::All, &views), [f, f, f]);
    // Two live views: one healthy of two is not a majority.
    assert_eq!(healthy(Combine::Majority, &views[..2]), [f, t, f]);
    // A view that lacks the backend (another config) counts as live, not
    // as healthy.
    let partial = PeerView {
        backends: Vec::new(),
        ..view("p3", &[])
    };
    let views = [view("p0", &[t, t, t]), partial];
    assert_eq!(healthy(Combine::Majority, &views), [f, f, f]);
    assert_eq!(healthy(Combine::Any, &views), [t, t, t]);
}

#[test]
fn no_verdict_anywhere_stays_unknown() {
    assert_eq!(
        healthy(Combine::Any, &[view("p0", &[None, None, None])]),
        [None, None, None]
    );
    assert_eq!(healthy(Combine::Majority, &[]), [None, None, None]);
}

#[test]
fn the_index_is_what_most_healthy_views_read() {
    let mut a = view("p0", &[Some(true)]);
    let mut b = view("p1", &[Some(true)]);
    let mut c = view("p2", &[Some(true)]);
    a.backends[0].index = 7;
    b.backends[0].index = 7;
    c.backends[0].index = 2;
    let combined = combine(Combine::Majority, &["b0"], &[a, b, c]);
    assert_eq!(combined[0].index, 7);
    assert_eq!(combined[0].healthy_views, 3);
}

/// The truth of a lone instance whose backends (`names`, tcp checks) all
/// answered healthy: what a leader's own truth looks like.
fn truth(names: &[&str]) -> Truth {
    let mut text = String::from(
        "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n[monitor]\nrise = 1\n",
    );
    for (pos, name) in names.iter().enumerate() {
        text.push_str(&format!(
            "[[backends]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {{ kind = \"tcp\" }}\n",
            10 + pos
        ));
    }
    let config = Config::parse(&text, Format::Toml).expect("test config is valid");
    let cluster = Cluster::new(&config, &OperatorState::default(), Bus::new(16, 16));
    for pos in 0..names.len() {
        cluster.apply_probe(
            pos,
            ProbeResult {
                ok: true,
                index: None,
                reason: "up".into(),
                latency: Duration::from_millis(1),
                galera: None,
            },
        );
    }
    (*cluster.truth()).clone()
}

fn decision(active: &str) -> Decision {
    Decision {
        active: Some(active.into()),
        standby: None,
        epoch: 1,
        leader: "p0".into(),
        reason: String::new(),
        combined: Vec::new(),
    }
}

#[test]
fn the_election_runs_on_the_combined_health_and_the_local_admin_states() {
    let sticky = ActiveElection {
        failback: false,
        failback_after: Duration::ZERO,
    };
    let mut local = truth(&NAMES);
    // The leader's own probes call b0 down; the combined view does not.
    local.backends[0].healthy = Some(false);
    let t = Some(true);
    let views = [
        view("p0", &[Some(false), t, t]),
        view("p1", &[t, t, t]),
        view("p2", &[t, t, t]),
    ];
    let combined = combine(Combine::Majority, &NAMES, &views);
    assert_eq!(
        decide(&sticky, &local, &combined, None, &[]),
        Some((Some(0), Some(2)))
    );
    // Sticky: the sitting active stays while the combined view keeps it.
    let current = decision("b1");
    assert_eq!(
        decide(&sticky, &local, &combined, Some(&current), &[]),
        Some((Some(1), Some(2)))
    );
    // An operator disabled b1 (on every instance alike): it moves.
    local.backends[1].admin = AdminState::Disabled;
    assert_eq!(
        decide(&sticky, &local, &combined, Some(&current), &[]),
        Some((Some(0), Some(2)))
    );
}

#[test]
fn the_first_decision_waits_for_a_verdict_on_every_backend() {
    let election = ActiveElection {
        failback: true,
        failback_after: Duration::ZERO,
    };
    let local = truth(&NAMES);
    let views = [view("p0", &[Some(true), None, Some(true)])];
    let combined = combine(Combine::Majority, &NAMES, &views);
    assert_eq!(decide(&election, &local, &combined, None, &[]), None);
    // Once a decision exists, an unknown backend is simply not electable.
    let current = decision("b0");
    assert_eq!(
        decide(&election, &local, &combined, Some(&current), &[]),
        Some((Some(0), Some(2)))
    );
}
