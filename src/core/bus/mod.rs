//! The broadcast bus: one ordered stream of [`Event`]s fanned out to every
//! subscriber, plus a bounded ring of recent events for `/v0/events`,
//! `Last-Event-ID` resume (the Traffic Monitor event log keeps its own,
//! and takes only event times from it).
//!
//! Publishing assigns the next index and appends to the ring under one short
//! lock, so the ring, the broadcast order and the indices always agree. The
//! bus never blocks a publisher on a slow subscriber: tokio's broadcast channel
//! drops the oldest messages for a subscriber that lags, which then sees
//! `RecvError::Lagged` and must resync from the authoritative state
//! (`cluster::Cluster::truth`) instead of acting on what it missed.

mod event;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::broadcast;

pub use event::{sessions, AdminState, Event, EventKind, PortRole};

/// How many events the ring keeps for `/v0/events` and resume.
pub const DEFAULT_RING: usize = 1024;

/// The default broadcast capacity per subscriber.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A cheap, clonable handle to the bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<Event>>,
    log: Mutex<EventLog>,
}

/// The ring of recent events and the next index.
struct EventLog {
    next_index: u64,
    ring: VecDeque<Arc<Event>>,
    capacity: usize,
}

impl Bus {
    /// A bus whose subscribers may lag `capacity` events before they must
    /// resync, keeping the last `ring` events for readers.
    pub fn new(capacity: usize, ring: usize) -> Bus {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Bus {
            inner: Arc::new(Inner {
                sender,
                log: Mutex::new(EventLog {
                    next_index: 1,
                    ring: VecDeque::with_capacity(ring.min(4096)),
                    capacity: ring.max(1),
                }),
            }),
        }
    }

    /// Publishes an event and returns it with its index.
    pub fn publish(&self, kind: EventKind) -> Arc<Event> {
        let mut log = self.lock_log();
        let event = Arc::new(Event {
            index: log.next_index,
            time: SystemTime::now(),
            kind,
        });
        log.next_index += 1;
        self.append(&mut log, event.clone());
        event
    }

    /// Publishes `kinds` in order as one change: first calls `before` with
    /// the index the last of them gets (the previous index when `kinds` is
    /// empty), then appends and sends them, all under the log lock. So
    /// whatever `before` stores (the cluster stores its new truth, stamped
    /// with that index) is visible before any subscriber sees the events,
    /// and no other publisher's event can fall between the stamp and them.
    pub fn publish_all(&self, kinds: Vec<EventKind>, before: impl FnOnce(u64)) {
        let mut log = self.lock_log();
        let last = log.next_index + kinds.len() as u64 - 1;
        before(last);
        let time = SystemTime::now();
        for kind in kinds {
            let event = Arc::new(Event {
                index: log.next_index,
                time,
                kind,
            });
            log.next_index += 1;
            self.append(&mut log, event);
        }
    }

    /// Appends to the ring and sends to the subscribers (log lock held).
    fn append(&self, log: &mut EventLog, event: Arc<Event>) {
        if log.ring.len() == log.capacity {
            log.ring.pop_front();
        }
        log.ring.push_back(event.clone());
        // No subscriber is not an error: the ring still records the event.
        let _ = self.inner.sender.send(event);
    }

    /// A new subscriber that sees every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.sender.subscribe()
    }

    /// Subscribes and returns the ring's events after `since` atomically, so
    /// that a reader can replay and then follow without a gap or a repeat.
    pub fn subscribe_since(
        &self,
        since: u64,
    ) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let log = self.lock_log();
        let receiver = self.inner.sender.subscribe();
        let backlog = log
            .ring
            .iter()
            .filter(|e| e.index > since)
            .cloned()
            .collect();
        (backlog, receiver)
    }

    /// Events in the ring with an index above `since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<Arc<Event>> {
        let log = self.lock_log();
        log.ring
            .iter()
            .filter(|e| e.index > since)
            .cloned()
            .collect()
    }

    /// The index of the oldest event still in the ring (0 if none yet).
    pub fn oldest_index(&self) -> u64 {
        self.lock_log().ring.front().map_or(0, |e| e.index)
    }

    /// The index of the newest event published (0 if none yet).
    pub fn last_index(&self) -> u64 {
        self.lock_log().next_index - 1
    }

    fn lock_log(&self) -> std::sync::MutexGuard<'_, EventLog> {
        // A panic while holding this lock cannot leave the ring inconsistent
        // (every mutation is a single push/pop), so poisoning is ignored.
        self.inner.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(enabled: bool) -> EventKind {
        EventKind::RoutingChanged {
            enabled,
            message: String::new(),
            actor: "test".into(),
        }
    }

    #[test]
    fn indices_are_gap_free_and_ring_is_bounded() {
        let bus = Bus::new(4, 3);
        for i in 0..5 {
            bus.publish(routing(i % 2 == 0));
        }
        let kept: Vec<u64> = bus.since(0).iter().map(|e| e.index).collect();
        assert_eq!(kept, vec![3, 4, 5]);
        assert_eq!(bus.last_index(), 5);
        assert_eq!(bus.oldest_index(), 3);
    }

    #[test]
    fn publish_all_stamps_the_last_index_before_anyone_sees_the_events() {
        let bus = Bus::new(8, 8);
        bus.publish(routing(true));
        let mut rx = bus.subscribe();
        let mut stamped = 0;
        let mut seen_early = None;
        bus.publish_all(vec![routing(false), routing(true)], |last| {
            stamped = last;
            seen_early = rx.try_recv().ok().map(|e| e.index);
        });
        assert_eq!(stamped, 3);
        assert_eq!(
            seen_early, None,
            "no event of the change was sent before the stamp"
        );
        assert_eq!(rx.try_recv().map(|e| e.index).ok(), Some(2));
        assert_eq!(rx.try_recv().map(|e| e.index).ok(), Some(3));
        let mut empty = 0;
        bus.publish_all(Vec::new(), |last| empty = last);
        assert_eq!(empty, 3, "no events: the previous index");
    }

    #[test]
    fn subscribe_since_replays_then_follows() {
        let bus = Bus::new(8, 8);
        bus.publish(routing(true));
        bus.publish(routing(false));
        let (backlog, mut rx) = bus.subscribe_since(1);
        assert_eq!(backlog.iter().map(|e| e.index).collect::<Vec<_>>(), vec![2]);
        bus.publish(routing(true));
        assert_eq!(rx.try_recv().map(|e| e.index).ok(), Some(3));
    }
}
