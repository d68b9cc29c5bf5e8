//! [`MoesifLayer`]: the tower layer for any `Service<lambda_http::Request>` (an axum `Router`, a
//! tower-http stack), with the same capture core as `#[moesif_logger]`.
//!
//! The request is read as the macro reads a `lambda_http::Request` (the Lambda event it came from); its
//! body, in memory under lambda_http, is read and handed on as the same text or bytes.
//! The response's status and headers are taken as they are; its body passes through untouched, chunk
//! by chunk, while a copy up to the body cap is kept ([`MoesifBody`]). The event is finished when the
//! body stream ends, or when it is dropped (with what was read by then).

use super::http::{answer_json, bytes_json, captured_event_of, RequestHead};
use super::macro_entry::{answer_of_error, CallAnswer, Pending, State};
use crate::capture::body::omitted;
use crate::capture::CapturedJson;
use crate::options::Options;
use bytes::Buf;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt as _;
use lambda_http::http;
use lambda_runtime::Service;
use std::fmt::Debug;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// Logs every request a `lambda_http` service serves to Moesif: wrap an axum `Router` (or any
/// `Service<lambda_http::Request>` answering an `http::Response<B>` with `B: http_body::Body`) and run
/// it with [`crate::run_http`] (events after the response) or `lambda_http::run` (sent while the
/// response is posted).
///
/// What the caller gets is unchanged, streamed bodies included. The event carries the real status,
/// headers and body (up to `max_body_bytes`; a larger body is logged as a marker with its size, and a
/// body that fails to stream as status and headers only). A body compressed inside the layer (tower-http's
/// `CompressionLayer`) is logged decoded, after the response.
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
}

impl MoesifLayer {
    /// A layer logging with `options` (built at run time or a `const`).
    ///
    /// ```
    /// let layer = moesif_lambda::MoesifLayer::new(moesif_lambda::Options::new().log_body(false));
    /// ```
    pub fn new(options: Options) -> Self {
        MoesifLayer {
            shared: Arc::new(Shared {
                options,
                state: State::new(),
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
            let request_id = crate::current::take_entered();
            let body = match String::from_utf8(bytes) {
                Ok(text) if text.is_empty() => ReqBody::default(),
                Ok(text) => ReqBody::from(text),
                Err(binary) => ReqBody::from(binary.into_bytes()),
            };
            let mut answer = pin!(inner.call(http::Request::from_parts(parts, body)));
            let output =
                poll_fn(|cx| crate::current::running(request_id.as_deref(), || answer.as_mut().poll(cx))).await;
            match output {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let capture = Capture {
                        pending,
                        status: parts.status,
                        headers: parts.headers.clone(),
                        kept: Vec::new(),
                        size: 0,
                        max: shared.options.max_body_bytes,
                    };
                    let body = MoesifBody {
                        inner: body,
                        capture: Some(capture),
                    };
                    Ok(http::Response::from_parts(parts, body))
                }
                Err(error) => {
                    pending.finish_detached(answer_of_error(&error, format!("{error:?}")));
                    Err(error)
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

    /// Finishes the event: the body as read (or its marker when over the cap, or none when it failed).
    fn finish(self, body_readable: bool) {
        let mut answer = answer_json(self.status, &self.headers, body_readable.then_some(&self.kept[..]));
        if body_readable && self.size > self.max {
            if let Some(object) = answer.as_object_mut() {
                object.insert("body".to_owned(), omitted(self.size));
                object.remove("isBase64Encoded");
            }
        }
        let answer = CallAnswer::Response(Some(CapturedJson::Value(answer)));
        self.pending.finish_detached(answer);
    }
}

/// The response body of [`MoesifService`]: yours, frame by frame, unchanged.
pub struct MoesifBody<B> {
    inner: B,
    capture: Option<Capture>,
}

impl<B> Debug for MoesifBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifBody").finish_non_exhaustive()
    }
}

impl<B: HttpBody + Unpin> HttpBody for MoesifBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(capture)) = (frame.data_ref(), self.capture.as_mut()) {
                    capture.record(data.chunk());
                }
            }
            Some(Err(_)) => {
                if let Some(capture) = self.capture.take() {
                    capture.finish(false);
                }
            }
            None => {
                if let Some(capture) = self.capture.take() {
                    capture.finish(true);
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
            capture.finish(true);
        }
    }
}
