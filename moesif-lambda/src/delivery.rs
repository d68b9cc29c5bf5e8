//! Getting events to the collector. Synchronous mode (the default, under plain
//! `lambda_runtime::run`): each event is built and POSTed to `/v1/events` on a blocking thread, and the
//! invocation waits for it, so nothing is lost even if Lambda freezes the sandbox right after.

use crate::call::Call;
use crate::hooks::warn_once;
use crate::model::EventModel;
use crate::transport::{Sent, Transport};
use std::sync::Arc;

/// Builds and sends one call, blocking the current thread.
pub(crate) fn deliver_blocking(transport: &Transport, call: Call) {
    let debug = call.options.debug;
    let Some(event) = call.into_event() else {
        log_debug(debug, "moesif: event skipped (skip hook, or mask hook failed)");
        return;
    };
    send_events(transport, &[event], debug);
}

/// Builds and sends one call without blocking the async runtime's worker: on tokio's blocking pool when
/// there is a runtime, else on this thread. Returns once the collector answered (or failed).
pub(crate) async fn deliver(transport: Arc<Transport>, call: Call) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            if let Err(error) = runtime.spawn_blocking(move || deliver_blocking(&transport, call)).await {
                tracing::warn!(%error, "moesif: delivery task failed; the event is lost");
            }
        }
        Err(_) => deliver_blocking(&transport, call),
    }
}

/// Delivers an already built event (an outgoing call, captured on the caller's thread). Blocking: it is
/// called from blocking HTTP client code.
pub(crate) fn submit_built(transport: &Transport, event: EventModel, debug: bool) {
    send_events(transport, &[event], debug);
}

/// POSTs events: one to `/v1/events`, several to `/v1/events/batch`. Failures are warned about once
/// per kind per process, never raised.
pub(crate) fn send_events(transport: &Transport, events: &[EventModel], debug: bool) -> Sent {
    let (path, body) = match events {
        [single] => ("/v1/events", serde_json::to_vec(single)),
        many => ("/v1/events/batch", serde_json::to_vec(many)),
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            tracing::warn!(%error, "moesif: could not serialise an event; it is dropped");
            return Sent::Failed(error.to_string());
        }
    };
    let sent = transport.post_json(path, &body);
    report(&sent, transport, events.len(), debug);
    sent
}

fn report(sent: &Sent, transport: &Transport, count: usize, debug: bool) {
    match sent {
        Sent::Accepted { .. } => log_debug(debug, "moesif: events accepted by the collector"),
        Sent::Status(401) => warn_once("collector-401", || {
            tracing::warn!(
                "moesif: the collector rejected the application id (401); check MOESIF_APPLICATION_ID"
            )
        }),
        Sent::Status(status) => warn_once("collector-status", || {
            tracing::warn!(status, count, "moesif: the collector did not accept events (further failures at debug level)")
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
