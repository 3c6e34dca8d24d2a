//! (b) a backend failing for every instance moves all of them together;
//! (c) failing for one instance only moves nobody (that instance raises
//! `local_disagreement` and says so in its own view and `CrStates?raw`;
//! the others raise `peer_view_changed` naming it and the backend);
//! (d) the leader killed: a new leader within lease_ttl + 1 s, the
//! survivors keep agreeing, and then move together on the next failure.
//! Agreement is read from the backends' records (`Scenario::wait_agreement`).

use std::time::{Duration, Instant};

use crate::scenario::Scenario;
use crate::timeline::{self, ms};
use crate::{AGREEMENT, INSTANCES, INTERVAL_MS, LEASE_GRACE, LEASE_TTL_MS};

/// (c): how long nobody may move: 3 × interval + lease_ttl.
const NO_MOVE: Duration = Duration::from_millis(3 * INTERVAL_MS + LEASE_TTL_MS);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_failing_for_every_instance_moves_all_together() {
    let s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;

    let at = s.fail_all(0);
    s.wait_agreement("db-0 fails for every instance", at, 1, AGREEMENT)
        .await;
    for i in 0..INSTANCES.len() {
        let state = s.sbs[i]
            .wait_state(Duration::from_secs(2), "active db-1", |st| {
                st["active"] == "db-1"
            })
            .await;
        let combined = &state["coordination"]["combined"];
        let db0 = combined
            .as_array()
            .and_then(|c| c.iter().find(|b| b["name"] == "db-0"))
            .unwrap_or_else(|| panic!("no db-0 in combined: {combined:#}"));
        assert_eq!(db0["healthy"], false, "{combined:#}");
    }

    let at = s.heal_all(0);
    s.wait_agreement("db-0 healthy again (failback)", at, 0, AGREEMENT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_failing_for_one_instance_moves_nobody() {
    let s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let lonely = 2;
    let since = s.last_event(lonely).await;
    let since_peer = s.last_event(0).await;

    let at = s.fail_one(lonely, 0);
    let event = s
        .wait_event(lonely, since, "local_disagreement", NO_MOVE)
        .await;
    eprintln!(
        "COORD db-0 fails for {} only: local_disagreement after {}",
        INSTANCES[lonely],
        ms(at.elapsed())
    );
    assert_eq!(event["backend"], "db-0", "{event:#}");
    // The others hear of it as a change of that instance's view (what
    // their dashboards redraw on).
    let peer = s
        .wait_event(0, since_peer, "peer_view_changed", NO_MOVE)
        .await;
    assert_eq!(
        (&peer["instance"], &peer["backend"]),
        (
            &serde_json::json!(INSTANCES[lonely]),
            &serde_json::json!("db-0")
        ),
        "{peer:#}"
    );
    s.assert_no_move("db-0 fails for one instance", at, NO_MOVE, 0)
        .await;

    // Its own view says db-0 is down; the combined view (majority) does not.
    let state = s.sbs[lonely].state().await;
    let c = &state["coordination"];
    assert_eq!(state["active"], "db-0", "{state:#}");
    let me = c["instances"]
        .as_array()
        .and_then(|v| v.iter().find(|p| p["self"] == true))
        .unwrap_or_else(|| panic!("no self in {c:#}"));
    let mine = me["backends"]
        .as_array()
        .and_then(|v| v.iter().find(|b| b["name"] == "db-0"))
        .unwrap_or_else(|| panic!("no db-0 in {me:#}"));
    assert_eq!(mine["healthy"], false, "{me:#}");
    let combined = c["combined"]
        .as_array()
        .and_then(|v| v.iter().find(|b| b["name"] == "db-0"))
        .unwrap_or_else(|| panic!("no db-0 in {c:#}"));
    assert_eq!(combined["healthy"], true, "{c:#}");
    let cr = s.sbs[lonely].json("/publish/CrStates").await;
    let raw = s.sbs[lonely].json("/publish/CrStates?raw").await;
    assert_eq!(cr["caches"]["db-0"]["isAvailable"], true, "{cr:#}");
    assert_eq!(raw["caches"]["db-0"]["isAvailable"], false, "{raw:#}");
    // The others saw it through its published view.
    let other = (lonely + 1) % INSTANCES.len();
    let peers = s.sbs[other].json("/publish/PeerStates").await;
    assert_eq!(
        peers["peers"][INSTANCES[lonely]]["db-0"][0]["value"], false,
        "{peers:#}"
    );

    s.heal_one(lonely, 0);
    s.assert_no_move(
        "db-0 healthy again for one instance",
        Instant::now(),
        Duration::from_millis(500),
        0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_survivors_elect_and_keep_agreeing() {
    let mut s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let old = s.wait_joined(Duration::from_secs(5)).await;
    let survivors: Vec<usize> = (0..INSTANCES.len()).filter(|&i| i != old).collect();
    let mut since = Vec::new();
    for &i in &survivors {
        since.push(s.last_event(i).await);
    }

    let at = s.kill(old).await;
    let new = s.wait_joined(LEASE_GRACE + Duration::from_secs(5)).await;
    let took = at.elapsed();
    eprintln!(
        "COORD leader {} killed: {} leads {} later (budget {})",
        INSTANCES[old],
        INSTANCES[new],
        ms(took),
        ms(LEASE_GRACE)
    );
    assert_ne!(new, old);
    assert!(took <= LEASE_GRACE, "a new leader took {}", ms(took));
    for (k, &i) in survivors.iter().enumerate() {
        let e = s
            .wait_event(i, since[k], "leader_changed", Duration::from_secs(2))
            .await;
        assert_eq!(e["to"], INSTANCES[new], "{e:#}");
    }
    // The survivors never left db-0.
    let hits = s.hits_since(at);
    for &i in &survivors {
        assert_eq!(
            timeline::reached(&hits, i, at, Instant::now()),
            [0],
            "{} while the leader was replaced\n{}",
            INSTANCES[i],
            s.summary()
        );
    }

    let at = s.fail_all(0);
    s.wait_agreement("db-0 fails after the leader was killed", at, 1, AGREEMENT)
        .await;

    // The killed instance comes back and follows the decision in force.
    let restarted = Instant::now();
    s.restart(old).await;
    s.wait_joined(Duration::from_secs(15)).await;
    s.wait_agreement(
        &format!("{} restarted", INSTANCES[old]),
        restarted,
        1,
        Duration::from_secs(10),
    )
    .await;
    let c = s.coordination(old).await.unwrap_or_default();
    assert_eq!(c["instances"].as_array().map(Vec::len), Some(3), "{c:#}");
}
