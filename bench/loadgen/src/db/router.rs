//! switchboard in front of the cluster: its native TOML (one backend per
//! node, `mysql` checks every 200 ms with a 500 ms timeout), its start and
//! readiness, its CPU time (`/proc/PID/stat` utime + stime), and which node
//! a session through any address lands on (`SELECT @@wsrep_node_name`).
//!
//! It never signals anything but the switchboard it started (by its PID,
//! through `procs::Child`), and only uses 127.0.0.1.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use switchboard_harness::mariadb::{
    APP_DATABASE, APP_PASSWORD, APP_USER, MONITOR_PASSWORD, MONITOR_USER,
};
use switchboard_harness::{free_port, GaleraCluster};

use crate::procs::Child;

/// The check interval the benchmark asks for.
pub(crate) const INTERVAL: &str = "200ms";
/// The check timeout.
pub(crate) const TIMEOUT: &str = "500ms";
/// How long switchboard may take to open its port and route a session.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one connect (and its first query) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The running switchboard.
pub(crate) struct Router {
    /// Stopped (SIGTERM, then SIGKILL) by its PID on drop.
    child: Child,
    /// Its proxy port.
    pub(crate) addr: SocketAddr,
    /// The configuration it runs with, for the report.
    pub(crate) config: String,
    /// How it was started, for the report.
    pub(crate) command: String,
    /// The length of its log (appended to) before this start.
    log_start: usize,
}

impl Router {
    /// Writes the config into `scratch`, starts `bin` and waits until a
    /// session through it reaches a node.
    pub(crate) async fn start(
        bin: &Path,
        cluster: &GaleraCluster,
        scratch: &Path,
    ) -> Result<Router, String> {
        let listen = free_port();
        let api = loop {
            let p = free_port();
            if p != listen {
                break p;
            }
        };
        let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
        let config = config(listen, api, &ports);
        let path = scratch.join("switchboard.toml");
        std::fs::write(&path, &config).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["--log-level", "warn", "run", "--config"])
            .arg(&path);
        die_with_parent(&mut cmd);
        let log_start =
            std::fs::metadata(scratch.join("switchboard.log")).map_or(0, |m| m.len() as usize);
        let child = Child::spawn("switchboard", cmd, &scratch.join("switchboard.log"))?;
        let mut router = Router {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], listen)),
            config,
            command: format!(
                "{} --log-level warn run --config {}",
                bin.display(),
                path.display()
            ),
            log_start,
        };
        let started = Instant::now();
        loop {
            router.check_alive()?;
            if node_behind(router.addr).await.is_ok() {
                return Ok(router);
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "switchboard routed no session within {READY_TIMEOUT:?} (see {})",
                    scratch.join("switchboard.log").display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its PID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// How many probes switchboard logged as timed out so far (its log
    /// in `scratch`, this run's part only).
    pub(crate) fn probe_timeouts(&self, scratch: &Path) -> usize {
        let log = std::fs::read_to_string(scratch.join("switchboard.log")).unwrap_or_default();
        log.get(self.log_start..)
            .unwrap_or("")
            .lines()
            .filter(|l| l.contains("probe failed") && l.contains("reason=timeout"))
            .count()
    }

    /// Fails when switchboard ended on its own.
    pub(crate) fn check_alive(&mut self) -> Result<(), String> {
        match self.child.exited() {
            Some(status) => Err(format!("switchboard exited: {status}")),
            None => Ok(()),
        }
    }
}

/// switchboard's configuration (docs/configuration.md): the three nodes in
/// index order, each with a `mysql` check as the fixture's monitor account.
pub(crate) fn config(listen: u16, api: u16, nodes: &[u16]) -> String {
    let mut out = format!(
        "# Written by loadgen db (bench/loadgen/src/db/router.rs).\n\
         [proxy]\nlisten = \"127.0.0.1:{listen}\"\nconnect_timeout = \"2s\"\n\n\
         [monitor]\ninterval = \"{INTERVAL}\"\ntimeout = \"{TIMEOUT}\"\n\n\
         [api]\nlisten = \"127.0.0.1:{api}\"\nusername = \"{}\"\npassword = \"{}\"\n",
        crate::systems::API_USER,
        crate::systems::API_PASSWORD
    );
    for (i, port) in nodes.iter().enumerate() {
        out.push_str(&format!(
            "\n[[backends]]\nname = \"node{i}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             check = {{ kind = \"mysql\", user = \"{MONITOR_USER}\", password = \"{MONITOR_PASSWORD}\", tls = \"disabled\" }}\n"
        ));
    }
    out
}

/// Makes the child die with this process's thread that starts it (a
/// SIGKILLed loadgen leaves nothing behind).
pub(crate) fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// utime + stime of `pid` in seconds (`/proc/PID/stat`), all its threads.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the parenthesised command name start with the state
    // (field 3); utime and stime are fields 14 and 15.
    let (_, rest) = stat.rsplit_once(") ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let tck = if tck > 0 { tck as f64 } else { 100.0 };
    Some((utime + stime) as f64 / tck)
}

/// Connection options for the fixture's application account through `addr`
/// (TCP only).
pub(crate) fn app_opts(addr: SocketAddr) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(APP_USER))
        .pass(Some(APP_PASSWORD))
        .db_name(Some(APP_DATABASE))
        .prefer_socket(false)
        .into()
}

/// A new session through `addr` and the index of the node it reached.
pub(crate) async fn connect(addr: SocketAddr) -> Result<(Conn, usize), String> {
    let work = async {
        let mut conn = Conn::new(app_opts(addr)).await.map_err(first_line)?;
        let name: Option<String> = conn
            .query_first("SELECT @@wsrep_node_name")
            .await
            .map_err(first_line)?;
        let node = node_index(name.as_deref().unwrap_or(""))?;
        Ok((conn, node))
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("no session within {CONNECT_TIMEOUT:?}")),
    }
}

/// The node a new session through `addr` reaches (switchboard's active).
pub(crate) async fn node_behind(addr: SocketAddr) -> Result<usize, String> {
    let (conn, node) = connect(addr).await?;
    let _ = tokio::time::timeout(CONNECT_TIMEOUT, conn.disconnect()).await;
    Ok(node)
}

/// `node2` → 2 (the fixture names node `i` `node{i}`).
pub(crate) fn node_index(name: &str) -> Result<usize, String> {
    name.strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .filter(|i| *i < switchboard_harness::galera::NODES)
        .ok_or_else(|| format!("unexpected wsrep_node_name {name:?}"))
}

/// The first line of an error, at most 160 characters.
pub(crate) fn first_line(e: impl std::fmt::Display) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(160).collect()
}
