//! An emulator of the AWS Lambda Runtime API and Extensions API on loopback, in the order the real
//! service keeps: an invocation goes to the runtime and to every extension subscribed to `INVOKE` at once;
//! the next one is handed out only after the runtime answered AND every such extension asked for its next
//! event again (until then Lambda keeps the sandbox busy). An invocation ends (billed time ends, see
//! [`RuntimeApi::invocation_finished_at`]) when the runtime has asked for its next event after answering
//! and every `INVOKE` extension has too; extensions subscribed to no events are never waited for.
//!
//! Opt-in, [`RuntimeApi::start_concurrent`] emulates Lambda Managed Instances instead: up to `max`
//! invocations are in flight at once, each `GET …/invocation/next` takes a different pending one, answers
//! are matched by request id, and nothing waits for extensions (the sandbox is never frozen between
//! invocations).
//!
//! A response the runtime streams (`Lambda-Runtime-Function-Response-Mode: streaming`, as
//! `lambda_http::run_with_streaming_response` does for Function URLs in `RESPONSE_STREAM` mode) is read
//! as Lambda's streaming protocol says ([`Streamed`]): the prelude, the body chunk by chunk, the error
//! trailers.

use crate::serve::{respond, serve, Framing, Received, Reply, Server};
use crate::watched::Watched;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

mod streaming;
pub use streaming::{StreamError, Streamed, HTTP_INTEGRATION_RESPONSE};

/// How an invocation ended, as the runtime reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST …/response` with this body (for a streamed response, every byte as posted: prelude,
    /// delimiter and body; [`Invocation::streamed`] reads them as the caller gets them).
    Response(Vec<u8>),
    /// `POST …/error`.
    Error {
        /// `Lambda-Runtime-Function-Error-Type`.
        error_type: Option<String>,
        /// The error body.
        body: Value,
    },
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Its request id.
    pub request_id: String,
    /// What the runtime answered.
    pub outcome: Outcome,
    /// When the runtime got the event.
    pub handed_out_at: Instant,
    /// When the runtime posted the answer: what the caller waited for (for a streamed response, when
    /// the stream ended; [`Streamed::began_at`] is when it began).
    pub answered_at: Instant,
    /// A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`) as the caller got it:
    /// status, headers, body, chunks, the failure reported part-way.
    pub streamed: Option<Streamed>,
}

/// A header of a Lambda answer (its `headers` object), the name matched in any case.
///
/// ```
/// let answer = serde_json::json!({"statusCode": 200, "headers": {"X-Plan": "free"}});
/// assert_eq!(moesif_lambda_testkit::answer_header(&answer, "x-plan"), Some("free"));
/// ```
pub fn answer_header<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["headers"]
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))?
        .1
        .as_str()
}

impl Invocation {
    /// The response body as JSON (`None` for errors or non-JSON bodies).
    pub fn response_json(&self) -> Option<Value> {
        match &self.outcome {
            Outcome::Response(body) => serde_json::from_slice(body).ok(),
            Outcome::Error { .. } => None,
        }
    }

    /// What the caller waited: from hand-out to answer.
    pub fn latency(&self) -> Duration {
        self.answered_at.saturating_duration_since(self.handed_out_at)
    }
}

/// Options of one invocation.
#[derive(Debug, Clone)]
pub struct InvokeOptions {
    /// The request id (default: a fresh one).
    pub request_id: Option<String>,
    /// Time the function has (deadline = now + this; default 3 s).
    pub deadline: Duration,
    /// How long to wait for the answer (default 10 s).
    pub timeout: Duration,
}

impl Default for InvokeOptions {
    fn default() -> Self {
        Self {
            request_id: None,
            deadline: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What went wrong in the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestkitError {
    /// No answer within the timeout.
    Timeout,
}

impl std::fmt::Display for TestkitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the function did not answer in time")
    }
}

impl std::error::Error for TestkitError {}

struct Queued {
    request_id: String,
    event: Value,
    deadline_ms: u64,
    answer: oneshot::Sender<Invocation>,
}

/// An invocation handed to the runtime and not answered yet.
struct InFlight {
    request_id: String,
    handed_out_at: Instant,
    answer: oneshot::Sender<Invocation>,
}

/// How many invocations may be in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    /// Lambda (default): one at a time, and the next only once every `INVOKE` extension is back.
    #[default]
    Classic,
    /// Lambda Managed Instances: up to this many at once, never waiting for extensions.
    Concurrent(usize),
}

/// Concurrent mode: what an invocation still waits for before it counts as finished.
struct Finishing {
    /// The runtime answered it.
    answered: bool,
    /// The `INVOKE` extensions that were sent its event and have not asked for their next one since.
    extensions: Vec<String>,
}

