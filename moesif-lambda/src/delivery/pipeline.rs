//! The one pipeline both delivery modes use: take a batch from the queue, build each event (capture,
//! hooks), sample it, shrink it under the collector's limit, send the batch, report the outcome.
//!
//! A flush sends batch after batch until the queue is empty or its deadline passes. Under warm traffic
//! the runtime's loop instead builds one full batch and hands it to the delivery thread
//! ([`DueSends::send_in_background`]), so that it never waits for the collector's round trip. It never sleeps to
//! retry: a failed send (network, timeout, 5xx, 429) opens the collector's [`Breaker`], puts the batch
//! back and ends the flush, so an outage costs one bounded attempt per backoff period. A batch the
//! collector refuses (a 4xx) is split in halves until the refused event is alone: it is dropped, the
//! others are sent.
//!
//! [`Breaker`]: super::breaker::Breaker

use super::config::sample;
use super::json;
use super::queue::{Due, Entry, Item};
use super::transport::{Sent, Transport};
use crate::capture::body::omitted;
use crate::capture::Call;
use crate::hooks::warn_once;
use crate::model::{EventModel, MAX_EVENT_BYTES};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batches stay far below the collector's 50 MB limit.
const MAX_BATCH_BYTES: usize = 1_000_000;
const MAX_BATCH_EVENTS: usize = 500;

/// What one flush did (the middleware makes these; more counts may come, so it is
/// `#[non_exhaustive]`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Events (and actions) the collector accepted.
    pub sent: usize,
    /// Events left out by sampling or the `skip` hook.
    pub skipped: usize,
    /// Events the collector refused for good (a 4xx other than 429), or too large to send.
    pub rejected: usize,
    /// Events left queued for a later flush (collector unreachable or refusing for now, budget spent).
    pub requeued: usize,
}

/// Whether the collector's breaker is consulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Breaker {
    /// Send only while it allows (every flush but the last).
    Respect,
    /// One attempt whatever it says (a flush asked for, or at shutdown: a last chance).
    Ignore,
}

/// Sends what is queued for every collector, batch by batch, until the queues are empty or
/// `deadline` passes; a collector that fails keeps its events queued (its breaker opens) and the
/// others are still sent.
pub(crate) fn flush_blocking(deadline: Instant, breaker: Breaker) -> FlushReport {
    flush_all(deadline, breaker, &mut None)
}

/// [`flush_blocking`], telling `release` as soon as the last request it has to send is written: from
/// then on only the collector's answer is left, which the runtime's loop need not wait for, and what
/// is queued after that waits for a send of its own (when due). The
/// sandbox may be frozen before the answer comes; the request has left, and if its answer is lost
/// (the connection closed meanwhile), its events are put back and resent with their
/// `transaction_id`, by which the collector drops a copy it already has. While that answer is
/// awaited, the send counts as one under way in the background (see [`DueSends::sending`]).
/// `release` is dropped untold when nothing is left to send that way (nothing queued, the collector
/// unreachable, the config fetch failed).
pub(crate) fn flush_releasing(deadline: Instant, breaker: Breaker, release: Release) -> FlushReport {
    flush_all(deadline, breaker, &mut Some(release))
}

fn flush_all(deadline: Instant, breaker: Breaker, release: &mut Option<Release>) -> FlushReport {
    let mut report = FlushReport::default();
    let transports = Transport::all();
    // The collectors go one after the other: the release waits for the last that has events.
    let last = transports.iter().rposition(|transport| transport.queue.len() > 0);
    for (i, transport) in transports.iter().enumerate() {
        if remaining(deadline).is_none() {
            break;
        }
        let mut release = release.take_if(|_| Some(i) == last);
        flush_one(
            transport,
            deadline,
            breaker,
            Extent::UntilEmpty,
            &mut release,
            &mut report,
        );
    }
    report
}

/// Told once a flush's last request has been written ([`flush_releasing`]).
pub(crate) struct Release(pub(crate) tokio::sync::oneshot::Sender<()>);

