//! The bounded in-memory queue of events waiting to be sent to one collector, and the rule that says
//! when sending is due. Each collector connection has its own, so a collector that is down never holds
//! another's events back.
//!
//! Bounded by count and by an estimate of size (both options). When full, the newest event is dropped
//! and counted, with one warning per cold start: memory stays bounded whatever the traffic or the
//! collector does.

use crate::capture::Call;
use crate::hooks::warn_once;
use crate::model::EventModel;
use crate::options::{Options, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What waits in the queue.
#[derive(Debug)]
pub(crate) enum Item {
    /// A recorded invocation: built and sampled when sent.
    Call(Box<Call>),
    /// An event built and sampled when sent, from what was seen on the caller's thread (an outgoing
    /// call).
    Later(Box<dyn BuildLater>),
    /// An event already sampled and serialised, put back after a failed send. It keeps its
    /// `transaction_id`, by which the collector drops a copy it already stored.
    Ready(Vec<u8>),
    /// A serialised, redacted action (the `actions` module): sent to `/v1/actions/batch`, never sampled.
    Action(Vec<u8>),
}

/// What an event is built from after the fact, off the caller's path (an outgoing call: its bodies are
/// parsed, decoded and redacted, its hooks run, when it is sent).
pub(crate) trait BuildLater: Send + std::fmt::Debug {
    /// The event; `None` when a hook skips it or the mask hook failed.
    fn build(self: Box<Self>) -> Option<EventModel>;
}

/// Why a send is due at the end of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The sandbox's first invocation, or one after a pause: the sandbox may now sit frozen for long,
    /// so the runtime's loop waits until the send has been written.
    Sparse,
    /// A batch filled up under warm traffic: the next invocation is likely right behind, so the
    /// runtime's loop goes on once the batch is on its way, and the answer is awaited in the background.
    Full,
    /// The oldest event waited the max batch delay (slow traffic): waits for the write, as `Sparse`.
    Old,
}

/// One queued item, with its estimated size and when it was queued.
#[derive(Debug)]
pub(crate) struct Entry {
    pub item: Item,
    pub size: usize,
    pub queued_at: Instant,
}

impl Entry {
    /// A new entry, queued now.
    pub(crate) fn new(item: Item, size: usize) -> Self {
        Entry {
            item,
            size,
            queued_at: Instant::now(),
        }
    }
}

/// The queue's bounds and when to send: from the options its connection was made with (resolved once,
/// see `Transport::shared`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    pub max_events: usize,
    pub max_bytes: usize,
    pub batch_events: usize,
    pub batch_bytes: usize,
    pub max_batch_delay: Duration,
    pub idle_threshold: Duration,
    pub flush_budget: Duration,
}

impl Policy {
    pub(crate) const fn of(options: &Options) -> Self {
        Policy {
            max_events: options.queue_capacity,
            max_bytes: options.queue_bytes,
            batch_events: options.batch_events,
            batch_bytes: options.batch_bytes,
            max_batch_delay: options.max_batch_delay,
            idle_threshold: options.idle_threshold,
            flush_budget: options.flush_budget,
        }
    }
}

/// How many times its default bounds a queue holds when many invocations run at once.
const CONCURRENT_QUEUE_SCALE: usize = 10;

impl Policy {
    /// The policy in force when `concurrent` (Managed Instances): a queue left at the default bounds
    /// holds [`CONCURRENT_QUEUE_SCALE`] times as much, since bursts of thousands of events a second
    /// come between two sends of the background sender; bounds set in the options stay as they are.
    pub(crate) fn in_mode(self, concurrent: bool) -> Policy {
        let defaults = self.max_events == DEFAULT_QUEUE_CAPACITY && self.max_bytes == DEFAULT_QUEUE_BYTES;
        match concurrent && defaults {
            true => Policy {
                max_events: DEFAULT_QUEUE_CAPACITY * CONCURRENT_QUEUE_SCALE,
                max_bytes: DEFAULT_QUEUE_BYTES * CONCURRENT_QUEUE_SCALE,
                ..self
            },
            false => self,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::of(&Options::new())
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    bytes: usize,
    policy: Policy,
}

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    inner: Mutex<Inner>,
    dropped: AtomicU64,
    /// Events taken out by a flush and not yet settled (sent, refused, or put back).
    in_flight: AtomicUsize,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::sync::lock(&self.inner)
    }

