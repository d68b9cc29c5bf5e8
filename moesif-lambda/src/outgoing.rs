//! Outgoing API calls: the HTTP calls the function itself makes, captured by a `ureq` middleware as
//! Moesif events with direction `Outgoing`, tied to the invocation in progress (its request id in
//! `metadata.request_id`). The Python middleware's `start_capture_outgoing`.

use crate::body::{capture_bytes, CapturedBody, JSON};
use crate::capture::header_map_json;
use crate::hooks;
use crate::model::{Direction, EventModel, EventRequest, EventResponse};
use crate::options::Options;
use crate::time::{format_millis, now_millis};
use crate::transport::Transport;
use serde_json::{json, Map, Value};
use std::io::{self, Cursor, Read};
use std::sync::{Arc, OnceLock};
use ureq::http;
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, SendBody};

/// A read-only view of one outgoing call, for the outgoing hooks.
#[derive(Debug)]
#[non_exhaustive]
pub struct OutgoingCall<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Full URI.
    pub uri: &'a str,
    /// Request headers (a JSON object of strings).
    pub request_headers: &'a Value,
    /// Response status.
    pub status: u16,
    /// Response headers (a JSON object of strings).
    pub response_headers: &'a Value,
    /// The request id of the invocation that made the call, if any.
    pub request_id: Option<&'a str>,
}

