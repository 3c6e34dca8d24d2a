//! The orchestrator: for every round, for every workload, for every system
//! (in an order that rotates each round, so no system always goes first),
//! take one sample (`measure.rs`). Every sample goes to
//! `target/bench/<profile>/results.jsonl` as it is taken; the report
//! (medians, ratios, targets of docs/performance.md) comes at the end. This file owns the
//! command line and the round scheduling; it must never measure anything
//! itself.

mod measure;
mod profile;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backends::BackendSet;
use crate::procs::Child;
use crate::report::{self, Meta};
use crate::scratch_dir;
use crate::systems::{self, System, Tools};

pub use measure::Sample;
pub use profile::{max_sessions, Ports, Profile, DEFAULT_BASE_PORT};
pub use workload::Workload;

/// The command line of `loadgen suite` and `loadgen smoke`.
#[derive(clap::Args, Debug)]
pub struct SuiteArgs {
    /// The switchboard binary under test (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/switchboard")]
    pub switchboard: PathBuf,
    /// HAProxy (default: `haproxy` on PATH or /usr/sbin/haproxy).
    #[arg(long)]
    pub haproxy: Option<PathBuf>,
    /// iperf3 (default: `iperf3` on PATH); without it bulk uses a built-in stream.
    #[arg(long)]
    pub iperf3: Option<PathBuf>,
    /// Write the report here (between the `bench:begin`/`bench:end` markers
    /// if the file has them; the rest of the file is kept).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Rounds (each runs every workload on every system once).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Only these workloads (ids or prefixes: bulk, churn-32, idle, sever, failover-health ...).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Only these systems (direct, haproxy, switchboard).
    #[arg(long, value_delimiter = ',')]
    pub systems: Vec<System>,
    /// First of the 20 loopback ports the benchmark uses (default 29100; smoke 29150).
    #[arg(long)]
    pub base_port: Option<u16>,
    /// Seconds each timed workload (churn, request/response, bulk) runs.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Stop starting new samples after this many minutes.
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// The command line to print in the report as "how to reproduce".
    #[arg(long, default_value = "bench/run")]
    pub command: String,
}

