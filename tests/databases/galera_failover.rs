//! Galera failover end to end, through the real router with real MySQL
//! clients (docs/configuration.md, "The mysql check" and
//! `monitor.failback_after`): a writer inserts one row per transaction
//! through the proxy port while the active node is stopped, killed, paused
//! and resumed, desynced and made read-only, one fault at a time on one
//! cluster. For each: the active moves within interval + timeout + a
//! margin, the faulted node's sessions are severed, writes succeed again on
//! another node, and no acknowledged row is lost. A resumed node gets no
//! traffic until it has rejoined (Synced, same `wsrep_cluster_conf_id`). A
//! second switchboard with `galera` checks on galera-healthcheck-like
//! sidecars elects the same node as the `mysql` one before and after every
//! fault. The figures are printed (`--no-capture`).

mod rig;
mod writer;

use std::time::{Duration, Instant};

use switchboard_harness::mysql_async::prelude::Queryable;
use switchboard_harness::mysql_async::Conn;
use switchboard_harness::{backend, ms, sessions, skip_db_tests, wait_for, Switchboard};

use rig::{name, node_of, wait_moved, Rig, FAILBACK_AFTER_MS, INTERVAL_MS, TIMEOUT_MS};
use writer::{app_opts, by_kind, read_back, ClientError};

/// On top of interval + timeout: the probe's own latency and the state
/// poll on two busy cores.
const MARGIN: Duration = Duration::from_millis(1_300);
/// How long writes may take to succeed again after a fault (a paused
/// member stalls the survivors' commits until it is evicted).
const RECOVERY: Duration = Duration::from_secs(30);
/// How long a sever may take to show.
const SEVER: Duration = Duration::from_secs(3);
/// How many error messages of a fault are printed.
const FIRST_ERRORS: usize = 3;

/// The faults, in the order they are injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGTERM: a clean shutdown; repaired by a restart.
    Stop,
    /// SIGKILL: a crash; repaired by a restart.
    Kill,
    /// SIGSTOP until the others evict it, then SIGCONT: it rejoins.
    Pause,
    /// `SET GLOBAL wsrep_desync = ON`, then OFF.
    Desync,
    /// `SET GLOBAL read_only = ON`, then OFF.
    ReadOnly,
}

