//! `GET /v0/history` (docs/api.md, "History"): the last 15 minutes of open
//! sessions, bytes per second and probe latency, for the dashboard's charts.
//!
//! Owns the bounded in-memory history: a fixed-capacity ring of samples
//! ([`CAPACITY`] of them, one every [`PERIOD`]), the sampler task that fills
//! it on the API's own runtime, and the JSON shape of a sample (also sent as
//! the event stream's `history` frames, see `sse`). A sample reads the
//! combiner's snapshot and the probe latency histograms, nothing else:
//! bytes per second is the delta of the byte counters between two samples,
//! and those counters grow only when a session ends (`SessionCounters`), so
//! a long transfer shows as one burst when it finishes. Latency is the mean
//! of the probes that ended during the period, from the histogram's sum and
//! count. It never touches the data path beyond the atomics the snapshot
//! loads, never grows past its capacity, and keeps nothing across restarts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::rfc3339;
use super::App;
use switchboard_core::combiner::Combiner;

/// Time between two samples.
pub(crate) const PERIOD: Duration = Duration::from_secs(5);

/// Samples kept: 15 minutes at one every [`PERIOD`].
pub(crate) const CAPACITY: usize = 180;

/// The history routes.
pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v0/history", get(history))
}

/// `GET /v0/history`: every sample held, oldest first.
async fn history(State(app): State<App>) -> Json<HistoryView> {
    Json(app.history.view())
}

/// The answer of `GET /v0/history`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryView {
    /// Milliseconds between two samples.
    pub period_ms: u64,
    /// The most samples ever held; older ones are dropped.
    pub capacity: usize,
    /// The samples, oldest first.
    pub samples: Vec<Sample>,
}

/// One sample: the proxy at one moment, and its rates over the period
/// that ended then.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sample {
    /// Grows by one per sample from 1, so a client can tell a repeat or a gap.
    pub seq: u64,
    /// When it was taken (RFC 3339).
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// Open sessions, every backend and port.
    pub sessions: u64,
    /// Client → backend bytes of sessions that ended during the period, per second.
    pub bytes_up_per_sec: f64,
    /// Backend → client bytes of sessions that ended during the period, per second.
    pub bytes_down_per_sec: f64,
    /// Every backend, in configuration order.
    pub backends: Vec<BackendSample>,
}

/// One backend in a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendSample {
    /// Its name.
    pub name: String,
    /// Open sessions on both ports.
    pub sessions: u64,
    /// Mean latency of the probes that ended during the period, in ms with
    /// microsecond precision; `null` when none did (monitoring paused, a
    /// probe interval longer than the period, a backend just added).
    pub probe_latency_ms: Option<f64>,
}

/// What the counters say at one moment: the input of a sample.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    /// Wall-clock time, for the sample.
    pub at: SystemTime,
    /// Monotonic time, for the rates.
    pub mono: Instant,
    /// Client → backend bytes of ended sessions since start.
    pub bytes_up: u64,
    /// Backend → client bytes of ended sessions since start.
    pub bytes_down: u64,
    /// Every backend, in configuration order.
    pub backends: Vec<BackendReading>,
}

/// One backend's counters at one moment.
#[derive(Debug, Clone)]
pub(crate) struct BackendReading {
    /// Its name (deltas are matched by name, so a reload that adds or
    /// removes backends does not mix their counters up).
    pub name: String,
    /// Open sessions on both ports.
    pub sessions: u64,
    /// Probes applied since start.
    pub probes: u64,
    /// Their summed latency, in seconds.
    pub probe_seconds: f64,
}

impl Reading {
    /// The counters now: one snapshot and the probe histograms.
    pub(crate) fn now(combiner: &Combiner) -> Reading {
        let snap = combiner.snapshot();
        let backends = snap
            .truth
            .backends
            .iter()
            .zip(&snap.counts.sessions)
            .map(|(b, s)| {
                let h = b.handles.latency.snapshot();
                BackendReading {
                    name: b.name.clone(),
                    sessions: s.total(),
                    probes: h.count,
                    probe_seconds: h.sum_seconds,
                }
            })
            .collect();
        Reading {
            at: SystemTime::now(),
            mono: Instant::now(),
            bytes_up: snap.counts.bytes_up,
            bytes_down: snap.counts.bytes_down,
            backends,
        }
    }
}

