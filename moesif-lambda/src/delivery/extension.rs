//! [`run`]: `lambda_runtime::run` plus after-response delivery.
//!
//! It registers an *internal extension* (Lambda Extensions API) subscribed to `INVOKE` before the
//! runtime starts, so Lambda keeps the sandbox thawed until the extension asks for its next event. For
//! each invocation the extension waits until the runtime has posted the response (a layer around the
//! runtime's service says so), then flushes the queue, then asks for the next event. Internal
//! extensions get no `SHUTDOWN` event; Lambda sends `SIGTERM` instead when an extension is registered,
//! and what is still queued is flushed then, within a short grace budget.

use super::pipeline::{flush_blocking, FlushReport};
use super::queue::Queue;
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
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use tokio_stream::Stream;

/// Name under which the extension registers (internal extension names must be unique per function).
const EXTENSION_NAME: &str = "moesif-lambda-flush";
/// What a flush may use of the SIGTERM grace period (Lambda gives internal extensions 300 ms in all).
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(250);
/// Kept free before the invocation deadline, so a flush never makes an invocation time out.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

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
    let after_response = start_extension(done_rx).await;
    let runtime = Runtime::new(handler).layer(TracingLayer::new());
    if after_response {
        runtime
            .layer(ResponsePostedLayer {
                done: Arc::new(done_tx),
            })
            .run()
            .await
    } else {
        runtime.run().await
    }
}

/// Sends what is queued now (a no-op in synchronous mode), within `budget`.
///
/// [`run`] does this after every response and on shutdown; call it yourself only in special cases
/// (say, before a long pause inside the handler).
///
/// ```no_run
/// # async fn f() {
/// let report = moesif_lambda::flush(std::time::Duration::from_millis(500)).await;
/// println!("{} events sent", report.sent);
/// # }
/// ```
pub async fn flush(budget: Duration) -> FlushReport {
    let Some(queue) = delivery::after_response_queue().cloned() else {
        return FlushReport::default();
    };
    let deadline = Instant::now() + budget;
    tokio::task::spawn_blocking(move || flush_blocking(&queue, deadline))
        .await
        .unwrap_or_default()
}

/// Registers the extension and starts its loop and the SIGTERM handler. `false`: synchronous mode.
async fn start_extension(done: watch::Receiver<Option<String>>) -> bool {
    let processor = extension_fn(move |event: ExtensionEvent| {
        let mut done = done.clone();
        async move {
            if let (NextEvent::Invoke(invoke), Some(queue)) = (event.next, delivery::after_response_queue().cloned()) {
                let deadline = deadline_instant(invoke.deadline_ms);
                // Wait until the runtime posted this invocation's response; never past the deadline.
                let posted = done.wait_for(|finished| finished.as_deref() == Some(invoke.request_id.as_str()));
                let _ = tokio::time::timeout_at(deadline.into(), posted).await;
                let budget_end = deadline.min(Instant::now() + delivery::flush_budget());
                let _ = tokio::task::spawn_blocking(move || flush_blocking(&queue, budget_end)).await;
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
    let queue = delivery::enable_after_response();
    tokio::spawn(async move {
        if let Err(error) = extension.run().await {
            tracing::warn!(%error, "moesif: the flush extension stopped");
        }
    });
    static SHUTDOWN_HOOK: std::sync::Once = std::sync::Once::new();
    SHUTDOWN_HOOK.call_once(|| spawn_shutdown_flush(queue));
    true
}

fn deadline_instant(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms)).saturating_sub(DEADLINE_MARGIN);
    Instant::now() + left
}

/// On SIGTERM (or SIGINT), flush what is queued within the grace budget, then exit as Lambda expects.
fn spawn_shutdown_flush(queue: Arc<Queue>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut interrupt)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::warn!("moesif: cannot listen for SIGTERM; events queued at shutdown may be lost");
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        let deadline = Instant::now() + SHUTDOWN_BUDGET;
        let flushed = queue.clone();
        let report = tokio::task::spawn_blocking(move || flush_blocking(&flushed, deadline))
            .await
            .unwrap_or_default();
        tracing::info!(
            sent = report.sent,
            unsent = report.requeued,
            dropped_since_start = queue.dropped(),
            "moesif: flushed on shutdown"
        );
        std::process::exit(0);
    });
}

/// Wraps the runtime's service: once an invocation's response has been posted to the Runtime API, it
/// tells the extension.
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
        self.done.send_replace(Some(request_id));
        Poll::Ready(result)
    }
}
