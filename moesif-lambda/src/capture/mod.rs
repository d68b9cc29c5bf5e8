//! Capture: a Lambda event and the handler's answer become a Moesif event. Pure: no I/O, nothing from
//! delivery; user hooks run contained ([`crate::hooks`]).
//!
//! The handler's hot path only records an [`Invocation`] (the raw event, context and options) and then
//! the answer, making a [`Call`]; everything else runs in [`Call::into_event`], on the delivery path:
//! read the event ([`RawEvent::read`]), skip hook, identity, request, metadata (which takes the event:
//! it is the last reader), response, redaction, mask hook.

pub(crate) mod body;
pub(crate) mod client_ip;
pub(crate) mod decode;
pub(crate) mod headers;
mod identity;
pub mod redact;
mod request;
mod response;
pub(crate) mod shape;
mod trim;
mod view;

pub use view::RequestView;

use crate::hooks;
use crate::model::{Direction, EventModel, EventResponse};
use crate::options::Options;
use lambda_runtime::Context;
use request::capture_request;
use response::{capture_response, FrontEnd};
use serde::Serialize;
use serde_json::{json, Map, Value};
use shape::EventShape;
use std::borrow::Cow;
use std::sync::Arc;
use trim::Keep;

/// JSON as captured on the hot path: already a value, or serialised (a compact copy is several times
/// cheaper than a deep clone of a `Value`) and parsed only at delivery, after the response.
#[derive(Debug, Clone)]
pub enum CapturedJson {
    /// A JSON value.
    Value(Value),
    /// Serialised JSON (the event as Lambda sent it, or a value serialised on the hot path).
    Bytes(bytes::Bytes),
}

impl CapturedJson {
    /// The value (`Null` if the bytes do not parse, which serde's own output always does).
    pub(crate) fn into_value(self) -> Value {
        match self {
            CapturedJson::Value(value) => value,
            CapturedJson::Bytes(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// A body over `max_bytes` replaced by its marker (see [`body::shrink_oversized`]); only JSON
    /// larger than the cap is parsed to find it. `whole_is_body`: this is an answer, which is its own body
    /// when it has no `statusCode`.
    pub(crate) fn shrink_body(self, max_bytes: usize, whole_is_body: bool) -> Self {
        let (mut value, size) = match self {
            CapturedJson::Bytes(bytes) if bytes.len() <= max_bytes => return CapturedJson::Bytes(bytes),
            CapturedJson::Bytes(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) => (value, Some(bytes.len())),
                Err(_) => return CapturedJson::Bytes(bytes),
            },
            CapturedJson::Value(value) => (value, None),
        };
        body::shrink_oversized(&mut value, max_bytes, whole_is_body, size);
        CapturedJson::Value(value)
    }

    /// About how many bytes it holds (for the queue's bound).
    pub(crate) fn estimated_size(&self) -> usize {
        match self {
            CapturedJson::Value(value) => body::estimate_size(value),
            CapturedJson::Bytes(bytes) => bytes.len(),
        }
    }
}

/// What the handler gave back.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `Ok(value)`: the value as JSON, or `None` when its type cannot be seen as JSON.
    Response(Option<CapturedJson>),
    /// `Err(error)`: the error's type and message; logged as a 500.
    Error {
        /// The Rust type of the error.
        error_type: String,
        /// Its `Display` (or `Debug`) text.
        message: String,
    },
    /// The handler panicked; logged as a 500, then the panic goes on.
    Panic {
        /// The panic message.
        message: String,
    },
    /// The response's status and headers reached the caller (a streaming runtime), then it failed (its
    /// body stream): logged with that response, and the failure (an [`Answer::Error`] or
    /// [`Answer::Panic`]) as `metadata.error`.
    Interrupted {
        /// The response as sent, as the Lambda response JSON.
        response: CapturedJson,
        /// What went wrong.
        failure: Box<Answer>,
    },
}

impl Answer {
    /// The answer with a body over `max_body_bytes` replaced by its marker.
    fn within(self, max_body_bytes: usize) -> Answer {
        match self {
            Answer::Response(Some(json)) => Answer::Response(Some(json.shrink_body(max_body_bytes, true))),
            other => other,
        }
    }