/// What one fault showed.
struct Figures {
    fault: Fault,
    /// The faulted node and the node the writes went to.
    from: usize,
    to: usize,
    /// Fault to the `mysql` / `galera` switchboard's active moving.
    moved: (Duration, Duration),
    /// Fault to the first committed write on `to`.
    first_write: Duration,
    /// Errors between the fault and that write.
    errors: Vec<ClientError>,
    /// Acknowledged rows `to` does not have.
    lost: usize,
    /// Pause only: resume to rejoined.
    rejoin: Option<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_faults_of_the_active_lose_no_acknowledged_row() {
    if skip_db_tests("five_faults_of_the_active_lose_no_acknowledged_row") {
        return;
    }
    let started = Instant::now();
    let mut rig = Rig::start().await;
    let mut figures = Vec::new();
    for fault in [
        Fault::Stop,
        Fault::Kill,
        Fault::Pause,
        Fault::Desync,
        Fault::ReadOnly,
    ] {
        figures.push(inject(&mut rig, fault).await);
    }
    rig.settle().await;
    let acked = rig.writer.acked();
    let errors = rig.writer.errors_between(started, Instant::now());
    let Rig {
        cluster, writer, ..
    } = rig;
    writer.stop().await;
    for (i, node) in cluster.nodes().iter().enumerate() {
        let back = read_back(node, &acked).await;
        eprintln!(
            "galera_failover: node-{i} holds {} rows; {} acknowledged, {} missing",
            back.rows,
            acked.len(),
            back.missing.len()
        );
        assert!(back.missing.is_empty(), "node-{i} lost {:?}", back.missing);
        assert!(
            back.wrong_port.is_empty(),
            "node-{i}: {:?}",
            back.wrong_port
        );
    }
    report(&figures, acked.len(), errors.len(), started.elapsed());
}

/// Injects `fault` into the settled active, checks everything, repairs.
async fn inject(rig: &mut Rig, fault: Fault) -> Figures {
    let a = rig.settle().await;
    let Rig {
        cluster,
        sb,
        sbg,
        writer,
        ports,
        ..
    } = rig;
    let (a_name, a_port) = (name(a), ports[a]);
    let mut idle = idle_session(sb, a_port).await;
    let t0 = Instant::now();
    // Set once the fault is in effect (for Pause: SIGSTOP delivered).
    let applied = std::sync::OnceLock::new();
    let budget = Duration::from_millis(INTERVAL_MS + TIMEOUT_MS) + MARGIN;
    let apply = async {
        match fault {
            Fault::Stop => cluster.node_mut(a).stop().await,
            Fault::Kill => cluster.node_mut(a).kill(),
            Fault::Pause => cluster.node(a).pause(),
            Fault::Desync => cluster.node(a).desync(true).await,
            Fault::ReadOnly => cluster.node(a).set_read_only(true).await,
        }
        let _ = applied.set(Instant::now());
    };
    let moved = async {
        tokio::join!(
            wait_moved(sb, &a_name, t0, RECOVERY),
            wait_moved(sbg, &a_name, t0, RECOVERY)
        )
    };
    let ((), ((moved_m, _), (moved_g, _))) = tokio::join!(apply, moved);
    assert!(
        moved_m <= budget,
        "{fault:?}: the mysql-check switchboard left {a_name} after {moved_m:?} (budget {budget:?})"
    );
    assert!(
        moved_g <= budget,
        "{fault:?}: the galera-check switchboard left {a_name} after {moved_g:?} (budget {budget:?})"
    );

    let what = format!("{fault:?}: writes succeed on a node other than {a_name}");
    let commit = writer
        .wait_commit(t0, RECOVERY, &what, |p| p != a_port)
        .await;
    let b = node_of(ports, commit.port);
    let errors = writer.errors_between(t0, commit.at);

    // Both kinds of check agree on the new active.
    let agreed = wait_for(RECOVERY, "both switchboards agree", || async {
        let m = sb.try_state().await?["active"].as_str()?.to_string();
        let g = sbg.try_state().await?["active"].as_str()?.to_string();
        (m == g && m != a_name).then_some(m)
    })
    .await;

    // The faulted node's sessions are severed: the idle one sees an error.
    sb.wait_state(SEVER, &format!("no session on {a_name}"), |s| {
        sessions(s, &a_name) == 0
    })
    .await;
    match tokio::time::timeout(SEVER, idle.query_drop("SELECT 1")).await {
        Ok(Err(e)) => eprintln!("galera_failover: {fault:?}: idle session on {a_name}: {e}"),
        Ok(Ok(())) => panic!("{fault:?}: an idle session on {a_name} survived the failover"),
        Err(_) => panic!("{fault:?}: an idle session on {a_name} hung instead of closing"),
    }
    drop(idle);

    let back = read_back(cluster.node(b), &writer.acked()).await;
    assert!(
        back.wrong_port.is_empty(),
        "{fault:?}: {:?}",
        back.wrong_port
    );
    let rejoin = match fault {
        Fault::Stop | Fault::Kill => {
            cluster.node_mut(a).restart().await;
            None
        }
        Fault::Pause => {
            let paused = *applied.get().expect("the fault was applied");
            Some(resume_and_watch(rig, a, b, paused).await)
        }
        Fault::Desync => {
            cluster.node(a).desync(false).await;
            None
        }
        Fault::ReadOnly => {
            cluster.node(a).set_read_only(false).await;
            None
        }
    };
    let f = Figures {
        fault,
        from: a,
        to: b,
        moved: (moved_m, moved_g),
        first_write: commit.at - t0,
        errors,
        lost: back.missing.len(),
        rejoin,
    };
    eprintln!(
        "galera_failover: {fault:?} of node-{a}: active {agreed} (both checks), writes on node-{b}; \
         moved after {} (mysql) / {} (galera); first committed write after {}; \
         client errors {:?}, first: {:?}; rows lost {}{}",
        ms(f.moved.0),
        ms(f.moved.1),
        ms(f.first_write),
        by_kind(&f.errors),
        first_messages(&f.errors),
        f.lost,
        rejoin.map_or(String::new(), |d| format!("; rejoined {} after resume", ms(d))),
    );
    assert_eq!(
        f.lost, 0,
        "{fault:?}: acknowledged rows lost: {:?}",
        back.missing
    );
    f
}

/// An idle app session through the proxy, checked to be on `port`.
async fn idle_session(sb: &Switchboard, port: u16) -> Conn {
    let connect = tokio::time::timeout(SEVER, Conn::new(app_opts(sb.proxy))).await;
    let mut conn = connect
        .expect("an idle session connects in time")
        .expect("an idle session logs in through the proxy");
    let on: Option<u16> = conn.query_first("SELECT @@port").await.expect("@@port");
    assert_eq!(on, Some(port), "the idle session is not on the active");
    conn
}

/// Pause's repair: waits for the eviction, resumes node `a` and, until it
/// has rejoined (Synced in a view of three with `b`'s conf id), asserts
/// that the router never makes it active and no write lands on it.
/// Returns resume to rejoin. `paused` is when SIGSTOP had been delivered:
/// an INSERT sent before it may still be acknowledged by `a` (it took the
/// INSERT before it stopped); one sent after it must never be.
async fn resume_and_watch(rig: &Rig, a: usize, b: usize, paused: Instant) -> Duration {
    let (cluster, sb) = (&rig.cluster, &rig.sb);
    let a_name = name(a);
    cluster
        .node(b)
        .wait_wsrep(rig::VIEW_CHANGE, "the paused node evicted", |s| {
            s.synced_in(2)
        })
        .await;
    cluster.node(a).resume();
    let resumed = Instant::now();
    let mut reasons: Vec<String> = Vec::new();
    let mut last_behind = resumed;
    for round in 0u64.. {
        // The router first, the node after: a node that is behind now was
        // behind when the router answered.
        let state = sb.state().await;
        let active = state["active"].as_str().map(str::to_string);
        let reason = backend(&state, &a_name)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reasons.last() != Some(&reason) {
            reasons.push(reason);
        }
        let seen_a = tokio::time::timeout(SEVER, cluster.node(a).wsrep()).await;
        let seen_b = cluster.node(b).wsrep().await;
        let rejoined = match (&seen_a, &seen_b) {
            (Ok(Ok(x)), Ok(y)) => {
                x.synced_in(3)
                    && y.synced_in(3)
                    && x.cluster_conf_id == y.cluster_conf_id
                    && x.cluster_state_uuid == y.cluster_state_uuid
            }
            _ => false,
        };
        if rejoined {
            break;
        }
        assert_ne!(
            active.as_deref(),
            Some(a_name.as_str()),
            "{a_name} got the active role back before it rejoined: {seen_a:?}; reasons {reasons:?}"
        );
        last_behind = Instant::now();
        assert!(
            resumed.elapsed() < rig::VIEW_CHANGE && round < 100_000,
            "{a_name} did not rejoin within {:?}; reasons {reasons:?}",
            rig::VIEW_CHANGE
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rejoin = resumed.elapsed();
    let early: Vec<u64> = rig
        .writer
        .acked()
        .iter()
        .filter(|c| c.sent > paused && c.at <= last_behind && c.port == rig.ports[a])
        .map(|c| c.seq)
        .collect();
    assert!(
        early.is_empty(),
        "writes landed on {a_name} before it rejoined: {early:?}"
    );
    eprintln!("galera_failover: {a_name} after resume, as the router saw it: {reasons:?}");
    rejoin
}

/// The first few error messages, for the report.
fn first_messages(errors: &[ClientError]) -> Vec<String> {
    errors
        .iter()
        .take(FIRST_ERRORS)
        .map(|e| format!("{}: {}", e.kind, e.message))
        .collect()
}

/// Prints the table of figures.
fn report(figures: &[Figures], acked: usize, errors: usize, wall: Duration) {
    eprintln!(
        "galera_failover figures (interval {INTERVAL_MS} ms, timeout {TIMEOUT_MS} ms, \
         failback_after {FAILBACK_AFTER_MS} ms, rise = fall = 1):"
    );
    eprintln!("| fault | node | moved (mysql / galera) | first committed write on the new node | client errors | rows lost |");
    eprintln!("|---|---|---|---|---|---|");
    for f in figures {
        eprintln!(
            "| {:?}{} | node-{} -> node-{} | {} / {} | {} | {} {:?} | {} |",
            f.fault,
            f.rejoin.map_or(String::new(), |d| format!(
                " (rejoined {} after resume)",
                ms(d)
            )),
            f.from,
            f.to,
            ms(f.moved.0),
            ms(f.moved.1),
            ms(f.first_write),
            f.errors.len(),
            by_kind(&f.errors),
            f.lost
        );
    }
    eprintln!(
        "galera_failover: {acked} rows acknowledged, {errors} client errors in all \
         (repairs and failbacks included), wall time {}",
        ms(wall)
    );
}
