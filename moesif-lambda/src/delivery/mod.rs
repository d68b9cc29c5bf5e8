//! Getting events to the collector, in one of two modes:
//!
//! - **after the response** (under [`run`], which registered the internal extension): the call is
//!   queued in a few microseconds; the extension flushes the queue once the response has been posted
//!   ([`extension`], [`pipeline`]);
//! - **synchronous** (plain `lambda_runtime::run`): the event is built and POSTed to `/v1/events` on a
//!   blocking thread before the invocation finishes, so nothing is lost when Lambda freezes the sandbox
//!   ([`synchronous`]).
//!
//! Both build, sample and send through [`pipeline`]; [`transport`] is the HTTP, [`config`] the server's
//! sampling config, [`queue`] the bounded after-response queue.

pub(crate) mod config;
mod extension;
mod pipeline;
pub(crate) mod queue;
mod synchronous;
pub(crate) mod transport;

pub use extension::{flush, run};
pub use pipeline::FlushReport;
pub(crate) use transport::Transport;

use crate::capture::body::serialized_len;
use crate::capture::Call;
use crate::model::EventModel;
use crate::options::Options;
use queue::{Entry, Item, Queue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The after-response queue, present once [`crate::run`] registered its extension.
static AFTER_RESPONSE: OnceLock<Arc<Queue>> = OnceLock::new();

/// Switches the process to after-response delivery (for good); the queue every flush drains.
pub(crate) fn enable_after_response() -> Arc<Queue> {
    AFTER_RESPONSE.get_or_init(|| Arc::new(Queue::default())).clone()
}

/// The after-response queue, if that mode is on.
pub(crate) fn after_response_queue() -> Option<&'static Arc<Queue>> {
    AFTER_RESPONSE.get()
}

/// Delivers one recorded call in the current mode. In synchronous mode it returns once the collector
/// answered (or failed), without blocking the async runtime's worker.
pub(crate) async fn deliver(transport: Arc<Transport>, call: Call) {
    if let Some(queue) = after_response_queue() {
        enqueue_call(queue, transport, call);
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            if let Err(error) = runtime
                .spawn_blocking(move || synchronous::deliver(&transport, call))
                .await
            {
                tracing::warn!(%error, "moesif: delivery task failed; the event is lost");
            }
        }
        Err(_) => synchronous::deliver(&transport, call),
    }
}

/// Delivers one recorded call in the current mode, from blocking code.
pub(crate) fn deliver_blocking(transport: Arc<Transport>, call: Call) {
    match after_response_queue() {
        Some(queue) => enqueue_call(queue, transport, call),
        None => synchronous::deliver(&transport, call),
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
        u64::try_from(call.invocation.options.flush_budget.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    let size = call.estimated_size();
    let options = &call.invocation.options;
    let (max_events, max_bytes) = (options.queue_capacity, options.queue_bytes);
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
pub(crate) fn submit_built(transport: &Arc<Transport>, event: EventModel, options: &Options) {
    match after_response_queue() {
        Some(queue) => {
            let size = serialized_len(&serde_json::to_value(&event).unwrap_or_default());
            let entry = Entry {
                transport: transport.clone(),
                item: Item::Built(Box::new(event)),
                size,
            };
            queue.push(entry, options.queue_capacity, options.queue_bytes);
        }
        None => synchronous::send_one(transport, event, options.debug),
    }
}
