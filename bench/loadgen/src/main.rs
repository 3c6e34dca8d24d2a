//! `loadgen`: switchboard's load generator and benchmark runner.
//!
//! One process plays every part except the proxies: the backends (two echo
//! servers with controllable galera-style health endpoints), the clients of
//! every workload, and the orchestrator that starts each system under test
//! (switchboard, HAProxy, or nothing for a direct connection), runs a
//! workload against it, stops it by PID and moves on to the next system, so
//! that the systems alternate within one run and their ratios are fair.
//! Bulk throughput uses `iperf3` (client and server) as separate processes.
//!
//! ```text
//! loadgen suite --switchboard target/release/switchboard --out BENCHMARKS.md
//! loadgen smoke --switchboard target/debug/switchboard     # tiny counts, ours vs direct
//! loadgen serve                                            # just the backends, for hand experiments
//! loadgen db --out BENCHMARKS.md                          # a real Galera cluster behind switchboard
//! ```
//!
//! `bench/run` and `bench/smoke` are the entry points; see `bench/README.md`.

mod backends;
mod bulk;
mod db;
mod procs;
mod report;
mod stats;
mod suite;
mod systems;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// switchboard's load generator and benchmark runner.
#[derive(Parser, Debug)]
#[command(name = "loadgen")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The full benchmark: every workload, every system, alternating, several rounds.
    Suite(suite::SuiteArgs),
    /// A tiny run of every workload (switchboard vs direct), for CI: checks it works, measures nothing.
    Smoke(suite::SuiteArgs),
    /// One workload's client against any address (for profiling by hand,
    /// with `serve` as the backends): churn, rr or bulk.
    Drive {
        /// churn, rr or bulk
        workload: String,
        #[arg(long, default_value = "127.0.0.1:29100")]
        target: std::net::SocketAddr,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Clients (churn) or streams (bulk).
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// switchboard in front of a real three-node MariaDB Galera cluster:
    /// sysbench steady state and failover trials (bench/database).
    Db(db::DbArgs),
    /// Only the backends (echo + health), until Ctrl-C or `--seconds`.
    Serve {
        /// First port of the block the benchmark uses (see `suite --help`).
        #[arg(long, default_value_t = suite::DEFAULT_BASE_PORT)]
        base_port: u16,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 3600)]
        seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = raise_fd_limit() {
        eprintln!("loadgen: cannot raise the open-file limit: {e}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let work = async move {
            match cli.command {
                Command::Suite(args) => suite::run(args, suite::Profile::full()).await,
                Command::Smoke(args) => suite::run(args, suite::Profile::smoke()).await,
                Command::Serve { base_port, seconds } => serve(base_port, seconds).await,
                Command::Db(args) => db::run(args).await,
                Command::Drive {
                    workload,
                    target,
                    seconds,
                    concurrency,
                } => drive(&workload, target, seconds, concurrency).await,
            }
        };
        // Ctrl-C drops the work future, and with it every child process
        // (each is stopped by its PID in `procs::Child::drop`).
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_string()),
        }
    });
    // Do not wait for stray tasks (open idle sessions and the like).
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(base_port: u16, seconds: u64) -> Result<(), String> {
    let ports = suite::Ports::new(base_port);
    let set = backends::BackendSet::start(&ports)
        .await
        .map_err(|e| format!("cannot start the backends: {e}"))?;
    for b in set.all() {
        println!(
            "{}: echo {}  health http://{}/api/v1/status  (POST /mode/healthy or /mode/503)",
            b.name, b.echo_addr, b.health_addr
        );
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}

async fn drive(
    workload: &str,
    target: std::net::SocketAddr,
    seconds: f64,
    n: usize,
) -> Result<(), String> {
    let d = Duration::from_secs_f64(seconds);
    let m = match workload {
        "churn" => workloads::churn(target, n, 64, d, u64::MAX / 2).await,
        "rr" => workloads::request_response(target, 16, 64, Duration::from_millis(200), d).await?,
        "bulk" => bulk::builtin(target, n, (seconds * 1e9) as u64).await?,
        _ => return Err(format!("unknown workload {workload:?} (churn, rr, bulk)")),
    };
    println!("{m:?}");
    Ok(())
}

/// Raises this process's open-file limit as far as it may go (children
/// inherit it): the soft limit to the hard one and, when allowed (root),
/// both to 1,048,576 or `fs.nr_open`. Returns the new soft limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
fn raise_fd_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let want = nr_open.min(1 << 20);
        if (lim.rlim_max as u64) < want {
            let higher = libc::rlimit {
                rlim_cur: want as libc::rlim_t,
                rlim_max: want as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &higher) == 0 {
                return Ok(want);
            }
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur as u64)
}

/// This process's open-file limits (soft, hard).
pub fn fd_limits() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain syscall on a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (1024, 1024);
    }
    #[allow(clippy::unnecessary_cast)]
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

/// Where a profile's run keeps its scratch files (configs, logs, raw results).
fn scratch_dir(profile: &str) -> PathBuf {
    PathBuf::from("target/bench").join(profile)
}
