//! One captured invocation, and how it becomes a Moesif event: capture rules, hooks, skip, mask.
//!
//! The handler's hot path only records a [`Call`] (the event, context and answer); everything else
//! runs here, on the delivery path.

use crate::capture::{capture_request, capture_response};
use crate::event::EventShape;
use crate::hooks;
use crate::identity::identify;
use crate::model::{Direction, EventModel};
use crate::options::Options;
use lambda_runtime::Context;
use serde_json::{json, Map, Value};

/// JSON as captured on the hot path: already a value, or serialised (a compact copy is several times
/// cheaper than a deep clone of a `Value`) and parsed only at delivery, after the response.
#[derive(Debug, Clone)]
pub enum CapturedJson {
    /// A JSON value.
    Value(Value),
    /// Serialised JSON.
    Bytes(Vec<u8>),
}

impl CapturedJson {
    /// The value (`Null` if the bytes do not parse, which serde's own output always does).
    pub(crate) fn into_value(self) -> Value {
        match self {
            CapturedJson::Value(value) => value,
            CapturedJson::Bytes(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// A body over `max_bytes` replaced by its marker (see [`crate::body::shrink_oversized`]); only JSON
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
        crate::body::shrink_oversized(&mut value, max_bytes, whole_is_body, size);
        CapturedJson::Value(value)
    }

    /// A raw event as captured on the hot path: serialised, except that a body over the collector's
    /// event limit (never sent whole, whatever the options) is not copied at all.
    pub(crate) fn of_event(event: &Value) -> Option<Self> {
        let oversized = event
            .get("body")
            .and_then(Value::as_str)
            .filter(|body| body.len() > crate::flush::MAX_EVENT_BYTES);
        let (Some(object), Some(body)) = (event.as_object(), oversized) else {
            return serde_json::to_vec(event).ok().map(CapturedJson::Bytes);
        };
        let mut copy: Map<String, Value> = object
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "body" | "isBase64Encoded"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        copy.insert("body".to_owned(), crate::body::omitted_text(event, body));
        Some(CapturedJson::Value(Value::Object(copy)))
    }

    /// About how many bytes it holds (for the queue's bound).
    pub(crate) fn estimated_size(&self) -> usize {
        match self {
            CapturedJson::Value(value) => crate::queue::estimate_size(value),
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
}

/// An invocation as recorded on the hot path.
#[derive(Debug)]
pub(crate) struct Call {
    pub options: Options,
    /// Known when the hot path could see it; else detected at delivery.
    pub shape: Option<EventShape>,
    pub event: CapturedJson,
    pub context: Context,
    pub received_millis: i64,
    pub answer: Answer,
    pub answered_millis: i64,
}

impl Call {
    /// Builds the Moesif event; `None` when the `skip` hook says so or the `mask_event_model` hook failed
    /// (an unmasked event could leak what the mask was meant to remove).
    pub(crate) fn into_event(self) -> Option<EventModel> {
        let options = &self.options;
        let mut json = self.event.into_value();
        let shape = self.shape.unwrap_or_else(|| EventShape::detect(&json));
        if !shape.is_http() {
            return None;
        }
        if let Some(skip) = options.skip {
            // A failing skip hook logs the call: losing data silently is worse than logging one too many.
            if hooks::call("skip", || skip(&json, &self.context)).unwrap_or(false) {
                return None;
            }
        }
        let identity = identify(&json, &self.context, options);
        let mut request = capture_request(&json, shape, options, self.received_millis);
        request.api_version = identity.api_version;
        let mut metadata = crate::identity::metadata(&mut json, &self.context, options);
        let response = match self.answer {
            Answer::Response(answer) => {
                let answer = answer.map(CapturedJson::into_value);
                let (response, invalid_status) = capture_response(answer.as_ref(), options, self.answered_millis);
                if let Some(original) = invalid_status {
                    add_metadata(&mut metadata, "original_status", original);
                }
                response
            }
            Answer::Error {
                ref error_type,
                ref message,
            } => {
                add_metadata(
                    &mut metadata,
                    "error",
                    json!({ "type": error_type, "message": message }),
                );
                failed_response(self.answered_millis)
            }
            Answer::Panic { ref message } => {
                add_metadata(&mut metadata, "error", json!({ "type": "panic", "message": message }));
                failed_response(self.answered_millis)
            }
        };
        let mut event = EventModel {
            request,
            response,
            session_token: identity.session_token,
            user_id: identity.user_id,
            company_id: identity.company_id,
            metadata,
            direction: Direction::Incoming,
            weight: 1,
            transaction_id: transaction_id(),
        };
        crate::redact::apply(&mut event, options);
        match options.mask_event_model {
            Some(mask) => hooks::call("mask_event_model", || mask(event)),
            None => Some(event),
        }
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
    let now = crate::time::now_millis();
    Call {
        options: *options,
        shape: Some(shape),
        event: CapturedJson::Value(event.clone()),
        context: context.clone(),
        received_millis: now,
        answer: Answer::Response(answer.cloned().map(CapturedJson::Value)),
        answered_millis: now,
    }
    .into_event()
}

/// A random (v4) UUID. Transaction ids need uniqueness, not secrecy: a fast PRNG spares a system call
/// per event.
pub(crate) fn transaction_id() -> String {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

fn failed_response(answered_millis: i64) -> crate::model::EventResponse {
    crate::model::EventResponse {
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
            *other = json!({ "value": previous, key: value });
        }
        None => *metadata = Some(Value::Object(Map::from_iter([(key.to_owned(), value)]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(options: Options, answer: Answer) -> Call {
        let event = json!({"httpMethod": "GET", "path": "/x", "headers": {"host": "h"}, "requestContext": {}});
        Call {
            options,
            shape: None,
            event: CapturedJson::Value(event),
            context: Context::default(),
            received_millis: 0,
            answer,
            answered_millis: 1,
        }
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
}
