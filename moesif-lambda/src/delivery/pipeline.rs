//! The one pipeline both delivery modes use: build the event (capture, hooks), sample it, shrink it
//! under the collector's limit, send it, report the outcome. After the response, [`flush_blocking`]
//! drains the queue through it, sending gzipped batches with retries inside a time budget and putting
//! back what could not be sent.

use super::config::sample;
use super::queue::{Entry, Item, Queue};
use super::transport::{Sent, Transport};
use crate::capture::body::omitted;
use crate::capture::Call;
use crate::hooks::warn_once;
use crate::model::{EventModel, MAX_EVENT_BYTES};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
/// Batches stay far below the collector's 50 MB limit.
const MAX_BATCH_BYTES: usize = 1_000_000;
const MAX_BATCH_EVENTS: usize = 500;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What one flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushReport {
    /// Events the collector accepted.
    pub sent: usize,
    /// Events left out by sampling or the `skip` hook.
    pub skipped: usize,
    /// Events the collector refused for good (a 4xx other than 429), or too large to send.
    pub rejected: usize,
    /// Events put back in the queue for the next flush (collector unreachable, budget spent).
    pub requeued: usize,
}

/// Flushes everything queued, blocking, until `deadline` at the latest.
pub(crate) fn flush_blocking(queue: &Queue, deadline: Instant) -> FlushReport {
    let mut report = FlushReport::default();
    let mut groups: Vec<(Arc<Transport>, Vec<Entry>)> = Vec::new();
    for entry in queue.drain() {
        match groups
            .iter_mut()
            .find(|(transport, _)| Arc::ptr_eq(transport, &entry.transport))
        {
            Some((_, entries)) => entries.push(entry),
            None => groups.push((entry.transport.clone(), vec![entry])),
        }
    }
    for (transport, entries) in groups {
        if let Some(remaining) = remaining(deadline) {
            transport.refresh_config(remaining);
        }
        let mut bounds = (usize::MAX, usize::MAX);
        let mut events = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.item {
                Item::Call(call) => {
                    let options = &call.invocation.options;
                    bounds = bounds.min((options.queue_capacity, options.queue_bytes));
                    let debug = options.debug;
                    match build_sampled(&transport, *call) {
                        Some(event) => events.push((event, debug)),
                        None => report.skipped += 1,
                    }
                }
                Item::Built(event) => events.push((*event, false)),
            }
        }
        let debug = events.iter().any(|(_, debug)| *debug);
        let events: Vec<EventModel> = events.into_iter().map(|(event, _)| event).collect();
        let (sent, rejected, unsent) = send_in_batches(&transport, events, deadline, debug);
        report.sent += sent;
        report.rejected += rejected;
        report.requeued += unsent.len();
        let (max_events, max_bytes) = if bounds.0 == usize::MAX {
            (
                crate::options::DEFAULT_QUEUE_CAPACITY,
                crate::options::DEFAULT_QUEUE_BYTES,
            )
        } else {
            bounds
        };
        let back = unsent
            .into_iter()
            .map(|(event, size)| Entry {
                transport: transport.clone(),
                item: Item::Built(Box::new(event)),
                size,
            })
            .collect();
        queue.requeue(back, max_events, max_bytes);
    }
    report
}

/// Builds the event of `call` (hooks, skip, mask) and applies sampling; `None` if it is not to be sent.
pub(crate) fn build_sampled(transport: &Transport, call: Call) -> Option<EventModel> {
    let debug = call.invocation.options.debug;
    // Capture is plain code, but a bug in it must cost one event, never the function or the queue.
    let Some(mut event) = crate::hooks::call("capture", || call.into_event()).flatten() else {
        log_debug(debug, "moesif: event skipped (skip hook, or mask hook failed)");
        return None;
    };
    let rate = transport
        .config
        .current()
        .map_or(100.0, |config| config.sample_rate(&event));
    match sample(rate) {
        Some(weight) => {
            event.weight = weight;
            Some(event)
        }
        None => {
            log_debug(debug, "moesif: event left out by sampling");
            None
        }
    }
}

/// Logs the outcome of a POST: failures are warned about once per kind per process (then at debug
/// level), never raised.
pub(crate) fn report(sent: &Sent, transport: &Transport, count: usize, debug: bool) {
    match sent {
        Sent::Accepted { .. } => log_debug(debug, "moesif: events accepted by the collector"),
        Sent::Status(401) => warn_once("collector-401", || {
            tracing::warn!("moesif: the collector rejected the application id (401); check MOESIF_APPLICATION_ID")
        }),
        Sent::Status(status) => warn_once("collector-status", || {
            tracing::warn!(
                status,
                count,
                "moesif: the collector did not accept events (further failures at debug level)"
            )
        }),
        Sent::Failed(error) => warn_once("collector-unreachable", || {
            tracing::warn!(
                base_uri = transport.base_uri(),
                error = %error,
                count,
                "moesif: could not reach the collector (further failures at debug level)"
            )
        }),
    }
    if !matches!(sent, Sent::Accepted { .. }) {
        tracing::debug!(?sent, count, "moesif: delivery failed");
    }
}