    /// Appends `entry` unless that would pass the policy's bounds; then it is dropped and counted.
    pub(crate) fn push(&self, entry: Entry, policy: Policy) -> bool {
        let mut inner = self.lock();
        inner.policy = policy;
        if inner.entries.len() >= policy.max_events || inner.bytes.saturating_add(entry.size) > policy.max_bytes {
            drop(inner);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let size = entry.size;
            if size > policy.max_bytes {
                warn_once("event-over-queue-bytes", || {
                    tracing::warn!(
                        size,
                        max_bytes = policy.max_bytes,
                        "moesif: an event is larger than the queue's byte bound on its own and is dropped; \
                         lower max_body_bytes or raise queue_capacity's bytes"
                    )
                });
            } else {
                warn_once("queue-full", || {
                    tracing::warn!(
                        max_events = policy.max_events,
                        max_bytes = policy.max_bytes,
                        "moesif: the event queue is full; new events are dropped until it drains (count at debug level)"
                    )
                });
            }
            tracing::debug!(dropped, "moesif: event dropped, queue full");
            return false;
        }
        inner.bytes += entry.size;
        inner.entries.push_back(entry);
        if inner.entries.len() >= policy.batch_events || inner.bytes >= policy.batch_bytes {
            // A background sender (`run_concurrent`) is woken at once rather than on its next tick: at a
            // high rate the queue would otherwise fill up between two ticks and drop events.
            crate::process::PROCESS.batch_ready.notify_one();
        }
        true
    }

    /// The policy in force.
    pub(crate) fn policy(&self) -> Policy {
        self.lock().policy
    }

    /// Whether a send is due at the end of an invocation that came after `idle` (`None`: the
    /// sandbox's first), and why.
    pub(crate) fn due(&self, idle: Option<Duration>) -> Option<Due> {
        let inner = self.lock();
        if inner.entries.is_empty() {
            return None;
        }
        let policy = inner.policy;
        if idle.is_none_or(|idle| idle >= policy.idle_threshold) {
            Some(Due::Sparse)
        } else if inner.entries.len() >= policy.batch_events || inner.bytes >= policy.batch_bytes {
            Some(Due::Full)
        } else {
            Self::due_within(&inner, policy.max_batch_delay).then_some(Due::Old)
        }
    }

    /// Whether a send is due without regard to traffic: a full batch, or the oldest event waited
    /// `max_delay` (or the max batch delay, if shorter).
    pub(crate) fn is_due_within(&self, max_delay: Duration) -> bool {
        Self::due_within(&self.lock(), max_delay)
    }

    fn due_within(inner: &Inner, max_delay: Duration) -> bool {
        let policy = inner.policy;
        inner.entries.front().is_some_and(|oldest| {
            inner.entries.len() >= policy.batch_events
                || inner.bytes >= policy.batch_bytes
                || oldest.queued_at.elapsed() >= max_delay.min(policy.max_batch_delay)
        })
    }

    /// Takes the oldest entries, at most `max_events` and about `max_bytes` (always at least one, if
    /// any). They count as in flight until settled.
    pub(crate) fn take_batch(&self, max_events: usize, max_bytes: usize) -> Vec<Entry> {
        let mut inner = self.lock();
        let mut batch: Vec<Entry> = Vec::new();
        let mut bytes: usize = 0;
        while let Some(next) = inner.entries.front() {
            let fits = batch.is_empty() || (batch.len() < max_events && bytes.saturating_add(next.size) <= max_bytes);
            if !fits {
                break;
            }
            let Some(entry) = inner.entries.pop_front() else { break };
            bytes += entry.size;
            batch.push(entry);
        }
        inner.bytes = inner.bytes.saturating_sub(bytes);
        self.in_flight.fetch_add(batch.len(), Ordering::Relaxed);
        batch
    }

