//! The cluster with the staleness and failback_after rules, driven by
//! explicit instants (no clock, no socket).

use std::time::{Duration, Instant};

use switchboard_config::{Config, Format};
use tokio::sync::broadcast::Receiver;

use super::super::{Cluster, OperatorState, ProbeResult};
use crate::bus::{Bus, Event, EventKind};
use crate::consistency::GaleraFacts;

/// `n` backends b0.. with the given `[monitor]` lines.
fn cluster(n: usize, monitor: &str) -> Cluster {
    let mut text = format!(
        "[proxy]\nlisten = \"127.0.0.1:13306\"\n[api]\npassword = \"pw\"\n[monitor]\ninterval = \"1s\"\n{monitor}\n"
    );
    for i in 0..n {
        text.push_str(&format!(
            "[[backends]]\nname = \"b{i}\"\nhost = \"127.0.0.1\"\nport = {}\ncheck = {{ kind = \"tcp\" }}\n",
            10 + i
        ));
    }
    let config = Config::parse(&text, Format::Toml).expect("test config is valid");
    Cluster::new(&config, &OperatorState::default(), Bus::new(256, 256))
}

/// A healthy Galera probe reporting `conf_id` of history "u1".
fn synced(index: u64, conf_id: u64) -> ProbeResult {
    ProbeResult {
        ok: true,
        index: Some(index),
        reason: format!("Synced, wsrep_local_index {index}"),
        latency: Duration::from_millis(1),
        galera: Some(GaleraFacts {
            primary: true,
            conf_id,
            state_uuid: "u1".into(),
        }),
    }
}

fn plain(ok: bool) -> ProbeResult {
    ProbeResult {
        ok,
        index: None,
        reason: if ok { "up" } else { "connection refused" }.into(),
        latency: Duration::from_millis(1),
        galera: None,
    }
}

fn ms(base: Instant, ms: u64) -> Instant {
    base + Duration::from_millis(ms)
}

fn active(c: &Cluster) -> Option<String> {
    let t = c.truth();
    t.active.map(|p| t.backends[p].name.clone())
}

/// Every event published since the last call.
fn drain(rx: &mut Receiver<std::sync::Arc<Event>>) -> Vec<EventKind> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e.kind.clone());
    }
    out
}

#[test]
fn a_stale_active_is_unhealthy_with_its_reason_and_loses_the_role() {
    let c = cluster(3, "");
    let mut rx = c.bus().subscribe();
    let t = Instant::now();
    for i in 0..3 {
        c.apply_probe_at(0, i, synced(i as u64, 7), ms(t, 0));
    }
    assert_eq!(active(&c).as_deref(), Some("b0"));
    // b1 and b2 see a new configuration; b0 (paused, then resumed) does not.
    c.apply_probe_at(0, 1, synced(1, 8), ms(t, 1000));
    c.apply_probe_at(0, 2, synced(2, 8), ms(t, 1000));
    c.apply_probe_at(0, 0, synced(0, 7), ms(t, 1100));
    assert_eq!(active(&c).as_deref(), Some("b0"), "behind for 0.1 s only");
    drain(&mut rx);
    c.apply_probe_at(0, 0, synced(0, 7), ms(t, 2100));
    let truth = c.truth();
    let reason = "stale: wsrep_cluster_conf_id 7 is behind 8 of the other Primary nodes";
    assert_eq!(truth.backends[0].healthy, Some(false));
    assert_eq!(truth.backends[0].reason, reason);
    assert_eq!(
        truth.backends[0]
            .last_check
            .as_ref()
            .map(|r| (r.ok, r.reason.as_str())),
        Some((false, reason))
    );
    assert_eq!(active(&c).as_deref(), Some("b1"));
    let events = drain(&mut rx);
    assert!(
        events.iter().any(|e| matches!(e, EventKind::HealthChanged { backend, healthy: false, reason: r } if backend == "b0" && r == reason)),
        "{events:?}"
    );
    // It stays unhealthy while stale; once it reports the cluster's
    // configuration again it comes back through the ordinary rise.
    c.apply_probe_at(0, 0, synced(0, 7), ms(t, 3100));
    assert_eq!(c.truth().backends[0].healthy, Some(false));
    c.apply_probe_at(0, 0, synced(0, 9), ms(t, 4100));
    c.apply_probe_at(0, 1, synced(1, 9), ms(t, 4100));
    c.apply_probe_at(0, 0, synced(0, 9), ms(t, 5100));
    assert_eq!(c.truth().backends[0].healthy, Some(true));
    assert_eq!(active(&c).as_deref(), Some("b0"));
}

