//! [`run_http_streaming`]: lambda_http's streaming runtime (Function URLs in `RESPONSE_STREAM` mode)
//! with the service in a [`MoesifLayer`] set for streaming ([`Runtime::Streaming`]: a body failing
//! part-way keeps the status the caller got) and [`run`](crate::run)'s after-response delivery.

use super::layer::{MoesifLayer, Runtime};
use crate::options::Options;
use lambda_http::{http, Request};
use lambda_runtime::tower::Layer as _;
use lambda_runtime::{Diagnostic, Service};
use std::fmt::Debug;

/// [`run_http`](crate::run_http) for **response streaming** (Function URLs with
/// `InvokeMode: RESPONSE_STREAM`): a drop-in for `lambda_http::run_with_streaming_response`, logging
/// every request with the default [`Options`] ([`run_http_streaming_with`] takes yours).
///
/// Pass the service *without* a [`MoesifLayer`]: this wraps it in one set for streaming. The caller
/// gets the status and headers first, then the body chunk by chunk, as without it. The event carries
/// the status, headers and whole body the caller got (up to `max_body_bytes`, else the size marker; a
/// response without `content-type` reaches the caller as `application/octet-stream`, which
/// lambda_runtime adds, and is logged without one), and is sent after the response, once the stream
/// has ended ([`run`](crate::run)'s after-response delivery; what is queued at `SIGTERM` is sent
/// then). A body that fails part-way is logged with the status and headers already sent and
/// `metadata.error`; the stream ends for the caller as without the layer.
///
/// ```no_run
/// use axum::{routing::get, Router};
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_http::Error> {
///     let app = Router::new().route("/report", get(|| async { "a long answer, streamed as it is made" }));
///     moesif_lambda::run_http_streaming(app).await
/// }
/// ```
pub async fn run_http_streaming<S, B, E>(service: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<Request, Response = http::Response<B>, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    E: Debug + Into<Diagnostic> + Send + 'static,
    B: http_body::Body + Unpin + Send + 'static,
    B::Data: Into<bytes::Bytes> + Send,
    B::Error: Into<lambda_runtime::Error> + Send + Debug,
{
    run_http_streaming_with(Options::new(), service).await
}

/// [`run_http_streaming`] with your [`Options`] (hooks, redaction, collector).
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use moesif_lambda::Options;
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_http::Error> {
///     let app = Router::new().route("/report", get(|| async { "streamed" }));
///     moesif_lambda::run_http_streaming_with(Options::new().log_body(false), app).await
/// }
/// ```
pub async fn run_http_streaming_with<S, B, E>(options: Options, service: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<Request, Response = http::Response<B>, Error = E> + Clone + Send + 'static,
    S::Future: Send + 'static,
    E: Debug + Into<Diagnostic> + Send + 'static,
    B: http_body::Body + Unpin + Send + 'static,
    B::Data: Into<bytes::Bytes> + Send,
    B::Error: Into<lambda_runtime::Error> + Send + Debug,
{
    let logged = MoesifLayer::for_runtime(options, Runtime::Streaming).layer(service);
    crate::delivery::run_runtime(lambda_http::streaming_runtime(logged)).await
}
