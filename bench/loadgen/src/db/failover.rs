//! The failover trials: a fault on the node switchboard routes to (its
//! health fails, it is SIGKILLed, or it is SIGSTOPped), measured by the
//! writer (`writer.rs`) as a client sees it: the time from the fault to the
//! first session on another node and to the first committed write there,
//! the client's errors, and every acknowledged row read back from a node
//! that was not faulted (lost rows must be 0).
//!
//! Each trial starts from a cluster of three Synced nodes and writes that
//! go to one node without errors, and ends by undoing its fault (desync
//! off, a restart, SIGCONT) and waiting until all three are Synced again.
//! Every wait has a deadline; only the fixture's own nodes are signalled
//! (through `switchboard_harness::MariaDb`, by their pids).

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use switchboard_harness::galera::NODES;
use switchboard_harness::GaleraCluster;

use super::router::Router;
use super::writer::{Log, Writer, TABLE};

/// How long the cluster may take to have three Synced nodes again.
const RESYNC_TIMEOUT: Duration = Duration::from_secs(120);
/// How long writes may take to settle on one node before a fault.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long writes may take to resume on another node after a fault.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the writer keeps writing on the new node before it stops.
const AFTER_FAILOVER: Duration = Duration::from_secs(1);
/// The writer's own time limit (settle + failover + after, with room).
const WRITER_LIMIT: Duration = Duration::from_secs(180);

/// What happens to the active node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// `SET GLOBAL wsrep_desync = ON`: it still serves, its check fails.
    Health,
    /// SIGKILL: its sockets close at once.
    Kill,
    /// SIGSTOP: its sockets stay open and nothing answers; SIGCONT after the failover.
    Pause,
}

impl Fault {
    /// In the order they run.
    pub(crate) const ALL: [Fault; 3] = [Fault::Health, Fault::Kill, Fault::Pause];

    /// `health`, `kill`, `pause`.
    pub(crate) fn parse(id: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.id() == id)
    }

    /// Its id on the command line.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Fault::Health => "health",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
        }
    }

    /// Its description in the report.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Fault::Health => "health fails (`SET GLOBAL wsrep_desync = ON`)",
            Fault::Kill => "node killed (SIGKILL)",
            Fault::Pause => "node paused (SIGSTOP, SIGCONT after the failover)",
        }
    }
}

/// One trial's figures.
pub(crate) struct Trial {
    /// The fault.
    pub(crate) fault: Fault,
    /// 1-based, per fault.
    pub(crate) n: usize,
    /// The node that was faulted.
    pub(crate) old: usize,
    /// The node writes resumed on.
    pub(crate) new: Option<usize>,
    /// Fault → first session on another node, ms.
    pub(crate) first_session_ms: Option<f64>,
    /// Fault → first committed write on another node, ms.
    pub(crate) first_commit_ms: Option<f64>,
    /// Failed statements after the fault.
    pub(crate) statement_errors: usize,
    /// Failed connects after the fault.
    pub(crate) connect_errors: usize,
    /// The distinct error messages after the fault (at most a few).
    pub(crate) messages: Vec<String>,
    /// Rows acknowledged in the trial.
    pub(crate) acked: usize,
    /// Acknowledged rows missing on the surviving node.
    pub(crate) lost: usize,
    /// Rows that exist although their `INSERT` failed or was abandoned.
    pub(crate) unacked_committed: usize,
    /// Whether all three nodes hold the same rows after the resync.
    pub(crate) consistent: bool,
    /// The node the rows were read back from.
    pub(crate) verified_on: usize,
}

impl fmt::Display for Trial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.0} ms"));
        write!(
            f,
            "{} #{}: node{} → {}: session {}, commit {}, {} statement + {} connect errors, {} acked, {} lost, {} unacked but committed{}",
            self.fault.id(),
            self.n,
            self.old,
            self.new.map_or("none".into(), |n| format!("node{n}")),
            ms(self.first_session_ms),
            ms(self.first_commit_ms),
            self.statement_errors,
            self.connect_errors,
            self.acked,
            self.lost,
            self.unacked_committed,
            if self.consistent { "" } else { ", NODES DIFFER" }
        )
    }
}

/// Creates the writer's table (once, before the first trial).
pub(crate) async fn create_table(cluster: &GaleraCluster) -> Result<(), String> {
    cluster
        .node(0)
        .try_query(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (trial INT NOT NULL, seq BIGINT NOT NULL, \
             node VARCHAR(32) NOT NULL, PRIMARY KEY (trial, seq)) ENGINE=InnoDB"
        ))
        .await
        .map(|_| ())
}

/// One trial of `fault`.
pub(crate) async fn run_trial(
    cluster: &mut GaleraCluster,
    router: &Router,
    fault: Fault,
    n: usize,
) -> Result<Trial, String> {
    wait_synced(cluster, RESYNC_TIMEOUT).await?;
    let id = trial_id(fault, n);
    let writer = Writer::start(router.addr, id, WRITER_LIMIT);
    let old = match settle(&writer).await {
        Ok(node) => node,
        Err(e) => {
            writer.stop().await;
            return Err(format!("{} #{n}: {e}", fault.id()));
        }
    };
    let t0 = Instant::now();
    match fault {
        Fault::Health => cluster.node(old).desync(true).await,
        Fault::Kill => cluster.node_mut(old).kill(),
        Fault::Pause => cluster.node(old).pause(),
    }
    let resumed = wait_for(FAILOVER_TIMEOUT, || {
        writer.log().acks.iter().any(|a| a.at > t0 && a.node != old)
    })
    .await;
    if resumed {
        tokio::time::sleep(AFTER_FAILOVER).await;
    }
    let log = writer.stop().await;
    match fault {
        Fault::Health => cluster.node(old).desync(false).await,
        Fault::Kill => cluster.node_mut(old).restart().await,
        Fault::Pause => cluster.node(old).resume(),
    }
    if let Err(e) = wait_synced(cluster, RESYNC_TIMEOUT).await {
        if fault != Fault::Pause {
            return Err(e);
        }
        // A resumed node that does not rejoin by itself gets a restart.
        eprintln!("   node{old} did not rejoin after SIGCONT ({e}); restarting it");
        cluster.node_mut(old).restart().await;
        wait_synced(cluster, RESYNC_TIMEOUT).await?;
    }
    let mut trial = figures(fault, n, old, t0, &log);
    verify(cluster, id, &log, &mut trial).await?;
    Ok(trial)
}