/// Sends what one connection has queued, within `deadline` (a [`crate::Client`]'s flush).
pub(crate) fn flush_transport(transport: &Arc<Transport>, deadline: Instant) -> FlushReport {
    let mut report = FlushReport::default();
    flush_one(
        transport,
        deadline,
        Breaker::Ignore,
        Extent::UntilEmpty,
        &mut None,
        &mut report,
    );
    report
}

/// How the end of an invocation sends what is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Sending {
    /// The sandbox's first invocation, sparse traffic or an old event: the loop waits until the send's
    /// request is written (the sandbox may sit frozen for long after it; see [`flush_releasing`]).
    UntilWritten,
    /// Full batches under warm traffic (or anything due while a send's answer is still awaited): the
    /// loop does not wait for the collector (see [`DueSends::send_in_background`]).
    InTheBackground,
}

/// The collectors with a send due at the end of an invocation, each with why it is due.
pub(crate) struct DueSends(Vec<(Arc<Transport>, Due)>);

/// What is due at the end of an invocation that came after `idle` (see [`Queue::due`]); `None` when
/// nothing is. A collector whose breaker holds sends back is never due.
///
/// [`Queue::due`]: super::queue::Queue::due
pub(crate) fn due(idle: Option<Duration>) -> Option<DueSends> {
    let due: Vec<_> = Transport::all()
        .into_iter()
        .filter(|transport| transport.breaker.allows())
        .filter_map(|transport| {
            let why = transport.queue.due(idle)?;
            Some((transport, why))
        })
        .collect();
    (!due.is_empty()).then_some(DueSends(due))
}

impl DueSends {
    /// How they go: in the background only when that is so of every one of them.
    pub(crate) fn sending(&self) -> Sending {
        self.0
            .iter()
            .map(|(transport, why)| {
                // Never wait behind a send whose answer is awaited (a hanging collector holds it).
                let unanswered = transport.background_sends.load(Ordering::Relaxed) > 0;
                match why {
                    _ if unanswered => Sending::InTheBackground,
                    Due::Full => Sending::InTheBackground,
                    Due::Sparse | Due::Old => Sending::UntilWritten,
                }
            })
            .min()
            .unwrap_or(Sending::InTheBackground)
    }

    /// Sends them without making the runtime's loop wait for the collector. A full batch is built,
    /// serialised and compressed here, on the loop after the response (work the sandbox does anyway,
    /// while its CPU is warm); the delivery thread sends it and waits for the answer while the next
    /// invocations run. Nothing is fetched first: the config in force samples, and a fetch the answer
    /// asks for follows the send (a collector whose config was never fetched, after a failed first
    /// send, has its batch built on the delivery thread, after the fetch). At most two such sends per
    /// collector: one awaiting its answer, one behind it; the last to finish sends what became due
    /// meanwhile. An answer that never comes puts the batch back, as in any send; its events keep their
    /// `transaction_id`, by which the collector drops a copy it already has.
    pub(crate) fn send_in_background(self, deadline: Instant) {
        if !super::worker::available() {
            return; // no delivery thread: everything stays queued, as with every other send
        }
        // What building skips (sampling, the skip hook) is not reported: nobody asked for this send.
        let mut skipped = FlushReport::default();
        for (transport, why) in self.0 {
            if transport.background_sends.load(Ordering::Relaxed) >= 2 {
                continue; // it waits in the queue; the send that finishes last takes it
            }
            let built = (why == Due::Full && transport.config.fetched())
                .then(|| Batch::take(transport.clone(), true, &mut skipped));
            let underway = Underway::start(&transport);
            super::worker::spawn(move || {
                let mut report = FlushReport::default();
                match built {
                    Some(batch) => {
                        if batch.send(deadline, &mut report) {
                            if let Some(left) = remaining(deadline) {
                                transport.refresh_config(left);
                            }
                        }
                    }
                    None => {
                        let extent = if why == Due::Full {
                            Extent::OneBatch
                        } else {
                            Extent::UntilEmpty
                        };
                        flush_one(&transport, deadline, Breaker::Respect, extent, &mut None, &mut report);
                    }
                }
                drop(underway);
                if transport.background_sends.load(Ordering::Relaxed) == 0
                    && transport.queue.is_due_within(transport.policy().max_batch_delay)
                    && transport.breaker.allows()
                {
                    // A batch filled while the answer was awaited, and no invocation may come to send it.
                    let deadline = Instant::now() + transport.policy().flush_budget;
                    flush_one(
                        &transport,
                        deadline,
                        Breaker::Respect,
                        Extent::OneBatch,
                        &mut None,
                        &mut report,
                    );
                }
            });
        }
    }
}

