//! `/publish/Stats` (`traffic_monitor/datareq/stat.go`): Traffic Monitor's
//! process statistics, `{"stats": {...}}` with every key of its `Stats`
//! struct, in its order, with its JSON types: the keys tagged `,string`
//! (`"Error Count"`, `"uptime"`, `"Iteration Count"`, ...) are numbers
//! written as JSON strings, as Go's decoder requires for them; the others
//! are plain numbers or strings.
//!
//! Owns what each counter means here. The monitor's numbers come from the
//! truth: `Fetch Count` is every probe applied, `Iteration Count` the
//! probes of the most-probed backend (one per interval), the query
//! intervals the time between each backend's last two probes (Traffic
//! Monitor's `lastHealthDurations`). Memory figures come from
//! `/proc/self/status` and `/proc/meminfo` (0 where there is none); there
//! is no garbage collector and there are no peers, so those keys say so
//! with Go's zero values. Reads only; never fails.

use std::time::SystemTime;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::super::App;
use super::last_interval;

/// Go's `time.Unix(0, 0).String()` in UTC: when a Go process that never
/// collected garbage says it last did.
const NEVER_COLLECTED: &str = "1970-01-01 00:00:00 +0000 UTC";

/// Bytes in a megabyte, as Traffic Monitor divides (`1024 * 1024`).
const MB: u64 = 1024 * 1024;

/// The process's memory and threads (`/proc/self/status`), in bytes.
#[derive(Debug, Default, PartialEq, Eq)]
struct ProcessMemory {
    resident: u64,
    peak_resident: u64,
    virtual_size: u64,
    threads: u64,
}

/// A `Key:   123 kB` line's value in bytes (`kB` multiplied out).
fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| {
            let mut parts = v.split_whitespace();
            let n: u64 = parts.next()?.parse().ok()?;
            Some(if parts.next() == Some("kB") {
                n * 1024
            } else {
                n
            })
        })
        .unwrap_or(0)
}

impl ProcessMemory {
    fn parse(status: &str) -> ProcessMemory {
        ProcessMemory {
            resident: field(status, "VmRSS"),
            peak_resident: field(status, "VmHWM"),
            virtual_size: field(status, "VmSize"),
            threads: field(status, "Threads"),
        }
    }

    fn now() -> ProcessMemory {
        std::fs::read_to_string("/proc/self/status")
            .map(|s| ProcessMemory::parse(&s))
            .unwrap_or_default()
    }
}

/// Memory the system has available, in bytes (`MemAvailable`).
fn free_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .map(|s| field(&s, "MemAvailable"))
        .unwrap_or(0)
}

/// The value at `percentile` of `times` as Traffic Monitor picks it
/// (`getCacheTimePercentile`: sorted, index `int(n * p)`); 0 when empty.
fn percentile(mut times: Vec<i64>, percentile: f64) -> i64 {
    times.sort_unstable();
    let n = (times.len() as f64 * percentile) as usize;
    times
        .get(n.min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}

/// `GET /publish/Stats`.
pub(crate) async fn stats(State(app): State<App>) -> Json<Value> {
    let snap = app.ctx.combiner.snapshot();
    let truth = &snap.truth;
    let uptime = SystemTime::now()
        .duration_since(truth.started_at)
        .map_or(0, |d| d.as_secs());
    let probes: Vec<u64> = truth
        .backends
        .iter()
        .map(|b| b.handles.latency.snapshot().count)
        .collect();
    let intervals: Vec<i64> = (0..truth.backends.len())
        .map(|pos| last_interval(truth, pos))
        .collect();
    // Traffic Monitor's `getLongestPoll`: the first strictly longest.
    let (slowest, actual) =
        intervals
            .iter()
            .enumerate()
            .fold(("", 0), |(name, longest), (pos, &ms)| {
                if ms > longest {
                    (truth.backends[pos].name.as_str(), ms)
                } else {
                    (name, longest)
                }
            });
    let target =
        i64::try_from(app.ctx.config.get().monitor.interval.as_millis()).unwrap_or(i64::MAX);
    let memory = ProcessMemory::now();
    let errors = app
        .traffic_monitor
        .errors
        .load(std::sync::atomic::Ordering::Relaxed);
    let deploy_dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    // `,string` keys: the number's decimal text as a JSON string.
    let quoted = |n: i128| n.to_string();
    Json(json!({
        "stats": {
            "Max Memory (MB)": quoted((memory.peak_resident / MB).into()),
            "git-revision": "",
            "Error Count": quoted(errors.into()),
            "uptime": quoted(uptime.into()),
            "Free Memory (MB)": quoted((free_memory() / MB).into()),
            "Total Memory (MB)": quoted((memory.resident / MB).into()),
            "version": env!("CARGO_PKG_VERSION"),
            "deploy-dir": deploy_dir,
            "Fetch Count": quoted(probes.iter().sum::<u64>().into()),
            "Query Interval Delta": quoted((actual - target).into()),
            "Iteration Count": quoted(probes.iter().max().copied().unwrap_or(0).into()),
            "name": "switchboard",
            "buildTimestamp": "",
            "Query Interval Target": quoted(target.into()),
            "Query Interval Actual": quoted(actual.into()),
            "Slowest Cache": slowest,
            "Last Query Interval": quoted(actual.max(target).into()),
            "Goroutines": memory.threads,
            "Last Garbage Collection": NEVER_COLLECTED,
            "Memory Bytes Allocated": memory.resident,
            "Total Bytes Allocated": memory.peak_resident,
            "System Bytes Allocated": memory.virtual_size,
            "Oldest Polled Peer": "",
            "Oldest Polled Peer Time (ms)": 0,
            "Query Interval 95th Percentile (ms)": percentile(intervals, 0.95),
            "gc-cpu-fraction": 0.0,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_and_picks_percentiles() {
        let status = "Name:\tswitchboard\nVmSize:\t  2048 kB\nVmHWM:\t  1024 kB\nVmRSS:\t   512 kB\nThreads:\t7\n";
        assert_eq!(
            ProcessMemory::parse(status),
            ProcessMemory {
                resident: 512 * 1024,
                peak_resident: 1024 * 1024,
                virtual_size: 2048 * 1024,
                threads: 7,
            }
        );
        assert_eq!(percentile(vec![], 0.95), 0);
        assert_eq!(percentile(vec![30, 10, 20], 0.95), 30);
        assert_eq!(percentile((1..=100).collect(), 0.95), 96);
    }
}
