//! [`MoesifRuntimeLayer`]: after-response delivery from the runtime's own loop.
//!
//! `lambda_runtime` posts an invocation's response inside the service its `Runtime::layer`s wrap, and
//! asks for the next event only when that service's future completes. Lambda hands the response to the
//! caller as soon as it is posted, and freezes the sandbox (ending billed time) only when the runtime
//! asks for the next event. So this layer's future, once the response is posted, sends what is due
//! and then completes: after the response, on billed time only when a send is due, and with no
//! extension for Lambda to wait for on every invocation. At the sandbox's first invocation, after a
//! pause or for an old event it waits until the send's request is written (within the flush budget
//! and the invocation's deadline: the sandbox may sit frozen next), not for the collector's answer; a
//! full batch under warm traffic is built here and handed to the delivery thread. Either way the
//! delivery thread waits for the answer while the sandbox goes on.

use super::pipeline::{due, flush_releasing, Breaker, Release, Sending};
use super::synchronous::invocation_deadline;
use super::{extension, shutdown, worker};
use crate::current;
use crate::delivery;
use crate::hooks::warn_once;
use crate::sync::lock;
use lambda_runtime::{LambdaInvocation, Service};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

/// Name under which the shutdown extension registers (internal extension names are unique per function).
const EXTENSION_NAME: &str = "moesif-lambda-flush";

/// The layer [`run`](crate::run) puts around `lambda_runtime`'s own service: events are sent after
/// each response is posted, when a send is due, and what is queued at `SIGTERM` is sent then.
///
/// For functions that build their own `Runtime` (an OpenTelemetry layer, SnapStart set-up): start it
/// during init, before the runtime runs, and add it with `.layer(…)`.
///
/// ```no_run
/// use lambda_runtime::{layers::TracingLayer, service_fn, Error, LambdaEvent, Runtime};
/// use moesif_lambda::{moesif_logger, MoesifRuntimeLayer};
/// use serde_json::{json, Value};
///
/// #[moesif_logger]
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(json!({ "statusCode": 200 }))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let moesif = MoesifRuntimeLayer::start().await;
///     Runtime::new(service_fn(handler)).layer(TracingLayer::new()).layer(moesif).run().await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct MoesifRuntimeLayer {
    /// When the last invocation's response was posted: how long the sandbox then sat idle tells
    /// sparse traffic from warm.
    last_posted: Arc<Mutex<Option<Instant>>>,
}

impl MoesifRuntimeLayer {
    /// Switches this process to after-response delivery and prepares the last flush at shutdown:
    /// registers an internal extension subscribed to no events (Lambda then sends `SIGTERM` before it
    /// ends the sandbox, and never waits for the extension during an invocation) and listens for
    /// `SIGTERM`. Call it during init, before the runtime asks for its first event (Lambda refuses an
    /// extension registered later). Registering is one round trip to the local Runtime API, made
    /// blocking on this thread (the quickest way through init; at most 2 s). If the extension cannot
    /// register, sends still happen after each response, with one warning that nothing is sent at
    /// shutdown.
    pub async fn start() -> MoesifRuntimeLayer {
        register_for_shutdown().await;
        delivery::enable_after_response();
        MoesifRuntimeLayer {
            last_posted: Arc::default(),
        }
    }
}

/// Registers the internal extension that makes Lambda send `SIGTERM` at shutdown (subscribed to no
/// events: nothing waits for it), and listens for that signal. Not under `cargo lambda watch`, whose
/// emulator breaks on any internal extension after a hot reload.
pub(crate) async fn register_for_shutdown() {
    if under_cargo_lambda_watch() {
        return;
    }
    match extension::register(EXTENSION_NAME).await {
        Ok(()) => shutdown::listen_for_sigterm(),
        Err(error) => warn_once("extension-register", || {
            tracing::warn!(
                %error,
                "moesif: could not register for shutdown; events are still sent after responses, but what is \
                 queued when the sandbox shuts down is not sent"
            )
        }),
    }
}

/// Whether this runs under `cargo lambda watch`, whose Runtime API is served under `/.rt`
/// (`AWS_LAMBDA_RUNTIME_API=host:port/.rt/<function>`; Lambda gives a bare `host:port`). Its emulator
/// keeps the pending `/extension/event/next` of a process it killed on a hot reload, and from then on
/// answers every `/runtime/invocation/next` with a 500 that makes lambda_runtime panic, whatever the
/// extension. So no extension is registered there; sends after the response work all the same.
pub(crate) fn under_cargo_lambda_watch() -> bool {
    let under = std::env::var("AWS_LAMBDA_RUNTIME_API").is_ok_and(|api| api.contains("/.rt"));
    if under {
        warn_once("cargo-lambda-watch", || {
            tracing::info!(
                "moesif: running under cargo lambda watch: events are sent after the response; no shutdown \
                 extension is registered (its emulator breaks on one after a hot reload)"
            )
        });
    }
    under
}