    /// `metadata.error` of a failed invocation: the error's type (`panic` for a panic) and message.
    fn error_metadata(&self) -> Option<Value> {
        match self {
            Answer::Response(_) => None,
            Answer::Error { error_type, message } => Some(json!({ "type": error_type, "message": message })),
            Answer::Panic { message } => Some(json!({ "type": "panic", "message": message })),
            Answer::Interrupted { failure, .. } => failure.error_metadata(),
        }
    }
}

/// The raw event of an invocation, as the hot path captured it. Whether it is an HTTP event (the only
/// kind logged) is decided here and nowhere else: when it is captured, if its shape can be seen cheaply
/// (a JSON value), else when it is read after the response.
#[derive(Debug)]
pub struct RawEvent {
    json: CapturedJson,
    /// Known when the hot path could see it; else detected by [`RawEvent::read`].
    shape: Option<EventShape>,
}

/// The event's text body, when it is over the collector's event limit (never sent whole, whatever the
/// options).
fn oversized_body(event: &Value) -> Option<&str> {
    shape::at(event, &["body"])
        .and_then(Value::as_str)
        .filter(|body| body.len() > crate::model::MAX_EVENT_BYTES)
}

impl RawEvent {
    /// A JSON event: `None` when it is not an HTTP event (nothing more is spent on it). Only what
    /// `keep` says is copied, except that a body over the collector's event limit (never sent whole,
    /// whatever the options) is not copied at all.
    fn of_value(event: &Value, keep: Keep) -> Option<RawEvent> {
        let shape = EventShape::detect(event);
        if !shape.is_http() {
            return None;
        }
        let json = match (event.as_object(), oversized_body(event)) {
            (Some(object), Some(body)) => {
                let rest: Map<String, Value> = object
                    .iter()
                    .filter(|(key, _)| !matches!(key.as_str(), "body" | "isBase64Encoded"))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
                let mut copy = keep.copy(&Value::Object(rest));
                if let Some(copy) = copy.as_object_mut() {
                    copy.insert("body".to_owned(), body::omitted_text(event, body));
                }
                copy
            }
            _ => keep.copy(event),
        };
        Some(RawEvent {
            json: CapturedJson::Value(json),
            shape: Some(shape),
        })
    }

    /// An event already built as JSON (a `lambda_http` request turned back into its Lambda event): `None`
    /// when it is not an HTTP event.
    #[cfg(feature = "http")]
    pub(crate) fn of_json(event: Value) -> Option<RawEvent> {
        let shape = EventShape::detect(&event);
        shape.is_http().then(|| RawEvent {
            json: CapturedJson::Value(event),
            shape: Some(shape),
        })
    }

    /// The event as Lambda sent it (the runtime's buffer, shared), its shape if seen already.
    fn of_raw(bytes: bytes::Bytes, shape: Option<EventShape>) -> RawEvent {
        RawEvent {
            json: CapturedJson::Bytes(bytes),
            shape,
        }
    }

    /// A typed event (`aws_lambda_events` types, any `T: Serialize`), serialised; its shape is read
    /// after the response.
    pub(crate) fn of_serializable<T: Serialize + ?Sized>(event: &T) -> Option<RawEvent> {
        Some(RawEvent {
            json: CapturedJson::Bytes(serde_json::to_vec(event).ok()?.into()),
            shape: None,
        })
    }

    /// Reads the event (what `keep` says of it): its shape and JSON, or `None` when it is not an HTTP
    /// event.
    fn read(self, keep: Keep) -> Option<(EventShape, Value)> {
        let json = match self.json {
            CapturedJson::Value(value) => value,
            CapturedJson::Bytes(bytes) => keep.parse(&bytes).unwrap_or(Value::Null),
        };
        let shape = self.shape.unwrap_or_else(|| EventShape::detect(&json));
        shape.is_http().then_some((shape, json))
    }

    /// About how many bytes it holds (for the queue's bound).
    pub(crate) fn estimated_size(&self) -> usize {
        self.json.estimated_size()
    }

