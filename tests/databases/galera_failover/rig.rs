//! The failover suite's rig: one Galera cluster, a galera-healthcheck-like
//! sidecar per node, two switchboards in front of the same three nodes
//! (one with `mysql` checks that carries the writer's traffic, one with
//! `galera` checks on the sidecars that only elects), and the waits the
//! suite needs: a settled cluster and router, a moved active.
//!
//! It starts and owns processes (killed on drop through their own guards);
//! it never injects a fault itself.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_harness::mariadb::{MONITOR_PASSWORD, MONITOR_USER};
use switchboard_harness::{wait_for, Builder, GaleraCluster, GaleraSidecar, Switchboard};

use super::writer::{self, Writer};

/// `[monitor] interval` of both switchboards.
pub(crate) const INTERVAL_MS: u64 = 200;
/// `[monitor] timeout` of both switchboards.
pub(crate) const TIMEOUT_MS: u64 = 500;
/// `[monitor] failback_after`: a repaired node takes the writes back only
/// after this long healthy (docs/configuration.md recommends it for Galera).
pub(crate) const FAILBACK_AFTER_MS: u64 = 3_000;
/// How long the cluster may take to have three Synced nodes in one view
/// again (a restart with IST or SST, a rejoin after eviction).
pub(crate) const VIEW_CHANGE: Duration = Duration::from_secs(60);
/// How long both routers may take to settle (a failback waits
/// [`FAILBACK_AFTER_MS`]).
const SETTLE: Duration = Duration::from_secs(30);

/// Everything one run of the suite talks to.
pub(crate) struct Rig {
    /// The three nodes, started once for the whole suite.
    pub(crate) cluster: GaleraCluster,
    /// `mysql` checks; the writer goes through its proxy port.
    pub(crate) sb: Switchboard,
    /// `galera` checks on the sidecars; elects only.
    pub(crate) sbg: Switchboard,
    /// Writes through `sb` from the start to the end of the suite.
    pub(crate) writer: Writer,
    /// Node `i`'s SQL port, which `@@port` reports.
    pub(crate) ports: Vec<u16>,
    /// Kept alive for `sbg`'s checks.
    pub(crate) _sidecars: Vec<GaleraSidecar>,
}

/// The backend name of node `i`.
pub(crate) fn name(i: usize) -> String {
    format!("node-{i}")
}

/// The node whose SQL port is `port`.
pub(crate) fn node_of(ports: &[u16], port: u16) -> usize {
    ports
        .iter()
        .position(|&p| p == port)
        .unwrap_or_else(|| panic!("port {port} is no node's ({ports:?})"))
}

/// Both switchboards' common knobs.
fn builder() -> Builder {
    Builder::new()
        .interval(INTERVAL_MS, TIMEOUT_MS)
        .failback_after(FAILBACK_AFTER_MS)
}

impl Rig {
    /// Starts the cluster, the table, the sidecars, both switchboards and
    /// the writer.
    pub(crate) async fn start() -> Rig {
        let started = Instant::now();
        let cluster = GaleraCluster::start().await;
        eprintln!("galera_failover: cluster up after {:?}", started.elapsed());
        writer::create_table(cluster.node(0)).await;
        let mut sidecars = Vec::new();
        for node in cluster.nodes() {
            sidecars.push(GaleraSidecar::start(node).await);
        }
        let check = format!(
            "kind = \"mysql\", user = \"{MONITOR_USER}\", password = \"{MONITOR_PASSWORD}\""
        );
        let (mut mysql, mut galera) = (builder(), builder());
        for (i, node) in cluster.nodes().iter().enumerate() {
            mysql = mysql.backend_with_check(&name(i), node.addr(), &check);
            galera = galera.backend_at(&name(i), node.addr(), &sidecars[i].url());
        }
        let (sb, sbg) = tokio::join!(mysql.start(), galera.start());
        let ports = cluster.nodes().iter().map(|n| n.port()).collect();
        let writer = Writer::start(sb.proxy);
        Rig {
            cluster,
            sb,
            sbg,
            writer,
            ports,
            _sidecars: sidecars,
        }
    }

    /// Waits until the cluster has three Synced nodes in one view, both
    /// switchboards hold every node healthy and have elected the same,
    /// lowest-index node (no failback pending), and the writer commits on
    /// it. Returns that node.
    pub(crate) async fn settle(&self) -> usize {
        let cluster = &self.cluster;
        wait_for(
            VIEW_CHANGE,
            "three Synced nodes in one view",
            || async move {
                let mut conf = None;
                for node in cluster.nodes() {
                    let s = node.wsrep().await.ok()?;
                    if !s.synced_in(3) || conf.is_some_and(|c| c != s.cluster_conf_id) {
                        return None;
                    }
                    conf = Some(s.cluster_conf_id);
                }
                Some(())
            },
        )
        .await;
        let (sb, sbg) = (&self.sb, &self.sbg);
        let what = "both switchboards settled on the same lowest-index node";
        let active = wait_for(SETTLE, what, || async move {
            let m = settled_active(&sb.try_state().await?)?;
            let g = settled_active(&sbg.try_state().await?)?;
            (m == g).then_some(m)
        })
        .await;
        let node = (0..self.ports.len())
            .find(|&i| name(i) == active)
            .unwrap_or_else(|| panic!("unknown active {active}"));
        let port = self.ports[node];
        let what = format!("the writer commits on the settled active {active}");
        self.writer
            .wait_commit(Instant::now(), SETTLE, &what, |p| p == port)
            .await;
        node
    }
}

/// The active of a settled state: every backend healthy with distinct
/// indices and the active the lowest `(index, position)`; else `None`.
fn settled_active(state: &Value) -> Option<String> {
    let backends = state["backends"].as_array()?;
    let mut ranked = Vec::new();
    for (pos, b) in backends.iter().enumerate() {
        if b["healthy"] != true {
            return None;
        }
        ranked.push((b["index"].as_u64()?, pos, b["name"].as_str()?));
    }
    ranked.sort();
    if ranked.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    let first = ranked.first()?.2;
    (state["active"].as_str() == Some(first)).then(|| first.to_string())
}

/// Waits until `sb`'s active is a backend other than `from`; returns the
/// time since `t0` and the new active.
pub(crate) async fn wait_moved(
    sb: &Switchboard,
    from: &str,
    t0: Instant,
    timeout: Duration,
) -> (Duration, String) {
    let what = format!("the active moves off {from}");
    wait_for(timeout, &what, || async move {
        let state = sb.try_state().await?;
        let active = state["active"].as_str()?;
        (active != from).then(|| (t0.elapsed(), active.to_string()))
    })
    .await
}
