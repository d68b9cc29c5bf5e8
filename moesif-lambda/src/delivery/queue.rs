//! The bounded in-memory queue of events waiting for the after-response flush.
//!
//! Bounded by count and by an estimate of size (both options). When full, the newest event is
//! dropped and counted, with one warning per cold start: memory stays bounded whatever the traffic or
//! the collector does.

use super::transport::Transport;
use crate::capture::Call;
use crate::hooks::warn_once;
use crate::model::EventModel;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What waits in the queue: a recorded call (built and sampled at flush time) or an event already built
/// (an outgoing call, or one put back after a failed send).
#[derive(Debug)]
pub(crate) enum Item {
    Call(Box<Call>),
    Built(Box<EventModel>),
}

/// One queued item, with where it goes and its estimated size.
#[derive(Debug)]
pub(crate) struct Entry {
    pub transport: Arc<Transport>,
    pub item: Item,
    pub size: usize,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    bytes: usize,
}

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    inner: Mutex<Inner>,
    dropped: AtomicU64,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `entry` unless that would pass `max_events` or `max_bytes`; then it is dropped.
    pub(crate) fn push(&self, entry: Entry, max_events: usize, max_bytes: usize) -> bool {
        let mut inner = self.lock();
        if inner.entries.len() >= max_events || inner.bytes.saturating_add(entry.size) > max_bytes {
            drop(inner);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if entry.size > max_bytes {
                warn_once("event-over-queue-bytes", || {
                    tracing::warn!(
                        size = entry.size,
                        max_bytes,
                        "moesif: an event is larger than the queue's byte bound on its own and is dropped; \
                         lower max_body_bytes or raise queue_capacity's bytes"
                    )
                });
                return false;
            }
            warn_once("queue-full", || {
                tracing::warn!(
                    max_events,
                    max_bytes,
                    "moesif: the event queue is full; new events are dropped until it drains (count at debug level)"
                )
            });
            tracing::debug!(dropped, "moesif: event dropped, queue full");
            return false;
        }
        inner.bytes += entry.size;
        inner.entries.push_back(entry);
        true
    }

    /// Takes everything queued.
    pub(crate) fn drain(&self) -> Vec<Entry> {
        let mut inner = self.lock();
        inner.bytes = 0;
        inner.entries.drain(..).collect()
    }

    /// Puts entries that could not be sent back at the front, oldest first, within the bounds.
    pub(crate) fn requeue(&self, entries: Vec<Entry>, max_events: usize, max_bytes: usize) {
        let mut inner = self.lock();
        for entry in entries.into_iter().rev() {
            if inner.entries.len() >= max_events || inner.bytes.saturating_add(entry.size) > max_bytes {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            inner.bytes += entry.size;
            inner.entries.push_front(entry);
        }
    }

    /// How many entries wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// How many were dropped since the process started.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;

    fn entry(size: usize) -> Option<Entry> {
        let transport =
            Transport::try_from_options(&Options::new().application_id("x").base_uri("http://127.0.0.1:9")).ok()?;
        Some(Entry {
            transport: Arc::new(transport),
            item: Item::Built(Box::default()),
            size,
        })
    }

    #[test]
    fn drops_newest_when_full_and_counts() {
        let queue = Queue::default();
        for _ in 0..3 {
            let pushed = entry(10).map(|e| queue.push(e, 2, 1000));
            assert!(pushed.is_some());
        }
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.dropped(), 1);
        let pushed = entry(2000).map(|e| queue.push(e, 10, 1000));
        assert_eq!(pushed, Some(false), "over the byte bound");
        let drained = queue.drain();
        assert_eq!((drained.len(), queue.len()), (2, 0));
        queue.requeue(drained, 10, 1000);
        assert_eq!(queue.len(), 2);
    }
}
