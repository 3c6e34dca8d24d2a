//! Self-tests of the coordination suite's fixtures ([`Etcd`], [`CutRelay`],
//! [`RecordingBackend`]), so a failure of `tests/coordination` can be
//! blamed on the product, not on its fixtures. They need the `etcd`
//! binary (`scripts/install-test-databases`) and nothing of the product:
//! `cargo nextest run -p switchboard-harness`.

use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use super::*;

/// Sends `tag` through `addr` and reads the echo of the whole line.
async fn tagged_round_trip(addr: std::net::SocketAddr, tag: &str) -> std::io::Result<()> {
    let mut s = try_connect(addr).await?;
    s.write_all(format!("{tag}\n").as_bytes()).await?;
    let echo = read_line(&mut s, Duration::from_secs(2)).await?;
    assert_eq!(echo, tag, "the echo of the tag line");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_keeps_its_data_across_stop_and_start_again() {
    let started = Instant::now();
    let mut etcd = Etcd::start().await;
    eprintln!("etcd healthy {} after spawn", ms(started.elapsed()));
    let first_pid = etcd.pid().expect("running");
    etcd::put(&etcd.endpoint(), "/t/a", "1").await.unwrap();
    etcd::put(&etcd.endpoint(), "/t/b", "2").await.unwrap();
    assert_eq!(
        etcd::get(&etcd.endpoint(), "/t/a")
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        etcd::keys(&etcd.endpoint(), "/t/").await.unwrap(),
        ["/t/a", "/t/b"]
    );
    assert_eq!(etcd::get(&etcd.endpoint(), "/t/none").await.unwrap(), None);

    etcd.stop().await;
    assert_eq!(etcd.pid(), None);
    assert!(!etcd.healthy().await, "a stopped etcd is not healthy");
    assert!(etcd::get(&etcd.endpoint(), "/t/a").await.is_err());

    let again = Instant::now();
    etcd.start_again().await;
    eprintln!("etcd healthy again {} after spawn", ms(again.elapsed()));
    assert_ne!(etcd.pid(), Some(first_pid));
    assert_eq!(
        etcd::get(&etcd.endpoint(), "/t/b")
            .await
            .unwrap()
            .as_deref(),
        Some("2"),
        "the data survived the stop"
    );
    etcd.kill();
    assert!(!etcd.healthy().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_backend_records_each_tag_and_echoes() {
    let db = RecordingBackend::start("db-0").await;
    let before = Instant::now();
    tagged_round_trip(db.addr, "proxy-0 1").await.unwrap();
    tagged_round_trip(db.addr, "proxy-2 7").await.unwrap();
    // A connection that never sends a whole line is counted, not recorded.
    drop(connect(db.addr).await);
    wait_until(
        Duration::from_secs(2),
        "the untagged connection",
        || async { db.untagged() == 1 },
    )
    .await;
    let records = db.records();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[0].instance(), records[0].seq()),
        ("proxy-0", Some(1))
    );
    assert_eq!(
        (records[1].instance(), records[1].seq()),
        ("proxy-2", Some(7))
    );
    assert!(records[0].at >= before && records[0].at <= records[1].at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_relay_resets_every_connection_and_heals() {
    let db = RecordingBackend::start("db-0").await;
    let relay = CutRelay::start(db.addr).await;
    assert_eq!(relay.endpoint(), format!("http://{}", relay.addr()));
    tagged_round_trip(relay.addr(), "proxy-0 1").await.unwrap();

    // A relayed connection that stays open dies with the cut.
    let mut held = connect(relay.addr()).await;
    held.write_all(b"proxy-0 2\n").await.unwrap();
    assert_eq!(
        read_line(&mut held, Duration::from_secs(2)).await.unwrap(),
        "proxy-0 2"
    );
    let cut = relay.cut().await;
    let died = expect_eof_or_reset(&mut held, Duration::from_secs(1)).await;
    eprintln!(
        "cut relay: the held connection died {} after the cut",
        ms(cut.elapsed().min(died))
    );
    assert!(relay.is_cut());
    // New connections are accepted and reset: nothing reaches the target.
    for seq in 3..6 {
        assert!(
            tagged_round_trip(relay.addr(), &format!("proxy-0 {seq}"))
                .await
                .is_err(),
            "a connection through a cut relay must fail"
        );
    }
    assert_eq!(db.count(), 2, "nothing passed the cut: {:?}", db.records());
    assert!(relay.resets() >= 4, "resets: {}", relay.resets());

    relay.heal();
    tagged_round_trip(relay.addr(), "proxy-0 9").await.unwrap();
    assert_eq!(
        db.records().last().map(|r| r.tag.clone()),
        Some("proxy-0 9".into())
    );
    assert_eq!(relay.relayed(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_relay_in_front_of_etcd() {
    let etcd = Etcd::start().await;
    let relay = CutRelay::start(etcd.addr()).await;
    etcd::put(&relay.endpoint(), "/r/k", "v").await.unwrap();
    relay.cut().await;
    let err = etcd::get(&relay.endpoint(), "/r/k").await;
    assert!(err.is_err(), "a cut relay must not reach etcd: {err:?}");
    // etcd itself is fine; only this path is cut.
    assert!(etcd.healthy().await);
    relay.heal();
    assert_eq!(
        etcd::get(&relay.endpoint(), "/r/k")
            .await
            .unwrap()
            .as_deref(),
        Some("v")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_auth_on_a_plain_port_lets_the_user_in_and_no_one_else() {
    let etcd = Etcd::start().await;
    // Logs in as the user, reads its prefix with the token, and checks an
    // anonymous read is refused (the plain-port half of `enable_auth`).
    etcd.enable_auth("/t", "sb", "pw-fixture")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(etcd::put(&etcd.endpoint(), "/t/a", "1").await.is_err());
}
