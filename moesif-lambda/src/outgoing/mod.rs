//! Outgoing API calls: the HTTP calls the function itself makes, captured by a `ureq` middleware as
//! Moesif events with direction `Outgoing`, tied to the invocation in progress (its request id in
//! `metadata.request_id`). The Python middleware's `start_capture_outgoing`.

mod event;
mod read;

use crate::capture::headers::header_map_json;
use crate::delivery::{self, Transport};
use crate::hooks;
use crate::options::Options;
use crate::time::now_millis;
use event::{Captured, Later, Seen};
use read::{read_head, Ending, Replay};
use serde_json::{Map, Value};
use std::io::Cursor;
use std::sync::{Arc, OnceLock};
use ureq::http;
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Body, SendBody};

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
/// - **After the fact**: the bodies are kept as read; they are decoded (a `Content-Encoding` such as
///   `deflate` or `br` that ureq left in place; ureq itself undoes `gzip`), parsed and redacted, and the
///   hooks run, when the event is sent, never while the caller waits.
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
    options: Arc<Options>,
    transport: OnceLock<Option<Arc<Transport>>>,
}

impl MoesifMiddleware {
    /// A middleware logging with `options` (its `outgoing` part, application id, base URI, body cap,
    /// redaction and mask hook).
    ///
    /// ```
    /// let middleware = moesif_lambda::MoesifMiddleware::new(moesif_lambda::Options::new());
    /// ```
    #[must_use]
    pub fn new(options: Options) -> Self {
        Self {
            options: Arc::new(options),
            transport: OnceLock::new(),
        }
    }

    /// A middleware logging with `options` through `client`'s connection.
    ///
    /// ```
    /// use moesif_lambda::{Client, MoesifMiddleware, Options};
    ///
    /// let options = Options::new().application_id("my-app-id");
    /// let client = Client::new(&options)?;
    /// let middleware = MoesifMiddleware::with_client(options, &client);
    /// # Ok::<_, moesif_lambda::Error>(())
    /// ```
    pub fn with_client(options: Options, client: &crate::Client) -> Self {
        Self {
            options: Arc::new(options),
            transport: OnceLock::from(Some(client.transport().clone())),
        }
    }

    fn transport(&self) -> Option<&Arc<Transport>> {
        self.transport
            .get_or_init(|| hooks::call("transport", || Transport::shared(&self.options)).flatten())
            .as_ref()
    }
}

impl Middleware for MoesifMiddleware {
    fn handle(
        &self,
        request: http::Request<SendBody>,
        next: MiddlewareNext,
    ) -> Result<http::Response<Body>, ureq::Error> {
        let uri = without_userinfo(request.uri());
        let Some(transport) = self.transport().cloned() else {
            return next.handle(request);
        };
        if is_collector(&uri, transport.base_uri()) {
            return next.handle(request);
        }
        let options = &self.options;
        let log_body = options.outgoing.log_body;
        let max = options.max_body_bytes;
        let started = now_millis();
        let method = request.method().to_string();
        let request_headers = with_host(header_map_json(request.headers()), request.uri());
        let request_encoding = content_encoding(request.headers());

        // The request body: read whole (up to `REQUEST_BUFFER_BYTES`) and sent on unchanged, with its
        // length; a longer one is sent on as it comes (the bytes read, then the rest), a read error where
        // it happened. Not touched at all when bodies are off. Only kept here: it is read (decoded,
        // parsed) when the event is built, after the fact.
        let mut request_body = Seen::Nothing;
        let result = if log_body {
            let (mut parts, body) = request.into_parts();
            let mut source = body.into_reader();
            let (head, ending) = read_head(&mut source, max.max(REQUEST_BUFFER_BYTES));
            if matches!(ending, Ending::Complete) {
                let result = if head.is_empty() && !takes_body(&parts.method) {
                    next.handle(http::Request::from_parts(parts, SendBody::none()))
                } else {
                    let framed = parts.headers.contains_key(http::header::CONTENT_LENGTH)
                        || parts.headers.contains_key(http::header::TRANSFER_ENCODING);
                    if !framed {
                        parts
                            .headers
                            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(head.len()));
                    }
                    let mut bytes = Cursor::new(&head[..]);
                    next.handle(http::Request::from_parts(parts, SendBody::from_reader(&mut bytes)))
                };
                request_body = match head.len() {
                    0 => Seen::Nothing,
                    size if size > max => Seen::Omitted(size),
                    // ureq sends a request body as it is given: its `Content-Encoding` is all to undo.
                    _ => Seen::Bytes(head, request_encoding),
                };
                result
            } else {
                let mut rest = Replay::new(head, ending, source);
                next.handle(http::Request::from_parts(parts, SendBody::from_reader(&mut rest)))
            }
        } else {
            next.handle(request)
        };

        let capture = |status: u16, response_headers: Value, response_body: Seen| {
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
                request_id: crate::current::request_id(),
            };
            let later = Later {
                captured,
                options: self.options.clone(),
            };
            let size = later.estimated_size();
            delivery::submit_later(&transport, Box::new(later), size, options);
        };

        let response = match result {
            Ok(response) => response,
            Err(error) => {
                // With ureq's default `http_status_as_error(true)` a 4xx/5xx answer arrives here as an
                // error: log the call with its status (its headers and body are gone), return the error.
                if let ureq::Error::StatusCode(status) = &error {
                    capture(*status, Value::Object(Map::new()), Seen::Nothing);
                }
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        let response_headers = header_map_json(response.headers());
        if !log_body || is_event_stream(response.headers()) {
            // Nothing to read: the caller gets the body untouched (a stream is never buffered).
            capture(status, response_headers, Seen::Nothing);
            return Ok(response);
        }
        if let Some(length) = response.body().content_length().filter(|&length| length > max as u64) {
            // Known to be over the cap: untouched, and the event says how large it was.
            let size = usize::try_from(length).unwrap_or(usize::MAX);
            capture(status, response_headers, Seen::Omitted(size));
            return Ok(response);
        }

        // ureq's reader undoes a `Content-Encoding` of `gzip` (and `br` with its `brotli` feature) and then
        // removes the header: what the headers still say is what is left to undo.
        let encoding = content_encoding(response.headers());
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
                // A copy for the event (read when it is built): cheaper here than parsing it.
                let seen = match head.is_empty() {
                    true => Seen::Nothing,
                    false => Seen::Bytes(head.clone(), encoding),
                };
                let body = if known_length {
                    builder.data(head)
                } else {
                    builder.reader(Cursor::new(head))
                };
                (seen, body)
            }
            _ => (Seen::Nothing, builder.reader(Replay::new(head, ending, source))),
        };
        capture(status, response_headers, response_body);
        Ok(http::Response::from_parts(parts, caller_body))
    }
}

/// The `Content-Encoding` of `headers`, repeated ones joined (empty: none). A value that is not text is
/// kept (lossily), to be refused as an unknown coding rather than read as no coding.
fn content_encoding(headers: &http::HeaderMap) -> String {
    let values: Vec<String> = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    values.join(", ")
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

/// The request headers with `host` from the URI, as the upstream gets it (HTTP/1.1 requires it; ureq
/// adds it after the middleware). Other headers ureq may add later are not invented.
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
/// turn on), found once by reading a Latin-1 body (a one-time cache: the build decides it).
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
}
