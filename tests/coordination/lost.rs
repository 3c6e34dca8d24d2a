//! The coordinator lost (SPEC 13): (e) one instance cut from etcd (its
//! relay resets everything): it says `lost` within lease_ttl + 1 s, raises
//! `coordinator_lost`, its metric says 0, and under `hold` it keeps routing
//! to db-0; healed, it rejoins by itself (`coordinator_rejoined`). Done
//! for a follower and for the leader (then the others elect another).
//! (f) etcd stopped: every instance is lost and holds; a PATCH answers 503;
//! etcd back, all rejoin and agree. (g) `refuse`: the cut instance closes
//! its new sessions (none reaches a backend) until it rejoins.

use std::time::{Duration, Instant};

use crate::scenario::Scenario;
use crate::timeline::{self, ms};
use crate::{AGREEMENT, INSTANCES, LEASE_GRACE};

/// How long a rejoin may take after the store is reachable again (SPEC 13
/// sets no target; the etcd client's reconnect backoff decides).
const REJOIN: Duration = Duration::from_secs(10);

/// Whether `c` (a `coordination` object) says the store is lost.
fn is_lost(c: &serde_json::Value) -> bool {
    c["role"] == "lost" && c["connected"] == false
}

/// Whether `c` says the instance is connected again.
fn is_connected(c: &serde_json::Value) -> bool {
    c["connected"] == true && (c["role"] == "leader" || c["role"] == "follower")
}

