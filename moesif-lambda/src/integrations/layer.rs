//! [`MoesifLayer`]: the tower layer for any `Service<lambda_http::Request>` (an axum `Router`, a
//! tower-http stack), with the same capture core as `#[moesif_logger]`.
//!
//! The request is read as the macro reads a `lambda_http::Request` (the Lambda event it came from); its
//! body, in memory under lambda_http, is read and handed on as the same text or bytes.
//! The response's status and headers are taken as they are; its body passes through untouched, chunk
//! by chunk, while a copy up to the body cap is kept ([`MoesifBody`]). The event is finished when the
//! body stream ends, or when it is dropped (with what was read by then).
//!
//! An invocation that ends in an error is logged as the attribute logs a failed handler (status 500,
//! `metadata.error`), and the error goes on unchanged: the inner service's `Err` is returned, a panic
//! in its `call`, its future or its body is caught, logged and resumed, a body error is handed to the
//! poller. A body that fails after the head was sent (a streaming runtime, [`Runtime::Streaming`]) keeps
//! the status the caller got.

use super::http::{answer_json, bytes_json, captured_event_of, RequestHead};
use super::macro_entry::{answer_of_error, answer_of_panic, catch_unwind, CallAnswer, Pending, State};
use crate::capture::body::omitted;
use crate::capture::CapturedJson;
use crate::options::Options;
use bytes::Buf;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt as _;
use lambda_http::http;
use lambda_runtime::Service;
use std::fmt::Debug;
use std::future::Future;
use std::panic::{resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Logs every request a `lambda_http` service serves to Moesif: wrap an axum `Router` (or any
/// `Service<lambda_http::Request>` answering an `http::Response<B>` with `B: http_body::Body`) and run
/// it with [`crate::run_http`] (events after the response) or `lambda_http::run` (sent while the
/// response is posted).
///
/// What the caller gets is unchanged, streamed bodies included. The event carries the real status,
/// headers and body (up to `max_body_bytes`; a larger body is logged as a marker with its size). An
/// invocation that fails (the service's `Err`, a panic in the service or its body, a body that fails
/// to stream, which lambda_http turns into an invocation error) is logged as status 500 with
/// `metadata.error` (`type`, `message`); the error or panic goes on as without the layer. A body
/// compressed inside the layer (tower-http's `CompressionLayer`) is logged decoded, after the response.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use moesif_lambda::{MoesifLayer, Options};
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_http::Error> {
///     let app = Router::new()
///         .route("/hello", get(|| async { "hello" }))
///         .layer(MoesifLayer::new(Options::new()));
///     moesif_lambda::run_http(app).await
/// }
/// ```
#[derive(Clone)]
pub struct MoesifLayer {
    shared: Arc<Shared>,
}

struct Shared {
    options: Options,
    state: State,
    runtime: Runtime,
}

/// How the runtime answers the caller, which decides what a response whose body fails is logged as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// lambda_http reads the whole body before it answers (`run_http`, `lambda_http::run`): when the
    /// body fails, the invocation fails and the caller gets the front end's 500/502; logged as 500.
    #[default]
    Buffered,
    /// Status and headers reach the caller before the body streams (`run_http_streaming`): when the
    /// body fails, the event keeps the status the caller got (and the headers), with `metadata.error`.
    Streaming,
}

impl MoesifLayer {
    /// A layer logging with `options` (built at run time or a `const`).
    ///
    /// ```
    /// let layer = moesif_lambda::MoesifLayer::new(moesif_lambda::Options::new().log_body(false));
    /// ```
    pub fn new(options: Options) -> Self {
        Self::for_runtime(options, Runtime::Buffered)
    }

    /// A layer for a service run by `runtime`.
    pub(crate) fn for_runtime(options: Options, runtime: Runtime) -> Self {
        MoesifLayer {
            shared: Arc::new(Shared {
                options,
                state: State::new(),
                runtime,
            }),
        }
    }
}

impl Debug for MoesifLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifLayer")
            .field("options", &self.shared.options)
            .finish()
    }
}

impl<S> lambda_runtime::tower::Layer<S> for MoesifLayer {
    type Service = MoesifService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MoesifService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`MoesifLayer`] wraps around yours.
#[derive(Clone)]
pub struct MoesifService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Debug for MoesifService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for MoesifService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Debug + Send,
    ReqBody: HttpBody + Default + From<String> + From<Vec<u8>> + Send + 'static,
    ReqBody::Data: Send,
    ResBody: HttpBody + Send + 'static,
{
    type Response = http::Response<MoesifBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        // The service that was polled ready serves this call; a clone waits for the next (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            // Under lambda_http the body is already in memory: read it, and give the service the same.
            let bytes = body.collect().await.map(|c| c.to_bytes().to_vec()).unwrap_or_default();
            let head = RequestHead {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
            };
            let captured = captured_event_of(&head, &parts, bytes_json(&bytes));
            let pending = shared.state.begin(&shared.options, Some(captured));
            let body = match String::from_utf8(bytes) {
                Ok(text) if text.is_empty() => ReqBody::default(),
                Ok(text) => ReqBody::from(text),
                Err(binary) => ReqBody::from(binary.into_bytes()),
            };
            let request = http::Request::from_parts(parts, body);
            // The service's `call` and its future, with the invocation current; a panic in either is
            // logged, then goes on.
            let output = catch_unwind(&pending, async move { inner.call(request).await }).await;
            match output {
                Ok(Ok(response)) => {
                    let (parts, body) = response.into_parts();
                    let capture = Capture {
                        pending,
                        status: parts.status,
                        headers: parts.headers.clone(),
                        kept: Vec::new(),
                        size: 0,
                        max: shared.options.max_body_bytes,
                        runtime: shared.runtime,
                    };
                    let body = MoesifBody {
                        inner: body,
                        capture: Some(capture),
                    };
                    Ok(http::Response::from_parts(parts, body))
                }
                Ok(Err(error)) => {
                    pending.finish_detached(answer_of_error(&error, format!("{error:?}")));
                    Err(error)
                }
                Err(payload) => {
                    pending.finish_detached(answer_of_panic(&*payload));
                    resume_unwind(payload)
                }
            }
        })
    }
}