    /// Puts entries that could not be sent back at the front, oldest first, within the bounds (what
    /// does not fit is dropped and counted), and settles them.
    pub(crate) fn put_back(&self, entries: Vec<Entry>) {
        self.settle(entries.len());
        let mut inner = self.lock();
        let policy = inner.policy;
        for entry in entries.into_iter().rev() {
            if inner.entries.len() >= policy.max_events || inner.bytes.saturating_add(entry.size) > policy.max_bytes {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            inner.bytes += entry.size;
            inner.entries.push_front(entry);
        }
    }

    /// `count` taken entries are settled (sent, refused or left out by sampling).
    pub(crate) fn settle(&self, count: usize) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(count)));
    }

    /// How many entries wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// How many entries a flush holds right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// How many were dropped since the process started.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: usize) -> Entry {
        Entry::new(Item::Ready(Vec::new()), size)
    }

    fn policy(max_events: usize, max_bytes: usize) -> Policy {
        Policy {
            max_events,
            max_bytes,
            ..Policy::default()
        }
    }

    #[test]
    fn default_bounds_grow_when_many_invocations_run_at_once_set_ones_stay() {
        let default = Policy::default();
        assert_eq!(default.in_mode(false), default);
        let concurrent = default.in_mode(true);
        assert_eq!(
            (concurrent.max_events, concurrent.max_bytes),
            (10 * DEFAULT_QUEUE_CAPACITY, 10 * DEFAULT_QUEUE_BYTES)
        );
        assert_eq!(concurrent.batch_events, default.batch_events);
        let set = policy(200, 1024 * 1024);
        assert_eq!(set.in_mode(true), set, "bounds the options set are kept");
    }

    #[test]
    fn drops_newest_when_full_and_counts() {
        let queue = Queue::default();
        for _ in 0..3 {
            queue.push(entry(10), policy(2, 1000));
        }
        assert_eq!((queue.len(), queue.dropped()), (2, 1));
        assert!(!queue.push(entry(2000), policy(10, 1000)), "over the byte bound");
        let taken = queue.take_batch(10, 1000);
        assert_eq!((taken.len(), queue.len(), queue.in_flight()), (2, 0, 2));
        queue.put_back(taken);
        assert_eq!((queue.len(), queue.in_flight()), (2, 0));
    }

    #[test]
    fn batches_respect_count_and_bytes() {
        let queue = Queue::default();
        for _ in 0..5 {
            queue.push(entry(100), policy(100, 10_000));
        }
        assert_eq!(queue.take_batch(2, 10_000).len(), 2, "count");
        assert_eq!(queue.take_batch(10, 250).len(), 2, "bytes");
        assert_eq!(queue.take_batch(10, 50).len(), 1, "at least one, even over the bytes");
        queue.settle(5);
        assert_eq!((queue.len(), queue.in_flight()), (0, 0));
    }

    #[test]
    fn due_when_a_batch_is_full_old_or_traffic_sparse() {
        let queue = Queue::default();
        assert_eq!(queue.due(None), None, "nothing queued");
        let warm = Some(Duration::from_millis(10));
        let policy = Policy {
            batch_events: 3,
            max_batch_delay: Duration::from_secs(60),
            ..Policy::default()
        };
        queue.push(entry(10), policy);
        assert_eq!(queue.due(None), Some(Due::Sparse), "the first invocation of a sandbox");
        assert_eq!(
            queue.due(Some(Duration::from_secs(5))),
            Some(Due::Sparse),
            "sparse traffic"
        );
        assert_eq!(queue.due(warm), None, "warm, one event");
        queue.push(entry(10), policy);
        queue.push(entry(10), policy);
        assert_eq!(queue.due(warm), Some(Due::Full), "a full batch");
        let old = Policy {
            max_batch_delay: Duration::ZERO,
            ..policy
        };
        let single = Queue::default();
        single.push(entry(10), old);
        assert_eq!(single.due(warm), Some(Due::Old), "the oldest waited long enough");
    }
}