impl<S> lambda_runtime::tower::Layer<S> for MoesifRuntimeLayer {
    type Service = MoesifRuntimeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MoesifRuntimeService {
            inner,
            last_posted: self.last_posted.clone(),
        }
    }
}

/// The service [`MoesifRuntimeLayer`] wraps around the runtime's.
#[derive(Debug)]
pub struct MoesifRuntimeService<S> {
    inner: S,
    last_posted: Arc<Mutex<Option<Instant>>>,
}

impl<S> Service<LambdaInvocation> for MoesifRuntimeService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = SendWhenDue<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let deadline_ms = invocation.context.deadline;
        let captured = Arc::new(AtomicBool::new(false));
        // The invocation's id and raw event, for what the handler's capture needs of them. The event is
        // copied (its size, some 2 KB): sharing it would keep the runtime's whole read buffer alive
        // while the event waits in the queue, and make the runtime allocate a fresh one for every
        // invocation (page faults: 1.5 per invocation while the collector is down, 0.5 copied).
        let (request_id, raw_event) = (
            Arc::from(invocation.context.request_id.as_str()),
            bytes::Bytes::copy_from_slice(&invocation.body),
        );
        let inner = &mut self.inner;
        let posting = current::scope_invocation(request_id, raw_event, captured.clone(), || inner.call(invocation));
        SendWhenDue {
            stage: Stage::Posting { posting },
            last_posted: self.last_posted.clone(),
            captured,
            deadline_ms,
        }
    }
}

pin_project! {
    /// The future of one invocation under [`MoesifRuntimeLayer`]: the runtime posting the response, then
    /// the send, if one is due. The runtime's future is polled in place (never boxed or moved).
    pub struct SendWhenDue<F> {
        #[pin]
        stage: Stage<F>,
        last_posted: Arc<Mutex<Option<Instant>>>,
        // Whether anything captured the invocation.
        captured: Arc<AtomicBool>,
        deadline_ms: u64,
    }
}

impl<F> std::fmt::Debug for SendWhenDue<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendWhenDue").finish_non_exhaustive()
    }
}

pin_project! {
    #[project = StageProjection]
    enum Stage<F> {
        Posting { #[pin] posting: tokio::task::futures::TaskLocalFuture<current::RunningInvocation, F> },
        Sending { sending: Pin<Box<dyn Future<Output = ()> + Send>>, error: Option<lambda_runtime::Error> },
        Done,
    }
}

impl<F: Future<Output = Result<(), lambda_runtime::Error>>> Future for SendWhenDue<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.stage.as_mut().project() {
                StageProjection::Posting { posting } => {
                    let result = std::task::ready!(posting.poll(cx));
                    warn_if_nothing_logged(this.captured);
                    let idle = {
                        let mut last = lock(this.last_posted);
                        let idle = last.map(|posted| posted.elapsed());
                        *last = Some(Instant::now());
                        idle
                    };
                    let Some(due) = due(idle) else {
                        this.stage.set(Stage::Done);
                        return Poll::Ready(result);
                    };
                    let budget_end = Instant::now() + delivery::flush_budget();
                    if due.sending() == Sending::InTheBackground {
                        // Warm traffic: the batch is built here, and the delivery thread waits for the
                        // collector's answer while the next invocations run; the sandbox never sits
                        // idle (and billed) for the round trip, and this thread stays on its CPU.
                        due.send_in_background(budget_end);
                        this.stage.set(Stage::Done);
                        return Poll::Ready(result);
                    }
                    // The sandbox may sit frozen for long after this: the loop goes on once the send has
                    // left (written to the collector's connection), not when its answer comes.
                    let end = invocation_deadline(*this.deadline_ms).map_or(budget_end, |d| d.min(budget_end));
                    let (release, released) = tokio::sync::oneshot::channel();
                    worker::spawn(move || {
                        flush_releasing(end, Breaker::Respect, Release(release));
                    });
                    let sending = Box::pin(async move {
                        // Told when written, or dropped untold when the flush ended without a send.
                        let _ = tokio::time::timeout_at(end.into(), released).await;
                    });
                    this.stage.set(Stage::Sending {
                        sending,
                        error: result.err(),
                    });
                }
                StageProjection::Sending { sending, error } => {
                    std::task::ready!(sending.as_mut().poll(cx));
                    let error = error.take();
                    this.stage.set(Stage::Done);
                    return Poll::Ready(error.map_or(Ok(()), Err));
                }
                StageProjection::Done => return Poll::Pending,
            }
        }
    }
}

/// Says once that an invocation was served with nothing capturing it (a layer or attribute missing).
fn warn_if_nothing_logged(captured: &AtomicBool) {
    if !captured.load(Ordering::Relaxed) {
        warn_once("nothing-logs", || {
            tracing::warn!(
                "moesif: an invocation was served but nothing logged it: wrap the service in \
                 moesif_lambda::MoesifLayer or annotate the handler with #[moesif_logger]"
            )
        });
    }
}
