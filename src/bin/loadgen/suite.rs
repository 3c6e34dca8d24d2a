//! The orchestrator: for every round, for every workload, for every system
//! (in an order that rotates each round, so no system always goes first),
//! start the system, wait for its route, run the workload, stop the system
//! by its PID. Every sample goes to `target/bench/<profile>/results.jsonl` as it is
//! taken; the report (medians, ratios, SPEC 10 targets) comes at the end.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backends::BackendSet;
use crate::procs::{self, Child};
use crate::report::{self, Meta};
use crate::systems::{self, DataPort, Running, System, Tools};
use crate::workloads::{self, Failure, Metrics};
use crate::{bulk, scratch_dir};

/// The benchmark uses the 20 ports from here, on 127.0.0.1 only: below the
/// ephemeral range (32768–60999), so no outgoing connection holds them.
pub const DEFAULT_BASE_PORT: u16 = 29100;
/// `bench/smoke` uses its own block, so it can run beside `bench/run`.
pub const SMOKE_BASE_PORT: u16 = 29150;

/// Every port of the benchmark, on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct Ports {
    pub switchboard: u16,
    pub haproxy: u16,
    pub api: u16,
    pub echo_a: u16,
    pub echo_b: u16,
    pub health_a: u16,
    pub health_b: u16,
    pub iperf: u16,
}

impl Ports {
    pub fn new(base: u16) -> Ports {
        Ports {
            switchboard: base,
            haproxy: base + 1,
            api: base + 2,
            echo_a: base + 10,
            echo_b: base + 11,
            health_a: base + 12,
            health_b: base + 13,
            iperf: base + 14,
        }
    }
}

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

/// Counts and durations of one kind of run.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub rounds: usize,
    pub seconds: f64,
    pub warmup_seconds: f64,
    pub churn_max: u64,
    pub idle: Vec<usize>,
    /// Sever by command at each of these counts; on a health failure at the last.
    pub sever: Vec<usize>,
    pub base_port: u16,
    pub trials: usize,
    pub builtin_bulk_mib: u64,
    pub systems: Vec<System>,
    pub max_minutes: f64,
}

/// The most proxied sessions that fit, at most 10,000: a proxy holds two
/// sockets per session, and the open-file limit is per process (20,000 on
/// the project's machines, where even root may not raise it).
pub fn max_sessions() -> usize {
    let (soft, _) = crate::fd_limits();
    (soft.saturating_sub(300) as usize / 2).clamp(100, 10_000)
}

impl Profile {
    pub fn full() -> Profile {
        Profile {
            name: "full",
            rounds: 3,
            seconds: 3.0,
            warmup_seconds: 0.5,
            churn_max: 2_000_000,
            idle: vec![1_000, max_sessions()],
            sever: vec![2_000, max_sessions()],
            base_port: DEFAULT_BASE_PORT,
            trials: 3,
            builtin_bulk_mib: 1024,
            systems: vec![System::Direct, System::Haproxy, System::Switchboard],
            max_minutes: 30.0,
        }
    }

    pub fn smoke() -> Profile {
        Profile {
            name: "smoke",
            rounds: 1,
            seconds: 0.3,
            warmup_seconds: 0.1,
            churn_max: 5_000,
            idle: vec![100],
            sever: vec![200],
            base_port: SMOKE_BASE_PORT,
            trials: 1,
            builtin_bulk_mib: 16,
            systems: vec![System::Direct, System::Switchboard],
            max_minutes: 1.0,
        }
    }
}

/// One workload of the suite.
#[derive(Debug, Clone, Copy)]
pub enum Workload {
    Bulk(u32),
    Churn(usize),
    RequestResponse,
    Idle(usize),
    SeverCommand(usize),
    SeverHealth(usize),
    Failover(Failure),
}

impl Workload {
    pub fn id(&self) -> String {
        match self {
            Workload::Bulk(n) => format!("bulk-{n}"),
            Workload::Churn(c) => format!("churn-{c}"),
            Workload::RequestResponse => "rr-16".into(),
            Workload::Idle(n) => format!("idle-{n}"),
            Workload::SeverCommand(n) => format!("sever-{n}"),
            Workload::SeverHealth(n) => format!("sever-health-{n}"),
            Workload::Failover(Failure::Refused) => "failover-refused".into(),
            Workload::Failover(Failure::Health) => "failover-health".into(),
        }
    }