/// A hook deriving a string (user, company, session token) from an outgoing call.
pub type OutgoingIdentifyHook = fn(&OutgoingCall<'_>) -> Option<String>;
/// A hook returning the metadata of an outgoing call.
pub type OutgoingMetadataHook = fn(&OutgoingCall<'_>) -> Option<Value>;
/// A hook returning `true` for outgoing calls not to log.
pub type OutgoingSkipHook = fn(&OutgoingCall<'_>) -> bool;

/// Options for capturing the HTTP calls the function makes (see [`crate::Options::outgoing`]); the
/// Python `*_OUTGOING` keys.
///
/// ```
/// use moesif_lambda::{Options, OutgoingOptions};
/// const OPTIONS: Options = Options::new().outgoing(
///     OutgoingOptions::new()
///         .skip(|call| call.uri.contains("/health"))
///         .log_body(false),
/// );
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct OutgoingOptions {
    pub(crate) skip: Option<OutgoingSkipHook>,
    pub(crate) identify_user: Option<OutgoingIdentifyHook>,
    pub(crate) identify_company: Option<OutgoingIdentifyHook>,
    pub(crate) session_token: Option<OutgoingIdentifyHook>,
    pub(crate) metadata: Option<OutgoingMetadataHook>,
    pub(crate) log_body: bool,
}

impl Default for OutgoingOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OutgoingOptions {
    /// The defaults: log every call, with bodies.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new();
    /// ```
    pub const fn new() -> Self {
        Self {
            skip: None,
            identify_user: None,
            identify_company: None,
            session_token: None,
            metadata: None,
            log_body: true,
        }
    }

    /// `SKIP_OUTGOING`: return `true` to leave a call out.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new().skip(|call| call.method == "HEAD");
    /// ```
    #[doc(alias = "SKIP_OUTGOING")]
    pub const fn skip(mut self, hook: OutgoingSkipHook) -> Self {
        self.skip = Some(hook);
        self
    }

    /// `IDENTIFY_USER_OUTGOING`: the user id of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().identify_user(|call| call.request_headers["x-user"].as_str().map(String::from));
    /// ```
    #[doc(alias = "IDENTIFY_USER_OUTGOING")]
    pub const fn identify_user(mut self, hook: OutgoingIdentifyHook) -> Self {
        self.identify_user = Some(hook);
        self
    }

    /// `IDENTIFY_COMPANY_OUTGOING`: the company id of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().identify_company(|_| Some("acme".into()));
    /// ```
    #[doc(alias = "IDENTIFY_COMPANY_OUTGOING")]
    pub const fn identify_company(mut self, hook: OutgoingIdentifyHook) -> Self {
        self.identify_company = Some(hook);
        self
    }

    /// `GET_SESSION_TOKEN_OUTGOING`: the session token of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().session_token(|call| call.request_headers["x-session"].as_str().map(String::from));
    /// ```
    #[doc(alias = "GET_SESSION_TOKEN_OUTGOING")]
    pub const fn session_token(mut self, hook: OutgoingIdentifyHook) -> Self {
        self.session_token = Some(hook);
        self
    }

    /// `GET_METADATA_OUTGOING`: metadata of a call (merged with `request_id`).
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().metadata(|call| Some(serde_json::json!({ "status": call.status })));
    /// ```
    #[doc(alias = "GET_METADATA_OUTGOING")]
    pub const fn metadata(mut self, hook: OutgoingMetadataHook) -> Self {
        self.metadata = Some(hook);
        self
    }

    /// `LOG_BODY_OUTGOING`: capture request and response bodies (default `true`).
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new().log_body(false);
    /// ```
    #[doc(alias = "LOG_BODY_OUTGOING")]
    pub const fn log_body(mut self, log_body: bool) -> Self {
        self.log_body = log_body;
        self
    }
}

/// A `ureq` 3 middleware that logs every call an `Agent` makes as an `Outgoing` Moesif event.
///
/// The caller's code sees what it would without it: the same status, headers, complete body and errors.
/// Calls to the Moesif collector itself are never captured; without an application id nothing is.
///
/// - **Response bodies** up to `max_body_bytes` are read for capture and handed to the caller from
///   memory; a body announced larger than the cap is handed over untouched (the event records its
///   size); a chunked body found larger is handed over as the bytes read followed by the rest of the
///   stream; a read error reaches the caller where it happened. `text/event-stream` answers are never
///   read ahead (no body captured).
/// - **Request bodies** up to 16 MiB (or the cap, if larger) are read whole and sent with their
///   `Content-Length`; a longer one is sent chunked unless the request sets `Content-Length` itself.
/// - **Error statuses**: with ureq's default `http_status_as_error(true)` a 4xx/5xx answer reaches the
///   middleware as `Err(StatusCode)`; it is logged with its status but without response headers or
///   body, and the error is returned unchanged. Build the agent with `.http_status_as_error(false)` to
///   capture those too. A call that gets no answer (refused, timed out) is not logged.
/// - `OutgoingOptions::log_body(false)` leaves both bodies untouched.
///
/// Ureq is blocking: inside an async handler, make the calls on `tokio::task::spawn_blocking`.
///
/// ```no_run
/// use moesif_lambda::{MoesifMiddleware, Options};
///
/// const OPTIONS: Options = Options::new();
/// let agent: ureq::Agent = ureq::Agent::config_builder()
///     .middleware(MoesifMiddleware::new(OPTIONS))
///     .build()
///     .into();
/// let body = agent.get("https://api.example.com/orders").call()?.body_mut().read_to_string()?;
/// # Ok::<_, ureq::Error>(())
/// ```
#[derive(Debug)]
pub struct MoesifMiddleware {
    options: Options,
    transport: OnceLock<Option<Arc<Transport>>>,
}

impl MoesifMiddleware {
    /// A middleware logging with `options` (its `outgoing` part, application id, base URI, body cap,
    /// redaction and mask hook).
    ///
    /// ```
    /// let middleware = moesif_lambda::MoesifMiddleware::new(moesif_lambda::Options::new());
    /// ```
    pub fn new(options: Options) -> Self {
        Self {
            options,
            transport: OnceLock::new(),
        }
    }

    fn transport(&self) -> Option<&Arc<Transport>> {
        self.transport
            .get_or_init(|| hooks::call("transport", || Transport::from_options(&self.options).map(Arc::new)).flatten())
            .as_ref()
    }
}

impl Middleware for MoesifMiddleware {
    fn handle(
        &self,
        request: http::Request<SendBody>,
        next: MiddlewareNext,
    ) -> Result<http::Response<Body>, ureq::Error> {
        let uri = request.uri().to_string();
        let Some(transport) = self.transport().cloned() else {
            return next.handle(request);
        };
        if is_collector(&uri, transport.base_uri()) {
            return next.handle(request);
        }
        let options = self.options;
        let log_body = options.outgoing.log_body;
        let max = options.max_body_bytes;
        let started = now_millis();
        let method = request.method().to_string();
        let request_headers = header_map_json(request.headers());

        // The request body: read whole (up to `REQUEST_BUFFER_BYTES`) and sent on unchanged, with its
        // length; a longer one is sent on as it comes (the bytes read, then the rest), a read error where
        // it happened. Not touched at all when bodies are off.
        let mut request_body: CapturedBody = (None, JSON);
        let result = if log_body {
            let (mut parts, body) = request.into_parts();
            let mut source = body.into_reader();
            let (head, ending) = read_head(&mut source, max.max(REQUEST_BUFFER_BYTES));
            if matches!(ending, Ending::Complete) {
                request_body = capture_bytes(&head, true, max);
                if head.is_empty() && !takes_body(&parts.method) {
                    next.handle(http::Request::from_parts(parts, SendBody::none()))
                } else {
                    let framed = parts.headers.contains_key(http::header::CONTENT_LENGTH)
                        || parts.headers.contains_key(http::header::TRANSFER_ENCODING);
                    if !framed {
                        parts
                            .headers
                            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(head.len()));
                    }
                    let mut bytes = Cursor::new(head);
                    next.handle(http::Request::from_parts(parts, SendBody::from_reader(&mut bytes)))
                }
            } else {
                let mut rest = Replay::new(head, ending, source);
                next.handle(http::Request::from_parts(parts, SendBody::from_reader(&mut rest)))
            }
        } else {
            next.handle(request)
        };

        let capture = |status: u16, response_headers: Value, response_body: CapturedBody| {
            let captured = Captured {
                method,
                uri,
                request_headers,
                request_body,
                started,
                status,
                response_headers,
                response_body,
                finished: now_millis(),
            };
            if let Some(event) = hooks::call("outgoing capture", || captured.into_event(&options)).flatten() {
                crate::delivery::submit_built(&transport, event, &options);
            }
        };

        let response = match result {
            Ok(response) => response,
            Err(error) => {
                // With ureq's default `http_status_as_error(true)` a 4xx/5xx answer arrives here as an
                // error: log the call with its status (its headers and body are gone), return the error.
                if let ureq::Error::StatusCode(status) = &error {
                    capture(*status, Value::Object(Map::new()), (None, JSON));
                }
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        let response_headers = header_map_json(response.headers());
        if !log_body || is_event_stream(response.headers()) {
            // Nothing to read: the caller gets the body untouched (a stream is never buffered).
            capture(status, response_headers, (None, JSON));
            return Ok(response);
        }
        if let Some(length) = response.body().content_length().filter(|&length| length > max as u64) {
            // Known to be over the cap: untouched, and the event says how large it was.
            let size = usize::try_from(length).unwrap_or(usize::MAX);
            capture(status, response_headers, (Some(crate::body::omitted(size)), JSON));
            return Ok(response);
        }

        let (parts, body) = response.into_parts();
        let mut builder = Body::builder();
        if let Some(mime_type) = body.mime_type() {
            builder = builder.mime_type(mime_type);
        }
        if let Some(charset) = body.charset() {
            // The reader below already converted a text body to UTF-8 if ureq's `charset` feature is on:
            // the caller's reader must not convert it again.
            let text = body.mime_type().is_some_and(|m| m.starts_with("text/"));
            if !(text && !charset.eq_ignore_ascii_case("utf-8") && charset_decoding()) {
                builder = builder.charset(charset);
            }
        }
        let known_length = body.content_length().is_some();
        let mut source = body.into_reader();
        let (head, ending) = read_head(&mut source, max);
        let (response_body, caller_body) = match ending {
            Ending::Complete => {
                let captured = capture_bytes(&head, true, max);
                let body = if known_length {
                    builder.data(head)
                } else {
                    builder.reader(Cursor::new(head))
                };
                (captured, body)
            }
            _ => ((None, JSON), builder.reader(Replay::new(head, ending, source))),
        };
        capture(status, response_headers, response_body);
        Ok(http::Response::from_parts(parts, caller_body))
    }
}

/// A request body up to this size (or the body cap, if larger) is read whole before it is sent, so it
/// goes out with its `Content-Length` as it would without the middleware; a longer one is sent chunked
/// unless the request sets `Content-Length` itself.
const REQUEST_BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// Whether `uri` is on the collector (`base` itself, or below it).
fn is_collector(uri: &str, base: &str) -> bool {
    let Some(prefix) = uri.get(..base.len()) else {
        return false;
    };
    prefix.eq_ignore_ascii_case(base) && matches!(uri.as_bytes().get(base.len()), None | Some(b'/' | b'?' | b'#'))
}

/// Methods that carry a body (an empty one is still sent with `Content-Length: 0`).
fn takes_body(method: &http::Method) -> bool {
    matches!(*method, http::Method::POST | http::Method::PUT | http::Method::PATCH)
}

/// A server-sent event stream: never ends, so never buffered.
fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Whether ureq converts text bodies to UTF-8 (its `charset` feature, which any crate of the build may
/// turn on), found once by reading a Latin-1 body.
fn charset_decoding() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        Body::builder()
            .mime_type("text/plain")
            .charset("iso-8859-1")
            .data(vec![0xE9])
            .read_to_vec()
            .is_ok_and(|bytes| bytes != [0xE9])
    })
}

/// How reading the first `max + 1` bytes of a body ended.
#[derive(Debug)]
enum Ending {
    /// The whole body, within the cap.
    Complete,
    /// The cap was passed: more may follow.
    OverCap,
    /// The source failed after the bytes read.
    Failed(io::Error),
}

/// Reads up to `max + 1` bytes of `source`.
fn read_head(source: &mut impl Read, max: usize) -> (Vec<u8>, Ending) {
    let mut head = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    match source.take(limit).read_to_end(&mut head) {
        Ok(_) if head.len() <= max => (head, Ending::Complete),
        Ok(_) => (head, Ending::OverCap),
        Err(error) => (head, Ending::Failed(error)),
    }
}

/// A body read in part, given back whole: the bytes already read, then the error that stopped the
/// read (once, where it happened), then the rest of the source.
struct Replay<R> {
    head: Cursor<Vec<u8>>,
    error: Option<io::Error>,
    rest: R,
}

impl<R> Replay<R> {
    fn new(head: Vec<u8>, ending: Ending, rest: R) -> Self {
        let error = match ending {
            Ending::Failed(error) => Some(error),
            Ending::Complete | Ending::OverCap => None,
        };
        Replay {
            head: Cursor::new(head),
            error,
            rest,
        }
    }
}

impl<R: Read> Read for Replay<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.head.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        self.rest.read(buf)
    }
}

