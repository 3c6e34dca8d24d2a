//! A lagging reconciler must resync from the truth, never act on a stale
//! route: driven on a current-thread runtime so the reconciler provably
//! cannot run while a whole failover storm is published at capacity 1.

use super::*;
use std::time::Duration;
use switchboard_config::{Config, Format};
use switchboard_core::cluster::{OperatorState, ProbeResult};

fn config() -> Config {
    config_of(&[0, 1, 2])
}

/// Backends `b{i}` (port 10 + i) in the given order.
fn config_of(backends: &[usize]) -> Config {
    let mut text = String::from(
        "[proxy]\nlisten = \"127.0.0.1:1\"\n[api]\npassword = \"x\"\n[monitor]\ninterval = \"1s\"\n",
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

#[tokio::test(flavor = "current_thread")]
async fn lagging_reconciler_resyncs_and_severs_every_stale_lease() {
    let config = config();
    let cluster = Cluster::new(
        &config,
        &OperatorState::default(),
        switchboard_core::bus::Bus::new(1, 64),
    );
    for pos in 0..3 {
        cluster.apply_probe(pos, probe(true));
    }
    let routes = Routes::new();
    let mut reconciler =
        RouteReconciler::new(cluster.clone(), routes.clone(), LiveConfig::fixed(config));
    let events = cluster.bus().subscribe();
    reconciler.prime();
    let first = routes.load();
    assert_eq!(first.active.target, Some(0));
    let stale_lease = first.active.leases[0].clone();

    // A → B → A: the reconciler, not yet polled, misses all of it.
    cluster.apply_probe(0, probe(false));
    cluster.apply_probe(0, probe(true));
    assert_eq!(cluster.truth().active, Some(0));
    assert!(cluster.truth().active_epoch >= 3);

    let stop = CancellationToken::new();
    let task = tokio::spawn(reconciler.run(events, stop.clone()));
    assert!(
        routes
            .wait_applied(cluster.truth().route_generation(), Duration::from_secs(5))
            .await,
        "the reconciler resyncs after lagging"
    );

    let table = routes.load();
    assert_eq!(table.active.target, cluster.truth().active);
    assert_eq!(table.standby.target, cluster.truth().standby);
    assert!(
        stale_lease.is_cancelled(),
        "a session routed before the missed failovers must be severed"
    );
    assert!(
        !table.active.leases[0].is_cancelled(),
        "new sessions get a live lease"
    );
    stop.cancel();
    task.await.expect("reconciler task ends cleanly");
}

#[tokio::test(flavor = "current_thread")]
async fn a_reload_keeps_the_leases_of_kept_backends_and_cancels_the_removed_ones() {
    let config = config_of(&[0, 1, 2]);
    let cluster = Cluster::new(
        &config,
        &OperatorState::default(),
        switchboard_core::bus::Bus::new(64, 64),
    );
    for pos in 0..3 {
        cluster.apply_probe(pos, probe(true));
    }
    let live = LiveConfig::fixed(config);
    let routes = Routes::new();
    let mut reconciler = RouteReconciler::new(cluster.clone(), routes.clone(), live.clone());
    reconciler.prime();
    let before = routes.load();
    assert_eq!(before.active.target, Some(0));
    let lease = |t: &RouteTable, port: PortRole, name: &str| {
        let pos = t.backends.iter().position(|b| b.name == name).expect(name);
        t.port(port).leases[pos].clone()
    };
    let (b0, b1, b2) = (
        lease(&before, PortRole::Active, "b0"),
        lease(&before, PortRole::Standby, "b1"),
        lease(&before, PortRole::Standby, "b2"),
    );

    // b1 leaves, b3 joins in front: b0 moves to position 1, b2 stays at 2.
    let next = config_of(&[3, 0, 2]);
    live.store(switchboard_core::live_config::Loaded {
        config: Arc::new(next.clone()),
        checksum: "test".into(),
        loaded_at: std::time::SystemTime::now(),
        path: None,
    });
    let done = cluster.reconfigure(&next, "test", "test");
    assert!(done.layout_changed);
    assert_eq!(done.removed, ["b1"]);
    reconciler.prime();

    let after = routes.load();
    let names: Vec<&str> = after.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["b3", "b0", "b2"]);
    assert_eq!(
        after.active.target,
        Some(1),
        "the active follows b0 to its new place"
    );
    assert!(
        b1.is_cancelled(),
        "the removed backend's sessions are severed"
    );
    assert!(!b0.is_cancelled(), "b0's sessions flow on");
    assert!(!b2.is_cancelled(), "b2's sessions flow on");
    assert!(!lease(&after, PortRole::Active, "b3").is_cancelled());
    // The very same leases (a clone shares its token's state): cancelling
    // the one taken before the reload cancels the one in the new table.
    b0.cancel();
    b2.cancel();
    assert!(lease(&after, PortRole::Active, "b0").is_cancelled());
    assert!(lease(&after, PortRole::Standby, "b2").is_cancelled());
}
