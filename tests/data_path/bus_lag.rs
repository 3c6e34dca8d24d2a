//! A lagging bus subscriber never acts on a stale route (ARCHITECTURE.md): with a bus
//! capacity of 1 (`SWITCHBOARD_BUS_CAPACITY=1`) every burst of events makes
//! the bridge's reconciler lag; after a failover storm the routing is still
//! right and no stale session survives. The log proves the lag happened, so
//! the test cannot pass without exercising the resync.

use switchboard_harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_reconciler_resyncs_and_never_routes_stale() {
    let (sb, [b0, b1], [h0, _h1]) = Greeters::start([0, 1])
        .await
        .switchboard(
            Builder::new()
                .interval(20, 500)
                .env("SWITCHBOARD_BUS_CAPACITY", "1"),
        )
        .await;
    let report = storm::run(&sb, &b0, &h0, &b1, 40, 600).await;
    assert!(report.severed_seen > 0, "{report:?}");
    let lags = sb.log_lines("route reconciler lagged");
    assert!(
        !lags.is_empty(),
        "the reconciler never lagged; the test proved nothing"
    );
    eprintln!("bus capacity 1: the reconciler lagged {} times", lags.len());
    // The final route is right: new sessions reach b0.
    let (mut s, who) = greet(sb.proxy).await;
    assert_eq!(who, "b0");
    assert_echo(&mut s, "session after the storm").await;
}
