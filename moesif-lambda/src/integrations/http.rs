//! `lambda_http` support: a `Request` is turned back into the Lambda event it came from (the shape its
//! request context says), so the same capture rules and hooks apply; a `Response<B>` into the Lambda
//! response JSON.

use crate::capture::headers::header_map_json;
use crate::capture::shape::object;
use crate::capture::{Answer, CapturedEvent, CapturedJson, EventSource, RawEvent};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_http::request::RequestContext;
use lambda_http::{http, Body, Request, RequestExt};
use lambda_runtime::{Diagnostic, Service};
use serde_json::{json, Map, Value};
use std::fmt::Debug;

/// [`run`](crate::run) for `lambda_http` handlers: a drop-in for `lambda_http::run`, with after-response delivery.
///
/// ```no_run
/// use lambda_http::{service_fn, Error, IntoResponse, Request};
/// use moesif_lambda::moesif_logger;
///
/// #[moesif_logger]
/// async fn handler(request: Request) -> Result<impl IntoResponse, Error> {
///     Ok(format!("hello {}", request.uri().path()))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     moesif_lambda::run_http(service_fn(handler)).await
/// }
/// ```
///
/// Each request carries a copy of its body in its extensions (private to this crate), for a
/// [`MoesifLayer`](crate::MoesifLayer) that gets the request with another body type than lambda_http's
/// (inside an axum `Router`, `Router::layer`, which hands its layers axum's `Body`): the layer logs the
/// body from it. It costs one copy of each non-empty request body.
pub async fn run_http<'a, R, S, E>(handler: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<lambda_http::Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: lambda_http::IntoResponse,
    E: Debug + Into<Diagnostic>,
{
    crate::delivery::run(lambda_http::Adapter::from(handler)).await
}

/// The event and context of a `lambda_http` request.
pub(crate) fn captured_event(request: &Request) -> CapturedEvent<'_> {
    captured_event_of(RequestHead::of(request), request, || body_json(request.body()))
}

/// What the event is rebuilt from besides the Lambda extensions: method, URI and headers.
pub(crate) struct RequestHead<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub headers: &'a http::HeaderMap,
}

impl<'a> RequestHead<'a> {
    pub(crate) fn of<B>(request: &'a http::Request<B>) -> Self {
        RequestHead {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
        }
    }
}

/// The event and context of a request of any body type (the layer reads its body itself): `lambda`
/// gives the request context, Lambda context and query that lambda_http keeps in the extensions;
/// `body` reads the body as the event carries it, and whether it is base64. The event is rebuilt from
/// these only when the runtime layer does not have the raw one (under plain `lambda_http::run`).
pub(crate) fn captured_event_of<'a, R: RequestExt>(
    head: RequestHead<'a>,
    lambda: &'a R,
    body: impl FnOnce() -> (Value, bool) + 'a,
) -> CapturedEvent<'a> {
    let context = lambda.lambda_context_ref().cloned().unwrap_or_default();
    let rebuild = move || RawEvent::of_json(rebuilt_event(&head, lambda, body()));
    CapturedEvent {
        event: Some(EventSource::Rebuilt(Box::new(rebuild))),
        context,
        lambda_http: true,
    }
}

/// The Lambda event a request came from, as JSON (for the identify hooks governance runs before the
/// handler).
pub(crate) fn event_json_of(head: RequestHead<'_>, lambda: &impl RequestExt, body: (Value, bool)) -> Value {
    rebuilt_event(&head, lambda, body)
}

/// The Lambda event a request came from, rebuilt from what lambda_http keeps of it.
fn rebuilt_event(head: &RequestHead<'_>, request: &impl RequestExt, (body, is_base64): (Value, bool)) -> Value {
    let headers = header_map_json(head.headers);
    let path = Some(request.raw_http_path())
        .filter(|p| !p.is_empty())
        .unwrap_or(head.uri.path());
    let query = head.uri.query().unwrap_or_default();
    let request_context = request.request_context_ref();
    let context_json = request_context
        .and_then(request_context_json)
        .unwrap_or_else(|| json!({}));
    match request_context {
        Some(RequestContext::ApiGatewayV2(_)) => object([
            ("version", Value::from("2.0")),
            ("rawPath", Value::from(path)),
            ("rawQueryString", Value::from(query)),
            ("headers", headers),
            ("requestContext", context_json),
            ("body", body),
            ("isBase64Encoded", Value::Bool(is_base64)),
        ]),
        _ => {
            // WebSocket events carry no httpMethod; keep the shape detection honest.
            let method = match request_context {
                Some(RequestContext::WebSocket(_)) => None,
                _ => Some(("httpMethod", Value::from(head.method.as_str()))),
            };
            object(method.into_iter().chain([
                ("path", Value::from(path)),
                ("headers", headers),
                ("multiValueQueryStringParameters", query_json(request)),
                ("requestContext", context_json),
                ("body", body),
                ("isBase64Encoded", Value::Bool(is_base64)),
            ]))
        }
    }
}

