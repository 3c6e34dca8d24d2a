//! `loadgen db`: switchboard in front of a real three-node MariaDB Galera
//! cluster on 127.0.0.1 (`bench/database`, described in `bench/README.md`).
//!
//! It starts the cluster with the tests' own fixture
//! (`switchboard_harness::GaleraCluster`: every node with its own data
//! directory, ports and `my.cnf` under a temporary folder, SIGKILLed by pid
//! when dropped), starts the release switchboard in front of it with `mysql`
//! checks ([`router`]), then measures two things:
//!
//! - steady state: `sysbench oltp_read_write` through switchboard and
//!   directly to the active node, alternating, several rounds ([`sysbench`]);
//! - failover as a client sees it: a writer of numbered rows that reconnects
//!   on every error ([`writer`]) while the active node is made unhealthy,
//!   killed or paused, and every acknowledged row is read back ([`failover`]).
//!
//! The figures go between their own markers of BENCHMARKS.md ([`report`]).
//! It never touches another process than the ones it started, never leaves
//! loopback, and every wait has a deadline.

mod failover;
mod report;
mod router;
mod sysbench;
mod writer;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard_harness::GaleraCluster;

use failover::Fault;
use router::Router;

/// Options of `loadgen db`.
#[derive(clap::Args, Debug, Clone)]
pub struct DbArgs {
    /// The switchboard binary (a release build).
    #[arg(long, default_value = "target/release/switchboard")]
    pub switchboard: PathBuf,
    /// The sysbench binary (Debian's 1.0.20).
    #[arg(long, default_value = "sysbench")]
    pub sysbench: PathBuf,
    /// Write the report into this file, between its `bench-db` markers.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The command line the report names as the one that reproduces it.
    #[arg(long, default_value = "target/release/loadgen db")]
    pub command: String,
    /// Steady-state rounds (each runs sysbench once through switchboard and once directly).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seconds of each sysbench run.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// sysbench client threads.
    #[arg(long, default_value_t = 8)]
    pub threads: usize,
    /// sysbench tables.
    #[arg(long, default_value_t = 4)]
    pub tables: usize,
    /// Rows per sysbench table.
    #[arg(long, default_value_t = 10_000)]
    pub table_size: usize,
    /// Trials of each fault.
    #[arg(long, default_value_t = 3)]
    pub trials: usize,
    /// What to measure: steady, health, kill, pause (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "steady,health,kill,pause"
    )]
    pub only: Vec<String>,
    /// Start no new sysbench run or trial after this many minutes.
    #[arg(long, default_value_t = 25)]
    pub max_minutes: u64,
}

/// Upper bounds of the counts, so a typo cannot start an endless run.
const MAX_ROUNDS: usize = 20;
const MAX_TRIALS: usize = 20;
const MAX_SECONDS: u64 = 600;

/// Where the run keeps its configuration, logs and the report's copy.
const SCRATCH: &str = "target/bench/db";

/// Runs the whole measurement, turning a failing fixture (the harness
/// panics with the servers' logs) into an error. It runs inline, not in a
/// task of its own, so that when Ctrl-C drops it every process it started
/// is stopped (each by its drop) before `main` goes on and exits.
pub async fn run(args: DbArgs) -> Result<(), String> {
    use futures::FutureExt as _;
    validate(&args)?;
    match std::panic::AssertUnwindSafe(measure(args))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("the database fixture failed: {text}"))
        }
    }
}

/// Refuses counts out of range and unknown measurement ids.
fn validate(args: &DbArgs) -> Result<(), String> {
    if !(1..=MAX_ROUNDS).contains(&args.rounds) {
        return Err(format!("--rounds must be 1..={MAX_ROUNDS}"));
    }
    if !(1..=MAX_TRIALS).contains(&args.trials) {
        return Err(format!("--trials must be 1..={MAX_TRIALS}"));
    }
    if !(1..=MAX_SECONDS).contains(&args.seconds) {
        return Err(format!("--seconds must be 1..={MAX_SECONDS}"));
    }
    if !(1..=64).contains(&args.threads) || !(1..=16).contains(&args.tables) {
        return Err("--threads must be 1..=64 and --tables 1..=16".into());
    }
    if !(100..=1_000_000).contains(&args.table_size) {
        return Err("--table-size must be 100..=1000000".into());
    }
    for id in &args.only {
        if id != "steady" && Fault::parse(id).is_none() {
            return Err(format!(
                "unknown --only {id:?} (steady, health, kill, pause)"
            ));
        }
    }
    if !args.switchboard.is_file() {
        return Err(format!(
            "{} not found (cargo build --release -p switchboard)",
            args.switchboard.display()
        ));
    }
    Ok(())
}

/// Everything one run measured, for the report.
pub(crate) struct Results {
    /// Every sysbench run, in order.
    pub(crate) steady: Vec<sysbench::Sample>,
    /// Every failover trial, in order.
    pub(crate) trials: Vec<failover::Trial>,
    /// Why the run stopped early, if it did.
    pub(crate) truncated: Option<String>,
    /// sysbench runs through switchboard that a failover cut: (round, why).
    pub(crate) cut: Vec<(usize, String)>,
    /// Probes switchboard logged as timed out, over the whole run.
    pub(crate) probe_timeouts: usize,
}

/// InnoDB settings the benchmark sets at runtime on every node: the
/// fixture's 16 MiB buffer pool and 8 MiB redo log suit tests, but under
/// sysbench's writes they make every node stall in checkpoint flushes for
/// hundreds of milliseconds, which would measure InnoDB, not the router.
pub(crate) const INNODB_TUNING: [(&str, &str); 2] = [
    ("innodb_buffer_pool_size", "268435456"),
    ("innodb_log_file_size", "268435456"),
];

