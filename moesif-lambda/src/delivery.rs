//! Getting events to the collector, in one of two modes:
//!
//! - **after the response** (under [`crate::run`], which registered the internal extension): the call is
//!   queued in a few microseconds; the extension flushes the queue once the response has been posted;
//! - **synchronous** (plain `lambda_runtime::run`): the event is built and POSTed to `/v1/events` on a
//!   blocking thread before the invocation finishes, so nothing is lost when Lambda freezes the sandbox.

use crate::call::Call;
use crate::config::sample;
use crate::flush::serialise_within_limit;
use crate::hooks::warn_once;
use crate::model::EventModel;
use crate::queue::{Entry, Item, Queue};
use crate::transport::{Sent, Transport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The after-response queue, present once [`crate::run`] registered its extension.
static DEFERRED: OnceLock<Arc<Queue>> = OnceLock::new();

/// Switches the process to after-response delivery (for good); the queue every flush drains.
pub(crate) fn enable_deferred() -> Arc<Queue> {
    DEFERRED.get_or_init(|| Arc::new(Queue::default())).clone()
}

/// The after-response queue, if that mode is on.
pub(crate) fn deferred() -> Option<&'static Arc<Queue>> {
    DEFERRED.get()
}

/// Delivers one recorded call in the current mode. In synchronous mode it returns once the collector
/// answered (or failed), without blocking the async runtime's worker.
pub(crate) async fn deliver(transport: Arc<Transport>, call: Call) {
    if let Some(queue) = deferred() {
        enqueue_call(queue, transport, call);
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            if let Err(error) = runtime.spawn_blocking(move || deliver_now(&transport, call)).await {
                tracing::warn!(%error, "moesif: delivery task failed; the event is lost");
            }
        }
        Err(_) => deliver_now(&transport, call),
    }
}

/// Delivers one recorded call in the current mode, from blocking code.
pub(crate) fn deliver_blocking(transport: Arc<Transport>, call: Call) {
    match deferred() {
        Some(queue) => enqueue_call(queue, transport, call),
        None => deliver_now(&transport, call),
    }
}

/// The `flush_budget` of the handler that last queued a call (the extension cannot see handlers' options).
static FLUSH_BUDGET_MS: AtomicU64 = AtomicU64::new(crate::options::DEFAULT_FLUSH_BUDGET.as_millis() as u64);

/// The flush budget in force.
pub(crate) fn flush_budget() -> Duration {
    Duration::from_millis(FLUSH_BUDGET_MS.load(Ordering::Relaxed))
}

fn enqueue_call(queue: &Queue, transport: Arc<Transport>, call: Call) {
    FLUSH_BUDGET_MS.store(
        u64::try_from(call.options.flush_budget.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let size = call.event.estimated_size()
        + match &call.answer {
            crate::call::Answer::Response(Some(answer)) => answer.estimated_size(),
            _ => 64,
        };
    let (max_events, max_bytes) = (call.options.queue_capacity, call.options.queue_bytes);
    queue.push(
        Entry {
            transport,
            item: Item::Call(Box::new(call)),
            size,
        },
        max_events,
        max_bytes,
    );
}

/// Delivers an already built event (an outgoing call, captured on the caller's thread) in the current
/// mode, within the queue bounds of `options`. Blocking in synchronous mode: it is called from blocking
/// HTTP client code.
pub(crate) fn submit_built(transport: &Arc<Transport>, event: EventModel, options: &crate::options::Options) {
    match deferred() {
        Some(queue) => {
            let size = crate::body::serialized_len(&serde_json::to_value(&event).unwrap_or_default());
            let entry = Entry {
                transport: transport.clone(),
                item: Item::Built(Box::new(event)),
                size,
            };
            queue.push(entry, options.queue_capacity, options.queue_bytes);
        }
        None => send_one(transport, event, options.debug),
    }
}

/// Builds the event of `call` (hooks, skip, mask) and applies sampling; `None` if it is not to be sent.
pub(crate) fn build_sampled(transport: &Transport, call: Call) -> Option<EventModel> {
    let debug = call.options.debug;
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

/// Synchronous mode: build, sample and send one call now (blocking). A config fetch that is due runs on
/// a background thread, never on this path.
fn deliver_now(transport: &Arc<Transport>, call: Call) {
    let debug = call.options.debug;
    refresh_config_in_background(transport);
    if let Some(event) = build_sampled(transport, call) {
        send_one(transport, event, debug);
    }
}

fn send_one(transport: &Transport, event: EventModel, debug: bool) {
    let Some((_, body)) = serialise_within_limit(event) else {
        return;
    };
    let sent = transport.post_json("/v1/events", &body, None);
    if let Sent::Accepted { config_etag } = &sent {
        transport.config.note_etag(config_etag.as_deref());
    }
    report(&sent, transport, 1, debug);
}

fn refresh_config_in_background(transport: &Arc<Transport>) {
    let transport = transport.clone();
    let spawned = std::thread::Builder::new()
        .name("moesif-config".into())
        .spawn(move || transport.refresh_config(std::time::Duration::from_secs(5)));
    if let Err(error) = spawned {
        tracing::debug!(%error, "moesif: could not start the config thread");
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