    /// A direct connection has no memory, sever or failover to measure.
    fn has_direct(&self) -> bool {
        matches!(
            self,
            Workload::Bulk(_) | Workload::Churn(_) | Workload::RequestResponse
        )
    }
}

/// One measurement: one workload on one system in one round.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub workload: String,
    pub system: System,
    pub round: usize,
    pub metrics: Metrics,
    pub error: Option<String>,
}

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
    let workloads = select_workloads(&profile, &args.only)?;
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
                let sample = run_one(
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

fn select_workloads(profile: &Profile, only: &[String]) -> Result<Vec<Workload>, String> {
    let mut all = vec![
        Workload::Bulk(1),
        Workload::Bulk(8),
        Workload::Churn(1),
        Workload::Churn(32),
        Workload::RequestResponse,
    ];
    all.extend(profile.idle.iter().map(|&n| Workload::Idle(n)));
    all.extend(profile.sever.iter().map(|&n| Workload::SeverCommand(n)));
    if let Some(&n) = profile.sever.last() {
        all.push(Workload::SeverHealth(n));
    }
    all.push(Workload::Failover(Failure::Refused));
    all.push(Workload::Failover(Failure::Health));
    if only.is_empty() {
        return Ok(all);
    }
    let picked: Vec<Workload> = all
        .into_iter()
        .filter(|w| {
            only.iter()
                .any(|o| w.id() == *o || w.id().starts_with(&format!("{o}-")))
        })
        .collect();
    if picked.is_empty() {
        return Err(format!("--only {only:?} matches no workload"));
    }
    Ok(picked)
}

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

async fn run_one(
    workload: Workload,
    system: System,
    round: usize,
    profile: &Profile,
    ports: &Ports,
    tools: &Tools,
    backends: &BackendSet,
) -> Sample {
    let data = match workload {
        Workload::Bulk(_) if tools.iperf3.is_some() => DataPort::Iperf,
        _ => DataPort::Echo,
    };
    let (metrics, error) = match systems::start(system, data, ports, tools).await {
        Err(e) => (Metrics::new(), Some(e)),
        Ok(mut running) => {
            let limit = Duration::from_secs(60 + (profile.seconds * 4.0) as u64);
            let measured =
                tokio::time::timeout(limit, measure(workload, &running, profile, tools, backends))
                    .await;
            let measured =
                measured.unwrap_or_else(|_| Err(format!("did not finish within {limit:?}")));
            let alive = running.check_alive();
            running.stop();
            match (measured, alive) {
                (Ok(m), Ok(())) => (m, None),
                (Ok(m), Err(e)) => (m, Some(e)),
                (Err(e), _) => (Metrics::new(), Some(e)),
            }
        }
    };
    if let Err(e) = backends.heal().await {
        eprintln!("loadgen: cannot heal the backends: {e}");
    }
    Sample {
        workload: workload.id(),
        system,
        round,
        metrics,
        error,
    }
}

async fn measure(
    workload: Workload,
    running: &Running,
    profile: &Profile,
    tools: &Tools,
    backends: &BackendSet,
) -> Result<Metrics, String> {
    let target = running.target;
    let a = &backends.a;
    if !matches!(workload, Workload::Bulk(_)) || tools.iperf3.is_none() {
        workloads::wait_route(target, a, Duration::from_secs(10)).await?;
    }
    // The proxy's CPU time per unit of work: steadier than throughput on a
    // machine that others load, and what the profile is about.
    let cpu_before = running.pid().and_then(procs::cpu_ns);
    let mut m = measure_workload(workload, running, profile, tools, backends).await?;
    if let (Some(before), Some(after)) = (cpu_before, running.pid().and_then(procs::cpu_ns)) {
        let cpu_us = (after - before) as f64 / 1e3;
        let per = match workload {
            Workload::Churn(_) => m
                .get("connections")
                .map(|n| ("cpu_us_per_conn", cpu_us / n)),
            Workload::RequestResponse => m.get("req_per_s").map(|r| {
                (
                    "cpu_us_per_req",
                    cpu_us / (r * (profile.seconds + profile.warmup_seconds)),
                )
            }),
            Workload::Bulk(_) => m.get("gbit_per_s").map(|g| {
                (
                    "cpu_ms_per_gbyte",
                    cpu_us / 1e3 / (g / 8.0 * profile.seconds.ceil()),
                )
            }),
            _ => None,
        };
        if let Some((name, value)) = per {
            m.insert(name.to_string(), value);
        }
    }
    Ok(m)
}

async fn measure_workload(
    workload: Workload,
    running: &Running,
    profile: &Profile,
    tools: &Tools,
    backends: &BackendSet,
) -> Result<Metrics, String> {
    let target = running.target;
    let duration = Duration::from_secs_f64(profile.seconds);
    let warmup = Duration::from_secs_f64(profile.warmup_seconds);
    let a = &backends.a;
    match workload {
        Workload::Bulk(streams) => match &tools.iperf3 {
            Some(iperf3) => {
                bulk::iperf3(iperf3, target, streams, profile.seconds.ceil() as u32).await
            }
            None => bulk::builtin(target, streams as usize, profile.builtin_bulk_mib << 20).await,
        },
        Workload::Churn(c) => {
            let m = workloads::churn(target, c, 64, duration, profile.churn_max).await;
            if m["connections"] == 0.0 || m["errors"] > m["connections"] / 100.0 {
                return Err(format!(
                    "churn: {} ok, {} errors",
                    m["connections"], m["errors"]
                ));
            }
            Ok(m)
        }
        Workload::RequestResponse => {
            workloads::request_response(target, 16, 64, warmup, duration).await
        }
        Workload::Idle(n) => {
            let pid = running.pid().ok_or("no process to measure")?;
            // Warm up: allocator arenas and runtime threads exist before the baseline.
            drop(workloads::open_sessions(target, 100.min(n), 50).await?);
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = procs::rss_bytes(pid).ok_or("cannot read RSS")?;
            let sessions = workloads::open_sessions(target, n, 64).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = procs::rss_bytes(pid).ok_or("cannot read RSS")?;
            drop(sessions);
            let kib = |b: f64| b / 1024.0;
            Ok(workloads::metrics(&[
                (
                    "kib_per_session",
                    kib((after as f64 - before as f64) / n as f64),
                ),
                ("rss_per_session_kib", kib(after as f64 / n as f64)),
                ("rss_before_mib", kib(kib(before as f64))),
                ("rss_after_mib", kib(kib(after as f64))),
            ]))
        }
        Workload::SeverCommand(n) | Workload::SeverHealth(n) => {
            let sessions = workloads::open_sessions(target, n, 64).await?;
            let watch = workloads::watch_eof(sessions)?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let t0 = match workload {
                Workload::SeverCommand(_) => Some(running.sever_command().await?),
                _ => {
                    a.set_failing(true);
                    None
                }
            };
            let ends = workloads::collect_eof(watch).await?;
            let t0 = match t0 {
                Some(t) => t,
                None => a
                    .first_failing_answer()
                    .ok_or("no failing health answer was served")?,
            };
            Ok(workloads::sever_metrics(t0, ends))
        }
        Workload::Failover(failure) => {
            let mut times = Vec::new();
            for _ in 0..profile.trials {
                workloads::wait_route(target, a, Duration::from_secs(10)).await?;
                if std::env::var_os("LOADGEN_DEBUG").is_some() {
                    eprintln!("routed to a: {}", systems::haproxy_servers(running));
                }
                let t = workloads::failover_trial(
                    target,
                    a,
                    &backends.b,
                    failure,
                    Duration::from_secs(5),
                )
                .await;
                if std::env::var_os("LOADGEN_DEBUG").is_some() {
                    eprintln!(
                        "trial: {t:?} a.accepted={} b.accepted={} {}",
                        a.accepted(),
                        backends.b.accepted(),
                        systems::haproxy_servers(running)
                    );
                }
                backends.heal().await.map_err(|e| e.to_string())?;
                times.push(t?);
            }
            Ok(workloads::metrics(&[
                ("median_ms", crate::stats::median(&times)),
                ("max_ms", times.iter().copied().fold(f64::NAN, f64::max)),
                ("trials", times.len() as f64),
            ]))
        }
    }
}

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