/// Applies [`INNODB_TUNING`] to every node.
async fn tune_innodb(cluster: &GaleraCluster) -> Result<(), String> {
    for (i, node) in cluster.nodes().iter().enumerate() {
        for (name, value) in INNODB_TUNING {
            node.try_query(&format!("SET GLOBAL {name} = {value}"))
                .await
                .map_err(|e| format!("node{i}: {e}"))?;
        }
    }
    Ok(())
}

/// How often one steady-state sample is tried: sysbench 1.0.20 aborts when
/// a failover severs its sessions, and on a loaded machine a probe can time
/// out (and, with `fall = 1`, fail the active over) in the middle of a run.
pub(crate) const SAMPLE_ATTEMPTS: usize = 4;

/// One steady-state sample via `via`, tried again (up to
/// [`SAMPLE_ATTEMPTS`]) when switchboard cut the run by a failover; every
/// cut is noted in `results`.
async fn steady_sample(
    cluster: &GaleraCluster,
    router: &mut Router,
    bench: &sysbench::Setup,
    via: sysbench::Via,
    round: usize,
    results: &mut Results,
) -> Result<sysbench::Sample, String> {
    let mut attempt = 1;
    loop {
        router.check_alive()?;
        let active = router::node_behind(router.addr).await?;
        let target = match via {
            sysbench::Via::Switchboard => router.addr,
            sysbench::Via::Direct => cluster.node(active).addr(),
        };
        match bench.measure(via, round, target, router.pid()).await {
            Ok(sample) => return Ok(sample),
            Err(e) if via == sysbench::Via::Switchboard && attempt < SAMPLE_ATTEMPTS => {
                println!("   round {round} switchboard: cut ({e}); again");
                results.cut.push((round, e));
                attempt += 1;
                // Let the failover (and any failback) settle first.
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Starts the cluster and switchboard, measures, reports.
async fn measure(args: DbArgs) -> Result<(), String> {
    let started = Instant::now();
    let scratch = PathBuf::from(SCRATCH);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{SCRATCH}: {e}"))?;
    let mut meta = report::Meta::collect(&args);
    let bench = sysbench::Setup::new(&args, &scratch)?;

    println!("== starting a three-node Galera cluster on 127.0.0.1");
    let mut cluster = GaleraCluster::start().await;
    println!("   up after {:.1} s", started.elapsed().as_secs_f64());
    let result = measure_with(&args, &mut cluster, &mut meta, &bench, &scratch, started).await;
    // The fixture removes the nodes' folders on drop: keep their logs.
    for (i, node) in cluster.nodes().iter().enumerate() {
        let _ = std::fs::write(scratch.join(format!("node{i}.error.log")), node.error_log());
    }
    drop(cluster);
    result
}

/// The measurements with the cluster up.
async fn measure_with(
    args: &DbArgs,
    cluster: &mut GaleraCluster,
    meta: &mut report::Meta,
    bench: &sysbench::Setup,
    scratch: &std::path::Path,
    started: Instant,
) -> Result<(), String> {
    let deadline = started + Duration::from_secs(args.max_minutes * 60);
    tune_innodb(cluster).await?;
    failover::create_table(cluster).await?;
    let mut router = Router::start(&args.switchboard, cluster, scratch).await?;
    meta.router(&router);
    println!("== switchboard pid {} on {}", router.pid(), router.addr);

    let mut results = Results {
        steady: Vec::new(),
        trials: Vec::new(),
        truncated: None,
        cut: Vec::new(),
        probe_timeouts: 0,
    };
    if args.only.iter().any(|s| s == "steady") {
        let active = router::node_behind(router.addr).await?;
        bench.prepare(cluster.node(active).addr()).await?;
        meta.sysbench(bench);
        for round in 1..=args.rounds {
            // Alternate which system goes first from round to round.
            let order = if round % 2 == 1 {
                [sysbench::Via::Switchboard, sysbench::Via::Direct]
            } else {
                [sysbench::Via::Direct, sysbench::Via::Switchboard]
            };
            for via in order {
                if Instant::now() > deadline {
                    results.truncated = Some(format!("--max-minutes {} reached", args.max_minutes));
                    break;
                }
                router.check_alive()?;
                let sample =
                    steady_sample(cluster, &mut router, bench, via, round, &mut results).await?;
                println!("   {sample}");
                results.steady.push(sample);
            }
        }
    }
    let faults: Vec<Fault> = Fault::ALL
        .into_iter()
        .filter(|f| args.only.iter().any(|s| Fault::parse(s) == Some(*f)))
        .collect();
    'faults: for fault in faults {
        for n in 1..=args.trials {
            if Instant::now() > deadline {
                results.truncated = Some(format!("--max-minutes {} reached", args.max_minutes));
                break 'faults;
            }
            router.check_alive()?;
            let trial = failover::run_trial(cluster, &router, fault, n).await?;
            println!("   {trial}");
            results.trials.push(trial);
        }
    }
    router.check_alive()?;
    results.probe_timeouts = router.probe_timeouts(scratch);
    meta.finish(started.elapsed());
    let text = report::render(meta, &results);
    println!("\n{text}");
    report::write_scratch(scratch, &text)?;
    if let Some(out) = &args.out {
        report::write_into(out, &text)?;
        println!("== wrote the Real databases section of {}", out.display());
    }
    drop(router);
    Ok(())
}
