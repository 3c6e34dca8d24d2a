//! `GET /v0/events/stream`: every bus event as Server-Sent Events (docs/api.md).
//!
//! Frames: `id:` = the event index, `event:` = its snake-case type
//! (`EventKind::type_name`), `data:` = the event as JSON; keep-alive
//! comments in between. A client resumes with `Last-Event-ID` (or
//! `?since=N`) and misses nothing the ring still holds. A subscriber that
//! lags on the bus replays the missed events from the ring; if the ring has
//! lost some too, it first sends one `resync` frame (no `id`) carrying the
//! current `/v0/state`, so the client rebuilds its view instead of acting on
//! a gap. With `?history=1` the stream also carries one `history` frame
//! (no `id`) per sample of `history`, so the dashboard's charts follow
//! without polling. Owns only the stream; it never blocks a publisher and
//! ends when the API stops.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event as Frame, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures::stream::{self, Stream};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::bool_param::{parse_go_bool, SPELLINGS};
use super::error::ApiError;
use super::history::History;
use super::state::query_index;
use super::wire_event::event_json;
use super::wire_state::StateView;
use super::App;
use switchboard_core::bus::{Bus, Event};
use switchboard_core::combiner::Combiner;

/// How often an idle stream sends a keep-alive comment.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How soon a browser should reconnect after the stream drops.
pub(crate) const RETRY: Duration = Duration::from_secs(2);

/// The streaming route.
pub(crate) fn routes() -> Router<App> {
    Router::new().route("/v0/events/stream", get(stream_events))
}

/// What the stream sends next.
enum Pending {
    /// A bus event to send.
    Event(Arc<Event>),
    /// Events `from..=to` are gone from the ring; `to` may be 0 when the
    /// client's index is from an earlier run of the process.
    Resync {
        from: u64,
        to: u64,
        reason: &'static str,
    },
}

/// One client's position in the event order.
struct Follower {
    bus: Bus,
    combiner: Combiner,
    receiver: broadcast::Receiver<Arc<Event>>,
    pending: VecDeque<Pending>,
    /// The index of the last event sent.
    last: u64,
    stop: CancellationToken,
    greeted: bool,
    /// With `?history=1`: the history and its new-sample signal.
    samples: Option<(Arc<History>, watch::Receiver<u64>)>,
}