#[test]
fn a_peer_probe_can_reveal_that_a_node_is_stale() {
    let c = cluster(2, "");
    let t = Instant::now();
    c.apply_probe_at(0, 0, synced(0, 7), ms(t, 0));
    c.apply_probe_at(0, 1, synced(1, 7), ms(t, 0));
    c.apply_probe_at(0, 1, synced(1, 8), ms(t, 1000)); // b0 behind from here
    c.apply_probe_at(0, 0, synced(0, 7), ms(t, 1900)); // its own probe: still behind
    assert_eq!(c.truth().backends[0].healthy, Some(true), "0.9 s");
    c.apply_probe_at(0, 1, synced(1, 8), ms(t, 2050));
    let truth = c.truth();
    assert_eq!(
        truth.backends[0].healthy,
        Some(false),
        "1.05 s, revealed by b1"
    );
    assert!(
        truth.backends[0].reason.starts_with("stale: "),
        "{}",
        truth.backends[0].reason
    );
    assert_eq!(active(&c).as_deref(), Some("b1"));
}

#[test]
fn failback_after_waits_from_the_end_of_the_rise_and_restarts_on_a_break() {
    let c = cluster(2, "failback_after = \"30s\"");
    let t = Instant::now();
    c.apply_probe_at(0, 0, plain(true), ms(t, 0));
    c.apply_probe_at(0, 1, plain(true), ms(t, 0));
    assert_eq!(active(&c).as_deref(), Some("b0"), "no wait at startup");
    c.apply_probe_at(0, 0, plain(false), ms(t, 1000));
    assert_eq!(
        active(&c).as_deref(),
        Some("b1"),
        "failover is never delayed"
    );
    c.apply_probe_at(0, 0, plain(true), ms(t, 2000)); // healthy again from here
    c.apply_probe_at(0, 1, plain(true), ms(t, 20_000));
    assert_eq!(active(&c).as_deref(), Some("b1"), "18 s");
    c.apply_probe_at(0, 0, plain(false), ms(t, 21_000)); // a break
    c.apply_probe_at(0, 0, plain(true), ms(t, 22_000)); // healthy again from here
    c.apply_probe_at(0, 1, plain(true), ms(t, 40_000));
    assert_eq!(active(&c).as_deref(), Some("b1"), "18 s since the break");
    c.apply_probe_at(0, 1, plain(true), ms(t, 51_900));
    assert_eq!(active(&c).as_deref(), Some("b1"), "29.9 s");
    let mut rx = c.bus().subscribe();
    // The next probe of any backend after the wait ends moves the role.
    c.apply_probe_at(0, 1, plain(true), ms(t, 52_100));
    assert_eq!(active(&c).as_deref(), Some("b0"), "30.1 s");
    let events = drain(&mut rx);
    assert!(
        events.iter().any(
            |e| matches!(e, EventKind::ActiveChanged { to: Some(to), reason, .. }
            if to == "b0" && reason.contains("monitor.failback_after (30s)"))
        ),
        "{events:?}"
    );
}

#[test]
fn without_failback_after_a_recovered_backend_takes_the_role_back_at_once() {
    let c = cluster(2, "");
    let t = Instant::now();
    c.apply_probe_at(0, 0, plain(true), ms(t, 0));
    c.apply_probe_at(0, 1, plain(true), ms(t, 0));
    c.apply_probe_at(0, 0, plain(false), ms(t, 1000));
    assert_eq!(active(&c).as_deref(), Some("b1"));
    c.apply_probe_at(0, 0, plain(true), ms(t, 2000));
    assert_eq!(active(&c).as_deref(), Some("b0"));
}
