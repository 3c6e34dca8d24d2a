//! `LatencyHistogram`: the probe latencies of one backend, bucketed for
//! `/metrics` (`switchboard_probe_latency_seconds`).
//!
//! Plain atomics, filled by `Cluster::apply_probe` for every probe it
//! applies and read at scrape time; it never allocates after construction
//! and never takes a lock. A snapshot's count is the sum of the bucket
//! counts it read, never a separate counter: a probe recorded between two
//! loads must not make `+Inf` differ from `_count` (a scrape a strict
//! parser rejects; the soak caught one in 3,667 scrapes).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (`+Inf` is implied).
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Counts of probe latencies per bucket, their sum and their number.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// One counter per bucket of [`BUCKETS`], then `+Inf`; not cumulative.
    /// Their sum is the number of observations.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A histogram read at one moment, as Prometheus encoders want it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Sum of all observed latencies.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound, observations in this bucket)`, not cumulative; the
    /// last bound is `f64::MAX` for `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

impl LatencyHistogram {
    /// Records one probe's latency.
    pub fn observe(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }

    /// The counts now; `count` is the sum of the buckets read, so the
    /// snapshot is consistent whatever is recorded meanwhile (the sum of
    /// latencies may be a probe ahead or behind).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(self.buckets.iter().map(|b| b.load(Relaxed)))
            .collect();
        HistogramSnapshot {
            sum_seconds: self.sum_nanos.load(Relaxed) as f64 / 1e9,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_sum_and_count() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(9));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert!((s.sum_seconds - 9.0305).abs() < 1e-9);
        assert_eq!(s.buckets[0], (0.001, 1));
        assert_eq!(s.buckets[5], (0.05, 1));
        assert_eq!(s.buckets.last(), Some(&(f64::MAX, 1)));
        assert_eq!(s.buckets.iter().map(|b| b.1).sum::<u64>(), 3);
    }

    /// A snapshot taken while probes are recorded still has `count` equal
    /// to the sum of its buckets (the `+Inf` bucket of `/metrics`).
    #[test]
    fn a_snapshot_during_observations_is_consistent() {
        let h = std::sync::Arc::new(LatencyHistogram::default());
        let writer = {
            let h = h.clone();
            std::thread::spawn(move || {
                for i in 0..200_000u64 {
                    h.observe(Duration::from_micros(i % 7_000));
                }
            })
        };
        let mut snapshots = 0;
        while !writer.is_finished() || snapshots == 0 {
            let s = h.snapshot();
            assert_eq!(s.count, s.buckets.iter().map(|b| b.1).sum::<u64>());
            snapshots += 1;
        }
        writer.join().expect("the writer thread");
        assert_eq!(h.snapshot().count, 200_000);
    }
}
