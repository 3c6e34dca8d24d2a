//! The accept/sever race (docs/operations.md): no session may survive a sever that
//! happened after it was accepted. 2,000 connects race with 100 failovers
//! (the active flips between two backends every couple of 20 ms probe
//! rounds); afterwards every session still open is on the final active and
//! was opened after the last failover, nothing is left on the other backend,
//! and each backend's own count of open connections equals the proxy's
//! session count for it. The storm itself lives in `common/storm.rs`.

use std::time::Duration;

use switchboard_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_survives_a_sever_under_2000_connects_and_100_failovers() {
    let (sb, [b0, b1], [h0, _h1]) = Greeters::start([0, 1])
        .await
        .switchboard(Builder::new().interval(20, 500))
        .await;
    let report = storm::run(&sb, &b0, &h0, &b1, 100, 2000).await;
    assert_eq!(report.connects, 2000);
    assert!(
        report.severed_seen > 0,
        "the storm severed sessions: {report:?}"
    );
    let state = sb.state().await;
    let severed = state["totals"]["severed"].as_u64().unwrap();
    assert!(
        severed >= report.severed_seen,
        "proxy severed {severed}, clients saw {}",
        report.severed_seen
    );
    assert_eq!(
        sb.wait_active(Some("b0"), Duration::from_secs(1)).await["totals"]["sessions"],
        0
    );
}
