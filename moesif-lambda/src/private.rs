//! The one entry the `#[moesif_logger]` macro calls. Not a public API: names and signatures may change
//! in any release.
//!
//! Generated code, for `async fn handler(event: E) -> Result<T, Err> { BODY }`:
//! ```ignore
//! static __MOESIF_STATE: State = State::new();
//! let pending = __MOESIF_STATE.begin(&OPTIONS, probe-of(&event));
//! let output = catch_unwind(async move { BODY }).await;
//! pending.finish(answer-of(&output)).await;
//! resume(output)
//! ```

use crate::call::{Answer, Call};
use crate::delivery;
use crate::event::EventShape;
use crate::hooks::{self, panic_message};
use crate::options::{Options, OptionsSource};
use crate::time::now_millis;
use crate::transport::Transport;
use lambda_runtime::Context;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind as catch_unwind_sync, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

pub use crate::call::{Answer as CallAnswer, CapturedJson};

/// Per-handler state, built once per cold start: the options and the collector connection.
pub struct State {
    options: OnceLock<Option<Options>>,
    transport: OnceLock<Option<Arc<Transport>>>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// An empty state, for a `static`.
    pub const fn new() -> Self {
        Self {
            options: OnceLock::new(),
            transport: OnceLock::new(),
        }
    }

    /// Starts an invocation: resolves the options once, and keeps what the event needs if it is an HTTP
    /// event. Never panics; anything that fails means this invocation is not logged.
    pub fn begin<S: OptionsSource + ?Sized>(&self, source: &S, event: Option<CapturedEvent>) -> Pending {
        let Some(CapturedEvent { json, shape, context }) = event else {
            return Pending { inner: None };
        };
        crate::current::enter(&context.request_id);
        if shape.is_some_and(|shape| !shape.is_http()) {
            return Pending { inner: None };
        }
        let Some(options) = *self.options.get_or_init(|| hooks::call("options", || source.options())) else {
            return Pending { inner: None };
        };
        let Some(transport) = self
            .transport
            .get_or_init(|| hooks::call("transport", || Transport::from_options(&options).map(Arc::new)).flatten())
            .clone()
        else {
            return Pending { inner: None };
        };
        Pending {
            inner: Some(Started {
                options,
                transport,
                shape,
                event: json.shrink_body(options.max_body_bytes, false),
                context,
                received_millis: now_millis(),
            }),
        }
    }
}

/// The raw event (as JSON) and Lambda context of an invocation, as a probe saw them.
#[derive(Debug)]
pub struct CapturedEvent {
    /// The event as JSON.
    pub json: CapturedJson,
    /// Its shape, when the probe could see it cheaply.
    pub shape: Option<EventShape>,
    /// The Lambda context.
    pub context: Context,
}

struct Started {
    options: Options,
    transport: Arc<Transport>,
    shape: Option<EventShape>,
    event: CapturedJson,
    context: Context,
    received_millis: i64,
}

/// An invocation in progress; `finish` it with the handler's answer.
pub struct Pending {
    inner: Option<Started>,
}

impl Pending {
    fn into_call(self, answer: Answer) -> Option<(Arc<Transport>, Call)> {
        crate::current::leave();
        let started = self.inner?;
        let call = Call {
            options: started.options,
            shape: started.shape,
            event: started.event,
            context: started.context,
            received_millis: started.received_millis,
            answer: match answer {
                Answer::Response(Some(json)) => {
                    Answer::Response(Some(json.shrink_body(started.options.max_body_bytes, true)))
                }
                other => other,
            },
            answered_millis: now_millis(),
        };
        Some((started.transport, call))
    }

    /// Records the answer and delivers the event (async handlers).
    pub async fn finish(self, answer: Answer) {
        if let Some((transport, call)) = self.into_call(answer) {
            delivery::deliver(transport, call).await;
        }
    }

    /// Records the answer and delivers the event (sync handlers).
    pub fn finish_blocking(self, answer: Answer) {
        if let Some((transport, call)) = self.into_call(answer) {
            let deliver = || delivery::deliver_blocking(transport, call);
            match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(deliver),
                _ => deliver(),
            }
        }
    }
}