/// The fixed-capacity ring of samples and the reading the next delta is
/// taken against. Pure: no clock, no lock.
#[derive(Debug)]
pub(crate) struct Ring {
    samples: VecDeque<Sample>,
    capacity: usize,
    previous: Reading,
    seq: u64,
}

impl Ring {
    /// An empty ring whose first sample's rates count from `baseline`.
    pub(crate) fn new(capacity: usize, baseline: Reading) -> Ring {
        Ring {
            samples: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            previous: baseline,
            seq: 0,
        }
    }

    /// Adds the sample of `now` (rates since the previous reading), dropping
    /// the oldest when full; returns it.
    pub(crate) fn record(&mut self, now: Reading) -> &Sample {
        let prev = &self.previous;
        let seconds = now.mono.saturating_duration_since(prev.mono).as_secs_f64();
        let rate = |now: u64, before: u64| -> f64 {
            // A counter that went back (a restart of the counters) counts as 0.
            let delta = now.saturating_sub(before) as f64;
            if seconds > 0.0 {
                (delta / seconds * 10.0).round() / 10.0
            } else {
                0.0
            }
        };
        let backends = now
            .backends
            .iter()
            .map(|b| {
                let before = prev.backends.iter().find(|p| p.name == b.name);
                let latency = before.and_then(|p| {
                    let probes = b.probes.checked_sub(p.probes).filter(|n| *n > 0)?;
                    let mean = (b.probe_seconds - p.probe_seconds).max(0.0) / probes as f64;
                    Some((mean * 1e6).round() / 1000.0)
                });
                BackendSample {
                    name: b.name.clone(),
                    sessions: b.sessions,
                    probe_latency_ms: latency,
                }
            })
            .collect::<Vec<_>>();
        self.seq += 1;
        let sample = Sample {
            seq: self.seq,
            at: now.at,
            sessions: backends.iter().map(|b| b.sessions).sum(),
            bytes_up_per_sec: rate(now.bytes_up, prev.bytes_up),
            bytes_down_per_sec: rate(now.bytes_down, prev.bytes_down),
            backends,
        };
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.previous = now;
        // Just pushed: the ring is not empty.
        &self.samples[self.samples.len() - 1]
    }

    /// The samples held, oldest first.
    pub(crate) fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }
}

/// The shared history: the ring behind a lock only the API thread takes
/// (the sampler and readers), and a signal carrying the newest `seq`.
#[derive(Debug)]
pub(crate) struct History {
    ring: Mutex<Ring>,
    newest: watch::Sender<u64>,
}

impl History {
    /// An empty history counting from `baseline`.
    pub(crate) fn new(baseline: Reading) -> History {
        History {
            ring: Mutex::new(Ring::new(CAPACITY, baseline)),
            newest: watch::Sender::new(0),
        }
    }

    /// The ring; a panic while it was held cannot leave it half-written
    /// (every write is one push), so a poisoned lock is used as it is.
    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one sample and tells the streams.
    pub(crate) fn record(&self, now: Reading) {
        let seq = self.ring().record(now).seq;
        self.newest.send_replace(seq);
    }

    /// Everything held, as `GET /v0/history` answers.
    pub(crate) fn view(&self) -> HistoryView {
        HistoryView {
            period_ms: u64::try_from(PERIOD.as_millis()).unwrap_or(u64::MAX),
            capacity: CAPACITY,
            samples: self.ring().samples().cloned().collect(),
        }
    }

    /// The newest sample, if any.
    pub(crate) fn latest(&self) -> Option<Sample> {
        self.ring().samples().last().cloned()
    }

    /// Wakes on every new sample (for the event stream's `history` frames).
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }
}