/// Runs `profile` (adjusted by `args`): every round, workload and system,
/// then the report; fails if any sample failed.
pub async fn run(args: SuiteArgs, mut profile: Profile) -> Result<(), String> {
    if let Some(r) = args.rounds {
        profile.rounds = r.max(1);
    }
    if let Some(s) = args.seconds {
        profile.seconds = s;
    }
    if let Some(m) = args.max_minutes {
        profile.max_minutes = m;
    }
    if !args.systems.is_empty() {
        profile.systems = args.systems.clone();
    }
    // Absolute: HAProxy reads a relative socket path as host:port.
    let scratch = std::env::current_dir()
        .map_err(|e| e.to_string())?
        .join(scratch_dir(profile.name));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    if !args.switchboard.exists() {
        return Err(format!(
            "{} not found: build it first (cargo build --release)",
            args.switchboard.display()
        ));
    }
    let tools = Tools {
        switchboard: args.switchboard.clone(),
        haproxy: args
            .haproxy
            .clone()
            .or_else(|| which("haproxy"))
            .or_else(|| Some(PathBuf::from("/usr/sbin/haproxy")).filter(|p| p.exists())),
        iperf3: args.iperf3.clone().or_else(|| which("iperf3")),
        scratch: scratch.clone(),
    };
    if tools.haproxy.is_none() && profile.systems.contains(&System::Haproxy) {
        eprintln!("loadgen: haproxy not found; running without it");
        profile.systems.retain(|s| *s != System::Haproxy);
    }

    if let Some(b) = args.base_port {
        profile.base_port = b;
    }
    if profile.name == "full" && max_sessions() < 10_000 {
        eprintln!(
            "loadgen: the open-file limit is {}, so the many-session workloads use {} sessions, not 10,000",
            crate::fd_limits().0,
            max_sessions()
        );
    }
    let ports = Ports::new(profile.base_port);
    let workloads = workload::select_workloads(&profile, &args.only)?;
    let backends = BackendSet::start(&ports).await.map_err(|e| {
        format!(
            "cannot start the backends on ports {}..: {e}",
            profile.base_port
        )
    })?;
    let uses_bulk = workloads.iter().any(|w| matches!(w, Workload::Bulk(_)));
    let _iperf_server = match (&tools.iperf3, uses_bulk) {
        (Some(iperf3), true) => Some(start_iperf_server(iperf3, &ports, &scratch).await?),
        _ => None,
    };

    let mut meta = Meta::collect(&args, &profile, &tools, &ports);
    let results_path = scratch.join("results.jsonl");
    let mut results = std::fs::File::create(&results_path)
        .map_err(|e| format!("{}: {e}", results_path.display()))?;
    let started = Instant::now();
    let budget = Duration::from_secs_f64(profile.max_minutes * 60.0);
    let mut samples = Vec::new();
    'rounds: for round in 0..profile.rounds {
        for workload in &workloads {
            let mut systems: Vec<System> = profile
                .systems
                .iter()
                .copied()
                .filter(|s| *s != System::Direct || workload.has_direct())
                .collect();
            let len = systems.len().max(1);
            systems.rotate_left(round % len);
            for system in systems {
                if started.elapsed() > budget {
                    meta.truncated = Some(format!(
                        "stopped after {:.0} s (budget {} min): later samples are missing",
                        started.elapsed().as_secs_f64(),
                        profile.max_minutes
                    ));
                    break 'rounds;
                }
                let sample = measure::run_one(
                    *workload, system, round, &profile, &ports, &tools, &backends,
                )
                .await;
                print_sample(&sample, profile.rounds);
                use std::io::Write;
                let _ = writeln!(
                    results,
                    "{}",
                    serde_json::to_string(&sample).unwrap_or_default()
                );
                samples.push(sample);
                // Let the previous system's sockets and threads settle.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    meta.finish(started.elapsed());
    let text = report::render(&meta, &profile, &samples);
    if profile.name == "smoke" {
        // A smoke run measures nothing worth a table: say what ran.
        let ok = samples.iter().filter(|s| s.error.is_none()).count();
        println!("bench/smoke: {ok} of {} samples completed", samples.len());
    } else {
        println!("{text}");
    }
    if let Some(out) = &args.out {
        report::write_into(out, &text)?;
        eprintln!("loadgen: report written to {}", out.display());
    }
    eprintln!("loadgen: raw samples in {}", results_path.display());
    let failed: Vec<_> = samples.iter().filter(|s| s.error.is_some()).collect();
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|s| {
                format!(
                    "{} on {}: {}",
                    s.workload,
                    s.system,
                    s.error.as_deref().unwrap_or("")
                )
            })
            .collect();
        return Err(format!(
            "{} sample(s) failed:\n  {}",
            failed.len(),
            list.join("\n  ")
        ));
    }
    Ok(())
}

/// Prints one sample as a progress line on stderr.
fn print_sample(s: &Sample, rounds: usize) {
    let figures: Vec<String> = s
        .metrics
        .iter()
        .map(|(k, v)| format!("{k}={v:.3}"))
        .collect();
    let tail = match &s.error {
        Some(e) => format!("FAILED: {e}"),
        None => figures.join(" "),
    };
    eprintln!(
        "[{}/{}] {:<18} {:<12} {}",
        s.round + 1,
        rounds,
        s.workload,
        s.system.to_string(),
        tail
    );
}

/// Starts the iperf3 server (backend `a` of bulk) and waits until it listens.
async fn start_iperf_server(iperf3: &Path, ports: &Ports, scratch: &Path) -> Result<Child, String> {
    let mut cmd = std::process::Command::new(iperf3);
    cmd.args(["-s", "-B", "127.0.0.1", "-p", &ports.iperf.to_string()]);
    let mut child = Child::spawn("iperf3 server", cmd, &scratch.join("iperf3-server.log"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !systems::is_listening(ports.iperf) {
        if child.exited().is_some() || Instant::now() > deadline {
            return Err(format!(
                "the iperf3 server did not start (see {})",
                scratch.join("iperf3-server.log").display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(child)
}

/// `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