/// A send handed to the delivery thread, counted in its collector's `background_sends` until dropped:
/// when it is done, or when a bug in it panicked (the count never sticks).
struct Underway(Arc<Transport>);

impl Underway {
    fn start(transport: &Arc<Transport>) -> Underway {
        transport.background_sends.fetch_add(1, Ordering::Relaxed);
        Underway(transport.clone())
    }
}

impl Drop for Underway {
    fn drop(&mut self) {
        self.0.background_sends.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether any collector's queue is due to be sent by a background sender, where sending costs no
/// invocation anything: a full batch, or an event older than a second (or the max batch delay).
pub(crate) fn any_due_in_background() -> bool {
    Transport::all()
        .iter()
        .any(|transport| transport.queue.is_due_within(BACKGROUND_MAX_DELAY) && transport.breaker.allows())
}

/// The longest an event waits for a batch when a background sender sends.
const BACKGROUND_MAX_DELAY: Duration = Duration::from_secs(1);

/// How much of a queue one flush sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extent {
    /// Until it is empty (or the deadline passes, or the collector fails).
    UntilEmpty,
    /// One batch; the rest goes with a later send.
    OneBatch,
}

/// Sends `transport`'s queue (all of it, or one batch) until `deadline` passes or the collector fails.
fn flush_one(
    transport: &Arc<Transport>,
    deadline: Instant,
    breaker: Breaker,
    mut extent: Extent,
    release: &mut Option<Release>,
    report: &mut FlushReport,
) {
    let queue = &transport.queue;
    let mut sent_any = false;
    // A send whose answer is awaited after the release: counted as under way until the flush ends.
    let mut _underway = None;
    while let Some(left) = remaining(deadline) {
        if (queue.len() == 0 || extent == Extent::OneBatch) && sent_any {
            // An answer of this flush may have named new rules or a new config: fetched now, so that
            // they apply from the next request on rather than after the next send.
            transport.refresh_config(left);
            return;
        }
        if queue.len() == 0 || (breaker == Breaker::Respect && !transport.breaker.allows()) {
            return;
        }
        // Sampling needs the server config: fetched first when due (cold start, a new ETag), with the
        // governance rules. Both before the events, while the runtime's loop still waits: once the
        // events are written the loop goes on and the sandbox may freeze before any later fetch.
        if !transport.refresh_config(left) {
            transport.breaker.record_failure(None);
            return;
        }
        let batch = Batch::take(transport.clone(), false, report);
        let sent = match release.take_if(|_| batch.is_the_last()) {
            None => batch.send(deadline, report),
            Some(Release(release)) => {
                // What is queued once the loop has gone on waits for a send of its own (when due), as
                // it would have if the loop had waited for this one.
                extent = Extent::OneBatch;
                _underway = Some(Underway::start(transport));
                let release = Box::new(move || {
                    let _ = release.send(());
                });
                transport.when_written(release, || batch.send(deadline, report))
            }
        };
        if !sent {
            return;
        }
        sent_any = true;
    }
}

/// One batch taken from a collector's queue: its events built, sampled and serialised (and their
/// request body compressed, when built on the runtime's loop), until it is sent.
struct Batch {
    transport: Arc<Transport>,
    /// How many entries it took from the queue.
    taken: usize,
    events: Vec<Serialised>,
    actions: Vec<Serialised>,
    /// Whether any event's options asked for debug logging.
    debug: bool,
    /// The events' request body, compressed ahead (`None`: compressed as it is sent).
    body: Option<Vec<u8>>,
}

impl Batch {
    /// Whether nothing of its collector's queue is left to send after this batch's one request.
    fn is_the_last(&self) -> bool {
        self.actions.is_empty() && self.transport.queue.len() == 0
    }