/// What one outgoing call looked like.
struct Captured {
    method: String,
    uri: String,
    request_headers: Value,
    request_body: CapturedBody,
    started: i64,
    status: u16,
    response_headers: Value,
    response_body: CapturedBody,
    finished: i64,
}

impl Captured {
    fn into_event(self, options: &Options) -> Option<EventModel> {
        let outgoing = &options.outgoing;
        let request_id = crate::current::request_id();
        let view = OutgoingCall {
            method: &self.method,
            uri: &self.uri,
            request_headers: &self.request_headers,
            status: self.status,
            response_headers: &self.response_headers,
            request_id: request_id.as_deref(),
        };
        if let Some(skip) = outgoing.skip {
            if hooks::call("skip_outgoing", || skip(&view)).unwrap_or(false) {
                return None;
            }
        }
        let run = |name, hook: Option<OutgoingIdentifyHook>| {
            hook.and_then(|hook| hooks::call(name, || hook(&view)).flatten())
        };
        let user_id = run("identify_user_outgoing", outgoing.identify_user);
        let company_id = run("identify_company_outgoing", outgoing.identify_company);
        let session_token = run("session_token_outgoing", outgoing.session_token);
        let mut metadata = match outgoing
            .metadata
            .and_then(|hook| hooks::call("metadata_outgoing", || hook(&view)).flatten())
        {
            Some(Value::Object(map)) => map,
            Some(other) => Map::from_iter([("value".to_owned(), other)]),
            None => Map::new(),
        };
        if let Some(id) = &request_id {
            metadata.insert("request_id".to_owned(), json!(id));
        }
        let (request_body, request_encoding) = self.request_body;
        let (response_body, response_encoding) = self.response_body;
        let mut event = EventModel {
            request: EventRequest {
                time: format_millis(self.started),
                uri: self.uri,
                verb: self.method,
                headers: self.request_headers,
                api_version: None,
                ip_address: None,
                body: request_body,
                transfer_encoding: Some(request_encoding.to_owned()),
            },
            response: EventResponse {
                time: format_millis(self.finished),
                status: self.status,
                headers: self.response_headers,
                body: response_body,
                transfer_encoding: Some(response_encoding.to_owned()),
            },
            session_token,
            user_id,
            company_id,
            metadata: (!metadata.is_empty()).then_some(Value::Object(metadata)),
            direction: Direction::Outgoing,
            weight: 1,
            transaction_id: crate::call::transaction_id(),
        };
        crate::redact::apply(&mut event, options);
        match options.mask_event_model {
            Some(mask) => hooks::call("mask_event_model", || mask(event)),
            None => Some(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_uris_are_the_base_or_below_it() {
        let base = "https://api.moesif.net";
        assert!(is_collector("https://api.moesif.net", base));
        assert!(is_collector("https://api.moesif.net/v1/events", base));
        assert!(is_collector("https://API.moesif.net/v1/events", base));
        assert!(is_collector("https://api.moesif.net?x=1", base));
        assert!(!is_collector("https://api.moesif.network/v1", base));
        assert!(!is_collector("http://127.0.0.1:80801/v1", "http://127.0.0.1:8080"));
        assert!(!is_collector("https://api", base));
    }

    #[test]
    fn read_head_says_how_the_read_ended() {
        let (head, ending) = read_head(&mut &b"abc"[..], 3);
        assert_eq!(
            (head.as_slice(), matches!(ending, Ending::Complete)),
            (&b"abc"[..], true)
        );
        let (head, ending) = read_head(&mut &b"abcd"[..], 3);
        assert_eq!(
            (head.as_slice(), matches!(ending, Ending::OverCap)),
            (&b"abcd"[..], true)
        );
    }

    /// Two bytes, then an error, then two more bytes.
    struct Flaky(u8);
    impl Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0 += 1;
            match self.0 {
                1 => {
                    buf[..2].copy_from_slice(b"ab");
                    Ok(2)
                }
                2 => Err(io::Error::other("flaky")),
                3 => {
                    buf[..2].copy_from_slice(b"cd");
                    Ok(2)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn replay_gives_the_bytes_then_the_error_where_it_happened_then_the_rest() {
        let mut source = Flaky(0);
        let (head, ending) = read_head(&mut source, 100);
        assert!(matches!(ending, Ending::Failed(_)));
        let mut replay = Replay::new(head, ending, source);
        let mut out = Vec::new();
        let first = replay.read_to_end(&mut out);
        assert_eq!(
            (out.as_slice(), first.map_err(|e| e.to_string())),
            (&b"ab"[..], Err("flaky".to_owned()))
        );
        let mut rest = Vec::new();
        assert_eq!(replay.read_to_end(&mut rest).ok(), Some(2));
        assert_eq!(rest, b"cd");
    }

    #[test]
    fn event_streams_are_recognised() {
        let mut headers = http::HeaderMap::new();
        assert!(!is_event_stream(&headers));
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("Text/Event-Stream; charset=utf-8"),
        );
        assert!(is_event_stream(&headers));
    }

    #[test]
    fn metadata_is_the_hooks_object_with_the_request_id_or_a_wrapped_value() {
        let captured = || Captured {
            method: "GET".into(),
            uri: "https://api.example.com/x".into(),
            request_headers: json!({}),
            request_body: (None, JSON),
            started: 0,
            status: 200,
            response_headers: json!({}),
            response_body: (None, JSON),
            finished: 1,
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
