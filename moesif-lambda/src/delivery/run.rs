//! [`run`] and [`run_concurrent`]: `lambda_runtime`'s loops with after-response delivery
//! ([`MoesifRuntimeLayer`]), and [`flush`].

use super::pipeline::{any_due_in_background, flush_blocking, Breaker, FlushReport};
use super::runtime_layer::{register_for_shutdown, MoesifRuntimeLayer};
use super::{shutdown, worker};
use crate::delivery;
use crate::process::PROCESS;
use lambda_runtime::{
    layers::TracingLayer, Diagnostic, IntoFunctionResponse, LambdaEvent, LambdaInvocation, Runtime, Service,
};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_stream::Stream;

/// How often the background sender of [`run_concurrent`] looks at the queues.
const BACKGROUND_TICK: Duration = Duration::from_millis(200);

/// Runs a Lambda handler like `lambda_runtime::run`, and sends Moesif events *after* the response.
///
/// A drop-in for `lambda_runtime::run` (same bounds), with [`MoesifRuntimeLayer`] around the runtime's
/// service: once a response is posted, what is due is sent (a full batch, an old event, sparse traffic,
/// the sandbox's first invocation), then the loop asks for the next event; an invocation with nothing
/// due costs nothing more. Under plain `lambda_runtime::run` events are sent before each response
/// instead (bounded by the deadline).
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
    run_runtime(Runtime::new(handler)).await
}

/// Runs `runtime` as [`run`] does: lambda_runtime's tracing, then [`MoesifRuntimeLayer`] (started
/// first: it registers the shutdown extension before the runtime asks for its first event).
pub(crate) async fn run_runtime<S>(runtime: Runtime<S>) -> Result<(), lambda_runtime::Error>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
{
    let after_response = MoesifRuntimeLayer::start().await;
    runtime.layer(TracingLayer::new()).layer(after_response).run().await
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
    register_for_shutdown().await;
    delivery::enable_after_response();
    PROCESS.concurrent.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::spawn(async {
        let mut tick = tokio::time::interval(BACKGROUND_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = PROCESS.batch_ready.notified() => {}
            }
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