/// `GET /v0/events/stream`.
async fn stream_events(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<Frame, Infallible>>>, ApiError> {
    let resume = match last_event_id(&headers) {
        Some(id) => Some(id),
        None => query_index(&uri, "since")?,
    };
    let mut follower = Follower::new(
        app.ctx.cluster.bus().clone(),
        app.ctx.combiner.clone(),
        resume,
        app.stop.clone(),
    );
    if wants_history(&uri)? {
        follower = follower.with_history(app.history.clone());
    }
    let frames = stream::unfold(follower, |mut f| async move {
        let frame = f.next_frame().await?;
        Some((Ok(frame), f))
    });
    Ok(Sse::new(frames).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

/// `?history=<Go bool>`: whether to add the `history` frames; 400 naming
/// the field when it is not a bool.
fn wants_history(uri: &Uri) -> Result<bool, ApiError> {
    let query = uri.query().unwrap_or("");
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "history") {
        None => Ok(false),
        Some((_, v)) => parse_go_bool(&v).ok_or_else(|| {
            ApiError::bad_field(
                "history",
                format!("history must be one of {SPELLINGS}; found {v:?}"),
            )
        }),
    }
}

/// The `Last-Event-ID` header as an index; unparsable means "no resume".
fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Follower {
    /// Subscribes first, then replays what the ring holds after `resume`
    /// (nothing when `resume` is `None`: the stream starts now).
    fn new(bus: Bus, combiner: Combiner, resume: Option<u64>, stop: CancellationToken) -> Follower {
        let newest = bus.last_index();
        let mut pending = VecDeque::new();
        let (since, receiver) = match resume {
            None => {
                // Events published between `last_index` and the subscription
                // come back in the backlog; duplicates are dropped by index.
                let (backlog, receiver) = bus.subscribe_since(newest);
                pending.extend(backlog.into_iter().map(Pending::Event));
                (newest, receiver)
            }
            Some(id) if id > newest => {
                // An index from an earlier run of the process: start over.
                let (backlog, receiver) = bus.subscribe_since(0);
                pending.push_back(Pending::Resync {
                    from: 0,
                    to: 0,
                    reason: "event indices restarted",
                });
                pending.extend(backlog.into_iter().map(Pending::Event));
                (0, receiver)
            }
            Some(id) => {
                let (backlog, receiver) = bus.subscribe_since(id);
                if let Some(first) = backlog.first() {
                    if first.index > id + 1 {
                        pending.push_back(Pending::Resync {
                            from: id + 1,
                            to: first.index - 1,
                            reason: "events dropped from the ring",
                        });
                    }
                }
                pending.extend(backlog.into_iter().map(Pending::Event));
                (id, receiver)
            }
        };
        Follower {
            bus,
            combiner,
            receiver,
            pending,
            last: since,
            stop,
            greeted: false,
            samples: None,
        }
    }

    /// Also sends a `history` frame for every sample taken from now on.
    fn with_history(mut self, history: Arc<History>) -> Follower {
        // A new receiver has seen the current value: the next sample wakes it.
        let signal = history.subscribe();
        self.samples = Some((history, signal));
        self
    }

    /// The next frame, or `None` when the stream must end.
    async fn next_frame(&mut self) -> Option<Frame> {
        if !self.greeted {
            self.greeted = true;
            return Some(Frame::default().retry(RETRY).comment("switchboard events"));
        }
        loop {
            while let Some(next) = self.pending.pop_front() {
                match next {
                    Pending::Event(e) if e.index <= self.last => continue,
                    Pending::Event(e) => {
                        self.last = e.index;
                        return Some(event_frame(&e));
                    }
                    Pending::Resync { from, to, reason } => {
                        return Some(self.resync_frame(from, to, reason))
                    }
                }
            }
            let received = tokio::select! {
                _ = self.stop.cancelled() => return None,
                r = self.receiver.recv() => r,
                frame = next_sample(&mut self.samples) => return Some(frame),
            };
            match received {
                Ok(e) => self.pending.push_back(Pending::Event(e)),
                Err(RecvError::Lagged(_)) => self.catch_up(),
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// After a lag: replay from the ring, flagging a gap if it lost events.
    fn catch_up(&mut self) {
        tracing::debug!(
            after = self.last,
            "event stream lagged on the bus; replaying from the ring"
        );
        let backlog = self.bus.since(self.last);
        if let Some(first) = backlog.first() {
            if first.index > self.last + 1 {
                self.pending.push_back(Pending::Resync {
                    from: self.last + 1,
                    to: first.index - 1,
                    reason: "events dropped from the ring",
                });
            }
        }
        self.pending.extend(backlog.into_iter().map(Pending::Event));
    }

    /// The `resync` frame: what was lost and the state to rebuild from.
    fn resync_frame(&self, from: u64, to: u64, reason: &str) -> Frame {
        let data = json!({
            "reason": reason,
            "missedFrom": from,
            "missedTo": to,
            "state": StateView::from(&*self.combiner.snapshot()),
        });
        Frame::default().event("resync").data(data.to_string())
    }
}

/// Waits for the next history sample and makes its frame; never returns
/// without history (or once the sampler is gone).
async fn next_sample(samples: &mut Option<(Arc<History>, watch::Receiver<u64>)>) -> Frame {
    if let Some((history, signal)) = samples {
        while signal.changed().await.is_ok() {
            if let Some(sample) = history.latest() {
                let data = serde_json::to_string(&sample).unwrap_or_default();
                return Frame::default().event("history").data(data);
            }
        }
    }
    std::future::pending().await
}

/// One bus event as a frame.
fn event_frame(e: &Event) -> Frame {
    let data = event_json(e).to_string();
    Frame::default()
        .id(e.index.to_string())
        .event(e.kind.type_name())
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::bus::EventKind;

    fn routing(bus: &Bus, enabled: bool) {
        bus.publish(EventKind::RoutingChanged {
            enabled,
            message: String::new(),
            actor: "t".into(),
        });
    }

    fn follower_ids(bus: &Bus, resume: Option<u64>) -> (VecDeque<Pending>, u64) {
        let ctx = crate::test_support::context(1);
        let f = Follower::new(bus.clone(), ctx.combiner, resume, CancellationToken::new());
        (f.pending, f.last)
    }

    #[test]
    fn resume_replays_and_flags_gaps() {
        let bus = Bus::new(2, 3);
        for i in 0..5 {
            routing(&bus, i % 2 == 0);
        }
        // Ring holds 3, 4, 5.
        let (p, last) = follower_ids(&bus, Some(3));
        assert_eq!(last, 3);
        assert!(matches!(p.front(), Some(Pending::Event(e)) if e.index == 4));
        let (p, _) = follower_ids(&bus, Some(1));
        assert!(matches!(
            p.front(),
            Some(Pending::Resync { from: 2, to: 2, .. })
        ));
        let (p, last) = follower_ids(&bus, Some(99));
        assert_eq!(last, 0);
        assert!(matches!(
            p.front(),
            Some(Pending::Resync { from: 0, to: 0, .. })
        ));
        let (p, last) = follower_ids(&bus, None);
        assert_eq!(last, 5);
        assert!(p.is_empty());
    }

    #[tokio::test]
    async fn a_lagging_follower_replays_from_the_ring_in_order() {
        let bus = Bus::new(2, 64);
        let ctx = crate::test_support::context(1);
        let mut f = Follower::new(bus.clone(), ctx.combiner, None, CancellationToken::new());
        assert!(f.next_frame().await.is_some()); // the greeting
        for i in 0..7 {
            routing(&bus, i % 2 == 0);
        }
        // The receiver kept only 2 of 7: the follower must catch up from the ring.
        let mut seen = Vec::new();
        for _ in 0..7 {
            let _ = f.next_frame().await.unwrap();
            seen.push(f.last);
        }
        assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 7]);
    }

    #[tokio::test]
    async fn a_follower_that_lost_events_gets_a_resync_first() {
        let bus = Bus::new(2, 3);
        let ctx = crate::test_support::context(1);
        let mut f = Follower::new(bus.clone(), ctx.combiner, None, CancellationToken::new());
        let _ = f.next_frame().await.unwrap();
        for i in 0..6 {
            routing(&bus, i % 2 == 0);
        }
        // Ring holds 4..=6; 1..=3 are gone.
        let _ = f.next_frame().await.unwrap();
        assert_eq!(f.last, 0, "the first frame is the resync, not an event");
        let mut seen = Vec::new();
        for _ in 0..3 {
            let _ = f.next_frame().await.unwrap();
            seen.push(f.last);
        }
        assert_eq!(seen, vec![4, 5, 6]);
    }
}
