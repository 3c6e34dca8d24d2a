//! The steady-state workload: Debian's `sysbench oltp_read_write` (1.0.20)
//! against an address, its command line, and the figures of its summary
//! (transactions per second, 95th percentile latency), with switchboard's
//! CPU time over the same run.
//!
//! sysbench 1.0.20 aborts when its connection is cut, so it only ever runs
//! while nothing fails; the failover figures are `writer.rs`'s. It starts
//! nothing but sysbench, each run bounded by a deadline and killed on drop.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use switchboard_harness::mariadb::{APP_DATABASE, APP_PASSWORD, APP_USER};

use super::router::{cpu_seconds, die_with_parent};
use super::DbArgs;

/// How long sysbench may run beyond its `--time`.
const GRACE: Duration = Duration::from_secs(60);
/// Seconds of the unmeasured warm-up run after `prepare`.
const WARM_UP_SECONDS: u64 = 5;

/// Where a run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    /// Through switchboard's proxy port.
    Switchboard,
    /// Straight to the node switchboard routes to.
    Direct,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Switchboard => "switchboard",
            Via::Direct => "direct",
        })
    }
}

/// The workload's shape and where its logs go.
pub(crate) struct Setup {
    /// The sysbench binary.
    bin: PathBuf,
    /// `--tables`.
    tables: usize,
    /// `--table-size`.
    table_size: usize,
    /// `--threads`.
    threads: usize,
    /// `--time`.
    seconds: u64,
    /// Every run's output is appended here.
    log: PathBuf,
}

/// One measured run.
pub(crate) struct Sample {
    /// Where it went.
    pub(crate) via: Via,
    /// Its round (1-based).
    pub(crate) round: usize,
    /// Transactions per second (sysbench's own figure).
    pub(crate) tps: f64,
    /// 95th percentile latency of a transaction, ms.
    pub(crate) p95_ms: f64,
    /// Transactions committed.
    pub(crate) transactions: u64,
    /// Errors sysbench ignored and retried (deadlocks).
    pub(crate) ignored_errors: u64,
    /// switchboard's CPU seconds during the run (its probes only, when direct).
    pub(crate) router_cpu_s: f64,
}

impl Sample {
    /// switchboard's CPU time per transaction, µs (through it only).
    pub(crate) fn cpu_us_per_tx(&self) -> Option<f64> {
        (self.via == Via::Switchboard && self.transactions > 0)
            .then(|| self.router_cpu_s * 1e6 / self.transactions as f64)
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "round {} {:<11} {:8.1} tps  p95 {:6.2} ms  {} transactions  switchboard CPU {:.2} s",
            self.round, self.via, self.tps, self.p95_ms, self.transactions, self.router_cpu_s
        )
    }
}

impl Setup {
    /// Checks that sysbench runs and notes its version.
    pub(crate) fn new(args: &DbArgs, scratch: &Path) -> Result<Setup, String> {
        std::process::Command::new(&args.sysbench)
            .arg("--version")
            .output()
            .map_err(|e| {
                format!(
                    "cannot run {}: {e} (apt-get install sysbench)",
                    args.sysbench.display()
                )
            })?;
        Ok(Setup {
            bin: args.sysbench.clone(),
            tables: args.tables,
            table_size: args.table_size,
            threads: args.threads,
            seconds: args.seconds,
            log: scratch.join("sysbench.log"),
        })
    }

    /// The arguments of one sysbench command against `port`.
    fn args(&self, port: &str, threads: usize, seconds: u64, action: &str) -> Vec<String> {
        vec![
            "oltp_read_write".into(),
            "--db-driver=mysql".into(),
            "--mysql-host=127.0.0.1".into(),
            format!("--mysql-port={port}"),
            format!("--mysql-user={APP_USER}"),
            format!("--mysql-password={APP_PASSWORD}"),
            format!("--mysql-db={APP_DATABASE}"),
            format!("--tables={}", self.tables),
            format!("--table-size={}", self.table_size),
            format!("--threads={threads}"),
            format!("--time={seconds}"),
            "--report-interval=0".into(),
            action.into(),
        ]
    }

    /// The measured command line, for the report.
    pub(crate) fn display(&self, action: &str) -> String {
        let threads = if action == "prepare" {
            self.tables.min(4)
        } else {
            self.threads
        };
        format!(
            "{} {}",
            self.bin.display(),
            self.args("<port>", threads, self.seconds, action).join(" ")
        )
    }

