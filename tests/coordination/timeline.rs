//! What the backends' records say about routing: per instance, which
//! backend its sessions reached and when (`Hit`s), when an instance
//! settled on a backend after a fault, whether the live instances agree,
//! and the windows in which two instances routed new sessions to different
//! backends. Pure functions of the records; they never wait and never ask
//! an instance anything, so they measure what clients actually got.

use std::time::{Duration, Instant};

use switchboard_harness::RecordingBackend;

/// Consecutive sessions of one instance further apart than this do not
/// belong to one stretch of routing: the instance stopped routing
/// (killed, routing off, refusing) in between. Twice the interval, so the
/// drivers' jitter on a busy machine (10 ms cadence) never splits one.
pub(crate) const GAP: Duration = Duration::from_millis(200);

/// One session that reached a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// When the backend accepted it.
    pub(crate) at: Instant,
    /// The instance it went through (`proxy-N` → N).
    pub(crate) instance: usize,
    /// The backend it reached (`db-i` → i).
    pub(crate) backend: usize,
}

/// Every tagged session the backends recorded, sorted by arrival.
/// Backends are in `db-0..` order; a tag that is not `proxy-N ...` is a
/// test bug.
pub(crate) fn hits(backends: &[RecordingBackend]) -> Vec<Hit> {
    hits_since(backends, None)
}

/// [`hits`] of the sessions accepted at or after `since` (all of them
/// when `None`).
pub(crate) fn hits_since(backends: &[RecordingBackend], since: Option<Instant>) -> Vec<Hit> {
    let mut all = Vec::new();
    for (backend, db) in backends.iter().enumerate() {
        let records = match since {
            Some(since) => db.records_since(since),
            None => db.records(),
        };
        for r in records {
            let instance = r
                .instance()
                .strip_prefix("proxy-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a session tagged {:?} reached {}", r.tag, db.name));
            all.push(Hit {
                at: r.at,
                instance,
                backend,
            });
        }
    }
    all.sort_by_key(|h| h.at);
    all
}

/// The hits of `instance` at or after `since`, in order.
pub(crate) fn of(hits: &[Hit], instance: usize, since: Instant) -> Vec<Hit> {
    hits.iter()
        .filter(|h| h.instance == instance && h.at >= since)
        .copied()
        .collect()
}

/// Whether each of `live`'s last `tail` sessions since `since` all reached
/// `backend` (and each had at least that many).
pub(crate) fn agreed(
    hits: &[Hit],
    live: &[usize],
    backend: usize,
    since: Instant,
    tail: usize,
) -> bool {
    live.iter().all(|&i| {
        let mine = of(hits, i, since);
        mine.len() >= tail
            && mine[mine.len() - tail..]
                .iter()
                .all(|h| h.backend == backend)
    })
}

/// The first moment since `since` from which every session of `instance`
/// reached `backend`: the hit after its last one elsewhere. `None` when
/// its newest session went elsewhere or it had none.
pub(crate) fn settled(
    hits: &[Hit],
    instance: usize,
    backend: usize,
    since: Instant,
) -> Option<Instant> {
    let mine = of(hits, instance, since);
    let first_good = match mine.iter().rposition(|h| h.backend != backend) {
        Some(last_bad) => last_bad + 1,
        None => 0,
    };
    mine.get(first_good).map(|h| h.at)
}

/// How long after `since` every one of `live` had settled on `backend`
/// (the latest of their settle moments); `None` if one has not.
pub(crate) fn agreement_after(
    hits: &[Hit],
    live: &[usize],
    backend: usize,
    since: Instant,
) -> Option<Duration> {
    live.iter()
        .map(|&i| settled(hits, i, backend, since).map(|at| at.saturating_duration_since(since)))
        .try_fold(Duration::ZERO, |acc, d| d.map(|d| acc.max(d)))
}

/// The backends `instance`'s sessions reached in `[from, to]`.
pub(crate) fn reached(hits: &[Hit], instance: usize, from: Instant, to: Instant) -> Vec<usize> {
    let mut seen: Vec<usize> = hits
        .iter()
        .filter(|h| h.instance == instance && h.at >= from && h.at <= to)
        .map(|h| h.backend)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

/// A stretch in which one instance's sessions all reached one backend,
/// with no gap longer than [`GAP`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment {
    /// The instance (`proxy-N` → N).
    pub(crate) instance: usize,
    /// The backend all its sessions reached (`db-i` → i).
    pub(crate) backend: usize,
    /// Its first session's arrival.
    pub(crate) from: Instant,
    /// Its last session's arrival.
    pub(crate) to: Instant,
}

/// Every instance's stretches of routing since `since`.
pub(crate) fn segments(hits: &[Hit], since: Instant) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new(); // instance -> index in `out`
    for h in hits.iter().filter(|h| h.at >= since) {
        if open.len() <= h.instance {
            open.resize(h.instance + 1, None);
        }
        match open[h.instance].map(|k| &mut out[k]) {
            Some(seg) if seg.backend == h.backend && h.at.duration_since(seg.to) <= GAP => {
                seg.to = h.at;
            }
            _ => {
                open[h.instance] = Some(out.len());
                out.push(Segment {
                    instance: h.instance,
                    backend: h.backend,
                    from: h.at,
                    to: h.at,
                });
            }
        }
    }
    out
}

/// The longest time two instances routed new sessions to different
/// backends since `since`: the longest overlap of two segments of
/// different instances and backends, with the pair (for the message).
pub(crate) fn longest_disagreement(
    hits: &[Hit],
    since: Instant,
) -> (Duration, Option<(Segment, Segment)>) {
    let segs = segments(hits, since);
    let mut worst = (Duration::ZERO, None);
    for (k, a) in segs.iter().enumerate() {
        for b in &segs[k + 1..] {
            if a.instance == b.instance || a.backend == b.backend {
                continue;
            }
            let (from, to) = (a.from.max(b.from), a.to.min(b.to));
            if from <= to && (to - from > worst.0 || worst.1.is_none()) {
                worst = (to - from, Some((*a, *b)));
            }
        }
    }
    worst
}

/// `d` in ms with one decimal.
pub(crate) fn ms(d: Duration) -> String {
    switchboard_harness::ms(d)
}

/// Median and maximum of `ds` ("-" when empty).
pub(crate) fn median_max(ds: &[Duration]) -> String {
    if ds.is_empty() {
        return "-".into();
    }
    let mut v = ds.to_vec();
    v.sort_unstable();
    format!(
        "median {} max {} (n={})",
        ms(v[v.len() / 2]),
        ms(v[v.len() - 1]),
        v.len()
    )
}
