//! [`run`]: `lambda_runtime::run` plus after-response delivery.
//!
//! It registers an *internal extension* (Lambda Extensions API) subscribed to `INVOKE` before the
//! runtime starts, so Lambda keeps the sandbox thawed until the extension asks for its next event. For
//! each invocation the extension waits until the runtime has posted the response (a layer around the
//! runtime's service says so), sends the queue if a send is due ([`Queue::is_due`]: a full batch, an
//! old event, or sparse traffic), then asks for the next event: on warm traffic most invocations end
//! at once. Internal extensions get no `SHUTDOWN` event; Lambda sends `SIGTERM` instead when an
//! extension is registered, and what is still queued is sent then, within a short budget.
//!
//! [`Queue::is_due`]: super::queue::Queue::is_due

use super::pipeline::{any_due, any_due_in_background, flush_blocking, Breaker, FlushReport};
use super::synchronous::invocation_deadline;
use super::{shutdown, worker};
use crate::delivery;
use crate::hooks::warn_once;
use lambda_extension::{service_fn as extension_fn, Extension, LambdaEvent as ExtensionEvent, NextEvent};
use lambda_runtime::{
    layers::TracingLayer, Diagnostic, IntoFunctionResponse, LambdaEvent, LambdaInvocation, Runtime, Service,
};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_stream::Stream;

/// Name under which the extension registers (internal extension names must be unique per function).
const EXTENSION_NAME: &str = "moesif-lambda-flush";
/// How often the background sender of [`run_concurrent`] looks at the queues.
const BACKGROUND_TICK: Duration = Duration::from_millis(200);
/// How long an invocation can run at most (Lambda's 15 minutes): the wait for a response posted when
/// the deadline is unknown.
const MAX_INVOCATION: Duration = Duration::from_secs(15 * 60);

/// Runs a Lambda handler like `lambda_runtime::run`, and sends Moesif events *after* the response.
///
/// A drop-in for `lambda_runtime::run` (same bounds). If the Extensions API is not available (not on
/// Lambda, or registration refused), it warns once and falls back to synchronous delivery.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use moesif_lambda::moesif_logger;
/// use serde_json::Value;
///
/// #[moesif_logger]
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(serde_json::json!({ "statusCode": 200 }))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     moesif_lambda::run(service_fn(handler)).await
/// }
/// ```
pub async fn run<A, F, R, B, S, D, E>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<lambda_runtime::Error> + Send + Debug,
{
    let (done_tx, done_rx) = watch::channel(None::<String>);
    // Without the extension (synchronous mode) nobody listens for "posted", but the layer still warns
    // when nothing logged an invocation.
    start_extension(done_rx).await;
    shutdown::listen_for_sigterm();
    Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(ResponsePostedLayer {
            done: Arc::new(done_tx),
        })
        .run()
        .await
}

/// [`run`] for **Lambda Managed Instances**: a drop-in for `lambda_runtime::run_concurrent` (same
/// bounds). When `AWS_LAMBDA_MAX_CONCURRENCY` is above 1, that many invocations run at once in this
/// process and the sandbox is not frozen between them, so events are sent by a background task — a
/// batch when one is full, else within a second — and never on an invocation's time; on `SIGTERM`
/// what is left is sent. Otherwise it is [`run`].
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use moesif_lambda::moesif_logger;
/// use serde_json::Value;
///
/// #[moesif_logger]
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(serde_json::json!({ "statusCode": 200 }))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     moesif_lambda::run_concurrent(service_fn(handler)).await
/// }
/// ```
pub async fn run_concurrent<A, F, R, B, S, D, E>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Service<LambdaEvent<A>, Response = R> + Clone + Send + 'static,
    F::Future: Future<Output = Result<R, F::Error>> + Send + 'static,
    F::Error: Into<Diagnostic> + Debug,
    A: for<'de> Deserialize<'de> + Send + 'static,
    R: IntoFunctionResponse<B, S> + Send + 'static,
    B: Serialize + Send + 'static,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send + 'static,
    E: Into<lambda_runtime::Error> + Send + Debug + 'static,
{
    let concurrency = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(1);
    if concurrency <= 1 {
        return run(handler).await;
    }
    // Registered only to be sent SIGTERM at shutdown: no INVOKE events, nothing holds an invocation.
    let registered = if under_cargo_lambda_watch() {
        Err(lambda_extension::Error::from("not registered under cargo lambda watch"))
    } else {
        Extension::new()
            .with_events(&[])
            .with_extension_name(EXTENSION_NAME)
            .register()
            .await
    };
    match registered {
        Ok(extension) => {
            tokio::spawn(async move {
                let _ = extension.run().await;
            });
        }
        Err(error) => warn_once(
            "extension-register",
            || tracing::warn!(%error, "moesif: could not register for shutdown; events queued at shutdown may be lost"),
        ),
    }
    shutdown::listen_for_sigterm();
    delivery::enable_after_response();
    tokio::spawn(async {
        let mut tick = tokio::time::interval(BACKGROUND_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if any_due_in_background() {
                let end = Instant::now() + delivery::flush_budget();
                worker::run(move || flush_blocking(end, Breaker::Respect)).await;
            }
        }
    });
    Runtime::new(handler).layer(TracingLayer::new()).run_concurrent().await
}