    /// Creates and fills the tables through `addr`, then warms the
    /// buffer pool with a short unmeasured run.
    pub(crate) async fn prepare(&self, addr: SocketAddr) -> Result<(), String> {
        let port = addr.port().to_string();
        println!(
            "== sysbench prepare: {} tables of {} rows",
            self.tables, self.table_size
        );
        self.exec(
            self.args(&port, self.tables.min(4), self.seconds, "prepare"),
            Duration::from_secs(300),
        )
        .await?;
        println!("== sysbench warm-up: {WARM_UP_SECONDS} s, not measured");
        self.exec(
            self.args(&port, self.threads, WARM_UP_SECONDS, "run"),
            Duration::from_secs(WARM_UP_SECONDS) + GRACE,
        )
        .await?;
        Ok(())
    }

    /// One measured run against `target`, with switchboard's (`router_pid`)
    /// CPU time over it.
    pub(crate) async fn measure(
        &self,
        via: Via,
        round: usize,
        target: SocketAddr,
        router_pid: u32,
    ) -> Result<Sample, String> {
        let args = self.args(
            &target.port().to_string(),
            self.threads,
            self.seconds,
            "run",
        );
        let cpu_before = cpu_seconds(router_pid).ok_or("cannot read switchboard's CPU time")?;
        let text = self
            .exec(args, Duration::from_secs(self.seconds) + GRACE)
            .await?;
        let cpu_after = cpu_seconds(router_pid).ok_or("cannot read switchboard's CPU time")?;
        let mut sample = parse(&text)?;
        sample.via = via;
        sample.round = round;
        sample.router_cpu_s = cpu_after - cpu_before;
        Ok(sample)
    }

    /// Runs sysbench with `args` within `limit`; its output, appended to
    /// the log, or why it failed.
    async fn exec(&self, args: Vec<String>, limit: Duration) -> Result<String, String> {
        let mut cmd = std::process::Command::new(&self.bin);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.kill_on_drop(true);
        let started = Instant::now();
        let out = match tokio::time::timeout(limit, cmd.output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(format!("cannot run sysbench: {e}")),
            Err(_) => return Err(format!("sysbench did not finish within {limit:?}")),
        };
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let entry = format!(
            "=== sysbench {} ({:.1} s, {})\n{text}\n",
            args.last().map_or("", String::as_str),
            started.elapsed().as_secs_f64(),
            out.status
        );
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, entry.as_bytes()));
        if !out.status.success() {
            let tail: Vec<&str> = text.lines().rev().take(5).collect();
            return Err(format!(
                "sysbench failed ({}): {}",
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ));
        }
        Ok(text)
    }
}

/// The figures of sysbench's summary:
/// `transactions:  12345  (617.12 per sec.)`, `ignored errors:  0  (...)`,
/// `95th percentile:  20.37`.
pub(crate) fn parse(text: &str) -> Result<Sample, String> {
    let field = |name: &str| -> Option<Vec<String>> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|rest| {
                rest.split(|c: char| c.is_whitespace() || c == '(')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
    };
    let number = |v: Option<&String>, what: &str| -> Result<f64, String> {
        v.and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| format!("no {what} in sysbench's output"))
    };
    let tx = field("transactions:").unwrap_or_default();
    let errors = field("ignored errors:").unwrap_or_default();
    let p95 = field("95th percentile:").unwrap_or_default();
    Ok(Sample {
        via: Via::Direct,
        round: 0,
        transactions: number(tx.first(), "transactions")? as u64,
        tps: number(tx.get(1), "transactions per second")?,
        ignored_errors: number(errors.first(), "ignored errors")? as u64,
        p95_ms: number(p95.first(), "95th percentile")?,
        router_cpu_s: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary_of_sysbench_1_0_20() {
        let text = "SQL statistics:\n    queries performed:\n        read:  1\n\
            \x20   transactions:                        12345  (617.12 per sec.)\n\
            \x20   queries:                             246900 (12342.40 per sec.)\n\
            \x20   ignored errors:                      3      (0.15 per sec.)\n\
            Latency (ms):\n         min:  1.00\n         95th percentile:                       20.37\n";
        let s = parse(text).expect("parses");
        assert_eq!(s.transactions, 12345);
        assert!((s.tps - 617.12).abs() < 1e-9);
        assert_eq!(s.ignored_errors, 3);
        assert!((s.p95_ms - 20.37).abs() < 1e-9);
    }

    #[test]
    fn output_without_a_summary_is_an_error() {
        assert!(parse("FATAL: unable to connect\n").is_err());
    }
}