    /// The event as JSON (`Null` when it does not parse).
    #[cfg(feature = "http")]
    pub(crate) fn to_json(&self) -> Value {
        match &self.json {
            CapturedJson::Value(value) => value.clone(),
            CapturedJson::Bytes(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        }
    }
}

/// The event (`None`: not an HTTP event) and Lambda context of an invocation, as a probe saw them.
#[derive(Debug)]
pub struct CapturedEvent<'a> {
    pub(crate) event: Option<EventSource<'a>>,
    pub(crate) context: Context,
    /// A `lambda_http::Request` handed to an annotated handler: its answer is whatever the handler
    /// returns as `impl IntoResponse`, read as lambda_http reads it.
    pub(crate) lambda_http: bool,
}

/// An event as a probe saw it, lent until the options say what is needed of it: the handler's JSON
/// event, a typed one, or a `lambda_http` request's.
pub(crate) enum EventSource<'a> {
    Json(&'a Value),
    Typed(&'a dyn SerializeEvent),
    /// A `lambda_http` request: the event rebuilt from it (`None`: not an HTTP event).
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // used by the lambda_http integrations
    Rebuilt(Box<dyn FnOnce() -> Option<RawEvent> + 'a>),
}

impl std::fmt::Debug for EventSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventSource::Json(json) => f.debug_tuple("Json").field(json).finish(),
            EventSource::Typed(_) => f.write_str("Typed"),
            EventSource::Rebuilt(_) => f.write_str("Rebuilt"),
        }
    }
}

/// A typed event (`aws_lambda_events` types, any `T: Serialize`), serialised only if it must be.
pub(crate) trait SerializeEvent {
    fn serialize_event(&self) -> Option<RawEvent>;
}

impl<T: Serialize> SerializeEvent for T {
    fn serialize_event(&self) -> Option<RawEvent> {
        RawEvent::of_serializable(self)
    }
}

/// What governance reads of a Lambda event on the hot path (before the handler): the verb, the route,
/// the headers and (when asked) the client IP as the event will log them.
pub(crate) struct HotRequest<'a> {
    pub shape: EventShape,
    pub verb: String,
    pub route: String,
    pub ip: Option<String>,
    pub view: RequestView<'a>,
}