/// The answer of an annotated lambda_http handler, as lambda_http turns it into a response: an
/// `http::Response` is already read as one (status, headers, body); a `String` or `&str` is a 200 with
/// that body and no header; any other JSON (`serde_json::Value`) is a 200 with that JSON as body and
/// `content-type: application/json`.
pub(crate) fn into_response_answer(answer: Answer) -> Answer {
    let Answer::Response(Some(json)) = answer else {
        return answer;
    };
    let value = json.into_value();
    let is_response = value
        .as_object()
        .is_some_and(|object| object.get("statusCode").is_some_and(Value::is_u64) && object.contains_key("headers"));
    let converted = match value {
        response if is_response => response,
        Value::String(text) => object([
            ("statusCode", Value::from(200)),
            ("headers", Value::Object(Map::new())),
            ("body", Value::String(text)),
        ]),
        other => json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": other.to_string(),
        }),
    };
    Answer::Response(Some(CapturedJson::Value(converted)))
}

/// The Lambda response JSON of an `http::Response` whose body is in memory.
pub(crate) fn response_json<B: AsRef<[u8]>>(response: &lambda_http::Response<B>) -> Value {
    answer_json(response.status(), response.headers(), Some(response.body().as_ref()))
}

/// The Lambda response JSON of a status, headers and body bytes (`None`: the body could not be read,
/// and is left out). Only the headers the response has: none is invented.
pub(crate) fn answer_json(status: http::StatusCode, headers: &http::HeaderMap, body: Option<&[u8]>) -> Value {
    let mut answer = object([
        ("statusCode", Value::from(status.as_u16())),
        ("headers", header_map_json(headers)),
    ]);
    if let (Some(bytes), Some(object)) = (body, answer.as_object_mut()) {
        let (body, is_base64) = bytes_json(bytes);
        object.insert("body".to_owned(), body);
        object.insert("isBase64Encoded".to_owned(), Value::Bool(is_base64));
    }
    answer
}

/// A body read as bytes, as the event carries it: none when empty, text when UTF-8, else base64.
pub(crate) fn bytes_json(bytes: &[u8]) -> (Value, bool) {
    match std::str::from_utf8(bytes) {
        _ if bytes.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(bytes)), true),
    }
}

/// lambda_http's `Body` read by reference as [`MoesifLayer`](crate::MoesifLayer) logs it: [`bytes_json`]
/// of its bytes (a binary body that is valid UTF-8 is text).
pub(crate) fn lambda_body_json(body: &Body) -> (Value, bool) {
    lambda_body_bytes(body).map_or((Value::Null, false), bytes_json)
}

/// The bytes of lambda_http's `Body` (`None` when it is empty).
pub(crate) fn lambda_body_bytes(body: &Body) -> Option<&[u8]> {
    match body {
        Body::Text(text) => Some(text.as_bytes()),
        Body::Binary(bytes) => Some(bytes),
        _ => None,
    }
}

fn body_json(body: &Body) -> (Value, bool) {
    match body {
        Body::Empty => (Value::Null, false),
        Body::Text(text) => (Value::String(text.clone()), false),
        Body::Binary(bytes) => (Value::String(STANDARD.encode(bytes)), true),
        _ => (Value::Null, false),
    }
}

fn query_json(request: &impl RequestExt) -> Value {
    let mut object = Map::new();
    if let Some(query) = request.query_string_parameters_ref() {
        for (key, value) in query.iter() {
            let entry = object.entry(key.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(Value::String(value.to_owned()));
            }
        }
    }
    Value::Object(object)
}

fn request_context_json(context: &RequestContext) -> Option<Value> {
    match context {
        RequestContext::ApiGatewayV1(c) => serde_json::to_value(c).ok(),
        RequestContext::ApiGatewayV2(c) => serde_json::to_value(c).ok(),
        RequestContext::Alb(c) => serde_json::to_value(c).ok(),
        RequestContext::WebSocket(c) => serde_json::to_value(c).ok(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}
