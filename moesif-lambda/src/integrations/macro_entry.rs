//! The one entry the `#[moesif_logger]` macro calls. Not a public API: names and signatures may change
//! in any release.
//!
//! Generated code, for `async fn handler(event: E) -> Result<T, Err> { BODY }`:
//! ```ignore
//! static __MOESIF_STATE: State = State::new();
//! let pending = __MOESIF_STATE.begin(&OPTIONS, probe-of(&event));
//! let output = catch_unwind(&pending, async move { BODY }).await;
//! pending.finish(answer-of(&output)).await;
//! resume(output)
//! ```

use crate::capture::{Answer, EventSource, Invocation};
use crate::delivery::{self, Transport};
use crate::hooks::{self, panic_message};
use crate::options::{Options, OptionsSource};
use lambda_runtime::Context;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind as catch_unwind_sync, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::Poll;

#[cfg(feature = "http")]
pub use super::govern::GovernedResponse;
pub use super::govern::{GovernEvent, Governance};
pub use super::probe;
pub use crate::capture::{Answer as CallAnswer, CapturedEvent, CapturedJson};

/// Per-handler state, built once per cold start: the options and the collector connection.
pub struct State {
    options: OnceLock<Option<Arc<Options>>>,
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

    /// A state whose invocations go to `client`'s connection.
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // used by the lambda_http integrations
    pub(crate) fn with_client(client: &crate::Client) -> Self {
        Self {
            options: OnceLock::new(),
            transport: OnceLock::from(Some(client.transport().clone())),
        }
    }

    /// With `wait_for_governance`, makes the connection now and starts fetching the governance rules in
    /// the background (a layer built at init: the first invocation then waits less, or not at all).
    #[cfg(feature = "http")]
    pub(crate) fn prefetch_governance(&self, options: &Options) {
        if !options.governance || options.wait_for_governance.is_zero() {
            return;
        }
        let transport = self
            .transport
            .get_or_init(|| hooks::call("transport", || Transport::shared(options)).flatten());
        if let Some(transport) = transport {
            transport.prefetch_governance();
        }
    }

    /// Starts an invocation: resolves the options once, and keeps what the event needs if it is an HTTP
    /// event. Never panics; anything that fails means this invocation is not logged.
    pub fn begin<S: OptionsSource + ?Sized>(&self, source: &S, captured: Option<CapturedEvent<'_>>) -> Pending {
        let Some(CapturedEvent {
            event,
            context,
            lambda_http,
        }) = captured
        else {
            return Pending::default();
        };
        let started = crate::current::start(&context.request_id);
        let raw_event = started.raw_event();
        Pending {
            inner: self.start(source, event, raw_event, context),
            started: Some(started),
            lambda_http,
            added_headers: Vec::new(),
        }
    }

    /// The invocation to log and where it goes; `None` when it is not logged (not an HTTP event, the
    /// options fn panicked, no collector can be had).
    fn start<S: OptionsSource + ?Sized>(
        &self,
        source: &S,
        event: Option<EventSource<'_>>,
        raw_event: Option<bytes::Bytes>,
        context: Context,
    ) -> Option<Box<(Arc<Transport>, Invocation)>> {
        let event = event?;
        let options = self
            .options
            .get_or_init(|| hooks::call("options", || source.options()).map(Arc::new))
            .clone()?;
        let transport = self
            .transport
            .get_or_init(|| hooks::call("transport", || Transport::shared(&options)).flatten())
            .clone()?;
        Some(Box::new((
            transport,
            Invocation::start(options, event, raw_event, context)?,
        )))
    }
}

/// The blocked answer of `governance` when the handler's answer type can hold it; `None` (and the
/// handler runs) when it cannot, said once.
pub fn blocked_output<T>(governance: &Option<Governance>, output: Option<T>) -> Option<T> {
    let governance = governance.as_ref().filter(|g| g.blocks())?;
    if output.is_none() {
        not_governed(std::any::type_name::<T>());
    }
    let _ = governance;
    output
}

