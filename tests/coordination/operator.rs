//! (h) Operator state lives in etcd: a PATCH to any instance applies to
//! every instance within a second, its answer lists the live instances
//! that acknowledged it, and an instance killed and started again still
//! applies it. Routing off is read both from each instance's
//! `/v0/cluster` and from the backends' records (new sessions stop); a
//! backend disabled on one instance moves everybody.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::scenario::Scenario;
use crate::timeline::{self, ms};
use crate::{AGREEMENT, INSTANCES, PATCH_BUDGET};

/// The sorted names in a PATCH answer's `acknowledged`.
pub(crate) fn acknowledged(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["acknowledged"]
        .as_array()
        .unwrap_or_else(|| panic!("no acknowledged list in {body:#}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

/// Waits until each instance of `live` shows `path`'s `field` = `want`;
/// returns the time each took, measured from `since`; panics past
/// [`PATCH_BUDGET`].
pub(crate) async fn wait_applied(
    s: &Scenario,
    live: &[usize],
    since: Instant,
    path: &str,
    field: &str,
    want: &Value,
) -> Vec<Duration> {
    let waits = live.iter().map(|&i| async move {
        let what = format!("{}: {path} {field} = {want}", INSTANCES[i]);
        switchboard_harness::wait_for(PATCH_BUDGET, &what, || async {
            let v = crate::reads::try_json(&s.sbs[i], path).await?;
            (v[field] == *want).then(|| since.elapsed())
        })
        .await
    });
    futures::future::join_all(waits).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_off_on_one_instance_stops_every_instance() {
    let mut s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let all = s.live();

    let at = Instant::now();
    let (status, body) = s.sbs[1]
        .patch("/v0/cluster?trafficEnabled=false&message=maintenance", None)
        .await;
    let answered = at.elapsed();
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(acknowledged(&body), INSTANCES, "{body:#}");
    let seen = wait_applied(
        &s,
        &all,
        at,
        "/v0/cluster",
        "trafficEnabled",
        &Value::Bool(false),
    )
    .await;
    eprintln!(
        "COORD routing off on proxy-1: answered in {}, trafficEnabled false on each after {:?}",
        ms(answered),
        seen.iter().map(|d| ms(*d)).collect::<Vec<_>>()
    );
    // From the backends: every instance's last session came within 1 s,
    // and none after.
    tokio::time::sleep(
        (at + PATCH_BUDGET + Duration::from_millis(500)).saturating_duration_since(Instant::now()),
    )
    .await;
    let hits = s.hits_since(at);
    for (i, name) in INSTANCES.iter().enumerate() {
        let mine = timeline::of(&hits, i, at);
        let stopped = mine.last().map_or(Duration::ZERO, |h| h.at - at);
        eprintln!(
            "COORD routing off: {}'s last session reached a backend {} after the PATCH",
            name,
            ms(stopped)
        );
        assert!(
            stopped <= PATCH_BUDGET,
            "{name} still routed after {}",
            ms(stopped)
        );
    }

    // Killed and started again, an instance still has routing off.
    s.kill(0).await;
    let restarted = Instant::now();
    s.restart(0).await;
    s.wait_joined(Duration::from_secs(15)).await;
    let cluster = s.sbs[0].json("/v0/cluster").await;
    assert_eq!(
        cluster["trafficEnabled"], false,
        "after a restart: {cluster:#}"
    );
    // Its driver keeps trying (a session every 10 ms): each is closed.
    let closed_before = s.drivers[0].failed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reached = timeline::reached(&s.hits_since(restarted), 0, restarted, Instant::now());
    assert!(
        reached.is_empty(),
        "proxy-0 routed to {reached:?} with routing off"
    );
    let closed = s.drivers[0].failed() - closed_before;
    assert!(
        closed >= 5,
        "only {closed} sessions were tried on the restarted proxy-0 in 300 ms: the window proves nothing"
    );

    let at = Instant::now();
    let (status, body) = s.sbs[2]
        .patch("/v0/cluster?trafficEnabled=true", None)
        .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(acknowledged(&body), INSTANCES, "{body:#}");
    let seen = wait_applied(
        &s,
        &all,
        at,
        "/v0/cluster",
        "trafficEnabled",
        &Value::Bool(true),
    )
    .await;
    eprintln!(
        "COORD routing on via proxy-2: trafficEnabled true on each after {:?}",
        seen.iter().map(|d| ms(*d)).collect::<Vec<_>>()
    );
    s.wait_agreement("routing on again", at, 0, PATCH_BUDGET)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_disabled_on_one_instance_moves_everybody_and_survives_a_restart() {
    let mut s = Scenario::start("hold").await;
    s.wait_agreement("startup", Instant::now(), 0, AGREEMENT)
        .await;
    let all = s.live();

    let at = Instant::now();
    let (status, body) = s.sbs[2]
        .patch("/v0/backends/db-0?state=disabled&message=maintenance", None)
        .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(acknowledged(&body), INSTANCES, "{body:#}");
    let want = Value::String("disabled".into());
    let seen = wait_applied(&s, &all, at, "/v0/backends/db-0", "adminState", &want).await;
    eprintln!(
        "COORD db-0 disabled via proxy-2: adminState disabled on each after {:?}",
        seen.iter().map(|d| ms(*d)).collect::<Vec<_>>()
    );
    s.wait_agreement("db-0 disabled on proxy-2", at, 1, PATCH_BUDGET)
        .await;

    // The leader killed and started again: the change is still in force there.
    let leader = s.wait_joined(Duration::from_secs(5)).await;
    s.kill(leader).await;
    let restarted = Instant::now();
    s.restart(leader).await;
    s.wait_joined(Duration::from_secs(15)).await;
    let db0 = s.sbs[leader].json("/v0/backends/db-0").await;
    assert_eq!(db0["adminState"], "disabled", "after a restart: {db0:#}");
    s.wait_agreement(
        &format!("{} restarted with db-0 disabled", INSTANCES[leader]),
        restarted,
        1,
        Duration::from_secs(10),
    )
    .await;

    let at = Instant::now();
    let (status, body) = s.sbs[leader]
        .patch("/v0/backends/db-0?state=enabled", None)
        .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(acknowledged(&body), INSTANCES, "{body:#}");
    let want = Value::String("enabled".into());
    wait_applied(&s, &all, at, "/v0/backends/db-0", "adminState", &want).await;
    s.wait_agreement("db-0 enabled again", at, 0, PATCH_BUDGET)
        .await;
}
