//! The one capture core every outgoing path goes through (the ureq middleware, the reqwest middleware,
//! the tower client layer, and calls recorded by hand): a call is begun with its request
//! ([`Recorder::begin`]; not at all when it goes to the collector or nothing can be sent) and finished
//! with its response ([`Begun::finish`]), which queues it. The event is built when it is sent, off the
//! caller's path: bodies decoded and parsed, the outgoing hooks, redaction, the mask hook, sampling.

use super::event::{Captured, Later, Seen};
use crate::client::Client;
use crate::delivery::{self, Transport};
use crate::hooks;
use crate::options::Options;
use crate::time::now_millis;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The options a client path logs with, and the connection it logs through (found on first use).
#[derive(Debug)]
pub(super) struct Recorder {
    options: Arc<Options>,
    transport: OnceLock<Option<Arc<Transport>>>,
}

impl Recorder {
    /// Logging with `options`, through the connection shared by everything naming its collector.
    pub(super) fn new(options: Options) -> Self {
        Recorder {
            options: Arc::new(options),
            transport: OnceLock::new(),
        }
    }

    /// Logging with `options` through `client`'s connection.
    pub(super) fn with_client(options: Options, client: &Client) -> Self {
        Recorder {
            options: Arc::new(options),
            transport: OnceLock::from(Some(client.transport().clone())),
        }
    }

    fn transport(&self) -> Option<&Arc<Transport>> {
        self.transport
            .get_or_init(|| hooks::call("transport", || Transport::shared(&self.options)).flatten())
            .as_ref()
    }

    /// Whether bodies are captured (`OutgoingOptions::log_body`).
    pub(super) fn log_body(&self) -> bool {
        self.options.outgoing.log_body
    }

    /// The body cap.
    pub(super) fn max_body_bytes(&self) -> usize {
        self.options.max_body_bytes
    }

    /// The start of a call to log, from its request (its time is now; its invocation the one this code
    /// runs for): `None` when it is not to be logged (no application id, or a call to the collector).
    pub(super) fn begin(&self, method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> Option<Begun> {
        let transport = self.transport()?.clone();
        let text = without_userinfo(uri);
        if is_collector(&text, transport.base_uri()) {
            return None;
        }
        Some(Begun {
            options: self.options.clone(),
            transport,
            method: method.to_string(),
            uri: text,
            request_headers: with_host(crate::capture::headers::header_map_json(headers), uri),
            request_encoding: content_encoding(headers),
            request_body: Seen::Nothing,
            started: now_millis(),
            request_id: crate::current::request_id(),
        })
    }
}

/// A call begun, waiting for its response.
pub(super) struct Begun {
    options: Arc<Options>,
    transport: Arc<Transport>,
    method: String,
    uri: String,
    request_headers: Value,
    request_encoding: String,
    request_body: Seen,
    started: i64,
    request_id: Option<Arc<str>>,
}

impl std::fmt::Debug for Begun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URI, headers or bodies: they may hold what redaction removes.
        f.debug_struct("Begun")
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl Begun {
    /// The request body, whole as it was sent (bodies off: ignored; over the cap: its size only).
    pub(super) fn request_body(&mut self, bytes: Vec<u8>) {
        let encoding = std::mem::take(&mut self.request_encoding);
        self.request_body = self.seen(bytes, encoding);
    }

    /// The request body, given as a slice (copied only when within the cap).
    pub(super) fn request_slice(&mut self, bytes: &[u8]) {
        match bytes.len() {
            size if size > self.options.max_body_bytes && self.options.outgoing.log_body => {
                self.request_body = Seen::Omitted(size);
            }
            _ => self.request_body(bytes.to_vec()),
        }
    }

    /// `bytes` as a body of this call, with `encoding` left to undo in them: nothing when bodies are
    /// off or it is empty, its size when over the cap.
    pub(super) fn seen(&self, bytes: Vec<u8>, encoding: String) -> Seen {
        match bytes.len() {
            _ if !self.options.outgoing.log_body => Seen::Nothing,
            0 => Seen::Nothing,
            size if size > self.options.max_body_bytes => Seen::Omitted(size),
            _ => Seen::Bytes(bytes, encoding),
        }
    }

    /// Queues the call with its response, finished now.
    pub(super) fn finish(self, status: u16, response_headers: &http::HeaderMap, response_body: Seen) {
        self.finish_at(status, response_headers, response_body, now_millis());
    }

    /// Queues the call with its response, finished at `finished` (milliseconds since the epoch). Never
    /// blocks: the event is built when it is sent.
    pub(super) fn finish_at(self, status: u16, response_headers: &http::HeaderMap, response_body: Seen, finished: i64) {
        let response_body = match self.options.outgoing.log_body {
            true => response_body,
            false => Seen::Nothing,
        };
        let captured = Captured {
            method: self.method,
            uri: self.uri,
            request_headers: self.request_headers,
            request_body: self.request_body,
            started: self.started,
            status,
            response_headers: crate::capture::headers::header_map_json(response_headers),
            response_body,
            finished,
            request_id: self.request_id,
        };
        let later = Later {
            captured,
            options: self.options.clone(),
        };
        let size = later.estimated_size();
        delivery::submit_later(&self.transport, Box::new(later), size, &self.options);
    }
}

/// Logs outgoing calls made with any client (the AWS SDK's interceptors, a gRPC client, a transport of
/// your own) as `Outgoing` Moesif events, through the same redaction, outgoing hooks, sampling and
/// queue as [`crate::MoesifMiddleware`]: [`OutgoingRecorder::record`] each call once it has its answer.
///
/// Recording never blocks nor sends: the call is queued (bodies copied, up to the cap) and its event
/// built when it is sent, with the invocation's own events. It is tied to the invocation this code
/// runs for (its request id in `metadata.request_id`; off the handler's task, carry it with
/// [`crate::InvocationHandle`]). Calls to the Moesif collector are never logged; without an
/// application id nothing is.
///
/// ```
/// use moesif_lambda::{OutgoingRecord, OutgoingRecorder, Options};
/// use std::time::SystemTime;
///
/// const OPTIONS: Options = Options::new();
/// let recorder = OutgoingRecorder::new(OPTIONS);
///
/// let started = SystemTime::now();
/// // … make the call with your client …
/// let method = http::Method::POST;
/// let uri: http::Uri = "https://api.example.com/v1/orders?page=2".parse()?;
/// let mut response_headers = http::HeaderMap::new();
/// response_headers.insert("content-type", http::HeaderValue::from_static("application/json"));
/// recorder.record(
///     OutgoingRecord::new(&method, &uri, 201)
///         .request_body(br#"{"sku":"A-1"}"#)
///         .response_headers(&response_headers)
///         .response_body(br#"{"id":7}"#)
///         .times(started, SystemTime::now()),
/// );
/// # Ok::<_, http::uri::InvalidUri>(())
/// ```
#[derive(Debug, Clone)]
pub struct OutgoingRecorder {
    recorder: Arc<Recorder>,
}

impl OutgoingRecorder {
    /// A recorder logging with `options` (its `outgoing` part, application id, base URI, body cap,
    /// redaction and mask hook).
    ///
    /// ```
    /// let recorder = moesif_lambda::OutgoingRecorder::new(moesif_lambda::Options::new());
    /// ```
    #[must_use]
    pub fn new(options: Options) -> Self {
        OutgoingRecorder {
            recorder: Arc::new(Recorder::new(options)),
        }
    }