    /// Takes the next batch of `transport`'s queue and builds it; `compress` makes its request body now.
    fn take(transport: Arc<Transport>, compress: bool, report: &mut FlushReport) -> Batch {
        let entries = transport.queue.take_batch(MAX_BATCH_EVENTS, MAX_BATCH_BYTES);
        let taken = entries.len();
        let (events, actions, debug) = prepare(&transport, entries, report);
        let body = compress
            .then(|| joined(&events, 0, events.len()))
            .flatten()
            .and_then(|json| transport.compress(&json).ok());
        Batch {
            transport,
            taken,
            events,
            actions,
            debug,
            body,
        }
    }

    /// Sends the events, then the actions, within `deadline`; puts back what could not go (an outage
    /// opens the breaker). Whether everything went (or was refused for good).
    fn send(self, deadline: Instant, report: &mut FlushReport) -> bool {
        let (transport, debug) = (&self.transport, self.debug);
        let send = |path, batch: &[Serialised], body, report: &mut FlushReport| {
            send_range(transport, path, batch, 0, batch.len(), body, deadline, debug, report).err()
        };
        let events_stop = send(EVENTS, &self.events, self.body, report);
        // The actions go once the events have; if the events could not, the actions wait with them.
        let actions_stop = match events_stop {
            None => send(ACTIONS, &self.actions, None, report),
            Some(_) => Some(Stop::unsent_from(0)),
        };
        let stop = events_stop.or(actions_stop);
        if let Some(Stop {
            outage: true,
            retry_after,
            ..
        }) = stop
        {
            let wait = transport.breaker.record_failure(retry_after);
            tracing::debug!(?wait, "moesif: collector unavailable; sends paused");
        }
        let events_from = events_stop.map_or(self.events.len(), |stop| stop.from);
        let actions_from = actions_stop.map_or(self.actions.len(), |stop| stop.from);
        let unsent: Vec<Entry> = unsent(self.events, events_from, Item::Ready)
            .chain(unsent(self.actions, actions_from, Item::Action))
            .collect();
        report.requeued += unsent.len();
        transport.queue.settle(self.taken - unsent.len());
        transport.queue.put_back(unsent);
        stop.is_none()
    }
}

/// The JSON array of `batch[from..to]`; `None` when it is over the batch size (it is split).
fn joined(batch: &[Serialised], from: usize, to: usize) -> Option<Vec<u8>> {
    let events = batch.get(from..to)?;
    let bytes: usize = events.iter().map(|(bytes, _)| bytes.len() + 1).sum();
    if events.len() > 1 && bytes > MAX_BATCH_BYTES {
        return None;
    }
    let mut body = Vec::with_capacity(bytes + 2);
    body.push(b'[');
    for (index, (event, _)) in events.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.push(b']');
    Some(body)
}

/// Where events go.
const EVENTS: &str = "/v1/events/batch";
/// Where actions go.
const ACTIONS: &str = "/v1/actions/batch";

/// A serialised event or action and when it was queued.
type Serialised = (Vec<u8>, Instant);

/// The entries of `sent` from index `from` on, as queue entries of the kind `item` makes.
fn unsent(sent: Vec<Serialised>, from: usize, item: fn(Vec<u8>) -> Item) -> impl Iterator<Item = Entry> {
    sent.into_iter().skip(from).map(move |(bytes, queued_at)| Entry {
        size: bytes.len(),
        item: item(bytes),
        queued_at,
    })
}

/// Builds and samples what needs it and serialises every event of a batch: the events' JSON and when
/// each was queued, then the actions'. Also whether any event's options asked for debug logging.
fn prepare(
    transport: &Transport,
    entries: Vec<Entry>,
    report: &mut FlushReport,
) -> (Vec<Serialised>, Vec<Serialised>, bool) {
    let mut ready = Vec::with_capacity(entries.len());
    let mut actions = Vec::new();
    let mut debug = false;
    for entry in entries {
        let event = match entry.item {
            Item::Ready(bytes) => {
                ready.push((bytes, entry.queued_at));
                continue;
            }
            Item::Action(bytes) => {
                actions.push((bytes, entry.queued_at));
                continue;
            }
            Item::Call(call) => {
                debug |= call.invocation.options.debug;
                build_sampled(transport, *call)
            }
            // Capture is plain code, but a bug in it must cost one event, never the queue.
            Item::Later(later) => crate::hooks::call("outgoing capture", || later.build())
                .flatten()
                .and_then(|event| sampled(transport, event, false)),
        };
        match event.and_then(serialise_within_limit) {
            Some((_, bytes)) => ready.push((bytes, entry.queued_at)),
            None => report.skipped += 1,
        }
    }
    (ready, actions, debug)
}

/// Where and why sending stopped: events from index `from` on are unsent.
#[derive(Clone, Copy)]
struct Stop {
    from: usize,
    outage: bool,
    retry_after: Option<Duration>,
}

impl Stop {
    /// Not sent from `from` on, for want of time (or because what had to go first could not).
    fn unsent_from(from: usize) -> Stop {
        Stop {
            from,
            outage: false,
            retry_after: None,
        }
    }
}

/// Sends `batch[from..to]` (`body`: its request body, compressed ahead), splitting it when it is over
/// the batch size or the collector refuses it, until a refused event is alone (dropped). Stops at the
/// first outage or when the budget is spent.
#[allow(clippy::too_many_arguments)]
fn send_range(
    transport: &Transport,
    path: &str,
    batch: &[Serialised],
    from: usize,
    to: usize,
    body: Option<Vec<u8>>,
    deadline: Instant,
    debug: bool,
    report: &mut FlushReport,
) -> Result<(), Stop> {
    let count = to - from;
    if count == 0 {
        return Ok(());
    }
    let split = |report: &mut FlushReport| {
        let middle = from + count / 2;
        send_range(transport, path, batch, from, middle, None, deadline, debug, report)?;
        send_range(transport, path, batch, middle, to, None, deadline, debug, report)
    };
    let body = match body {
        Some(body) => Ok(body),
        None => match joined(batch, from, to) {
            Some(json) => transport.compress(&json),
            None => return split(report),
        },
    };
    let Some(left) = remaining(deadline) else {
        return Err(Stop::unsent_from(from));
    };
    let (mut sent, body) = match body {
        Ok(body) => (transport.post_gzipped(path, &body, Some(left)), Some(body)),
        Err(error) => (
            Sent::Failed {
                error: ureq::Error::Io(error),
                timed_out: false,
            },
            None,
        ),
    };
    if let (Some(body), Sent::Failed { timed_out: false, .. }, Some(left)) = (&body, &sent, remaining(deadline)) {
        // Once, at once: a keep-alive connection the collector closed while the sandbox was frozen.
        sent = transport.post_gzipped(path, body, Some(left));
    }
    report_outcome(&sent, transport, count, debug);
    match sent {
        Sent::Accepted { config_etag, rules_tag } => {
            transport.breaker.record_success();
            transport.config.note_etag(config_etag.as_deref());
            transport.rules.note_etag(rules_tag.as_deref());
            report.sent += count;
            Ok(())
        }
        ref outage if outage.is_outage() => Err(Stop {
            from,
            outage: true,
            retry_after: match outage {
                Sent::Status { retry_after, .. } => *retry_after,
                _ => None,
            },
        }),
        Sent::Status { status: 401 | 403, .. } => {
            report.rejected += count;
            Ok(())
        }
        Sent::Status { .. } if count > 1 => split(report),
        Sent::Status { status, .. } => {
            warn_once("collector-refused-event", || {
                tracing::warn!(
                    status,
                    "moesif: the collector refused an event; it is dropped, the others are sent                      (further refusals at debug level)"
                )
            });
            report.rejected += 1;
            Ok(())
        }
        Sent::Failed { .. } => Err(Stop {
            from,
            outage: true,
            retry_after: None,
        }),
        // No outage: the events go again with the next send, with their transaction ids.
        Sent::Frozen { .. } => Err(Stop::unsent_from(from)),
    }
}

/// Builds the event of `call` (hooks, skip, mask) and samples it; `None` if it is not to be sent.
pub(crate) fn build_sampled(transport: &Transport, call: Call) -> Option<EventModel> {
    let debug = call.invocation.options.debug;
    // Capture is plain code, but a bug in it must cost one event, never the function or the queue.
    let Some(event) = crate::hooks::call("capture", || call.into_event()).flatten() else {
        log_debug(debug, "moesif: event skipped (skip hook, or mask hook failed)");
        return None;
    };
    sampled(transport, event, debug)
}

/// `event` with its sampling weight, or `None` when sampling leaves it out (the server config's rules).
fn sampled(transport: &Transport, mut event: EventModel, debug: bool) -> Option<EventModel> {
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
fn report_outcome(sent: &Sent, transport: &Transport, count: usize, debug: bool) {
    match sent {
        Sent::Accepted { .. } => log_debug(debug, "moesif: events accepted by the collector"),
        Sent::Status { status: 401 | 403, .. } => warn_once("collector-401", || {
            tracing::warn!("moesif: the collector rejected the application id (401); check MOESIF_APPLICATION_ID")
        }),
        Sent::Status { status, .. } if sent.is_outage() => warn_once("collector-status", || {
            tracing::warn!(
                status,
                count,
                "moesif: the collector is not accepting events for now; they stay queued and sends pause \
                 (further failures at debug level)"
            )
        }),
        Sent::Status { .. } => {}
        Sent::Frozen { .. } => {
            tracing::debug!("moesif: the sandbox was frozen while a send awaited its answer; its events go again")
        }
        Sent::Failed { error, .. } => warn_once("collector-unreachable", || {
            tracing::warn!(
                base_uri = transport.base_uri(),
                error = %error,
                count,
                "moesif: could not reach the collector; events stay queued and sends pause \
                 (further failures at debug level)"
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

/// An event's JSON ([`json::to_vec`]), in a buffer sized for a typical event at once (growing from
/// serde_json's 128 bytes took four reallocations per event).
pub(crate) fn serialised(event: &EventModel) -> Option<Vec<u8>> {
    json::to_vec(event, 2048).ok()
}

/// The event's JSON, shrunk if it is over the collector's 1 MB limit: bodies first, then metadata,
/// then headers. `None` (with a warning) if even that is too large.
pub(crate) fn serialise_within_limit(mut event: EventModel) -> Option<(EventModel, Vec<u8>)> {
    let mut bytes = serialised(&event)?;
    let steps: [fn(&mut EventModel, usize); 3] = [
        |event, size| {
            if event.request.body.is_some() {
                event.request.body = Some(omitted(size));
                event.request.transfer_encoding = Some(crate::model::TransferEncoding::Json);
            }
            if event.response.body.is_some() {
                event.response.body = Some(omitted(size));
                event.response.transfer_encoding = Some(crate::model::TransferEncoding::Json);
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
        bytes = serialised(&event)?;
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
    fn a_send_under_way_is_counted_until_done_even_when_it_panics() {
        let options = crate::Options::new()
            .application_id("underway")
            .base_uri("http://127.0.0.1:9");
        let Ok(transport) = Transport::isolated(&options) else {
            panic!("a transport");
        };
        let count = |t: &Transport| t.background_sends.load(Ordering::Relaxed);
        let done = Underway::start(&transport);
        let broken = Underway::start(&transport);
        assert_eq!(count(&transport), 2);
        assert_eq!(super::super::worker::run_blocking(move || drop(done)), Some(()));
        assert_eq!(count(&transport), 1);
        let job = move || {
            let _underway = broken;
            panic!("a bug in a send");
        };
        assert_eq!(super::super::worker::run_blocking(job), None, "the job panicked");
        assert_eq!(count(&transport), 0, "the count does not stick");
    }

    #[test]
    fn small_event_is_untouched() {
        let event = EventModel::default();
        let out = serialise_within_limit(event.clone()).map(|(e, _)| e);
        assert_eq!(out, Some(event));
    }
}