impl<'a> HotRequest<'a> {
    /// The request of `event` (`None` when it is not an HTTP event); its client IP only when `ip`.
    pub(crate) fn of(event: &'a Value, ip: bool, trusted_only: bool) -> Option<HotRequest<'a>> {
        let shape = EventShape::detect(event);
        if !shape.is_http() {
            return None;
        }
        let parts = request::RequestParts::head(event, shape);
        let view = RequestView::of_shape(event, shape);
        let ip = ip
            .then(|| client_ip::client_ip_by(|name| view.header(name), parts.source_ip, trusted_only))
            .flatten();
        Some(HotRequest {
            shape,
            verb: parts.verb,
            route: parts.path,
            ip,
            view,
        })
    }
}

/// The top-level object of a JSON request body of `event` (base64 decoded if it is), if it is one and
/// no larger than `max_bytes`.
pub(crate) fn json_body_of(event: &Value, max_bytes: usize) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let body = event.get("body")?.as_str()?;
    if body.len() > max_bytes.saturating_mul(4) / 3 + 4 {
        return None;
    }
    let parsed = match event.get("isBase64Encoded").and_then(Value::as_bool) {
        Some(true) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
            serde_json::from_slice(&bytes).ok()?
        }
        _ => serde_json::from_str(body).ok()?,
    };
    match parsed {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

/// The user and company ids of `event` (the hooks, or their defaults), each only when `user` /
/// `company` asks for it; a panicking hook gives none.
pub(crate) fn entities_of(
    event: &Value,
    context: &Context,
    options: &Options,
    (user, company): (bool, bool),
) -> (Option<String>, Option<String>) {
    identity::entities(event, context, options, user, company)
}

/// An invocation as started on the hot path: what the answer will be logged with.
#[derive(Debug)]
pub(crate) struct Invocation {
    /// The governance rule that blocked the request (`blocked_by` of the event).
    pub blocked_by: Option<String>,
    /// Shared with the handler's other invocations (resolved once per cold start).
    pub options: Arc<Options>,
    pub event: RawEvent,
    /// What of the event is read.
    keep: Keep,
    pub context: Context,
    pub received_millis: i64,
}

impl Invocation {
    /// Starts an invocation of `event` (`None`: not an HTTP event), keeping only what the options need
    /// of it ([`Keep`]), a body over the options' cap replaced by its marker before it is kept (a large
    /// request never occupies the queue). `raw_event`: the event as Lambda sent it, when the runtime
    /// layer has it: then nothing is copied now (it is parsed, only what is needed, after the response).
    pub(crate) fn start(
        options: Arc<Options>,
        event: EventSource<'_>,
        raw_event: Option<bytes::Bytes>,
        context: Context,
    ) -> Option<Invocation> {
        let keep = Keep::of(&options, identity::builds_default_metadata(&context));
        let event = match (event, raw_event) {
            (EventSource::Json(json), Some(raw)) => {
                // A non-HTTP event is seen cheaply here, and nothing is kept of it.
                let shape = EventShape::detect(json);
                shape.is_http().then(|| RawEvent::of_raw(raw, Some(shape)))?
            }
            (EventSource::Typed(_) | EventSource::Rebuilt(_), Some(raw)) => RawEvent::of_raw(raw, None),
            (EventSource::Json(json), None) => RawEvent::of_value(json, keep)?,
            (EventSource::Typed(typed), None) => typed.serialize_event()?,
            (EventSource::Rebuilt(rebuild), None) => rebuild()?,
        };
        let event = RawEvent {
            json: event.json.shrink_body(options.max_body_bytes, false),
            shape: event.shape,
        };
        Some(Invocation {
            blocked_by: None,
            options,
            event,
            keep,
            context,
            received_millis: crate::time::now_millis(),
        })
    }

    /// The invocation with the handler's answer (a body over the cap replaced by its marker).
    pub(crate) fn answered(self, answer: Answer) -> Call {
        Call {
            answer: answer.within(self.options.max_body_bytes),
            invocation: self,
            answered_millis: crate::time::now_millis(),
        }
    }
}

/// A finished invocation: everything the Moesif event is built from.
#[derive(Debug)]
pub(crate) struct Call {
    pub invocation: Invocation,
    pub answer: Answer,
    pub answered_millis: i64,
}

impl Call {
    /// About how many bytes it holds (for the queue's bound).
    pub(crate) fn estimated_size(&self) -> usize {
        self.invocation.event.estimated_size()
            + match &self.answer {
                Answer::Response(Some(answer)) | Answer::Interrupted { response: answer, .. } => {
                    answer.estimated_size()
                }
                _ => 64,
            }
    }

    /// Builds the Moesif event; `None` when the `skip` hook says so or the `mask_event_model` hook failed
    /// (an unmasked event could leak what the mask was meant to remove).
    pub(crate) fn into_event(self) -> Option<EventModel> {
        let Invocation {
            blocked_by,
            options,
            event,
            keep,
            context,
            received_millis,
        } = self.invocation;
        let (shape, json) = event.read(keep)?;
        let incoming = Incoming {
            json: Cow::Owned(json),
            shape,
            // Nothing but the metadata hook reads the event after its request is captured.
            take_headers: keep != Keep::Whole,
            options: &options,
            context: &context,
            received_millis,
            blocked_by,
        };
        incoming.into_event(self.answer, self.answered_millis)
    }
}

/// What an incoming event is built from: the Lambda event (our own copy, or borrowed), and how it came.
struct Incoming<'a> {
    json: Cow<'a, Value>,
    shape: EventShape,
    /// The request headers may be moved out of `json` (when it is our own).
    take_headers: bool,
    options: &'a Options,
    context: &'a Context,
    received_millis: i64,
    blocked_by: Option<String>,
}

impl Incoming<'_> {
    /// The Moesif event of the request and the handler's `answer` (given at `answered`); `None` as
    /// [`Call::into_event`] says.
    fn into_event(self, answer: Answer, answered: i64) -> Option<EventModel> {
        let Incoming {
            mut json,
            shape,
            take_headers,
            options,
            context,
            received_millis,
            blocked_by,
        } = self;
        if let Some(skip) = options.skip.get() {
            // A failing skip hook logs the call: losing data silently is worse than logging one too many.
            if hooks::call("skip", || skip(&json, context)).unwrap_or(false) {
                return None;
            }
        }
        let identity = identity::identify(&json, context, options);
        let front_end = FrontEnd::of(shape, &json);
        let mut request = capture_request(&mut json, shape, options, received_millis, take_headers);
        request.api_version = identity.api_version;
        // The event's last reader: the default metadata takes its request context rather than a copy.
        let mut metadata = identity::metadata(json, context, options);
        if let Some(error) = answer.error_metadata() {
            add_metadata(&mut metadata, "error", error);
        }
        let response = match answer {
            Answer::Response(answer) => sent_response(answer, front_end, options, answered, &mut metadata),
            Answer::Interrupted { response, .. } => {
                sent_response(Some(response), front_end, options, answered, &mut metadata)
            }
            Answer::Error { .. } | Answer::Panic { .. } => failed_response(answered),
        };
        let event = EventModel {
            request,
            response,
            session_token: identity.session_token,
            user_id: identity.user_id,
            company_id: identity.company_id,
            metadata,
            direction: Direction::Incoming,
            weight: 1,
            transaction_id: transaction_id(),
            blocked_by,
        };
        finish(event, options)
    }
}