/// Polls `future`, turning a panic into `Err(payload)` so the call can be logged before it goes on.
pub async fn catch_unwind<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    std::future::poll_fn(
        move |cx| match catch_unwind_sync(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

/// Runs a sync body, turning a panic into `Err(payload)`.
pub fn catch_unwind_blocking<T>(body: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    catch_unwind_sync(AssertUnwindSafe(body))
}

/// The answer for a panicked handler.
pub fn answer_of_panic(payload: &(dyn Any + Send)) -> Answer {
    Answer::Panic {
        message: panic_message(payload),
    }
}

/// The answer for `Err(error)`, with the message a probe read from it.
pub fn answer_of_error<E: ?Sized>(_error: &E, message: String) -> Answer {
    Answer::Error {
        error_type: std::any::type_name::<E>().to_owned(),
        message,
    }
}

/// Benchmarks only: switches this process to after-response delivery without registering an
/// extension (nothing flushes on its own; call [`drain_queue`]).
pub fn enable_after_response_queue() {
    delivery::enable_deferred();
}

/// Benchmarks only: empties the after-response queue; how many entries it held.
pub fn drain_queue() -> usize {
    delivery::deferred().map_or(0, |queue| queue.drain().len())
}

/// Gives the handler's output back, re-raising its panic if it panicked.
pub fn resume<T>(output: Result<T, Box<dyn Any + Send>>) -> T {
    match output {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Autoref-specialised probes: the macro calls `(&&&Probe(&x)).__moesif_event()` (or `_response`,
/// `_error`) at a call site where `x`'s type is concrete; the most specific impl wins.
pub mod probe {
    use super::{CapturedEvent, CapturedJson};
    use crate::event::EventShape;
    use lambda_runtime::LambdaEvent;
    use serde::Serialize;
    use serde_json::Value;
    use std::fmt::{Debug, Display};

    /// Wraps a reference for probing.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// `lambda_http::Request`: rebuilt as the Lambda event it came from.
    pub trait ViaHttpRequest {
        /// The event and context.
        fn __moesif_event(&self) -> Option<CapturedEvent>;
    }
    #[cfg(feature = "http")]
    impl ViaHttpRequest for &&Probe<'_, lambda_http::Request> {
        fn __moesif_event(&self) -> Option<CapturedEvent> {
            Some(crate::http::captured_event(self.0))
        }
    }

    /// `LambdaEvent<Value>`: serialised (cheaper than a deep clone), a body over the collector's limit
    /// left out.
    pub trait ViaLambdaEventValue {
        /// The event and context.
        fn __moesif_event(&self) -> Option<CapturedEvent>;
    }
    impl ViaLambdaEventValue for &&Probe<'_, LambdaEvent<Value>> {
        fn __moesif_event(&self) -> Option<CapturedEvent> {
            let shape = EventShape::detect(&self.0.payload);
            // A non-HTTP event costs nothing more than its detection.
            let json = if shape.is_http() {
                CapturedJson::of_event(&self.0.payload)?
            } else {
                CapturedJson::Bytes(Vec::new())
            };
            Some(CapturedEvent {
                json,
                shape: Some(shape),
                context: self.0.context.clone(),
            })
        }
    }

    /// `LambdaEvent<T>` with a serialisable payload.
    pub trait ViaLambdaEvent {
        /// The event and context.
        fn __moesif_event(&self) -> Option<CapturedEvent>;
    }
    impl<T: Serialize> ViaLambdaEvent for &Probe<'_, LambdaEvent<T>> {
        fn __moesif_event(&self) -> Option<CapturedEvent> {
            let json = serde_json::to_vec(&self.0.payload).ok()?;
            Some(CapturedEvent {
                json: CapturedJson::Bytes(json),
                shape: None,
                context: self.0.context.clone(),
            })
        }
    }

    /// Anything else: not logged.
    pub trait ViaUnknownEvent {
        /// Nothing.
        fn __moesif_event(&self) -> Option<CapturedEvent>;
    }
    impl<T: ?Sized> ViaUnknownEvent for Probe<'_, T> {
        fn __moesif_event(&self) -> Option<CapturedEvent> {
            crate::hooks::warn_once("unknown-event-type", || {
                tracing::warn!(
                    event_type = std::any::type_name::<T>(),
                    "moesif: #[moesif_logger] cannot read this handler's event type (use LambdaEvent<T> with \
                     T: Serialize, or lambda_http::Request); its calls are not logged"
                )
            });
            None
        }
    }

    /// `http::Response<B>` (what `lambda_http` handlers answer).
    pub trait ViaHttpResponse {
        /// The answer as the Lambda response JSON.
        fn __moesif_response(&self) -> Option<CapturedJson>;
    }
    #[cfg(feature = "http")]
    impl<B: AsRef<[u8]>> ViaHttpResponse for &&Probe<'_, lambda_http::Response<B>> {
        fn __moesif_response(&self) -> Option<CapturedJson> {
            Some(CapturedJson::Value(crate::http::response_json(self.0)))
        }
    }

    /// A serialisable answer.
    pub trait ViaSerializeResponse {
        /// The answer as JSON.
        fn __moesif_response(&self) -> Option<CapturedJson>;
    }
    impl<T: Serialize + ?Sized> ViaSerializeResponse for &Probe<'_, T> {
        fn __moesif_response(&self) -> Option<CapturedJson> {
            serde_json::to_vec(self.0).ok().map(CapturedJson::Bytes)
        }
    }

    /// Anything else: logged without a body.
    pub trait ViaUnknownResponse {
        /// Nothing.
        fn __moesif_response(&self) -> Option<CapturedJson>;
    }
    impl<T: ?Sized> ViaUnknownResponse for Probe<'_, T> {
        fn __moesif_response(&self) -> Option<CapturedJson> {
            None
        }
    }

    /// An error with `Display`.
    pub trait ViaDisplayError {
        /// Its message.
        fn __moesif_error(&self) -> String;
    }
    impl<T: Display + ?Sized> ViaDisplayError for &&Probe<'_, T> {
        fn __moesif_error(&self) -> String {
            self.0.to_string()
        }
    }

    /// An error with only `Debug`.
    pub trait ViaDebugError {
        /// Its debug text.
        fn __moesif_error(&self) -> String;
    }
    impl<T: Debug + ?Sized> ViaDebugError for &Probe<'_, T> {
        fn __moesif_error(&self) -> String {
            format!("{:?}", self.0)
        }
    }

    /// An error with neither.
    pub trait ViaOpaqueError {
        /// A placeholder.
        fn __moesif_error(&self) -> String;
    }
    impl<T: ?Sized> ViaOpaqueError for Probe<'_, T> {
        fn __moesif_error(&self) -> String {
            "handler error".to_owned()
        }
    }
}