    /// A recorder logging with `options` through `client`'s connection.
    ///
    /// ```
    /// use moesif_lambda::{Client, OutgoingRecorder, Options};
    ///
    /// let options = Options::new().application_id("my-app-id");
    /// let client = Client::new(&options)?;
    /// let recorder = OutgoingRecorder::with_client(options, &client);
    /// # Ok::<_, moesif_lambda::Error>(())
    /// ```
    #[must_use]
    pub fn with_client(options: Options, client: &Client) -> Self {
        OutgoingRecorder {
            recorder: Arc::new(Recorder::with_client(options, client)),
        }
    }

    /// Queues `call` to be logged (never blocks, never fails: a call that is not to be logged is left
    /// out). Its bodies are taken as they went over the wire: a `Content-Encoding` in their headers is
    /// undone when the event is built.
    pub fn record(&self, call: OutgoingRecord<'_>) {
        let none = http::HeaderMap::new();
        let (request_headers, response_headers) = (
            call.request_headers.unwrap_or(&none),
            call.response_headers.unwrap_or(&none),
        );
        let Some(mut begun) = self.recorder.begin(call.method, call.uri, request_headers) else {
            return;
        };
        begun.started = millis(call.started);
        if let Some(body) = call.request_body {
            begun.request_slice(body);
        }
        let response_body = match call.response_body {
            Some(body) if body.len() > self.recorder.max_body_bytes() => Seen::Omitted(body.len()),
            Some(body) => begun.seen(body.to_vec(), content_encoding(response_headers)),
            None => Seen::Nothing,
        };
        begun.finish_at(call.status, response_headers, response_body, millis(call.finished));
    }
}

/// One outgoing call for [`OutgoingRecorder::record`]: method, URI and status, with the headers, bodies
/// and times you have (headers default to none, bodies to none, both times to now).
///
/// ```
/// use moesif_lambda::OutgoingRecord;
///
/// let uri = http::Uri::from_static("https://api.example.com/health");
/// let call = OutgoingRecord::new(&http::Method::GET, &uri, 204);
/// # let _ = call;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRecord<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
    status: u16,
    request_headers: Option<&'a http::HeaderMap>,
    request_body: Option<&'a [u8]>,
    response_headers: Option<&'a http::HeaderMap>,
    response_body: Option<&'a [u8]>,
    started: SystemTime,
    finished: SystemTime,
}

