//! Getting events to the collector. Every event (an invocation's, an outgoing call's) goes into the
//! bounded [`queue`] of its collector connection ([`Transport::shared`]); what differs is when queues
//! are sent:
//!
//! - **after the response** (under [`run()`]): the call is queued in a few microseconds; once the
//!   response has been posted, the runtime layer sends the queue if a send is due (a full batch, an old
//!   event, sparse traffic), else lets the sandbox go at once ([`runtime_layer`]); what is queued at
//!   `SIGTERM` is sent then ([`shutdown`]; Lambda sends the signal because [`extension`] registered);
//! - **synchronous** (plain `lambda_runtime::run`): the queue is sent before the invocation ends, never
//!   past its deadline, so nothing waits in a frozen sandbox ([`synchronous`]).
//!
//! Both send through [`pipeline`] on one delivery thread ([`worker`]); [`transport`] is the HTTP,
//! [`breaker`] holds sends back while the collector is failing, [`config`] is the server's sampling.

mod breaker;
pub(crate) mod config;
mod extension;
mod governed;
mod gzip;
mod json;
mod pipeline;
pub(crate) mod queue;
mod resolver;
mod run;
mod runtime_layer;
mod shutdown;
mod synchronous;
pub(crate) mod transport;
mod worker;
mod written;

pub use governed::prefetch_governance;
pub(crate) use governed::Governed;
#[cfg(feature = "bench-internals")]
pub(crate) use pipeline::serialised;
pub use pipeline::FlushReport;
#[cfg(feature = "http")]
pub(crate) use run::run_runtime;
pub use run::{flush, run, run_concurrent};
pub use runtime_layer::MoesifRuntimeLayer;
pub(crate) use transport::Transport;

use crate::capture::Call;
use crate::options::Options;
pub(crate) use queue::BuildLater;
use queue::{Entry, Item};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Switches the process to after-response delivery (for good).
pub(crate) fn enable_after_response() {
    crate::process::PROCESS.after_response.store(true, Ordering::Relaxed);
}

fn after_response() -> bool {
    crate::process::PROCESS.after_response.load(Ordering::Relaxed)
}

/// Queues one recorded call; in synchronous mode also returns the send of the queue to await before
/// the invocation ends (on the delivery thread, never past its deadline, without blocking the async
/// runtime).
pub(crate) fn deliver(transport: Arc<Transport>, call: Call) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
    let deadline = enqueue_call(&transport, call)?;
    Some(Box::pin(async move {
        worker::run(move || synchronous::flush(deadline)).await;
    }))
}

/// [`deliver`], from blocking code.
pub(crate) fn deliver_blocking(transport: Arc<Transport>, call: Call) {
    if let Some(deadline) = enqueue_call(&transport, call) {
        worker::run_blocking(move || synchronous::flush(deadline));
    }
}

/// Queues one recorded call without waiting: in synchronous mode the send starts on the delivery
/// thread in the background (for code that cannot wait, such as a response body reaching its end).
#[cfg(feature = "http")]
pub(crate) fn deliver_detached(transport: Arc<Transport>, call: Call) {
    if let Some(deadline) = enqueue_call(&transport, call) {
        worker::spawn(move || synchronous::flush(deadline));
    }
}

/// Queues `call`; in synchronous mode, when the send that must follow has to be over.
fn enqueue_call(transport: &Transport, call: Call) -> Option<std::time::Instant> {
    let deadline = (!after_response()).then(|| synchronous::deadline(&call));
    let size = call.estimated_size();
    transport
        .queue
        .push(Entry::new(Item::Call(Box::new(call)), size), transport.policy());
    deadline
}

/// Queues what an event will be built from when it is sent (an outgoing call, as seen on the caller's
/// thread; `size`: about how many bytes it holds). Never sends: it goes with the invocation's own event
/// (before the invocation ends in synchronous mode, after the response otherwise), so the caller's HTTP
/// call never waits on the collector, nor on building the event.
///
/// Outside any invocation (in the function's init code, say) there is no such send to go with: in
/// synchronous mode a send then starts on the delivery thread, and the caller does not wait for it.
pub(crate) fn submit_later(transport: &Arc<Transport>, later: Box<dyn BuildLater>, size: usize, options: &Options) {
    submit(transport, Item::Later(later), size, options);
}

/// Queues a serialised action (the `actions` module): it goes with the events, as [`submit_later`] says.
pub(crate) fn submit_action(transport: &Arc<Transport>, json: Vec<u8>, options: &Options) {
    let size = json.len();
    submit(transport, Item::Action(json), size, options);
}

fn submit(transport: &Arc<Transport>, item: Item, size: usize, options: &Options) {
    transport.queue.push(Entry::new(item, size), transport.policy());
    if !after_response() && crate::current::request_id().is_none() {
        let deadline = std::time::Instant::now() + options.request_timeout;
        worker::spawn(move || synchronous::flush(deadline));
    }
}

/// Sends what `transport` has queued, within `budget`, on the delivery thread.
pub(crate) async fn flush_transport(transport: Arc<Transport>, budget: std::time::Duration) -> FlushReport {
    let deadline = std::time::Instant::now() + budget;
    worker::run(move || pipeline::flush_transport(&transport, deadline))
        .await
        .unwrap_or_default()
}

/// Over every collector: events queued, events held by a send in flight, events dropped since start.
pub(crate) fn queue_counts() -> (usize, usize, u64) {
    Transport::all()
        .iter()
        .fold((0, 0, 0), |(queued, in_flight, dropped), transport| {
            (
                queued + transport.queue.len(),
                in_flight + transport.queue.in_flight(),
                dropped + transport.queue.dropped(),
            )
        })
}

/// The flush budget in force: the largest any collector's queue was given.
pub(crate) fn flush_budget() -> std::time::Duration {
    Transport::all()
        .iter()
        .map(|transport| transport.queue.policy().flush_budget)
        .max()
        .unwrap_or(crate::options::DEFAULT_FLUSH_BUDGET)
}
