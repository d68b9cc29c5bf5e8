//! The `ureq` 3 middleware: reads the bodies it can without changing what the caller gets, and hands the
//! call to the capture core.

use super::event::Seen;
use super::read::{read_head, Ending, Replay};
use super::record::{content_encoding, Recorder};
use std::io::Cursor;
use std::sync::OnceLock;
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
    recorder: Recorder,
}

impl MoesifMiddleware {
    /// A middleware logging with `options` (its `outgoing` part, application id, base URI, body cap,
    /// redaction and mask hook).
    ///
    /// ```
    /// let middleware = moesif_lambda::MoesifMiddleware::new(moesif_lambda::Options::new());
    /// ```
    #[must_use]
    pub fn new(options: crate::Options) -> Self {
        Self {
            recorder: Recorder::new(options),
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
    pub fn with_client(options: crate::Options, client: &crate::Client) -> Self {
        Self {
            recorder: Recorder::with_client(options, client),
        }
    }
}

impl Middleware for MoesifMiddleware {
    fn handle(
        &self,
        request: http::Request<SendBody>,
        next: MiddlewareNext,
    ) -> Result<http::Response<Body>, ureq::Error> {
        let Some(mut begun) = self.recorder.begin(request.method(), request.uri(), request.headers()) else {
            return next.handle(request);
        };
        let log_body = self.recorder.log_body();
        let max = self.recorder.max_body_bytes();

        // The request body: read whole (up to `REQUEST_BUFFER_BYTES`) and sent on unchanged, with its
        // length; a longer one is sent on as it comes (the bytes read, then the rest), a read error where
        // it happened. Not touched at all when bodies are off. Only kept here: it is read (decoded,
        // parsed) when the event is built, after the fact.
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
                // ureq sends a request body as it is given: its `Content-Encoding` is all to undo.
                begun.request_body(head);
                result
            } else {
                let mut rest = Replay::new(head, ending, source);
                next.handle(http::Request::from_parts(parts, SendBody::from_reader(&mut rest)))
            }
        } else {
            next.handle(request)
        };

        let response = match result {
            Ok(response) => response,
            Err(error) => {
                // With ureq's default `http_status_as_error(true)` a 4xx/5xx answer arrives here as an
                // error: log the call with its status (its headers and body are gone), return the error.
                if let ureq::Error::StatusCode(status) = &error {
                    begun.finish(*status, &http::HeaderMap::new(), Seen::Nothing);
                }
                return Err(error);
            }
        };
        let status = response.status().as_u16();
        if !log_body || is_event_stream(response.headers()) {
            // Nothing to read: the caller gets the body untouched (a stream is never buffered).
            begun.finish(status, response.headers(), Seen::Nothing);
            return Ok(response);
        }
        if let Some(length) = response.body().content_length().filter(|&length| length > max as u64) {
            // Known to be over the cap: untouched, and the event says how large it was.
            let size = usize::try_from(length).unwrap_or(usize::MAX);
            begun.finish(status, response.headers(), Seen::Omitted(size));
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
                    false => begun.seen(head.clone(), encoding),
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
        begun.finish(status, &parts.headers, response_body);
        Ok(http::Response::from_parts(parts, caller_body))
    }
}

/// A request body up to this size (or the body cap, if larger) is read whole before it is sent, so it
/// goes out with its `Content-Length` as it would without the middleware; a longer one is sent chunked
/// unless the request sets `Content-Length` itself.
const REQUEST_BUFFER_BYTES: usize = 16 * 1024 * 1024;

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
    fn event_streams_are_recognised() {
        let mut headers = http::HeaderMap::new();
        assert!(!is_event_stream(&headers));
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("Text/Event-Stream; charset=utf-8"),
        );
        assert!(is_event_stream(&headers));
    }
}
