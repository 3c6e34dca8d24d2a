//! The native `mysql` check against real servers (docs/configuration.md,
//! "The mysql check"): a plain MariaDB is healthy, `read_only = ON` makes it
//! unhealthy and moves the traffic, a wrong password says `access denied`
//! without the password (in the state and in a debug log), a paused server
//! times out and fails over, and on Galera a desynced node is
//! Donor/Desynced while the index comes from `wsrep_local_index`.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use switchboard_harness::mariadb::{APP_PASSWORD, APP_USER, MONITOR_PASSWORD, MONITOR_USER};
use switchboard_harness::mysql_async::prelude::Queryable;
use switchboard_harness::mysql_async::{Conn, OptsBuilder};
use switchboard_harness::{backend, skip_db_tests, Builder, GaleraCluster, MariaDb, Switchboard};

/// How long a verdict may take to show (a few probe intervals).
const VERDICT: Duration = Duration::from_secs(10);
/// A view change of the Galera cluster (a node leaving or coming back).
const VIEW_CHANGE: Duration = Duration::from_secs(30);

/// The inline check table of a `mysql` check as the monitor user, with
/// `extra` keys (`, available_when_read_only = true`).
fn mysql_check(password: &str, extra: &str) -> String {
    format!("kind = \"mysql\", user = \"{MONITOR_USER}\", password = \"{password}\"{extra}")
}

/// Probes every 200 ms with a 500 ms timeout.
fn builder() -> Builder {
    Builder::new().interval(200, 500)
}

/// `healthy` and `reason` of backend `name`.
fn verdict(state: &Value, name: &str) -> (Option<bool>, String) {
    let b = backend(state, name);
    (
        b["healthy"].as_bool(),
        b["reason"].as_str().unwrap_or_default().to_string(),
    )
}

/// The server port a new client connection through the proxy lands on.
async fn port_via_proxy(proxy: SocketAddr) -> u16 {
    let opts = OptsBuilder::default()
        .ip_or_hostname(proxy.ip().to_string())
        .tcp_port(proxy.port())
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        // Never the server's unix socket: the point is to go through us.
        .prefer_socket(false);
    let connect = tokio::time::timeout(Duration::from_secs(5), Conn::new(opts)).await;
    let mut conn = connect
        .expect("connect in time")
        .expect("login through the proxy");
    let port: Option<u16> = conn
        .query_first("SELECT @@port")
        .await
        .expect("SELECT @@port");
    let _ = conn.disconnect().await;
    port.expect("a port")
}

/// Waits until `name` is healthy with `reason` (exactly) or unhealthy with a
/// reason starting with `reason`.
async fn wait_verdict(sb: &Switchboard, name: &str, healthy: bool, reason: &str) -> Value {
    sb.wait_state(
        VERDICT,
        &format!("{name} healthy={healthy} ({reason})"),
        |s| {
            let (h, r) = verdict(s, name);
            h == Some(healthy)
                && if healthy {
                    r == reason
                } else {
                    r.starts_with(reason)
                }
        },
    )
    .await
}

#[tokio::test]
async fn plain_mariadb_is_healthy_and_read_only_moves_the_traffic() {
    if skip_db_tests("plain_mariadb_is_healthy_and_read_only_moves_the_traffic") {
        return;
    }
    let (db0, db1) = tokio::join!(MariaDb::start(), MariaDb::start());
    let sb = builder()
        .backend_with_check("db-0", db0.addr(), &mysql_check(MONITOR_PASSWORD, ""))
        .backend_with_check("db-1", db1.addr(), &mysql_check(MONITOR_PASSWORD, ""))
        .start()
        .await;
    wait_verdict(&sb, "db-0", true, "answers, writable").await;
    wait_verdict(&sb, "db-1", true, "answers, writable").await;
    let state = sb.wait_active(Some("db-0"), VERDICT).await;
    assert_eq!(
        backend(&state, "db-0")["index"],
        0,
        "a plain server's index is its position"
    );
    assert_eq!(port_via_proxy(sb.proxy).await, db0.port());

    db0.set_read_only(true).await;
    let state = wait_verdict(&sb, "db-0", false, "read_only=ON").await;
    assert_eq!(verdict(&state, "db-0").1, "read_only=ON");
    sb.wait_active(Some("db-1"), VERDICT).await;
    assert_eq!(port_via_proxy(sb.proxy).await, db1.port(), "traffic moved");

    db0.set_read_only(false).await;
    wait_verdict(&sb, "db-0", true, "answers, writable").await;
    sb.wait_active(Some("db-0"), VERDICT).await;
    assert_eq!(port_via_proxy(sb.proxy).await, db0.port(), "failback");
}