/// A trial's id in the table: unique per fault and trial.
fn trial_id(fault: Fault, n: usize) -> u32 {
    let base = match fault {
        Fault::Health => 100,
        Fault::Kill => 200,
        Fault::Pause => 300,
    };
    base + n as u32
}

/// Waits until the writer has written at least 50 rows, the last second of
/// them all on one node and without an error; returns that node.
async fn settle(writer: &Writer) -> Result<usize, String> {
    let quiet = Duration::from_secs(1);
    let started = Instant::now();
    loop {
        {
            let log = writer.log();
            let now = Instant::now();
            let recent: Vec<usize> = log
                .acks
                .iter()
                .rev()
                .take_while(|a| now - a.at < quiet)
                .map(|a| a.node)
                .collect();
            let calm = log.last_error().is_none_or(|t| now - t > quiet);
            let one_node = recent.windows(2).all(|w| w[0] == w[1]);
            let covers = log.acks.first().is_some_and(|a| now - a.at > quiet);
            if log.acks.len() >= 50 && calm && one_node && covers && !recent.is_empty() {
                return Ok(recent[0]);
            }
        }
        if started.elapsed() > SETTLE_TIMEOUT {
            let log = writer.log();
            return Err(format!(
                "writes did not settle on one node within {SETTLE_TIMEOUT:?} ({} acked, last error: {:?})",
                log.acks.len(),
                log.statement_errors.last().or(log.connect_errors.last()).map(|e| &e.1)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `cond` every 2 ms until it holds or `limit` passes.
async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    cond()
}

/// Waits until every node is Synced in a primary component of all three.
async fn wait_synced(cluster: &GaleraCluster, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let mut last = String::new();
        let mut all = true;
        for (i, node) in cluster.nodes().iter().enumerate() {
            match node.wsrep().await {
                Ok(s) if s.synced_in(NODES as u32) => {}
                Ok(s) => {
                    all = false;
                    last = format!(
                        "node{i}: state {} size {} {}",
                        s.local_state, s.cluster_size, s.cluster_status
                    );
                }
                Err(e) => {
                    all = false;
                    last = format!("node{i}: {e}");
                }
            }
        }
        if all {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(format!(
                "the cluster was not three Synced nodes within {limit:?}: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The timing and error figures of a trial's log.
fn figures(fault: Fault, n: usize, old: usize, t0: Instant, log: &Log) -> Trial {
    let ms = |t: Instant| (t - t0).as_secs_f64() * 1000.0;
    let first_commit = log.acks.iter().find(|a| a.at > t0 && a.node != old);
    let first_session = log.sessions.iter().find(|s| s.0 > t0 && s.1 != old);
    let after = |v: &[(Instant, String)]| v.iter().filter(|e| e.0 > t0).count();
    let mut messages: Vec<String> = Vec::new();
    for (_, m) in log
        .statement_errors
        .iter()
        .chain(log.connect_errors.iter())
        .filter(|e| e.0 > t0)
    {
        if !messages.contains(m) && messages.len() < 4 {
            messages.push(m.clone());
        }
    }
    Trial {
        fault,
        n,
        old,
        new: first_commit.map(|a| a.node),
        first_session_ms: first_session.map(|s| ms(s.0)),
        first_commit_ms: first_commit.map(|a| ms(a.at)),
        statement_errors: after(&log.statement_errors),
        connect_errors: after(&log.connect_errors),
        messages,
        acked: log.acks.len(),
        lost: 0,
        unacked_committed: 0,
        consistent: false,
        verified_on: 0,
    }
}

/// Reads the trial's rows back from a node that was not faulted (the new
/// active), counts the acknowledged ones that are missing, and compares
/// all three nodes.
async fn verify(
    cluster: &GaleraCluster,
    id: u32,
    log: &Log,
    trial: &mut Trial,
) -> Result<(), String> {
    let survivor = trial.new.unwrap_or((trial.old + 1) % NODES);
    let sql = format!("SELECT seq FROM {TABLE} WHERE trial = {id} ORDER BY seq");
    let read = |i: usize| {
        let sql = sql.clone();
        async move {
            let rows = cluster.node(i).try_query(&sql).await?;
            Ok::<HashSet<u64>, String>(
                rows.into_iter()
                    .filter_map(|r| r.into_iter().next().flatten()?.parse().ok())
                    .collect(),
            )
        }
    };
    let present = read(survivor).await?;
    let acked: HashSet<u64> = log.acks.iter().map(|a| a.seq).collect();
    trial.verified_on = survivor;
    trial.lost = acked.difference(&present).count();
    trial.unacked_committed = present.difference(&acked).count();
    let mut consistent = true;
    for i in (0..NODES).filter(|i| *i != survivor) {
        consistent &= read(i).await? == present;
    }
    trial.consistent = consistent;
    Ok(())
}