/// Logs at `info` when the `debug` option is on, else at `debug`.
pub(crate) fn log_debug(debug: bool, message: &str) {
    if debug {
        tracing::info!("{message}");
    } else {
        tracing::debug!("{message}");
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
}

/// Serialises each event (shrinking any over the collector's limit), groups them into batches and
/// sends each batch with retries. Returns (sent, rejected, unsent events with their sizes).
fn send_in_batches(
    transport: &Transport,
    events: Vec<EventModel>,
    deadline: Instant,
    debug: bool,
) -> (usize, usize, Vec<(EventModel, usize)>) {
    let mut rejected = 0;
    let mut serialised = Vec::with_capacity(events.len());
    for event in events {
        match serialise_within_limit(event) {
            Some(pair) => serialised.push(pair),
            None => rejected += 1,
        }
    }
    let mut sent = 0;
    let mut unsent = Vec::new();
    let mut batch: Vec<(EventModel, Vec<u8>)> = Vec::new();
    let mut batch_bytes = 0;
    let mut pending = serialised.into_iter().peekable();
    while let Some((event, bytes)) = pending.next() {
        batch_bytes += bytes.len() + 1;
        batch.push((event, bytes));
        let next_fits = pending
            .peek()
            .is_some_and(|(_, next)| batch_bytes + next.len() < MAX_BATCH_BYTES && batch.len() < MAX_BATCH_EVENTS);
        if next_fits {
            continue;
        }
        let full = std::mem::take(&mut batch);
        batch_bytes = 0;
        match send_with_retry(transport, &full, deadline, debug) {
            Outcome::Sent => sent += full.len(),
            Outcome::Rejected => rejected += full.len(),
            Outcome::Unsent => unsent.extend(full.into_iter().map(|(event, bytes)| (event, bytes.len()))),
        }
    }
    (sent, rejected, unsent)
}

enum Outcome {
    Sent,
    Rejected,
    Unsent,
}

fn send_with_retry(transport: &Transport, batch: &[(EventModel, Vec<u8>)], deadline: Instant, debug: bool) -> Outcome {
    let mut body = Vec::with_capacity(batch.iter().map(|(_, b)| b.len() + 1).sum::<usize>() + 2);
    body.push(b'[');
    for (index, (_, bytes)) in batch.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(bytes);
    }
    body.push(b']');
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Some(left) = remaining(deadline) else {
            return Outcome::Unsent;
        };
        let sent = transport.post_json("/v1/events/batch", &body, Some(left));
        report(&sent, transport, batch.len(), debug);
        match sent {
            Sent::Accepted { config_etag } => {
                transport.config.note_etag(config_etag.as_deref());
                return Outcome::Sent;
            }
            Sent::Status(status) if status != 429 && status < 500 => return Outcome::Rejected,
            _ => {}
        }
        match remaining(deadline) {
            Some(left) if left > backoff => std::thread::sleep(backoff),
            _ => return Outcome::Unsent,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// The event's JSON, shrunk if it is over the collector's 1 MB limit: bodies first, then metadata,
/// then headers. `None` (with a warning) if even that is too large.
pub(crate) fn serialise_within_limit(mut event: EventModel) -> Option<(EventModel, Vec<u8>)> {
    let mut bytes = serde_json::to_vec(&event).ok()?;
    let steps: [fn(&mut EventModel, usize); 3] = [
        |event, size| {
            if event.request.body.is_some() {
                event.request.body = Some(omitted(size));
                event.request.transfer_encoding = Some("json".into());
            }
            if event.response.body.is_some() {
                event.response.body = Some(omitted(size));
                event.response.transfer_encoding = Some("json".into());
            }
        },
        |event, _| {
            if event.metadata.is_some() {
                event.metadata = Some(json!({ "moesif_metadata_omitted": "event larger than 1 MB" }));
            }
        },
        |event, _| {
            event.request.headers = json!({});
            event.response.headers = json!({});
        },
    ];
    for shrink in steps {
        if bytes.len() <= MAX_EVENT_BYTES {
            return Some((event, bytes));
        }
        shrink(&mut event, bytes.len());
        bytes = serde_json::to_vec(&event).ok()?;
    }
    if bytes.len() <= MAX_EVENT_BYTES {
        return Some((event, bytes));
    }
    warn_once("event-too-large", || {
        tracing::warn!(
            size = bytes.len(),
            "moesif: an event stays over 1 MB after shrinking; it is dropped"
        )
    });
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_event_is_shrunk_bodies_first() {
        let mut event = EventModel::default();
        event.request.body = Some(json!("x".repeat(2_000_000)));
        event.metadata = Some(json!({"small": true}));
        let shrunk = serialise_within_limit(event);
        let (event, bytes) = shrunk.unwrap_or_default();
        assert!(bytes.len() <= MAX_EVENT_BYTES && !bytes.is_empty());
        assert!(event
            .request
            .body
            .is_some_and(|b| b.get("moesif_body_omitted").is_some()));
        assert_eq!(
            event.metadata,
            Some(json!({"small": true})),
            "metadata kept when bodies suffice"
        );
    }

    #[test]
    fn small_event_is_untouched() {
        let event = EventModel::default();
        let out = serialise_within_limit(event.clone()).map(|(e, _)| e);
        assert_eq!(out, Some(event));
    }
}