/// (e) for the leader (`leader = true`) or a follower.
async fn cut_one_instance_holds_and_rejoins(leader: bool) {
    let s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let lead = s.wait_joined(Duration::from_secs(5)).await;
    let cut = if leader {
        lead
    } else {
        (lead + 1) % INSTANCES.len()
    };
    let others: Vec<usize> = (0..INSTANCES.len()).filter(|&i| i != cut).collect();
    let what = format!(
        "{} ({})",
        INSTANCES[cut],
        if leader { "the leader" } else { "a follower" }
    );
    let since = s.last_event(cut).await;

    let at = s.relays[cut].cut().await;
    let c = s
        .wait_coordination(cut, LEASE_GRACE, "role lost", is_lost)
        .await;
    eprintln!(
        "COORD {what} cut from etcd: says lost {} after the cut (budget {})",
        ms(at.elapsed()),
        ms(LEASE_GRACE)
    );
    assert!(c["lostSince"].is_string(), "lostSince: {c:#}");
    s.wait_event(cut, since, "coordinator_lost", Duration::from_secs(2))
        .await;
    assert_eq!(
        s.metric(cut, "switchboard_coordination_connected").await,
        0.0
    );
    assert_eq!(s.metric(cut, "switchboard_coordination_leader").await, 0.0);
    // The others carry on without it (a new leader if it led).
    let new_lead = s
        .wait_joined_among(&others, LEASE_GRACE + Duration::from_secs(2))
        .await;
    eprintln!(
        "COORD {what} cut: the others list two instances, {} leads, {} after the cut",
        INSTANCES[new_lead],
        ms(at.elapsed())
    );
    // hold: everybody, the cut instance included, stayed on db-0 throughout.
    s.assert_no_move(
        &format!("{what} cut (hold)"),
        at,
        at.elapsed() + Duration::from_millis(500),
        0,
    )
    .await;

    let healed = s.relays[cut].heal();
    let since = s.last_event(cut).await;
    s.wait_coordination(cut, REJOIN, "connected again", is_connected)
        .await;
    eprintln!(
        "COORD {what} healed: connected again {} after the heal",
        ms(healed.elapsed())
    );
    s.wait_event(cut, since, "coordinator_rejoined", Duration::from_secs(2))
        .await;
    s.wait_joined(REJOIN).await;
    assert_eq!(
        s.metric(cut, "switchboard_coordination_connected").await,
        1.0
    );
    s.wait_agreement(&format!("{what} rejoined"), healed, 0, AGREEMENT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_from_etcd_holds_and_rejoins() {
    cut_one_instance_holds_and_rejoins(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_cut_from_etcd_holds_and_rejoins() {
    cut_one_instance_holds_and_rejoins(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stopped_every_instance_holds_then_rejoins() {
    let mut s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let mut since = Vec::new();
    for i in 0..INSTANCES.len() {
        since.push(s.last_event(i).await);
    }

    let at = s.etcd.stop().await;
    for (i, &after) in since.iter().enumerate() {
        s.wait_coordination(i, LEASE_GRACE, "role lost", is_lost)
            .await;
        s.wait_event(i, after, "coordinator_lost", Duration::from_secs(2))
            .await;
    }
    eprintln!(
        "COORD etcd stopped: all three say lost {} after the stop (budget {})",
        ms(at.elapsed()),
        ms(LEASE_GRACE)
    );
    // An operator change cannot be stored: 503 with a JSON error, and
    // nothing changes.
    let (status, body) = s.sbs[0]
        .patch(
            "/v0/cluster?trafficEnabled=false&message=during-the-outage",
            None,
        )
        .await;
    assert_eq!(status, 503, "{body:#}");
    assert!(body["error"].is_string(), "a JSON error: {body:#}");
    let (status, body) = s.sbs[1]
        .patch("/v0/backends/db-0?state=disabled", None)
        .await;
    assert_eq!(status, 503, "{body:#}");
    assert!(body["error"].is_string(), "a JSON error: {body:#}");
    s.assert_no_move(
        "etcd stopped (hold)",
        at,
        at.elapsed() + Duration::from_millis(500),
        0,
    )
    .await;

    let mut since = Vec::new();
    for i in 0..INSTANCES.len() {
        since.push(s.last_event(i).await);
    }
    let back = Instant::now();
    s.etcd.start_again().await;
    s.wait_joined(REJOIN).await;
    eprintln!(
        "COORD etcd started again: all three joined {} after the start",
        ms(back.elapsed())
    );
    for (i, &after) in since.iter().enumerate() {
        s.wait_event(i, after, "coordinator_rejoined", Duration::from_secs(2))
            .await;
        let cluster = s.sbs[i].json("/v0/cluster").await;
        assert_eq!(
            cluster["trafficEnabled"], true,
            "the refused PATCH stayed refused"
        );
        let db0 = s.sbs[i].json("/v0/backends/db-0").await;
        assert_eq!(
            db0["adminState"], "enabled",
            "the refused PATCH stayed refused"
        );
    }
    s.wait_agreement("etcd back", back, 0, AGREEMENT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_new_sessions_while_cut_then_routes_again() {
    let s = Scenario::start("refuse").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let lead = s.wait_joined(Duration::from_secs(5)).await;
    let cut = (lead + 1) % INSTANCES.len();

    let at = s.relays[cut].cut().await;
    let c = s
        .wait_coordination(cut, LEASE_GRACE, "role lost", is_lost)
        .await;
    assert_eq!(c["onCoordinatorLost"], "refuse", "{c:#}");
    eprintln!(
        "COORD refuse: {} cut, says lost {} after the cut",
        INSTANCES[cut],
        ms(at.elapsed())
    );
    // Sessions accepted just before the flip may still arrive: skip 100 ms.
    let quiet = Instant::now() + Duration::from_millis(100);
    let failed_before = s.drivers[cut].failed();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let hits = s.hits();
    let reached = timeline::reached(&hits, cut, quiet, Instant::now());
    assert!(
        reached.is_empty(),
        "a refusing instance's sessions reached {reached:?}\n{}",
        s.summary()
    );
    let refused = s.drivers[cut].failed() - failed_before;
    assert!(
        refused >= 50,
        "its sessions were closed: {refused} failed in 1 s"
    );
    for i in (0..INSTANCES.len()).filter(|&i| i != cut) {
        assert_eq!(
            timeline::reached(&hits, i, quiet, Instant::now()),
            [0],
            "{}",
            s.summary()
        );
    }

    let healed = s.relays[cut].heal();
    s.wait_coordination(cut, REJOIN, "connected again", is_connected)
        .await;
    s.wait_agreement("refuse: healed", healed, 0, REJOIN).await;
}
