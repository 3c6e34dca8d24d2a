//! The `GaleraCluster` fixture itself: three nodes that replicate, a paused
//! node that leaves the view and comes back, a desynced, a read-only, a
//! killed and a stopped node that report what a router must see.

use std::time::{Duration, Instant};

use switchboard_harness::galera::SYNCED;
use switchboard_harness::mariadb::{APP_DATABASE, APP_PASSWORD, APP_USER};
use switchboard_harness::mysql_async::prelude::Queryable;
use switchboard_harness::{ms, skip_db_tests, GaleraCluster};

/// How long a view change (eviction, rejoin with IST) may take.
const VIEW_CHANGE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_cluster_replicates_and_a_paused_node_leaves_and_rejoins() {
    if skip_db_tests("a_cluster_replicates_and_a_paused_node_leaves_and_rejoins") {
        return;
    }
    let started = Instant::now();
    let cluster = GaleraCluster::start().await;
    println!("GaleraCluster::start took {}", ms(started.elapsed()));
    for (i, node) in cluster.nodes().iter().enumerate() {
        let s = node.wsrep().await.expect("wsrep status");
        assert!(s.synced_in(3), "node {i}: {s:?}");
        assert_eq!(s.local_index as usize, i, "joined in order");
    }
    let uuid = cluster
        .node(0)
        .wsrep()
        .await
        .expect("sql")
        .cluster_state_uuid;
    let uuid2 = cluster
        .node(2)
        .wsrep()
        .await
        .expect("sql")
        .cluster_state_uuid;
    assert_eq!(uuid, uuid2, "one cluster");

    // Written on node 0, read on node 2 (wsrep_sync_wait: after apply).
    let app = |i: usize| {
        cluster
            .node(i)
            .connect(APP_USER, Some(APP_PASSWORD), Some(APP_DATABASE))
    };
    let mut w = app(0).await.expect("app login on node 0");
    w.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(16))")
        .await
        .expect("sql");
    w.exec_drop("INSERT INTO t VALUES (?, ?)", (7, "seven"))
        .await
        .expect("sql");
    w.disconnect().await.expect("sql");
    let mut r = app(2).await.expect("app login on node 2");
    r.query_drop("SET SESSION wsrep_sync_wait = 1")
        .await
        .expect("sql");
    let seen: Option<String> = r
        .query_first("SELECT v FROM t WHERE id = 7")
        .await
        .expect("sql");
    r.disconnect().await.expect("sql");
    assert_eq!(seen.as_deref(), Some("seven"));

    // A hung node 1: the others evict it.
    let conf_before = cluster
        .node(0)
        .wsrep()
        .await
        .expect("wsrep status")
        .cluster_conf_id;
    cluster.node(1).pause();
    let paused = Instant::now();
    let s = cluster
        .node(0)
        .wait_wsrep(VIEW_CHANGE, "node 1 evicted", |s| s.synced_in(2))
        .await;
    println!("paused node left the view after {}", ms(paused.elapsed()));
    assert!(s.cluster_conf_id > conf_before, "{s:?}");
    assert!(
        cluster.node(1).wsrep().await.is_err(),
        "a paused node answered"
    );

    // Resumed, it rejoins (IST) and is Synced in a cluster of three again.
    cluster.node(1).resume();
    let resumed = Instant::now();
    cluster
        .node(1)
        .wait_wsrep(VIEW_CHANGE, "node 1 rejoined", |s| s.synced_in(3))
        .await;
    cluster
        .node(0)
        .wait_wsrep(VIEW_CHANGE, "node 0 sees three", |s| s.synced_in(3))
        .await;
    println!(
        "resumed node was Synced again after {}",
        ms(resumed.elapsed())
    );
}

#[tokio::test]
async fn desync_read_only_kill_and_stop_show_in_the_status() {
    if skip_db_tests("desync_read_only_kill_and_stop_show_in_the_status") {
        return;
    }
    let mut cluster = GaleraCluster::start().await;

    cluster.node(2).desync(true).await;
    let s = cluster
        .node(2)
        .wait_wsrep(VIEW_CHANGE, "node 2 desynced", |s| s.local_state == 2)
        .await;
    assert_eq!(s.cluster_size, 3, "desync keeps the member: {s:?}");
    cluster.node(2).desync(false).await;
    cluster
        .node(2)
        .wait_wsrep(VIEW_CHANGE, "node 2 synced", |s| s.local_state == SYNCED)
        .await;

    cluster.node(1).set_read_only(true).await;
    let ro = cluster.node(1).query("SELECT @@global.read_only").await;
    assert_eq!(ro, vec![vec![Some("1".to_string())]]);

    // A crash: the survivors shrink at once (the peer's sockets close).
    cluster.node_mut(2).kill();
    cluster
        .node(0)
        .wait_wsrep(VIEW_CHANGE, "node 2 gone", |s| s.synced_in(2))
        .await;
    let rejoin = Instant::now();
    cluster.node_mut(2).restart().await;
    println!("killed node rejoined after {}", ms(rejoin.elapsed()));
    cluster
        .node(0)
        .wait_wsrep(VIEW_CHANGE, "node 2 back", |s| s.synced_in(3))
        .await;

    // A clean stop of the bootstrap node; it rejoins without bootstrapping.
    cluster.node_mut(0).stop().await;
    cluster
        .node(1)
        .wait_wsrep(VIEW_CHANGE, "node 0 gone", |s| s.synced_in(2))
        .await;
    cluster.node_mut(0).restart().await;
    let s = cluster
        .node(1)
        .wait_wsrep(VIEW_CHANGE, "node 0 back", |s| s.synced_in(3))
        .await;
    assert!(s.ready, "{s:?}");
}