#[tokio::test]
async fn available_when_read_only_keeps_a_read_only_server() {
    if skip_db_tests("available_when_read_only_keeps_a_read_only_server") {
        return;
    }
    let db = MariaDb::start().await;
    db.set_read_only(true).await;
    let check = mysql_check(MONITOR_PASSWORD, ", available_when_read_only = true");
    let sb = builder()
        .backend_with_check("db-0", db.addr(), &check)
        .start()
        .await;
    wait_verdict(&sb, "db-0", true, "read_only=ON (available_when_read_only)").await;
    sb.wait_active(Some("db-0"), VERDICT).await;
}

#[tokio::test]
async fn a_wrong_password_is_access_denied_and_no_password_is_ever_shown() {
    if skip_db_tests("a_wrong_password_is_access_denied_and_no_password_is_ever_shown") {
        return;
    }
    const WRONG: &str = "wrong-pw-5d0c9a";
    let db = MariaDb::start().await;
    let sb = Builder {
        log_level: "debug",
        ..builder()
    }
    .backend_with_check("bad", db.addr(), &mysql_check(WRONG, ""))
    .backend_with_check("good", db.addr(), &mysql_check(MONITOR_PASSWORD, ""))
    .start()
    .await;
    let state = wait_verdict(
        &sb,
        "bad",
        false,
        &format!("access denied for user '{MONITOR_USER}'@"),
    )
    .await;
    let reason = verdict(&state, "bad").1;
    assert!(reason.ends_with("(using password: YES)"), "{reason}");
    wait_verdict(&sb, "good", true, "answers, writable").await;
    sb.wait_active(Some("good"), VERDICT).await;
    // Let a few more probes (and reconnects of "bad") be logged.
    let probes = |s: &Value| backend(s, "bad")["history"].as_array().map_or(0, Vec::len);
    sb.wait_state(VERDICT, "5 probes of bad", |s| probes(s) >= 5)
        .await;

    let log = sb.stderr();
    assert!(
        log.contains("mysql check connected") && log.contains("DEBUG"),
        "the debug log is not what this test greps:\n{log}"
    );
    let state = sb.state().await.to_string();
    for secret in [WRONG, MONITOR_PASSWORD] {
        assert!(!log.contains(secret), "a password in the log:\n{log}");
        assert!(!state.contains(secret), "a password in /v0/state: {state}");
    }
}

#[tokio::test]
async fn a_paused_server_times_out_and_fails_over() {
    if skip_db_tests("a_paused_server_times_out_and_fails_over") {
        return;
    }
    let (db0, db1) = tokio::join!(MariaDb::start(), MariaDb::start());
    let sb = builder()
        .backend_with_check("db-0", db0.addr(), &mysql_check(MONITOR_PASSWORD, ""))
        .backend_with_check("db-1", db1.addr(), &mysql_check(MONITOR_PASSWORD, ""))
        .start()
        .await;
    sb.wait_active(Some("db-0"), VERDICT).await;

    db0.pause();
    let state = wait_verdict(&sb, "db-0", false, "timeout after 500ms").await;
    assert_eq!(verdict(&state, "db-0").1, "timeout after 500ms");
    sb.wait_active(Some("db-1"), VERDICT).await;
    assert_eq!(port_via_proxy(sb.proxy).await, db1.port());

    // The kept connection went with the timeout; a new one is opened.
    db0.resume();
    wait_verdict(&sb, "db-0", true, "answers, writable").await;
    sb.wait_active(Some("db-0"), VERDICT).await;
}

#[tokio::test]
async fn galera_nodes_report_their_index_and_a_desynced_node_is_donor() {
    if skip_db_tests("galera_nodes_report_their_index_and_a_desynced_node_is_donor") {
        return;
    }
    let cluster = GaleraCluster::start().await;
    // Config order reversed: the election follows wsrep_local_index.
    let mut b = builder();
    for i in (0..3).rev() {
        b = b.backend_with_check(
            &format!("node-{i}"),
            cluster.node(i).addr(),
            &mysql_check(MONITOR_PASSWORD, ""),
        );
    }
    let sb = b.start().await;
    for i in 0..3 {
        let name = format!("node-{i}");
        let state = wait_verdict(&sb, &name, true, &format!("Synced, wsrep_local_index {i}")).await;
        assert_eq!(backend(&state, &name)["index"], i);
    }
    sb.wait_active(Some("node-0"), VERDICT).await;

    cluster.node(0).desync(true).await;
    wait_verdict(&sb, "node-0", false, "Donor/Desynced").await;
    sb.wait_active(Some("node-1"), VERDICT).await;
    assert_eq!(port_via_proxy(sb.proxy).await, cluster.node(1).port());

    cluster.node(0).desync(false).await;
    wait_verdict(&sb, "node-0", true, "Synced, wsrep_local_index 0").await;
    sb.wait_active(Some("node-0"), VIEW_CHANGE).await;
}