/// The last steps for every event, incoming or outgoing: redaction, then the `mask_event_model` hook.
/// `None` when the hook failed (an unmasked event could leak what the mask was meant to remove).
pub(crate) fn finish(mut event: EventModel, options: &Options) -> Option<EventModel> {
    redact::apply(&mut event, options);
    match options.mask_event_model.get() {
        Some(mask) => hooks::call("mask_event_model", || mask(event)),
        None => Some(event),
    }
}

/// What the middleware would send for one invocation (before sampling): the Moesif event built from
/// the raw event, the Lambda context and the handler's answer as JSON, with every hook applied. `None`
/// when the event is not an HTTP event, the `skip` hook says so, or the `mask_event_model` hook failed.
///
/// Useful to unit-test your options (a mask hook, say) without a collector.
///
/// ```
/// use moesif_lambda::{preview_event, Options};
/// use serde_json::json;
///
/// let event = json!({"httpMethod": "GET", "path": "/hi", "headers": {"Host": "api.example"}, "requestContext": {}});
/// let answer = json!({"statusCode": 200, "body": "{\"ok\": true}"});
/// let sent = preview_event(&Options::new(), &event, &lambda_runtime::Context::default(), Some(&answer));
/// let sent = sent.expect("an HTTP event is logged");
/// assert_eq!(sent.request.uri, "http://api.example/hi");
/// assert_eq!(sent.response.body, Some(json!({"ok": true})));
/// ```
pub fn preview_event(
    options: &Options,
    event: &Value,
    context: &Context,
    answer: Option<&Value>,
) -> Option<EventModel> {
    let shape = EventShape::detect(event);
    if !shape.is_http() {
        return None;
    }
    let answer = Answer::Response(answer.cloned().map(CapturedJson::Value)).within(options.max_body_bytes);
    if oversized_body(event).is_some() {
        // Rare: the invocation's own path, which keeps such a body out of its copy of the event.
        let invocation = Invocation::start(
            Arc::new(options.clone()),
            EventSource::Json(event),
            None,
            context.clone(),
        )?;
        return invocation.answered(answer).into_event();
    }
    // Built from the event where it is: nothing is copied but what the Moesif event carries.
    let now = crate::time::now_millis();
    let incoming = Incoming {
        json: Cow::Borrowed(event),
        shape,
        take_headers: false,
        options,
        context,
        received_millis: now,
        blocked_by: None,
    };
    incoming.into_event(answer, now)
}

/// A random (v4) UUID. Transaction ids need uniqueness, not secrecy: a fast PRNG spares a system call
/// per event.
pub(crate) fn transaction_id() -> String {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    uuid_v4(bytes)
}

/// `bytes` as a version 4 (random), RFC 4122 variant UUID: lowercase, hyphenated.
fn uuid_v4(mut bytes: [u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (index, byte) in bytes.iter().enumerate() {
        at += usize::from(matches!(index, 4 | 6 | 8 | 10));
        if let Some(pair) = text.get_mut(at..at + 2) {
            pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]]);
        }
        at += 2;
    }
    // Hex digits and dashes only: always UTF-8.
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// The response half of an answer the handler gave (`None`: one it could not read); a status the
/// collector would refuse is noted in `metadata.original_status`.
fn sent_response(
    answer: Option<CapturedJson>,
    front_end: FrontEnd,
    options: &Options,
    answered_millis: i64,
    metadata: &mut Option<Value>,
) -> EventResponse {
    let answer = answer.map(CapturedJson::into_value);
    let (response, invalid_status) = capture_response(answer, front_end, options, answered_millis);
    if let Some(original) = invalid_status {
        add_metadata(metadata, "original_status", original);
    }
    response
}