struct Extension {
    id: String,
    name: String,
    events: Vec<String>,
    /// Asked for its next event and has not been given one yet.
    waiting: bool,
    inbox: VecDeque<Value>,
    /// Concurrent mode: the request id of the last `INVOKE` event it was given; it is done with that
    /// invocation when it asks for its next event.
    holding: Option<String>,
}

impl Extension {
    fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

#[derive(Default)]
struct State {
    mode: Mode,
    queue: VecDeque<Queued>,
    /// Handed out, not answered yet (at most one in classic mode).
    in_flight: Vec<InFlight>,
    last_request_id: Option<String>,
    extensions: Vec<Extension>,
    /// The runtime is waiting in `GET …/invocation/next` (classic mode: it is done with the last one).
    runtime_waiting: bool,
    init_done: bool,
    /// Every `POST …/extension/register` is refused (as Lambda refuses one it cannot take).
    refuse_registrations: bool,
    handed_out: usize,
    max_in_flight: usize,
    idle_at: HashMap<String, Instant>,
    /// Concurrent mode: handed out and not finished yet.
    finishing: HashMap<String, Finishing>,
    errors: Vec<(String, Value)>,
}

impl State {
    fn concurrent(&self) -> bool {
        matches!(self.mode, Mode::Concurrent(_))
    }

    /// Every INVOKE-subscribed extension is back to waiting.
    fn extensions_ready(&self) -> bool {
        self.extensions.iter().filter(|e| e.wants("INVOKE")).all(|e| e.waiting)
    }

    /// Whether a `/next` may take the next queued invocation now.
    fn can_hand_out(&self) -> bool {
        match self.mode {
            Mode::Classic => self.in_flight.is_empty() && self.extensions_ready(),
            Mode::Concurrent(max) => self.in_flight.len() < max,
        }
    }

    /// Nothing queued, nothing in flight, and every extension done with every invocation.
    fn idle(&self) -> bool {
        self.in_flight.is_empty()
            && self.queue.is_empty()
            && match self.mode {
                Mode::Classic => self.extensions_ready() && (self.runtime_waiting || self.handed_out == 0),
                Mode::Concurrent(_) => self.finishing.is_empty(),
            }
    }

    fn note_idle(&mut self) {
        if self.in_flight.is_empty() && self.runtime_waiting && self.extensions_ready() {
            if let Some(id) = self.last_request_id.clone() {
                self.idle_at.entry(id).or_insert_with(Instant::now);
            }
        }
    }

    /// Concurrent mode: records progress on an invocation, and when it finished.
    fn settle(&mut self, request_id: &str, progress: impl FnOnce(&mut Finishing)) {
        let Some(finishing) = self.finishing.get_mut(request_id) else {
            return;
        };
        progress(finishing);
        if finishing.answered && finishing.extensions.is_empty() {
            self.finishing.remove(request_id);
            self.idle_at.entry(request_id.to_owned()).or_insert_with(Instant::now);
        }
    }
}

/// The emulator. Dropping it stops it.
pub struct RuntimeApi {
    shared: Arc<Watched<State>>,
    server: Server,
}

/// Long polls answer "nothing yet" after this long, so no test can wait forever.
const LONG_POLL: Duration = Duration::from_secs(120);

impl RuntimeApi {
    /// Starts the emulator on 127.0.0.1 (a free port), one invocation at a time as on Lambda (default).
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start() -> RuntimeApi {
        Self::start_with(Mode::Classic).await
    }

    /// Starts the emulator in Lambda Managed Instances mode: up to `max` invocations in flight at once.
    ///
    /// Each `GET /runtime/invocation/next` takes a different queued invocation while fewer than `max` are
    /// in flight (and long-polls otherwise); `…/{request_id}/response` and `…/error` are matched by request
    /// id, in any order. [`lambda_env`](Self::lambda_env) adds `AWS_LAMBDA_MAX_CONCURRENCY` = `max`, what
    /// `lambda_runtime::run_concurrent` reads to run that many `/next` loops.
    ///
    /// Extensions: one subscribed to `INVOKE` still gets every invocation's `INVOKE` event (in hand-out
    /// order, queued in its inbox while it is busy), but no invocation waits for extensions, since
    /// Managed Instances never freeze the sandbox between invocations. An invocation counts as finished
    /// ([`invocation_finished_at`](Self::invocation_finished_at)) once it is answered and every `INVOKE`
    /// extension asked for its next event after receiving its `INVOKE` event. Request ids must be unique
    /// among the invocations in flight.
    ///
    /// # Panics
    /// If `max` is 0, or no loopback port can be bound.
    pub async fn start_concurrent(max: usize) -> RuntimeApi {
        assert!(max >= 1, "a concurrency of at least 1");
        Self::start_with(Mode::Concurrent(max)).await
    }

