//! Outgoing API calls: the HTTP calls the function itself makes, captured by a `ureq` middleware as
//! Moesif events with direction `Outgoing`, tied to the invocation in progress (its request id in
//! `metadata.request_id`). The Python middleware's `start_capture_outgoing`.

use crate::body::{capture_bytes, CapturedBody};
use crate::capture::header_map_json;
use crate::hooks;
use crate::model::{Direction, EventModel, EventRequest, EventResponse};
use crate::options::Options;
use crate::time::{format_millis, now_millis};
use crate::transport::Transport;
use serde_json::{json, Map, Value};
use std::io::{Cursor, Read};
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
/// The caller's code sees exactly what it would without it: the same status, headers and complete
/// body (read into memory up to the body cap, then streamed on), and the same errors. Calls to the
/// Moesif collector itself are never captured.
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
        if uri.starts_with(transport.base_uri()) {
            return next.handle(request);
        }
        let options = self.options;
        let max = options.max_body_bytes;
        let started = now_millis();
        let method = request.method().to_string();
        let request_headers = header_map_json(request.headers());

        // The request body: read up to the cap and sent on unchanged (with its length when complete).
        let (parts, body) = request.into_parts();
        let mut reader = body.into_reader();
        let mut head = Vec::new();
        let read = (&mut reader).take(max as u64 + 1).read_to_end(&mut head);
        let complete = read.is_ok() && head.len() <= max;
        let request_body: CapturedBody = if complete {
            capture_bytes(&head, options.outgoing.log_body, max)
        } else {
            (None, "json")
        };
        let length = head.len();
        let response = if complete && length == 0 {
            next.handle(http::Request::from_parts(parts, SendBody::none()))?
        } else {
            let mut rest = Cursor::new(head).chain(reader);
            let mut forwarded = http::Request::from_parts(parts, SendBody::from_reader(&mut rest));
            if complete && !forwarded.headers().contains_key(http::header::CONTENT_LENGTH) {
                forwarded
                    .headers_mut()
                    .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(length));
            }
            next.handle(forwarded)?
        };
        let (parts, body) = response.into_parts();
        let (mime_type, charset) = (body.mime_type().map(str::to_owned), body.charset().map(str::to_owned));
        let mut reader = body.into_reader();
        let mut head = Vec::new();
        let read = (&mut reader).take(max as u64 + 1).read_to_end(&mut head);
        let complete = read.is_ok() && head.len() <= max;
        let response_body = if complete {
            capture_bytes(&head, options.outgoing.log_body, max)
        } else {
            (None, "json")
        };
        let mut builder = Body::builder();
        if let Some(mime_type) = mime_type {
            builder = builder.mime_type(mime_type);
        }
        if let Some(charset) = charset {
            builder = builder.charset(charset);
        }
        let caller_body = if complete {
            builder.data(head)
        } else {
            builder.reader(Cursor::new(head).chain(reader))
        };
        let response = http::Response::from_parts(parts, caller_body);

        let captured = Captured {
            method,
            uri,
            request_headers,
            request_body,
            started,
            status: response.status().as_u16(),
            response_headers: header_map_json(response.headers()),
            response_body,
            finished: now_millis(),
        };
        if let Some(event) = hooks::call("outgoing capture", || captured.into_event(&options)).flatten() {
            crate::delivery::submit_built(&transport, event, options.debug);
        }
        Ok(response)
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