/// The sampler: one sample every [`PERIOD`] (the first one period after
/// the start, so every sample has a period to take its rates over) until
/// `stop`. Runs on the API's runtime; a late tick is taken late, not twice.
pub(crate) async fn run(history: Arc<History>, combiner: Combiner, stop: CancellationToken) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PERIOD, PERIOD);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => history.record(Reading::now(&combiner)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reading `secs` after `t0` with the given byte counters and one
    /// backend per `(name, sessions, probes, probe_seconds)`.
    fn reading(t0: Instant, secs: u64, up: u64, down: u64, b: &[(&str, u64, u64, f64)]) -> Reading {
        Reading {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            mono: t0 + Duration::from_secs(secs),
            bytes_up: up,
            bytes_down: down,
            backends: b
                .iter()
                .map(|(name, sessions, probes, probe_seconds)| BackendReading {
                    name: name.to_string(),
                    sessions: *sessions,
                    probes: *probes,
                    probe_seconds: *probe_seconds,
                })
                .collect(),
        }
    }

    #[test]
    fn the_ring_is_bounded_and_keeps_the_newest_in_order() {
        let t0 = Instant::now();
        let mut ring = Ring::new(3, reading(t0, 0, 0, 0, &[]));
        for i in 1..=7 {
            ring.record(reading(t0, i * 5, 0, 0, &[("db-0", i, 0, 0.0)]));
        }
        let seqs: Vec<u64> = ring.samples().map(|s| s.seq).collect();
        assert_eq!(seqs, vec![5, 6, 7], "the oldest are dropped, order kept");
        let sessions: Vec<u64> = ring.samples().map(|s| s.sessions).collect();
        assert_eq!(sessions, vec![5, 6, 7]);
        let times: Vec<SystemTime> = ring.samples().map(|s| s.at).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    }

    #[test]
    fn rates_are_deltas_over_the_elapsed_time() {
        let t0 = Instant::now();
        let b = |probes, seconds| [("db-0", 2, probes, seconds), ("db-1", 1, 0, 0.0)];
        let mut ring = Ring::new(10, reading(t0, 0, 100, 1000, &b(4, 0.004)));
        let s = ring.record(reading(t0, 5, 600, 1000, &b(9, 0.014))).clone();
        assert_eq!(s.bytes_up_per_sec, 100.0, "(600 - 100) / 5 s");
        assert_eq!(s.bytes_down_per_sec, 0.0, "nothing ended: no bytes");
        assert_eq!(s.sessions, 3);
        assert_eq!(
            s.backends[0].probe_latency_ms,
            Some(2.0),
            "10 ms over 5 probes"
        );
        assert_eq!(
            s.backends[1].probe_latency_ms, None,
            "no probe in the period"
        );
        // Ten seconds later, with a counter that went back: 0, not a huge number.
        let s = ring.record(reading(t0, 15, 50, 4000, &b(9, 0.014))).clone();
        assert_eq!(s.bytes_up_per_sec, 0.0);
        assert_eq!(s.bytes_down_per_sec, 300.0, "3000 bytes over 10 s");
        assert_eq!(s.backends[0].probe_latency_ms, None);
        assert_eq!(s.seq, 2);
    }

    #[test]
    fn a_new_backend_has_no_latency_until_its_second_reading() {
        let t0 = Instant::now();
        let mut ring = Ring::new(10, reading(t0, 0, 0, 0, &[("db-0", 0, 1, 0.001)]));
        let s = ring
            .record(reading(
                t0,
                5,
                0,
                0,
                &[("db-0", 0, 2, 0.003), ("db-9", 0, 3, 0.3)],
            ))
            .clone();
        assert_eq!(s.backends[0].probe_latency_ms, Some(2.0));
        assert_eq!(s.backends[1].name, "db-9");
        assert_eq!(s.backends[1].probe_latency_ms, None);
    }

    #[test]
    fn the_view_says_its_period_and_capacity_and_serialises_camel_case() {
        let t0 = Instant::now();
        let history = History::new(reading(t0, 0, 0, 0, &[]));
        let mut rx = history.subscribe();
        assert!(history.latest().is_none());
        history.record(reading(t0, 5, 10, 20, &[("db-0", 1, 1, 0.0005)]));
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 1);
        let json = serde_json::to_value(history.view()).unwrap();
        assert_eq!(json["periodMs"], 5000);
        assert_eq!(json["capacity"], 180);
        let s = &json["samples"][0];
        assert_eq!(s["seq"], 1);
        assert_eq!(s["at"], "1970-01-01T00:00:05Z");
        assert_eq!(s["bytesUpPerSec"], 2.0);
        assert_eq!(s["bytesDownPerSec"], 4.0);
        assert_eq!(s["backends"][0]["name"], "db-0");
        assert_eq!(s["backends"][0]["sessions"], 1);
        assert!(s["backends"][0]["probeLatencyMs"].is_null());
        assert_eq!(CAPACITY as u128 * PERIOD.as_millis(), 15 * 60 * 1000);
    }
}