/// Sends what is queued now, within `budget`, in either delivery mode: one attempt per collector even
/// while its breaker holds automatic sends back after a failure (a deliberate call is a last chance).
///
/// [`run`] sends after responses when a send is due, and on shutdown; call this yourself in special
/// cases: in the hook of lambda_runtime's `spawn_graceful_shutdown_handler` (which ends the process
/// when the hook returns), or before a long pause inside the handler.
///
/// ```no_run
/// # async fn f() {
/// let report = moesif_lambda::flush(std::time::Duration::from_millis(500)).await;
/// println!("{} events sent", report.sent);
/// # }
/// ```
pub async fn flush(budget: Duration) -> FlushReport {
    let report = shutdown::flush_until(Instant::now() + budget).await;
    shutdown::after_flush(report.as_ref());
    report.unwrap_or_else(|| FlushReport {
        requeued: delivery::queue_counts().0,
        ..FlushReport::default()
    })
}

/// Registers the extension and starts its loop and the SIGTERM handler. `false`: synchronous mode.
async fn start_extension(done: watch::Receiver<Option<String>>) -> bool {
    if under_cargo_lambda_watch() {
        return false;
    }
    // When the last invocation's response was posted: how long the sandbox then sat idle tells sparse
    // traffic from warm.
    let last_posted: Arc<Mutex<Option<Instant>>> = Arc::default();
    let processor = extension_fn(move |event: ExtensionEvent| {
        let mut done = done.clone();
        let last_posted = last_posted.clone();
        async move {
            if let NextEvent::Invoke(invoke) = event.next {
                let idle = lock(&last_posted).map(|posted| posted.elapsed());
                let deadline = invocation_deadline(invoke.deadline_ms);
                // Wait until the runtime posted this invocation's response; never past the deadline.
                let posted = done.wait_for(|finished| finished.as_deref() == Some(invoke.request_id.as_str()));
                let wait_until = deadline.unwrap_or_else(|| Instant::now() + MAX_INVOCATION);
                let _ = tokio::time::timeout_at(wait_until.into(), posted).await;
                *lock(&last_posted) = Some(Instant::now());
                if any_due(idle) {
                    let budget_end = Instant::now() + delivery::flush_budget();
                    let end = deadline.map_or(budget_end, |deadline| deadline.min(budget_end));
                    worker::run(move || flush_blocking(end, Breaker::Respect)).await;
                }
            }
            Ok::<(), lambda_extension::Error>(())
        }
    });
    let registered = Extension::new()
        .with_events(&["INVOKE"])
        .with_extension_name(EXTENSION_NAME)
        .with_events_processor(processor)
        .register()
        .await;
    let extension = match registered {
        Ok(extension) => extension,
        Err(error) => {
            warn_once("extension-register", || {
                tracing::warn!(
                    %error,
                    "moesif: could not register the flush extension; events are sent synchronously, before each response"
                )
            });
            return false;
        }
    };
    delivery::enable_after_response();
    tokio::spawn(async move {
        if let Err(error) = extension.run().await {
            tracing::warn!(%error, "moesif: the flush extension stopped");
        }
    });
    true
}

/// Whether this runs under `cargo lambda watch`, whose Runtime API is served under `/.rt`
/// (`AWS_LAMBDA_RUNTIME_API=host:port/.rt/<function>`; Lambda gives a bare `host:port`). Its emulator
/// keeps the pending `/extension/event/next` of a process it killed on a hot reload, and from then on
/// answers every `/runtime/invocation/next` with a 500 that makes lambda_runtime panic, whatever the
/// extension. So no extension is registered there: events are sent as each invocation ends instead.
fn under_cargo_lambda_watch() -> bool {
    let under = std::env::var("AWS_LAMBDA_RUNTIME_API").is_ok_and(|api| api.contains("/.rt"));
    if under {
        warn_once("cargo-lambda-watch", || {
            tracing::info!(
                "moesif: running under cargo lambda watch, without the flush extension; each invocation's \
                 events are sent as it ends (an annotated handler's before its response, MoesifLayer's right \
                 after the response body)"
            )
        });
    }
    under
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wraps the runtime's service: once an invocation's response has been posted to the Runtime API, it
/// tells the extension (if one listens), and warns once if nothing logged the invocation.
struct ResponsePostedLayer {
    done: Arc<watch::Sender<Option<String>>>,
}

impl<S> lambda_runtime::tower::Layer<S> for ResponsePostedLayer {
    type Service = ResponsePosted<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ResponsePosted {
            inner,
            done: self.done.clone(),
        }
    }
}

struct ResponsePosted<S> {
    inner: S,
    done: Arc<watch::Sender<Option<String>>>,
}

impl<S> Service<LambdaInvocation> for ResponsePosted<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = ResponsePostedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let request_id = invocation.context.request_id.clone();
        ResponsePostedFuture {
            posting: Box::pin(self.inner.call(invocation)),
            done: self.done.clone(),
            request_id,
        }
    }
}

/// The runtime's own future for one invocation, which says "posted" when it completes.
struct ResponsePostedFuture<F> {
    posting: Pin<Box<F>>,
    done: Arc<watch::Sender<Option<String>>>,
    request_id: String,
}

impl<F: Future<Output = Result<(), lambda_runtime::Error>>> Future for ResponsePostedFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(self.posting.as_mut().poll(cx));
        let request_id = std::mem::take(&mut self.request_id);
        if !crate::current::seen(&request_id) {
            warn_once("nothing-logs", || {
                tracing::warn!(
                    "moesif: an invocation was served but nothing logged it: wrap the service in \
                     moesif_lambda::MoesifLayer or annotate the handler with #[moesif_logger]"
                )
            });
        }
        self.done.send_replace(Some(request_id));
        Poll::Ready(result)
    }
}