/// The blocked answer of `governance` as an `http::Response` (lambda_http handlers answering
/// `impl IntoResponse`).
#[cfg(feature = "http")]
pub fn blocked_response(governance: &Option<Governance>) -> Option<lambda_http::Response<lambda_http::Body>> {
    let (parts, body) = super::govern::blocked_http(&governance.as_ref()?.decision)?;
    let body = String::from_utf8(body.to_vec()).unwrap_or_default();
    Some(lambda_http::Response::from_parts(parts, lambda_http::Body::from(body)))
}

/// The headers `governance` adds to the handler's answer.
pub fn added_headers(governance: &Option<Governance>) -> Vec<(String, String)> {
    governance
        .as_ref()
        .map(|governance| governance.decision.headers.clone())
        .unwrap_or_default()
}

/// `answer` with `headers` added (replacing the answer's own of the same name).
#[cfg(feature = "http")]
fn with_headers(answer: Answer, headers: &[(String, String)]) -> Answer {
    match answer {
        Answer::Response(Some(json)) if !headers.is_empty() => {
            let mut value = json.into_value();
            super::govern::add_headers_json(&mut value, headers);
            Answer::Response(Some(crate::capture::CapturedJson::Value(value)))
        }
        other => other,
    }
}

/// Says once that a handler's answer type cannot carry a blocked answer.
pub(crate) fn not_governed(answer_type: &str) {
    hooks::warn_once("answer-not-governed", || {
        tracing::warn!(
            answer_type,
            "moesif: a governance rule blocks this request, but #[moesif_logger] cannot build this handler's              answer type (answer serde_json::Value, an aws_lambda_events response or an http::Response);              the handler runs and its requests are not governed"
        )
    });
}

/// An invocation in progress; `finish` it with the handler's answer.
#[derive(Default)]
pub struct Pending {
    /// In flight until finished (or dropped: a cancelled body's invocation is over all the same).
    started: Option<crate::current::Started>,
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    lambda_http: bool,
    /// Headers governance added to an answer the event cannot see them in (`impl IntoResponse`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    added_headers: Vec<(String, String)>,
    /// Boxed: the pending invocation lives in the handler's future, which every layer of the runtime
    /// moves; a pointer keeps that future small.
    inner: Option<Box<(Arc<Transport>, Invocation)>>,
}

impl Pending {
    /// The governance rules in force for this invocation, with its options and Lambda context (`None`:
    /// not logged, governance off, or no rule).
    pub(crate) fn governance(&self) -> Option<(crate::delivery::Governed, &Options, &Context)> {
        let (transport, invocation) = self.inner.as_deref()?;
        let options = &invocation.options;
        if !options.governance {
            return None;
        }
        let governed = transport.governance(options.wait_for_governance)?;
        Some((governed, options, &invocation.context))
    }

    /// What the governance rules decide for the handler's event (`None`: no rule applies, or not
    /// governed).
    pub fn govern<S: GovernEvent>(&self, source: Option<S>) -> Option<Governance> {
        let source = source?;
        let (governed, options, context) = self.governance()?;
        source.decide(super::govern::GovernWith {
            governed: &governed,
            options,
            context,
        })
    }

    /// Records that `governance` blocked the request (when it did): the event's `blocked_by`, and the
    /// answer the caller got is the rule's.
    pub fn note_blocked(&mut self, governance: &Option<Governance>) {
        if let Some(rule_id) = governance.as_ref().and_then(Governance::blocked_by) {
            self.set_blocked(rule_id);
        }
    }

    /// The invocation's Lambda event as JSON (parsed from the raw event when that is what is kept).
    #[cfg(feature = "http")]
    pub(crate) fn raw_event_json(&self) -> Option<serde_json::Value> {
        self.inner.as_deref().map(|(_, invocation)| invocation.event.to_json())
    }

    /// Records the headers `governance` adds to an answer that is turned into a response after the
    /// handler (`impl IntoResponse`): the event logs the answer with them, as the caller gets it.
    pub fn note_added_headers(&mut self, governance: &Option<Governance>) {
        self.added_headers = added_headers(governance);
    }

