//! The switchboard process's resources, read from `/proc/<pid>` (Linux):
//! resident memory (`VmRSS`, and its peak `VmHWM`), threads and open
//! descriptors (the entries of `/proc/<pid>/fd`).
//!
//! A single reading may catch a probe's or an API request's socket in
//! flight, so a settled figure is the minimum over a window of readings.
//! The baseline is taken after the warm-up, when everything the process
//! allocates once (worker threads, the closer thread, buffers, the
//! allocator's arenas) exists; "returned" allows [`rss_limit`]'s slack and
//! no descriptor more.

use std::time::{Duration, Instant};

/// One reading.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    pub(crate) rss_kib: u64,
    pub(crate) peak_kib: u64,
    pub(crate) threads: u64,
    pub(crate) fds: u64,
}

/// Reads `/proc/<pid>` once; `None` if the process is gone or `/proc` is
/// not there.
pub(crate) fn read(pid: i32) -> Option<Reading> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Reading {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
        fds,
    })
}

/// The most resident memory "returned to the baseline" allows: +20 % or
/// +8 MiB, whichever is more (the allocator keeps some freed pages).
pub(crate) fn rss_limit(baseline_kib: u64) -> u64 {
    (baseline_kib + baseline_kib / 5).max(baseline_kib + 8 * 1024)
}

/// The minimum of each figure over `window` of readings every 50 ms (the
/// peak: the latest).
pub(crate) async fn settled(pid: i32, window: Duration) -> Reading {
    let started = Instant::now();
    let mut best: Option<Reading> = None;
    while best.is_none() || started.elapsed() < window {
        let r = read(pid).unwrap_or_else(|| panic!("cannot read /proc/{pid}"));
        best = Some(match best {
            None => r,
            Some(b) => Reading {
                rss_kib: b.rss_kib.min(r.rss_kib),
                peak_kib: r.peak_kib,
                threads: b.threads.min(r.threads),
                fds: b.fds.min(r.fds),
            },
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    best.unwrap_or_else(|| unreachable!("the loop reads at least once"))
}

/// Reads for 2 s, then on until the descriptors are back at `base.fds` and
/// the memory within [`rss_limit`], at most `deadline`; the settled figures
/// and whether both returned.
pub(crate) async fn returned(pid: i32, base: Reading, deadline: Duration) -> (Reading, bool) {
    let started = Instant::now();
    loop {
        let r = settled(pid, Duration::from_secs(2)).await;
        let ok = r.fds <= base.fds && r.rss_kib <= rss_limit(base.rss_kib);
        if ok || started.elapsed() >= deadline {
            return (r, ok);
        }
    }
}

/// KiB as MiB with one decimal.
pub(crate) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
