//! The standalone `MariaDb` fixture itself: it starts, serves its accounts
//! with the rights they should have, hangs when paused, and keeps its data
//! across a crash and a clean restart.

use std::time::{Duration, Instant};

use switchboard_harness::mariadb::{
    APP_DATABASE, APP_PASSWORD, APP_USER, MONITOR_PASSWORD, MONITOR_USER,
};
use switchboard_harness::mysql_async::prelude::Queryable;
use switchboard_harness::{ms, skip_db_tests, MariaDb};

/// The rows of `t` as (id, name), read as the app user.
async fn rows(db: &MariaDb) -> Vec<(u32, String)> {
    let mut conn = db
        .connect(APP_USER, Some(APP_PASSWORD), Some(APP_DATABASE))
        .await
        .expect("app login");
    let rows: Vec<(u32, String)> = conn
        .query("SELECT id, name FROM t ORDER BY id")
        .await
        .expect("select");
    conn.disconnect().await.expect("disconnect");
    rows
}

#[tokio::test]
async fn a_server_stores_rows_and_keeps_them_across_kill_and_restart() {
    if skip_db_tests("a_server_stores_rows_and_keeps_them_across_kill_and_restart") {
        return;
    }
    let started = Instant::now();
    let mut db = MariaDb::start().await;
    println!("MariaDb::start took {}", ms(started.elapsed()));

    let mut conn = db
        .connect(APP_USER, Some(APP_PASSWORD), Some(APP_DATABASE))
        .await
        .expect("app login");
    conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(32)) ENGINE=InnoDB")
        .await
        .expect("create table");
    conn.exec_drop("INSERT INTO t VALUES (?, ?), (?, ?)", (1, "one", 2, "two"))
        .await
        .expect("insert");
    conn.disconnect().await.expect("disconnect");
    let want = vec![(1, "one".to_string()), (2, "two".to_string())];
    assert_eq!(rows(&db).await, want);

    // A crash loses nothing committed; a clean restart neither.
    db.kill();
    assert!(db.pid().is_none());
    assert!(
        db.connect("root", None, None).await.is_err(),
        "a killed server answers"
    );
    let restarted = Instant::now();
    db.restart().await;
    println!("restart after kill took {}", ms(restarted.elapsed()));
    assert_eq!(rows(&db).await, want);
    db.stop().await;
    db.restart().await;
    assert_eq!(rows(&db).await, want);
}

#[tokio::test]
async fn the_monitor_account_has_only_usage_and_a_paused_server_hangs() {
    if skip_db_tests("the_monitor_account_has_only_usage_and_a_paused_server_hangs") {
        return;
    }
    let db = MariaDb::start().await;
    let mut monitor = db
        .connect(MONITOR_USER, Some(MONITOR_PASSWORD), None)
        .await
        .expect("monitor login");
    let grants: Vec<String> = monitor.query("SHOW GRANTS").await.expect("show grants");
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert!(grants[0].starts_with("GRANT USAGE ON *.*"), "{grants:?}");
    let denied = monitor
        .query_drop(format!("SELECT * FROM `{APP_DATABASE}`.nothing"))
        .await;
    assert!(denied.is_err(), "the monitor may read the app database");
    let bad = db.connect(MONITOR_USER, Some("wrong"), None).await;
    assert!(bad.is_err(), "a wrong password logs in");

    db.pause();
    let probe =
        tokio::time::timeout(Duration::from_millis(500), monitor.query_drop("SELECT 1")).await;
    assert!(probe.is_err(), "a paused server answered: {probe:?}");
    db.resume();
    // The interrupted query's connection is unusable now; a new one works.
    drop(monitor);
    db.set_read_only(true).await;
    let read_only = db.query("SELECT @@global.read_only").await;
    assert_eq!(read_only, vec![vec![Some("1".to_string())]]);
}
