//! One [`Sample`]: start a system, wait for its route, run one workload's
//! client against it (the per-workload runners), take the proxy's CPU time,
//! stop the system by its PID and heal the backends. It must never decide
//! what runs when: the round scheduling is `mod.rs`'s.

use std::time::Duration;

use serde::Serialize;

use crate::backends::BackendSet;
use crate::bulk;
use crate::procs;
use crate::systems::{self, DataPort, Running, System, Tools};
use crate::workloads::{self, Metrics};

use super::{Ports, Profile, Workload};

/// One measurement: one workload on one system in one round.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub workload: String,
    pub system: System,
    pub round: usize,
    pub metrics: Metrics,
    pub error: Option<String>,
}

/// Takes one sample: starts `system`, measures `workload` against it
/// within a time limit, stops it and heals the backends.
pub(super) async fn run_one(
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
            let rig = Rig {
                running: &running,
                profile,
                tools,
                backends,
            };
            let limit = Duration::from_secs(60 + (profile.seconds * 4.0) as u64);
            let measured = tokio::time::timeout(limit, measure(workload, &rig)).await;
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

/// What a workload runs against: the system under test, the run's knobs,
/// the tools and the backends.
#[derive(Clone, Copy)]
struct Rig<'a> {
    /// The system under test, started for this sample.
    running: &'a Running,
    /// The run's counts and durations.
    profile: &'a Profile,
    /// Where the binaries and the scratch folder are.
    tools: &'a Tools,
    /// The two echo backends with their health endpoints.
    backends: &'a BackendSet,
}

/// Waits for the route, runs the workload and adds the proxy's CPU time
/// per unit of work.
async fn measure(workload: Workload, rig: &Rig<'_>) -> Result<Metrics, String> {
    let Rig {
        running,
        profile,
        tools,
        backends,
    } = *rig;
    let target = running.target;
    let a = &backends.a;
    if !matches!(workload, Workload::Bulk(_)) || tools.iperf3.is_none() {
        workloads::wait_route(target, a, Duration::from_secs(10)).await?;
    }
    // The proxy's CPU time per unit of work: steadier than throughput on a
    // machine that others load, and what the profile is about.
    let cpu_before = running.pid().and_then(procs::cpu_ns);
    let mut m = measure_workload(workload, rig).await?;
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

/// Runs the client of `workload` against the running system: the
/// per-workload runners.
async fn measure_workload(workload: Workload, rig: &Rig<'_>) -> Result<Metrics, String> {
    let Rig {
        running,
        profile,
        tools,
        backends,
    } = *rig;
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
                if debugging() {
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
                if debugging() {
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

/// Whether `LOADGEN_DEBUG` asks for a line about every failover trial.
fn debugging() -> bool {
    std::env::var_os("LOADGEN_DEBUG").is_some()
}
