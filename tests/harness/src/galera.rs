//! `GaleraCluster`: three real MariaDB Galera nodes on 127.0.0.1, each a
//! [`MariaDb`] with its own data directory, SQL port, gcomm port, IST port
//! and rsync SST port, so a test can hang, crash, desync or fence one node
//! and watch the others (and switchboard) react.
//!
//! Node 0 is bootstrapped (`--wsrep-new-cluster`), then nodes 1 and 2 join
//! one at a time by rsync SST; a start waits until each joiner is Synced
//! (`wsrep_local_state` 4) and the cluster has all three. Failure detection
//! is tuned down (suspect after 2 s, evict after 4 s) so a paused node
//! leaves the view within seconds. Dropping the cluster SIGKILLs every node
//! by pid. A failed start panics with every node's SST lines and log tail.
//!
//! It never bootstraps a node again after the start: a restarted node
//! rejoins the running ones, so restarting all three at once is not
//! supported.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::mariadb::START_TIMEOUT;
use super::mariadb_env::BINARIES;
use super::mariadb_sql::on_off;
use super::{free_port, MariaDb};

/// Where the galera-4 package installs the provider.
pub const PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";
/// The number of nodes.
pub const NODES: usize = 3;
/// `wsrep_local_state` of a node that is Synced.
pub const SYNCED: u32 = 4;

/// The loopback ports of one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePorts {
    /// MySQL protocol (`port`).
    pub sql: u16,
    /// Group communication (`gmcast.listen_addr`).
    pub gcomm: u16,
    /// Incremental state transfer (`ist.recv_addr`).
    pub ist: u16,
    /// rsync state snapshot transfer (`wsrep_sst_receive_address`).
    pub sst: u16,
}

/// The wsrep status values a router or a test looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsrepStatus {
    /// 1 Joining, 2 Donor/Desynced, 3 Joined, 4 Synced.
    pub local_state: u32,
    /// `Primary`, `non-Primary` or `Disconnected`.
    pub cluster_status: String,
    /// This node's index in the current view.
    pub local_index: u64,
    /// `wsrep_ready` = ON.
    pub ready: bool,
    /// Changes with every view.
    pub cluster_conf_id: u64,
    /// The cluster's state UUID.
    pub cluster_state_uuid: String,
    /// Members of the current view.
    pub cluster_size: u32,
}

impl WsrepStatus {
    /// Parses `SHOW GLOBAL STATUS LIKE 'wsrep%'`.
    fn parse(v: &HashMap<String, String>) -> Result<WsrepStatus, String> {
        let get = |k: &str| v.get(k).cloned().ok_or_else(|| format!("no {k} in status"));
        let num =
            |k: &str| -> Result<u64, String> { get(k)?.parse().map_err(|e| format!("{k}: {e}")) };
        Ok(WsrepStatus {
            local_state: num("wsrep_local_state")? as u32,
            cluster_status: get("wsrep_cluster_status")?,
            local_index: num("wsrep_local_index")?,
            ready: get("wsrep_ready")? == "ON",
            cluster_conf_id: num("wsrep_cluster_conf_id")?,
            cluster_state_uuid: get("wsrep_cluster_state_uuid")?,
            cluster_size: num("wsrep_cluster_size")? as u32,
        })
    }

    /// Synced in a primary component of `size` members.
    pub fn synced_in(&self, size: u32) -> bool {
        self.local_state == SYNCED
            && self.ready
            && self.cluster_status == "Primary"
            && self.cluster_size == size
    }
}

impl MariaDb {
    /// This node's wsrep status, or why there is none (down, paused).
    pub async fn wsrep(&self) -> Result<WsrepStatus, String> {
        WsrepStatus::parse(&self.status("wsrep%").await?)
    }

    /// `SET GLOBAL wsrep_desync = ON|OFF` (the node reports state 2).
    pub async fn desync(&self, on: bool) {
        self.exec(&format!("SET GLOBAL wsrep_desync = {}", on_off(on)))
            .await;
    }