    /// Marks the invocation as blocked by the governance rule `rule_id` (the event's `blocked_by`).
    pub(crate) fn set_blocked(&mut self, rule_id: &str) {
        if let Some((_, invocation)) = self.inner.as_deref_mut() {
            invocation.blocked_by = Some(rule_id.to_owned());
        }
    }

    /// Runs `body` (one poll of a service's future, say) with this invocation current.
    pub(crate) fn in_scope<R>(&self, body: impl FnOnce() -> R) -> R {
        match &self.started {
            Some(started) => started.sync_scope(body),
            None => body(),
        }
    }

    /// Delivers the call in the current mode, through `deliver`.
    fn finish_with<R>(
        mut self,
        answer: Answer,
        deliver: impl FnOnce(Arc<Transport>, crate::capture::Call) -> R,
    ) -> Option<R> {
        drop(self.started.take());
        let (transport, invocation) = *self.inner.take()?;
        #[cfg(feature = "http")]
        let answer = match self.lambda_http {
            true => with_headers(super::http::into_response_answer(answer), &self.added_headers),
            false => answer,
        };
        Some(deliver(transport, invocation.answered(answer)))
    }

    /// Records the answer and delivers the event without waiting, from code that cannot (a response
    /// body reaching its end).
    #[cfg(feature = "http")]
    pub(crate) fn finish_detached(self, answer: Answer) {
        self.finish_with(answer, delivery::deliver_detached);
    }

    /// Records the answer and delivers the event (async handlers). The event is queued at once; the
    /// future returned only waits for the send synchronous mode makes before the invocation ends (it
    /// holds nothing else, so the handler's future stays small).
    pub fn finish(self, answer: Answer) -> impl Future<Output = ()> + Send {
        let sending = self.finish_with(answer, delivery::deliver).flatten();
        async move {
            if let Some(sending) = sending {
                sending.await;
            }
        }
    }

    /// Records the answer and delivers the event (sync handlers).
    pub fn finish_blocking(self, answer: Answer) {
        self.finish_with(answer, |transport, call| {
            let deliver = || delivery::deliver_blocking(transport, call);
            match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(deliver),
                _ => deliver(),
            }
        });
    }
}

/// The event types `#[moesif_logger]` can log: the handler's first argument must be one. The macro
/// checks it at compile time, with the error on the argument's type.
#[diagnostic::on_unimplemented(
    message = "#[moesif_logger] cannot read `{Self}` as the Lambda event",
    label = "not an event the middleware can log",
    note = "the first argument must be the event: `LambdaEvent<T>` with `T: serde::Serialize` (`serde_json::Value`, \
            `aws_lambda_events` types) or `lambda_http::Request`; for an axum Router use `moesif_lambda::MoesifLayer`"
)]
pub trait ReadableEvent {}

impl<T: serde::Serialize> ReadableEvent for lambda_runtime::LambdaEvent<T> {}

#[cfg(feature = "http")]
impl ReadableEvent for lambda_http::Request {}

/// The compile-time check the macro emits for the handler's event argument; does nothing at run time.
#[inline(always)]
pub fn assert_readable_event<E: ReadableEvent>(_event: &E) {}

/// Polls `future` (the handler's body, right after [`State::begin`]) with its invocation current,
/// turning a panic into `Err(payload)` so the call can be logged before it goes on.
pub async fn catch_unwind<F: Future>(pending: &Pending, future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    let caught =
        std::future::poll_fn(
            move |cx| match catch_unwind_sync(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(payload)),
            },
        );
    match &pending.started {
        Some(started) => started.scope(caught).await,
        None => caught.await,
    }
}

/// Runs a sync body with its invocation current, turning a panic into `Err(payload)`.
pub fn catch_unwind_blocking<T>(pending: &Pending, body: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send>> {
    pending.in_scope(|| catch_unwind_sync(AssertUnwindSafe(body)))
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

/// Gives the handler's output back, re-raising its panic if it panicked.
pub fn resume<T>(output: Result<T, Box<dyn Any + Send>>) -> T {
    match output {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}
