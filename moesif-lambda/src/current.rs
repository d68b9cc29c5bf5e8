//! The invocation in progress, for code that runs inside the handler but outside the macro's reach
//! (outgoing-call capture ties its events to the invocation through the request id).
//!
//! Lambda hands a sandbox one invocation at a time, so one process-wide slot is enough; the handler may
//! make its calls from any thread (`spawn_blocking`, rayon …) and they still find it.

use std::sync::Mutex;

static REQUEST_ID: Mutex<Option<String>> = Mutex::new(None);

/// Marks the start of an invocation.
pub(crate) fn enter(request_id: &str) {
    *REQUEST_ID.lock().unwrap_or_else(|p| p.into_inner()) = Some(request_id.to_owned());
}

/// Marks its end.
pub(crate) fn leave() {
    *REQUEST_ID.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// The request id of the invocation in progress, if any.
pub(crate) fn request_id() -> Option<String> {
    REQUEST_ID.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