    /// Polls [`MariaDb::wsrep`] until `cond` holds; panics after `timeout`
    /// with the last status seen. Returns that status.
    pub async fn wait_wsrep(
        &self,
        timeout: Duration,
        what: &str,
        cond: impl Fn(&WsrepStatus) -> bool,
    ) -> WsrepStatus {
        let started = Instant::now();
        loop {
            let seen = self.wsrep().await;
            if let Ok(s) = &seen {
                if cond(s) {
                    return s.clone();
                }
            }
            if started.elapsed() > timeout {
                panic!(
                    "{}",
                    self.failure(&format!(
                        "timed out after {timeout:?} waiting for {what}; last: {seen:?}"
                    ))
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Three Galera nodes, all killed on drop.
pub struct GaleraCluster {
    /// Node `i` is `nodes[i]`.
    nodes: Vec<MariaDb>,
    /// Their ports.
    ports: Vec<NodePorts>,
}

impl GaleraCluster {
    /// Bootstraps node 0, joins 1 and 2, creates the accounts of
    /// [`super::mariadb`]; retries with fresh ports when one was taken.
    pub async fn start() -> GaleraCluster {
        let _ = &*BINARIES;
        assert!(
            std::path::Path::new(PROVIDER).exists(),
            "{PROVIDER} is missing: run scripts/install-test-databases"
        );
        for attempt in 1..=3 {
            match GaleraCluster::try_start().await {
                Ok(cluster) => return cluster,
                Err((e, cluster))
                    if attempt < 3 && cluster.nodes.iter().any(|n| n.port_taken()) =>
                {
                    eprintln!("galera: a port was taken ({e}); retrying");
                }
                Err((e, cluster)) => panic!("{}", cluster.report(&e)),
            }
        }
        unreachable!("the last attempt panics instead of retrying")
    }

    /// One start attempt with fresh ports.
    async fn try_start() -> Result<GaleraCluster, (String, GaleraCluster)> {
        let ports = fresh_ports();
        let peers: Vec<String> = ports
            .iter()
            .map(|p| format!("127.0.0.1:{}", p.gcomm))
            .collect();
        let mut cluster = GaleraCluster {
            nodes: Vec::new(),
            ports: ports.clone(),
        };
        for (i, p) in ports.iter().enumerate() {
            let mut node =
                MariaDb::prepare(&format!("galera-{i}"), &format!("galera node {i}"), true);
            if i == 0 {
                // Joiners get their data by SST; only the first needs one.
                node.install().await;
            }
            node.write_cnf(p.sql, &node_cnf(i, p, &peers.join(",")));
            cluster.nodes.push(node);
        }
        for i in 0..NODES {
            let node = &mut cluster.nodes[i];
            node.spawn(if i == 0 {
                &["--wsrep-new-cluster"]
            } else {
                &[]
            });
            if let Err(e) = node.wait_ready().await {
                return Err((format!("node {i}: {e}"), cluster));
            }
            if i == 0 {
                node.create_accounts().await;
            }
            let want = i as u32 + 1;
            let first = &cluster.nodes[0];
            let ok = super::poll_until(START_TIMEOUT, || async move {
                matches!(first.wsrep().await, Ok(s) if s.synced_in(want))
            })
            .await;
            if !ok {
                return Err((format!("the cluster never reached size {want}"), cluster));
            }
        }
        Ok(cluster)
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &MariaDb {
        &self.nodes[i]
    }

    /// Node `i`, to pause, kill, stop or restart it.
    pub fn node_mut(&mut self, i: usize) -> &mut MariaDb {
        &mut self.nodes[i]
    }

    /// All nodes, in index order.
    pub fn nodes(&self) -> &[MariaDb] {
        &self.nodes
    }

    /// Node `i`'s ports.
    pub fn ports(&self, i: usize) -> NodePorts {
        self.ports[i]
    }

    /// A failure message: `what`, each node's SST and error lines, and the
    /// tail of each node's error log.
    fn report(&self, what: &str) -> String {
        let mut out = format!("galera cluster start failed: {what}\n");
        for node in &self.nodes {
            let log = node.error_log();
            let sst: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WSREP_SST") || l.contains("[ERROR]") || l.contains("rsync"))
                .collect();
            out.push_str(&format!(
                "=== {} SST/error lines ===\n{}\n",
                node.name,
                sst[sst.len().saturating_sub(40)..].join("\n")
            ));
            out.push_str(&node.failure("log tail"));
            out.push('\n');
        }
        out
    }
}

/// Fresh, pairwise distinct ports for every node.
fn fresh_ports() -> Vec<NodePorts> {
    let mut seen = HashSet::new();
    let mut next = || loop {
        let p = free_port();
        if seen.insert(p) {
            return p;
        }
    };
    (0..NODES)
        .map(|_| NodePorts {
            sql: next(),
            gcomm: next(),
            ist: next(),
            sst: next(),
        })
        .collect()
}

/// The Galera lines of node `i`'s `my.cnf`.
fn node_cnf(i: usize, p: &NodePorts, peers: &str) -> String {
    let provider_options = [
        format!("gmcast.listen_addr=tcp://127.0.0.1:{}", p.gcomm),
        format!("ist.recv_addr=127.0.0.1:{}", p.ist),
        "gcache.size=8M".into(),
        "gcache.page_size=8M".into(),
        // Notice a hung peer in seconds, not the default 15 s.
        "evs.keepalive_period=PT0.5S".into(),
        "evs.inactive_check_period=PT0.5S".into(),
        "evs.suspect_timeout=PT2S".into(),
        "evs.inactive_timeout=PT4S".into(),
        "evs.install_timeout=PT3S".into(),
    ]
    .join(";");
    format!(
        "binlog_format=ROW\ninnodb_autoinc_lock_mode=2\n\
         wsrep_on=ON\nwsrep_provider={PROVIDER}\nwsrep_cluster_name=switchboard-test\n\
         wsrep_cluster_address=gcomm://{peers}\nwsrep_node_address=127.0.0.1\n\
         wsrep_node_name=node{i}\nwsrep_sst_method=rsync\n\
         wsrep_sst_receive_address=127.0.0.1:{sst}\n\
         wsrep_provider_options=\"{provider_options}\"\n",
        sst = p.sst
    )
}
