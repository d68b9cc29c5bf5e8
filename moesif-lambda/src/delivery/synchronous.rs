//! Synchronous delivery (plain `lambda_runtime::run`): build, sample and send one event before the
//! invocation ends. A config fetch that is due runs on a background thread, never on this path.

use super::pipeline::{build_sampled, report, serialise_within_limit};
use super::transport::{Sent, Transport};
use crate::capture::Call;
use crate::model::EventModel;
use std::sync::Arc;

/// Builds, samples and sends one call now (blocking).
pub(super) fn deliver(transport: &Arc<Transport>, call: Call) {
    let debug = call.invocation.options.debug;
    refresh_config_in_background(transport);
    if let Some(event) = build_sampled(transport, call) {
        send_one(transport, event, debug);
    }
}

/// Sends one built event to `/v1/events` (blocking).
pub(super) fn send_one(transport: &Transport, event: EventModel, debug: bool) {
    let Some((_, body)) = serialise_within_limit(event) else {
        return;
    };
    let sent = transport.post_json("/v1/events", &body, None);
    if let Sent::Accepted { config_etag } = &sent {
        transport.config.note_etag(config_etag.as_deref());
    }
    report(&sent, transport, 1, debug);
}

/// Starts a config fetch on a background thread when one is due (never fetched, or a new ETag seen)
/// and none runs; most invocations start nothing.
fn refresh_config_in_background(transport: &Arc<Transport>) {
    if !transport.config.claim_fetch() {
        return;
    }
    let fetching = transport.clone();
    let spawned = std::thread::Builder::new()
        .name("moesif-config".into())
        .spawn(move || fetching.fetch_config(std::time::Duration::from_secs(5)));
    if let Err(error) = spawned {
        transport.config.finish_fetch(None);
        tracing::debug!(%error, "moesif: could not start the config thread");
    }
}
