//! (a) Startup: the three instances agree on db-0 with exactly one leader,
//! each lists all three instances and their views, and every read that
//! shows the coordination says the same: `/v0/state`, the metrics,
//! CrStates (combined and `?raw`) and PeerStates (Traffic Monitor's
//! `APIPeerStates`, as docs/api.md has it). Also: an instance without
//! `[coordination]` says `{"kind":"none"}`.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_harness::{Builder, Fleet};

use crate::scenario::Scenario;
use crate::{AGREEMENT, BACKENDS, INSTANCES};

/// The names in a JSON array of objects, field `key`, sorted.
fn names(v: &Value, key: &str) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x[key].as_str().unwrap_or_default().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_agree_on_db0_with_one_leader() {
    let started = Instant::now();
    let s = Scenario::start("hold").await;
    let leader = s.wait_joined(Duration::from_secs(5)).await;
    eprintln!(
        "COORD startup: three instances joined, {} leads, {} after the first spawn",
        INSTANCES[leader],
        crate::timeline::ms(started.elapsed())
    );
    let since = Instant::now();
    s.wait_agreement("startup", since, 0, AGREEMENT).await;

    let mut epochs = Vec::new();
    for (i, me) in INSTANCES.iter().enumerate() {
        let state = s.sbs[i].state().await;
        assert_eq!(state["active"], "db-0", "{me}: {state:#}");
        let c = &state["coordination"];
        assert_eq!(c["kind"], "etcd", "{c:#}");
        assert_eq!(c["instance"], *me, "{c:#}");
        assert_eq!(
            c["role"],
            if i == leader { "leader" } else { "follower" },
            "{c:#}"
        );
        assert_eq!(c["connected"], true, "{c:#}");
        assert_eq!(c["leader"], INSTANCES[leader], "{c:#}");
        assert_eq!(c["combine"], "majority", "{c:#}");
        assert_eq!(c["onCoordinatorLost"], "hold", "{c:#}");
        assert_eq!(c["lostSince"], Value::Null, "{c:#}");
        let epoch = c["epoch"]
            .as_u64()
            .unwrap_or_else(|| panic!("epoch: {c:#}"));
        assert!(epoch >= 1, "a decision was written: {c:#}");
        epochs.push(epoch);

        assert_eq!(names(&c["instances"], "instance"), INSTANCES, "{c:#}");
        for peer in c["instances"].as_array().into_iter().flatten() {
            let is_self = peer["instance"] == *me;
            assert_eq!(peer["self"], is_self, "{peer:#}");
            assert_eq!(
                peer["leader"],
                peer["instance"] == INSTANCES[leader],
                "{peer:#}"
            );
            assert_eq!(peer["routesTo"], "db-0", "{peer:#}");
            assert_eq!(names(&peer["backends"], "name"), BACKENDS, "{peer:#}");
            for b in peer["backends"].as_array().into_iter().flatten() {
                assert_eq!(b["healthy"], true, "{peer:#}");
            }
        }
        assert_eq!(names(&c["combined"], "name"), BACKENDS, "{c:#}");
        for b in c["combined"].as_array().into_iter().flatten() {
            assert_eq!(b["healthy"], true, "{c:#}");
        }

        // The metrics describe the same.
        assert_eq!(s.metric(i, "switchboard_coordination_connected").await, 1.0);
        let leads = s.metric(i, "switchboard_coordination_leader").await;
        assert_eq!(leads, if i == leader { 1.0 } else { 0.0 }, "{me}");
        assert_eq!(s.metric(i, "switchboard_coordination_instances").await, 3.0);
        assert!(s.metric(i, "switchboard_coordination_epoch").await >= 1.0);

        // CrStates: the combined view and the local one; PeerStates: the others.
        for path in ["/publish/CrStates", "/publish/CrStates?raw"] {
            let cr = s.sbs[i].json(path).await;
            for name in BACKENDS {
                assert_eq!(cr["caches"][name]["isAvailable"], true, "{path}: {cr:#}");
            }
        }
        let peers = s.sbs[i].json("/publish/PeerStates").await;
        let mut others: Vec<&String> = peers["peers"]
            .as_object()
            .unwrap_or_else(|| panic!("PeerStates: {peers:#}"))
            .keys()
            .collect();
        others.sort();
        let expected: Vec<&str> = INSTANCES.iter().copied().filter(|n| n != me).collect();
        assert_eq!(others, expected, "PeerStates of {me}: {peers:#}");
        // Traffic Monitor's `APIPeerStates` (docs/api.md): per peer, per
        // cache, a one-element list of its availability in that view.
        for name in expected {
            for b in BACKENDS {
                let seen = &peers["peers"][name][b][0]["value"];
                assert_eq!(*seen, true, "{b} as {name} sees it: {peers:#}");
            }
        }
    }
    // A decision may be written between two reads: the epochs converge.
    let mut last = epochs;
    let same = switchboard_harness::poll_until(Duration::from_secs(2), || {
        let s = &s;
        async move {
            let mut now = Vec::new();
            for i in 0..INSTANCES.len() {
                let c = s.coordination(i).await.unwrap_or_default();
                now.push(c["epoch"].as_u64().unwrap_or(0));
            }
            now.windows(2).all(|w| w[0] == w[1])
        }
    })
    .await;
    if !same {
        for (i, e) in last.iter_mut().enumerate() {
            let c = s.coordination(i).await.unwrap_or_default();
            *e = c["epoch"].as_u64().unwrap_or(0);
        }
    }
    assert!(
        same,
        "every instance applies the same decision: epochs {last:?}"
    );
    for (i, d) in s.drivers.iter().enumerate() {
        assert!(d.ok() > 0, "{} served sessions", INSTANCES[i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_coordination_the_state_says_none() {
    let fleet = Fleet::start(2).await;
    let sb = fleet.switchboard(Builder::new()).await;
    let state = sb.state().await;
    assert_eq!(state["coordination"], serde_json::json!({"kind": "none"}));
}