/// What is kept of a response while its body streams.
struct Capture {
    pending: Pending,
    status: http::StatusCode,
    headers: http::HeaderMap,
    kept: Vec<u8>,
    size: usize,
    max: usize,
    runtime: Runtime,
}

impl Capture {
    fn record(&mut self, chunk: &[u8]) {
        self.size += chunk.len();
        if self.size <= self.max {
            self.kept.extend_from_slice(chunk);
        } else {
            self.kept = Vec::new();
        }
    }

    /// Finishes the event: the body as read (or its marker when over the cap).
    fn finish(self) {
        let mut answer = answer_json(self.status, &self.headers, Some(&self.kept[..]));
        if self.size > self.max {
            if let Some(object) = answer.as_object_mut() {
                object.insert("body".to_owned(), omitted(self.size));
                object.remove("isBase64Encoded");
            }
        }
        let answer = CallAnswer::Response(Some(CapturedJson::Value(answer)));
        self.pending.finish_detached(answer);
    }

    /// Finishes the event of a body that failed (`failure`: its error or panic).
    fn fail(self, failure: CallAnswer) {
        let answer = self.failed_answer(failure);
        self.pending.finish_detached(answer);
    }

    /// What a body that failed is logged as: the failure (a 500) when the runtime had not answered yet,
    /// else the status and headers the caller got, with the failure.
    fn failed_answer(&self, failure: CallAnswer) -> CallAnswer {
        match self.runtime {
            Runtime::Buffered => failure,
            Runtime::Streaming => CallAnswer::Interrupted {
                response: CapturedJson::Value(answer_json(self.status, &self.headers, None)),
                failure: Box::new(failure),
            },
        }
    }
}

/// The response body of [`MoesifService`]: yours, frame by frame, unchanged.
pub struct MoesifBody<B> {
    inner: B,
    capture: Option<Capture>,
}

/// An empty body logging nothing, for layers outside that answer without the service (`CorsLayer`
/// answering a preflight builds its body with `Default`).
impl<B: Default> Default for MoesifBody<B> {
    fn default() -> Self {
        MoesifBody {
            inner: B::default(),
            capture: None,
        }
    }
}

impl<B> Debug for MoesifBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifBody").finish_non_exhaustive()
    }
}

impl<B: HttpBody + Unpin> HttpBody for MoesifBody<B>
where
    B::Error: Debug,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.inner).poll_frame(cx)));
        let frame = match polled {
            Ok(polled) => ready!(polled),
            Err(payload) => {
                if let Some(capture) = this.capture.take() {
                    capture.fail(answer_of_panic(&*payload));
                }
                resume_unwind(payload)
            }
        };
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(capture)) = (frame.data_ref(), this.capture.as_mut()) {
                    capture.record(data.chunk());
                }
            }
            Some(Err(error)) => {
                // lambda_http reports this error (`{error:?}`) as the invocation's: logged the same way.
                if let Some(capture) = this.capture.take() {
                    capture.fail(answer_of_error(error, format!("{error:?}")));
                }
            }
            None => {
                if let Some(capture) = this.capture.take() {
                    capture.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MoesifBody<B> {
    fn drop(&mut self) {
        // Dropped before its end: logged with what was read.
        if let Some(capture) = self.capture.take() {
            capture.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A body of a `201` with one header, 4 bytes read, as `layer` keeps it.
    fn capture_of(layer: &MoesifLayer) -> Capture {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-a", http::HeaderValue::from_static("1"));
        Capture {
            pending: Pending::default(),
            status: http::StatusCode::CREATED,
            headers,
            kept: b"part".to_vec(),
            size: 4,
            max: layer.shared.options.max_body_bytes,
            runtime: layer.shared.runtime,
        }
    }

    fn panic_answer() -> CallAnswer {
        CallAnswer::Panic {
            message: "body broke".into(),
        }
    }

    #[test]
    fn by_default_a_failed_body_is_the_failure_a_500() {
        let layer = MoesifLayer::new(Options::new());
        assert_eq!(layer.shared.runtime, Runtime::Buffered);
        let answer = capture_of(&layer).failed_answer(panic_answer());
        assert!(
            matches!(&answer, CallAnswer::Panic { message } if message == "body broke"),
            "{answer:?}"
        );
    }

    #[test]
    fn under_a_streaming_runtime_a_failed_body_keeps_the_status_and_headers_sent() {
        let layer = MoesifLayer::for_runtime(Options::new(), Runtime::Streaming);
        let answer = capture_of(&layer).failed_answer(panic_answer());
        let CallAnswer::Interrupted { response, failure } = answer else {
            panic!("the sent status is kept: {answer:?}");
        };
        assert_eq!(
            response.into_value(),
            json!({"statusCode": 201, "headers": {"x-a": "1"}}),
            "status and headers, no body (it broke off)"
        );
        assert!(matches!(*failure, CallAnswer::Panic { .. }));
    }
}
