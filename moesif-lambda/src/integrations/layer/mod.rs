//! [`MoesifLayer`]: the tower layer for any `Service<http::Request<B>>` of a lambda_http function (an
//! axum `Router`, a tower-http stack), with the same capture core as `#[moesif_logger]`. Shaped like
//! tower-http's `trace`: the layer (here), the service ([`service`]: `call` starts the event and returns
//! a named future), the future ([`future`]: [`ResponseFuture`], pin-projected, wraps the response body
//! when the inner future resolves) and the body ([`body`]: [`MoesifBody`], pin-projected, sees each
//! frame and finishes the event at the end). No boxing, no `Unpin` bound on the future or the body.
//!
//! - **The request** passes through untouched. It is read by reference as the macro reads a
//!   `lambda_http::Request` (the Lambda event it came from); its body only when it is lambda_http's
//!   `Body` (in memory), or, for another body type (an axum `Router::layer` hands the layer axum's
//!   `Body`), from the copy [`crate::run_http`] put in the request's extensions while that body still
//!   has the copy's size. Otherwise the request is logged without its body.
//! - **The response**: status and headers as they are; the body passes through frame by frame (data
//!   handed on as `Bytes`, every byte of each frame copied up to the body cap, trailers untouched). The
//!   event is finished when the body ends (its last frame, `None`, or `is_end_stream`). A body dropped
//!   before its end is logged as cut (the body replaced by the marker, `metadata.error` saying so), but
//!   for a `HEAD` request, whose body nobody reads.
//! - **Failures** are logged as the attribute logs a failed handler (status 500, `metadata.error`), and
//!   go on unchanged: the inner service's `Err` is returned, a panic in its `call`, its future or its
//!   body is caught, logged and resumed, a body error is handed to the poller. A body that fails after
//!   the head was sent (a streaming runtime, [`Runtime::Streaming`]) keeps the status the caller got.

mod body;
mod future;
mod service;

pub use body::MoesifBody;
pub use future::ResponseFuture;
pub use service::MoesifService;

use super::macro_entry::{Pending, State};
use crate::options::Options;
use std::fmt::Debug;
use std::sync::Arc;

/// Logs every request a `lambda_http` service serves to Moesif: wrap an axum `Router` (or any
/// `Service<http::Request<B>>` answering an `http::Response<B>` with `B: http_body::Body`) and run it
/// with [`crate::run_http`] (events after the response) or `lambda_http::run` (sent while the response
/// is posted).
///
/// What the caller gets is unchanged, streamed bodies included: the request and its body are handed on
/// untouched, and so is each frame of the response body (its data as `Bytes`: [`MoesifBody`]). The
/// event carries the real status, headers and body (up to `max_body_bytes`; a larger body is logged as
/// a marker with its size).
///
/// - The request body is logged when it is lambda_http's `Body` (the layer around the whole service),
///   or, under [`crate::run_http`], any body (axum's, when the layer is added with `Router::layer`)
///   still of the size the Lambda event gave it. Any other request body (one a layer outside changed,
///   such as `RequestDecompressionLayer`'s; axum's under `lambda_http::run`) is handed on untouched and
///   logged without its body.
/// - A response body dropped before its end (by a layer outside that stops reading it) is logged as
///   cut: the body is the marker `{"moesif_body_omitted": "body cut: dropped before its end",
///   "original_size": <bytes read>}` and `metadata.error` has `type: "body_cut"`. A `HEAD` request's
///   body, which axum drops unread, is not cut: it is logged without a body.
/// - An invocation that fails (the service's `Err`, a panic in the service or its body, a body that
///   fails to stream, which lambda_http turns into an invocation error) is logged as status 500 with
///   `metadata.error` (`type`, `message`); the error or panic goes on as without the layer.
/// - A body compressed inside the layer (tower-http's `CompressionLayer`) is logged decoded, after the
///   response.
///
/// ```no_run
/// use axum::{routing::post, Router};
/// use moesif_lambda::{MoesifLayer, Options};
///
/// #[tokio::main]
/// async fn main() -> Result<(), lambda_http::Error> {
///     let app = Router::new()
///         .route("/echo", post(|body: String| async move { body }))
///         .layer(MoesifLayer::new(Options::new().max_body_bytes(64 * 1024)));
///     // `run_http`: events after the response, and the request body of `Router::layer` logged.
///     moesif_lambda::run_http(app).await
/// }
/// ```
#[derive(Clone)]
pub struct MoesifLayer {
    shared: Arc<Shared>,
}

/// What every service and body of one layer share.
struct Shared {
    options: Options,
    state: State,
    runtime: Runtime,
}

/// What a call started: the event in progress, and what its body needs.
struct Started {
    /// The invocation, current while the inner future is polled.
    pending: Pending,
    max_body_bytes: usize,
    runtime: Runtime,
    /// A `HEAD` request: its response body is never read, and dropping it unread does not cut it.
    head_request: bool,
    /// The headers of the governance rules that apply, added to the response.
    governance_headers: Vec<(String, String)>,
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

    /// A layer logging with `options` through `client`'s connection (its queue and delivery settings)
    /// rather than the one shared by everything naming the same collector.
    ///
    /// ```
    /// use moesif_lambda::{Client, MoesifLayer, Options};
    ///
    /// let options = Options::new().application_id("my-app-id");
    /// let client = Client::new(&options)?;
    /// let layer = MoesifLayer::with_client(options, client);
    /// # Ok::<_, moesif_lambda::Error>(())
    /// ```
    pub fn with_client(options: Options, client: crate::Client) -> Self {
        Self::built(options, State::with_client(&client), Runtime::Buffered)
    }

    /// A layer for a service run by `runtime`.
    pub(crate) fn for_runtime(options: Options, runtime: Runtime) -> Self {
        Self::built(options, State::new(), runtime)
    }

    fn built(options: Options, state: State, runtime: Runtime) -> Self {
        state.prefetch_governance(&options);
        MoesifLayer {
            shared: Arc::new(Shared {
                options,
                state,
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
        MoesifService::new(inner, self.shared.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_buffered_unless_built_for_a_streaming_runtime() {
        assert_eq!(MoesifLayer::new(Options::new()).shared.runtime, Runtime::Buffered);
        let streaming = MoesifLayer::for_runtime(Options::new(), Runtime::Streaming);
        assert_eq!(streaming.shared.runtime, Runtime::Streaming);
    }
}
