//! One outgoing call, as captured by the middleware, turned into a Moesif event when it is sent (off
//! the caller's path): its bodies read (decoded, parsed), the outgoing hooks, the invocation's request
//! id, redaction and the mask hook.

use crate::capture::body::{self, capture_bytes_encoded, omitted, omitted_because, CapturedBody, JSON};
use crate::capture::{finish, transaction_id};
use crate::delivery::BuildLater;
use crate::hooks;
use crate::model::{Direction, EventModel, EventRequest, EventResponse};
use crate::options::{Options, OutgoingCall, OutgoingIdentifyFn, OutgoingIdentifyHook, Slot};
use crate::time::format_millis;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// What one outgoing call looked like.
pub(super) struct Captured {
    pub(super) method: String,
    pub(super) uri: String,
    pub(super) request_headers: Value,
    pub(super) request_body: Seen,
    pub(super) started: i64,
    pub(super) status: u16,
    pub(super) response_headers: Value,
    pub(super) response_body: Seen,
    pub(super) finished: i64,
    /// The invocation the call was made in (known only on the caller's thread).
    pub(super) request_id: Option<std::sync::Arc<str>>,
}

/// A body as the middleware saw it; read (decoded, parsed) only when the event is built.
pub(super) enum Seen {
    /// Nothing to log: bodies off, no body, or a body that was not read whole.
    Nothing,
    /// Over the cap: its size.
    Omitted(usize),
    /// The bytes as read, and the `Content-Encoding` left to undo in them (empty: none).
    Bytes(Vec<u8>, String),
    #[cfg_attr(not(any(feature = "reqwest", feature = "tower-client")), allow(dead_code))]
    /// A streamed body the caller dropped (or that failed) before its end: the bytes that had come.
    Cut(usize),
}

/// What a body cut before its end is logged as (the marker's reason).
const CUT_REASON: &str = "body cut: not read to its end";

impl Seen {
    /// About how many bytes it holds (for the queue's bound).
    fn size(&self) -> usize {
        match self {
            Seen::Bytes(bytes, _) => bytes.len(),
            Seen::Nothing | Seen::Omitted(_) | Seen::Cut(_) => 0,
        }
    }

    /// The body to log, under the body rules (decoded first, bounded by `max`).
    fn read(self, max: usize) -> CapturedBody {
        match self {
            Seen::Nothing => (None, JSON),
            Seen::Omitted(size) => (Some(omitted(size)), JSON),
            Seen::Cut(size) => (Some(omitted_because(CUT_REASON, size)), JSON),
            Seen::Bytes(bytes, content_encoding) => capture_bytes_encoded(&bytes, true, max, Some(&content_encoding)),
        }
    }
}

/// An outgoing call waiting in the queue, with the options it is logged with.
pub(super) struct Later {
    pub(super) captured: Captured,
    pub(super) options: Arc<Options>,
}

impl Later {
    /// About how many bytes it holds (for the queue's bound).
    pub(super) fn estimated_size(&self) -> usize {
        let captured = &self.captured;
        256 + captured.method.len()
            + captured.uri.len()
            + body::estimate_size(&captured.request_headers)
            + body::estimate_size(&captured.response_headers)
            + captured.request_body.size()
            + captured.response_body.size()
    }
}

impl std::fmt::Debug for Later {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URI, headers or bodies: they may hold what redaction removes.
        f.debug_struct("Later")
            .field("method", &self.captured.method)
            .field("status", &self.captured.status)
            .finish_non_exhaustive()
    }
}

impl BuildLater for Later {
    fn build(self: Box<Self>) -> Option<EventModel> {
        let Later { captured, options } = *self;
        captured.into_event(&options)
    }
}

impl Captured {
    pub(super) fn into_event(self, options: &Options) -> Option<EventModel> {
        let outgoing = &options.outgoing;
        let request_id = self.request_id;
        let view = OutgoingCall {
            method: &self.method,
            uri: &self.uri,
            request_headers: &self.request_headers,
            status: self.status,
            response_headers: &self.response_headers,
            request_id: request_id.as_deref(),
        };
        if let Some(skip) = outgoing.skip.get() {
            if hooks::call("skip_outgoing", || skip(&view)).unwrap_or(false) {
                return None;
            }
        }
        let run = |name, hook: &Slot<OutgoingIdentifyHook, OutgoingIdentifyFn>| {
            hook.get().and_then(|hook| hooks::call(name, || hook(&view)).flatten())
        };
        let user_id = run("identify_user_outgoing", &outgoing.identify_user);
        let company_id = run("identify_company_outgoing", &outgoing.identify_company);
        let session_token = run("session_token_outgoing", &outgoing.session_token);
        let mut metadata = match outgoing
            .metadata
            .get()
            .and_then(|hook| hooks::call("metadata_outgoing", || hook(&view)).flatten())
        {
            Some(Value::Object(map)) => map,
            Some(other) => Map::from_iter([("value".to_owned(), other)]),
            None => Map::new(),
        };
        if let Some(id) = &request_id {
            metadata.insert("request_id".to_owned(), json!(&**id));
        }
        let (request_body, request_encoding) = self.request_body.read(options.max_body_bytes);
        let (response_body, response_encoding) = self.response_body.read(options.max_body_bytes);
        let event = EventModel {
            request: EventRequest {
                time: format_millis(self.started),
                uri: self.uri,
                verb: self.method,
                headers: self.request_headers,
                api_version: None,
                ip_address: None,
                body: request_body,
                transfer_encoding: Some(request_encoding),
            },
            response: EventResponse {
                time: format_millis(self.finished),
                status: self.status,
                headers: self.response_headers,
                body: response_body,
                transfer_encoding: Some(response_encoding),
            },
            session_token,
            user_id,
            company_id,
            metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
            direction: Direction::Outgoing,
            weight: 1,
            transaction_id: transaction_id(),
            blocked_by: None,
        };
        finish(event, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::OutgoingOptions;

    #[test]
    fn metadata_is_the_hooks_object_with_the_request_id_or_a_wrapped_value() {
        let captured = || Captured {
            method: "GET".into(),
            uri: "https://api.example.com/x".into(),
            request_headers: json!({}),
            request_body: Seen::Nothing,
            started: 0,
            status: 200,
            response_headers: json!({}),
            response_body: Seen::Nothing,
            finished: 1,
            request_id: Some("r-1".into()),
        };
        // Whatever request id another test may have set, the rest is the hook's.
        let metadata = |options: &Options| {
            let mut metadata = captured()
                .into_event(options)
                .and_then(|e| e.metadata)
                .unwrap_or_default();
            if let Some(object) = metadata.as_object_mut() {
                object.remove("request_id");
            }
            metadata
        };
        let object = Options::new().outgoing(OutgoingOptions::new().metadata(|_| Some(json!({"a": 1}))));
        assert_eq!(metadata(&object), json!({"a": 1}));
        let scalar = Options::new().outgoing(OutgoingOptions::new().metadata(|_| Some(json!(7))));
        assert_eq!(metadata(&scalar), json!({"value": 7}));
        let event = captured().into_event(&Options::new());
        assert_eq!(event.map(|e| e.direction), Some(Direction::Outgoing));
    }
}