    async fn start_with(mode: Mode) -> RuntimeApi {
        let shared = Arc::new(Watched::new(State {
            mode,
            ..State::default()
        }));
        let handler_shared = shared.clone();
        let server = serve(move |request, framing| route(handler_shared.clone(), request, framing))
            .await
            .expect("bind a loopback port for the Runtime API");
        RuntimeApi { shared, server }
    }

    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn endpoint(&self) -> String {
        self.server.addr.to_string()
    }

    /// The environment a function sees on Lambda, pointing at this emulator. In concurrent mode
    /// ([`start_concurrent`](Self::start_concurrent)) it also has `AWS_LAMBDA_MAX_CONCURRENCY`.
    pub fn lambda_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_LAMBDA_RUNTIME_API", self.endpoint()),
            ("AWS_LAMBDA_FUNCTION_NAME", "oracle-fn".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test-stream".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/oracle-fn".to_owned()),
        ];
        if let Some(max) = self.max_concurrency() {
            env.push(("AWS_LAMBDA_MAX_CONCURRENCY", max.to_string()));
        }
        env
    }

    /// `Some(max)` in concurrent mode ([`start_concurrent`](Self::start_concurrent)), `None` in the
    /// default one-at-a-time mode.
    pub fn max_concurrency(&self) -> Option<usize> {
        match self.shared.lock().mode {
            Mode::Classic => None,
            Mode::Concurrent(max) => Some(max),
        }
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Result<Invocation, TestkitError> {
        self.invoke_with(event, InvokeOptions::default()).await
    }

    /// Invokes the function with `event` and options, and waits for its answer.
    ///
    /// Several calls may be awaited at once (`tokio::join!`, `join_all`; the emulator is shared behind
    /// `&self`): in concurrent mode they are then in flight together; in the default mode they are
    /// handed out one after the other, in the order they were queued.
    pub async fn invoke_with(&self, event: Value, options: InvokeOptions) -> Result<Invocation, TestkitError> {
        let (deadline, answered) = self.enqueue(vec![(event, options)]).remove(0);
        self.shared.notify();
        await_answer(deadline, answered).await
    }

    /// Queues every invocation at once, in order, and waits for all their answers (each within its own
    /// `timeout`, counted from now). The results are in the order of `calls`. In concurrent mode up to
    /// `max` of them are in flight together; in the default mode they run one after the other.
    pub async fn invoke_many(&self, calls: Vec<(Value, InvokeOptions)>) -> Vec<Result<Invocation, TestkitError>> {
        let pending = self.enqueue(calls);
        self.shared.notify();
        let mut results = Vec::with_capacity(pending.len());
        for (deadline, answered) in pending {
            // Deadlines are absolute, so waiting for them in order delays none of them.
            results.push(await_answer(deadline, answered).await);
        }
        results
    }

    /// Queues invocations under one lock; for each, when to give up and where its answer arrives.
    fn enqueue(
        &self,
        calls: Vec<(Value, InvokeOptions)>,
    ) -> Vec<(tokio::time::Instant, oneshot::Receiver<Invocation>)> {
        let now = tokio::time::Instant::now();
        let mut state = self.shared.lock();
        calls
            .into_iter()
            .map(|(event, options)| {
                let (answer, answered) = oneshot::channel();
                state.queue.push_back(Queued {
                    request_id: options.request_id.unwrap_or_else(fresh_id),
                    event,
                    deadline_ms: epoch_millis() + options.deadline.as_millis() as u64,
                    answer,
                });
                (now + options.timeout, answered)
            })
            .collect()
    }

    /// Waits until the last invocation is answered and every extension asked for its next event (when
    /// Lambda would freeze the sandbox). In concurrent mode: until nothing is queued or in flight and every
    /// `INVOKE` extension is done with every invocation. `false` if that did not happen within `timeout`.
    pub async fn wait_until_idle(&self, timeout: Duration) -> bool {
        self.shared
            .wait_for(timeout, |state| state.idle().then_some(()))
            .await
            .is_some()
    }

    /// When the invocation's sandbox went idle (answered, and every extension done), if it did. In
    /// concurrent mode: when it was answered and every `INVOKE` extension asked for its next event after
    /// receiving this invocation's `INVOKE` event (other invocations may still be running).
    pub fn invocation_finished_at(&self, request_id: &str) -> Option<Instant> {
        self.shared.lock().idle_at.get(request_id).copied()
    }

    /// Refuses every extension registration from now on (403), as Lambda refuses one it cannot take.
    pub fn refuse_registrations(&self) {
        self.shared.lock().refuse_registrations = true;
    }

    /// Registered extensions: name and the events they subscribed to.
    pub fn registered_extensions(&self) -> Vec<(String, Vec<String>)> {
        self.shared
            .lock()
            .extensions
            .iter()
            .map(|e| (e.name.clone(), e.events.clone()))
            .collect()
    }

    /// Names of the registered extensions waiting in `GET …/extension/event/next` now. On Lambda, init
    /// is over only once every registered extension asked for its next event.
    pub fn extensions_waiting(&self) -> Vec<String> {
        self.shared
            .lock()
            .extensions
            .iter()
            .filter(|e| e.waiting)
            .map(|e| e.name.clone())
            .collect()
    }

    /// How many invocations were handed to the runtime.
    pub fn invocations_handed_out(&self) -> usize {
        self.shared.lock().handed_out
    }

    /// How many invocations are handed out and not answered yet.
    pub fn invocations_in_flight(&self) -> usize {
        self.shared.lock().in_flight.len()
    }

    /// The most invocations that were in flight (handed out, not answered) at the same time so far: at
    /// most 1 in the default mode, at most `max` in concurrent mode.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// Init and exit errors extensions or the runtime reported (path, body).
    pub fn reported_errors(&self) -> Vec<(String, Value)> {
        self.shared.lock().errors.clone()
    }

    /// Sends `SHUTDOWN` to the extensions subscribed to it.
    pub fn shutdown(&self) {
        let deadline = epoch_millis() + 2000;
        let mut state = self.shared.lock();
        for extension in state.extensions.iter_mut().filter(|e| e.wants("SHUTDOWN")) {
            extension
                .inbox
                .push_back(json!({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": deadline}));
        }
        drop(state);
        self.shared.notify();
    }
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Waits for an answer until `deadline`.
async fn await_answer(
    deadline: tokio::time::Instant,
    answered: oneshot::Receiver<Invocation>,
) -> Result<Invocation, TestkitError> {
    match tokio::time::timeout_at(deadline, answered).await {
        Ok(Ok(invocation)) => Ok(invocation),
        _ => Err(TestkitError::Timeout),
    }
}

fn fresh_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("req-{:08}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn route(shared: Arc<Watched<State>>, request: Received, framing: Framing) -> Reply {
    let path = request.path.split('?').next().unwrap_or_default().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => next_invocation(&shared).await,
        ("POST", ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
            answer(&shared, id, kind, &request, &framing)
        }
        ("POST", ["2018-06-01", "runtime", "init", "error"])
        | ("POST", ["2020-01-01", "extension", "init" | "exit", "error"]) => {
            shared.lock().errors.push((
                path.clone(),
                serde_json::from_slice(&request.body).unwrap_or(Value::Null),
            ));
            respond(202, &[], "")
        }
        ("POST", ["2020-01-01", "extension", "register"]) => register(&shared, &request),
        ("GET", ["2020-01-01", "extension", "event", "next"]) => next_extension_event(&shared, &request).await,
        _ => respond(404, &[], ""),
    }
}

async fn next_invocation(shared: &Watched<State>) -> Reply {
    {
        let mut state = shared.lock();
        state.init_done = true;
        state.runtime_waiting = true;
        if !state.concurrent() {
            state.note_idle();
        }
    }
    shared.notify();
    let handed = shared
        .wait_for(LONG_POLL, |state| {
            if !state.can_hand_out() {
                return None;
            }
            let queued = state.queue.pop_front()?;
            let invoke = json!({
                "eventType": "INVOKE",
                "deadlineMs": queued.deadline_ms,
                "requestId": queued.request_id,
                "invokedFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:oracle-fn",
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-00000000-000000000000000000000000"}
            });
            let mut subscribers = Vec::new();
            for extension in state.extensions.iter_mut().filter(|e| e.wants("INVOKE")) {
                extension.waiting = false;
                extension.inbox.push_back(invoke.clone());
                subscribers.push(extension.id.clone());
            }
            if state.concurrent() {
                state.finishing.insert(
                    queued.request_id.clone(),
                    Finishing {
                        answered: false,
                        extensions: subscribers,
                    },
                );
            }
            state.runtime_waiting = false;
            state.in_flight.push(InFlight {
                request_id: queued.request_id.clone(),
                handed_out_at: Instant::now(),
                answer: queued.answer,
            });
            state.max_in_flight = state.max_in_flight.max(state.in_flight.len());
            state.last_request_id = Some(queued.request_id.clone());
            state.handed_out += 1;
            Some((queued.request_id, queued.deadline_ms, queued.event))
        })
        .await;
    shared.notify();
    match handed {
        Some((request_id, deadline_ms, event)) => respond(
            200,
            &[
                ("lambda-runtime-aws-request-id", &request_id),
                ("lambda-runtime-deadline-ms", &deadline_ms.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:oracle-fn",
                ),
                ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000"),
                ("content-type", "application/json"),
            ],
            event.to_string(),
        ),
        None => respond(504, &[], "no invocation"),
    }
}

fn answer(shared: &Watched<State>, id: &str, kind: &str, request: &Received, framing: &Framing) -> Reply {
    let mut state = shared.lock();
    let Some(position) = state.in_flight.iter().position(|in_flight| in_flight.request_id == id) else {
        let refusal = if state.concurrent() {
            "not an invocation in flight"
        } else {
            "not the current invocation"
        };
        return respond(400, &[], refusal);
    };
    let current = state.in_flight.remove(position);
    let outcome = if kind == "response" {
        Outcome::Response(request.body.clone())
    } else {
        Outcome::Error {
            error_type: request.header("lambda-runtime-function-error-type").map(str::to_owned),
            body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        }
    };
    let streamed = (kind == "response" && streaming::is_streamed(request)).then(|| streaming::read(request, framing));
    let invocation = Invocation {
        request_id: current.request_id,
        outcome,
        handed_out_at: current.handed_out_at,
        answered_at: Instant::now(),
        streamed,
    };
    let _ = current.answer.send(invocation);
    if state.concurrent() {
        state.settle(id, |finishing| finishing.answered = true);
    } else {
        state.note_idle();
    }
    drop(state);
    shared.notify();
    respond(202, &[], "")
}

fn register(shared: &Watched<State>, request: &Received) -> Reply {
    let mut state = shared.lock();
    if state.refuse_registrations {
        return respond(
            403,
            &[],
            "{\"errorType\":\"Extension.Refused\",\"errorMessage\":\"registrations are refused\"}",
        );
    }
    if state.init_done {
        return respond(
            403,
            &[],
            "{\"errorType\":\"Extension.InvalidState\",\"errorMessage\":\"registration after init\"}",
        );
    }
    let name = request.header("lambda-extension-name").unwrap_or("unnamed").to_owned();
    let events = serde_json::from_slice::<Value>(&request.body)
        .ok()
        .and_then(|body| body.get("events").cloned())
        .and_then(|events| serde_json::from_value::<Vec<String>>(events).ok())
        .unwrap_or_default();
    let id = format!("ext-{}-{}", state.extensions.len() + 1, name);
    state.extensions.push(Extension {
        id: id.clone(),
        name,
        events,
        waiting: false,
        inbox: VecDeque::new(),
        holding: None,
    });
    drop(state);
    shared.notify();
    respond(
        200,
        &[
            ("lambda-extension-identifier", &id),
            ("content-type", "application/json"),
        ],
        json!({"functionName": "oracle-fn", "functionVersion": "$LATEST", "handler": "bootstrap"}).to_string(),
    )
}

async fn next_extension_event(shared: &Watched<State>, request: &Received) -> Reply {
    let Some(id) = request.header("lambda-extension-identifier").map(str::to_owned) else {
        return respond(403, &[], "missing extension identifier");
    };
    {
        let mut state = shared.lock();
        let Some(extension) = state.extensions.iter_mut().find(|e| e.id == id) else {
            return respond(403, &[], "unknown extension");
        };
        extension.waiting = true;
        let done_with = extension.holding.take();
        if state.concurrent() {
            if let Some(request_id) = done_with {
                state.settle(&request_id, |finishing| finishing.extensions.retain(|e| *e != id));
            }
        } else {
            state.note_idle();
        }
    }
    shared.notify();
    let event = shared
        .wait_for(LONG_POLL, |state| {
            let concurrent = state.concurrent();
            let extension = state.extensions.iter_mut().find(|e| e.id == id)?;
            let event = extension.inbox.pop_front()?;
            if concurrent && event["eventType"] == "INVOKE" {
                extension.holding = event["requestId"].as_str().map(str::to_owned);
            }
            Some(event)
        })
        .await;
    match event {
        Some(event) => respond(200, &[("content-type", "application/json")], event.to_string()),
        None => respond(504, &[], "no event"),
    }
}

#[cfg(test)]
mod tests;