impl<'a> OutgoingRecord<'a> {
    /// A call of `method` to `uri` answered with `status`.
    ///
    /// ```
    /// let uri = http::Uri::from_static("https://api.example.com/v1");
    /// let call = moesif_lambda::OutgoingRecord::new(&http::Method::GET, &uri, 200);
    /// # let _ = call;
    /// ```
    #[must_use]
    pub fn new(method: &'a http::Method, uri: &'a http::Uri, status: u16) -> Self {
        let now = SystemTime::now();
        OutgoingRecord {
            method,
            uri,
            status,
            request_headers: None,
            request_body: None,
            response_headers: None,
            response_body: None,
            started: now,
            finished: now,
        }
    }

    /// The request headers as sent (a `host` header is added from the URI when they have none).
    #[must_use]
    pub fn request_headers(mut self, headers: &'a http::HeaderMap) -> Self {
        self.request_headers = Some(headers);
        self
    }

    /// The request body as sent.
    #[must_use]
    pub fn request_body(mut self, body: &'a [u8]) -> Self {
        self.request_body = Some(body);
        self
    }

    /// The response headers as received.
    #[must_use]
    pub fn response_headers(mut self, headers: &'a http::HeaderMap) -> Self {
        self.response_headers = Some(headers);
        self
    }

    /// The response body as received.
    #[must_use]
    pub fn response_body(mut self, body: &'a [u8]) -> Self {
        self.response_body = Some(body);
        self
    }

    /// When the request was sent and when the answer was complete.
    #[must_use]
    pub fn times(mut self, started: SystemTime, finished: SystemTime) -> Self {
        self.started = started;
        self.finished = finished;
        self
    }
}

/// Milliseconds since the epoch of `time`.
fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |millis| -millis),
    }
}

/// The `Content-Encoding` of `headers`, repeated ones joined (empty: none). A value that is not text is
/// kept (lossily), to be refused as an unknown coding rather than read as no coding.
pub(super) fn content_encoding(headers: &http::HeaderMap) -> String {
    let values: Vec<String> = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    values.join(", ")
}

/// Whether `uri` is on the collector (`base` itself, or below it).
fn is_collector(uri: &str, base: &str) -> bool {
    let Some(prefix) = uri.get(..base.len()) else {
        return false;
    };
    prefix.eq_ignore_ascii_case(base) && matches!(uri.as_bytes().get(base.len()), None | Some(b'/' | b'?' | b'#'))
}

/// The URI as text, without a `user:password@` part (a credential).
fn without_userinfo(uri: &http::Uri) -> String {
    let text = uri.to_string();
    match uri.authority().map(|a| a.as_str()) {
        Some(authority) if authority.contains('@') => {
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            text.replacen(authority, host, 1)
        }
        _ => text,
    }
}

/// The request headers with `host` from the URI, as the upstream gets it (HTTP/1.1 requires it; the
/// clients add it after the middleware). Other headers a client may add later are not invented.
fn with_host(mut headers: Value, uri: &http::Uri) -> Value {
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    let host = uri.host().map(|host| match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    });
    if let (Some(map), Some(host)) = (headers.as_object_mut(), host) {
        if !map.keys().any(|name| name.eq_ignore_ascii_case("host")) {
            map.insert("host".to_owned(), Value::String(host));
        }
    }
    headers
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
    fn content_encodings_are_joined_and_never_dropped() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(content_encoding(&headers), "");
        headers.append(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_static("deflate"),
        );
        headers.append(http::header::CONTENT_ENCODING, http::HeaderValue::from_static("gzip"));
        assert_eq!(content_encoding(&headers), "deflate, gzip");
        let mut odd = http::HeaderMap::new();
        odd.insert(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_bytes(b"gz\xedp").unwrap_or_else(|_| unreachable!("obs-text is a valid value")),
        );
        assert_eq!(content_encoding(&odd), "gz\u{fffd}p");
    }

    #[test]
    fn host_comes_from_the_uri_and_userinfo_is_dropped() {
        let uri = |text: &str| text.parse::<http::Uri>().unwrap_or_default();
        let headers = with_host(serde_json::json!({"accept": "*/*"}), &uri("https://api.example/v1?q=1"));
        assert_eq!(headers, serde_json::json!({"accept": "*/*", "host": "api.example"}));
        let port = with_host(serde_json::json!({}), &uri("http://127.0.0.1:8080/x"));
        assert_eq!(port["host"], "127.0.0.1:8080");
        let default_port = with_host(serde_json::json!({}), &uri("https://h:443/x"));
        assert_eq!(default_port["host"], "h");
        let set = with_host(serde_json::json!({"Host": "other"}), &uri("https://h/x"));
        assert_eq!(set, serde_json::json!({"Host": "other"}));
        assert_eq!(
            without_userinfo(&uri("https://user:S3CRET@h.example:8443/p?a=1")),
            "https://h.example:8443/p?a=1"
        );
        assert_eq!(without_userinfo(&uri("https://h.example/p")), "https://h.example/p");
    }

    #[test]
    fn times_before_the_epoch_are_negative() {
        assert_eq!(millis(UNIX_EPOCH + std::time::Duration::from_millis(1500)), 1500);
        assert_eq!(millis(UNIX_EPOCH - std::time::Duration::from_millis(20)), -20);
    }
}