fn failed_response(answered_millis: i64) -> EventResponse {
    EventResponse {
        time: crate::time::format_millis(answered_millis),
        status: 500,
        headers: json!({}),
        body: None,
        transfer_encoding: None,
    }
}

/// Puts `value` under `metadata.<key>`, keeping what metadata there is (a non-object is kept as `value`).
fn add_metadata(metadata: &mut Option<Value>, key: &str, value: Value) {
    match metadata {
        Some(Value::Object(object)) => {
            object.insert(key.to_owned(), value);
        }
        Some(other) => {
            let previous = other.take();
            *other = shape::object([("value", previous), (key, value)]);
        }
        None => *metadata = Some(shape::object([(key, value)])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(options: Options, answer: Answer) -> Call {
        let event = json!({"httpMethod": "GET", "path": "/x", "headers": {"host": "h"}, "requestContext": {}});
        let invocation = Invocation::start(Arc::new(options), EventSource::Typed(&event), None, Context::default());
        invocation
            .unwrap_or_else(|| unreachable!("an HTTP event"))
            .answered(answer)
    }

    #[test]
    fn transaction_ids_are_version_4_uuids() {
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let bytes: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        assert_eq!(uuid_v4(bytes), "00112233-4455-4677-8899-aabbccddeeff");
        let (a, b) = (transaction_id(), transaction_id());
        assert_ne!(a, b);
        assert!(a.len() == 36 && a.as_bytes()[14] == b'4' && matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn http_is_decided_when_captured_or_when_read() {
        let keep = Keep::Needed { request_context: false };
        assert!(
            RawEvent::of_value(&json!({"Records": []}), keep).is_none(),
            "not HTTP: nothing kept"
        );
        let typed = RawEvent::of_serializable(&json!({"Records": []}));
        assert!(typed.and_then(|raw| raw.read(keep)).is_none(), "not HTTP once read");
        let big = json!({"httpMethod": "POST", "body": "x".repeat(crate::model::MAX_EVENT_BYTES + 1)});
        let kept = RawEvent::of_value(&big, keep).map(|raw| raw.estimated_size());
        assert!(
            kept.is_some_and(|size| size < 1024),
            "a body over the event limit is not copied"
        );
    }

    #[test]
    fn skip_hook_drops_the_event() {
        let options = Options::new().skip(|event, _| event["path"] == "/x");
        assert!(call(options, Answer::Response(None)).into_event().is_none());
    }

    #[test]
    fn failing_mask_drops_the_event_and_working_mask_applies() {
        let broken = Options::new().mask_event_model(|_| panic!("mask broke"));
        assert!(call(broken, Answer::Response(None)).into_event().is_none());
        let masking = Options::new().mask_event_model(|mut e| {
            e.user_id = Some("masked".into());
            e
        });
        let event = call(masking, Answer::Response(None)).into_event();
        assert_eq!(event.and_then(|e| e.user_id).as_deref(), Some("masked"));
    }

    #[test]
    fn errors_are_500_with_metadata() {
        let answer = Answer::Error {
            error_type: "E".into(),
            message: "boom".into(),
        };
        let event = call(Options::new(), answer).into_event();
        let event = event.as_ref();
        assert_eq!(event.map(|e| e.response.status), Some(500));
        assert_eq!(
            event
                .and_then(|e| e.metadata.as_ref())
                .and_then(|m| m.pointer("/error/message")),
            Some(&json!("boom"))
        );
    }

    #[test]
    fn an_interrupted_response_keeps_its_status_and_headers_and_carries_the_error() {
        let answer = Answer::Interrupted {
            response: CapturedJson::Value(json!({"statusCode": 201, "headers": {"x-a": "1"}})),
            failure: Box::new(Answer::Panic {
                message: "body broke".into(),
            }),
        };
        let event = call(Options::new(), answer).into_event();
        let event = event.as_ref();
        assert_eq!(event.map(|e| e.response.status), Some(201));
        assert_eq!(event.map(|e| &e.response.headers), Some(&json!({"x-a": "1"})));
        assert_eq!(event.and_then(|e| e.response.body.as_ref()), None);
        assert_eq!(
            event.and_then(|e| e.metadata.as_ref()).and_then(|m| m.get("error")),
            Some(&json!({"type": "panic", "message": "body broke"}))
        );
    }
}
