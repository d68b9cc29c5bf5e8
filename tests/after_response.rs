//! After-response delivery (`moesif_lambda::run`: sends from the runtime's own loop, after each response
//! is posted) through the real `lambda_runtime` loop, against the loopback Runtime/Extensions API
//! emulator and a stand-in collector.
//!
//! Every test has its own `moesif_lambda::Client` (so its own options, collector connection, queue and
//! server config) given to a `MoesifLayer` under `run_http`; the tests of the attribute's own path
//! (conformance cases, its raw event, an own `Runtime`) have their own handler. Each holds the Lambda
//! environment lock while its loop runs.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Client, MoesifLayer, Options};
use moesif_lambda_testkit::conformance::{compare, load_cases, Case};
use moesif_lambda_testkit::{
    http_api_event, spawn_function, Behaviour, Collector, Invocation, InvokeOptions, LambdaEnv, RuntimeApi,
};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::watch;
use tower::Layer as _;

const WAIT: Duration = Duration::from_secs(10);

/// A handler with its own options: collector URL set by the test, the given flush budget.
macro_rules! handler_module {
    ($name:ident, $budget_ms:expr) => {
        handler_module!($name, $budget_ms, |options: Options| options);
    };
    ($name:ident, $budget_ms:expr, $more:expr) => {
        mod $name {
            use super::*;
            pub static URL: OnceLock<&'static str> = OnceLock::new();
            fn options() -> Options {
                let more: fn(Options) -> Options = $more;
                more(
                    Options::new()
                        .application_id("after-response-app")
                        .base_uri(URL.get().copied().unwrap_or("http://127.0.0.1:9"))
                        .flush_budget(Duration::from_millis($budget_ms)),
                )
            }
            #[moesif_logger(options = options)]
            pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
                Ok(answer_for(&event))
            }
        }
    };
}

/// Sends every event at the end of its invocation (a batch of one), as these tests check per event.
fn each_event(options: Options) -> Options {
    options.batch_size(1, usize::MAX)
}

/// Each event at once, and a circuit breaker that waits only milliseconds.
fn each_event_quick_breaker(options: Options) -> Options {
    each_event(options).collector_backoff(Duration::from_millis(20), Duration::from_millis(40))
}

handler_module!(conformance, 2000, each_event);
handler_module!(own_runtime, 2000, each_event);
handler_module!(refused, 2000, each_event);

/// Six megabytes: Lambda's payload limit for a synchronous invocation.
const SIX_MB: usize = 6 * 1024 * 1024 - 4096;

mod large {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    fn options() -> Options {
        Options::new()
            .application_id("after-response-app")
            .base_uri(URL.get().copied().unwrap_or("http://127.0.0.1:9"))
    }
    /// Answers as large as it was asked.
    #[moesif_logger(options = options)]
    pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
        let size = event.payload["body"].as_str().map_or(0, str::len);
        Ok(json!({"statusCode": 200, "body": "y".repeat(size)}))
    }
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).expect("cases")
    })
}

/// A conformance case's answer for its request id; a plain 200 for anything else.
fn answer_for(event: &LambdaEvent<Value>) -> Value {
    let case = event.context.request_id.strip_prefix("req-");
    cases()
        .iter()
        .find(|c| Some(c.name.as_str()) == case)
        .map(|c| c.response.clone())
        .unwrap_or_else(|| json!({"statusCode": 200, "body": "{\"ok\":true}"}))
}

/// A `GET path` HTTP API event (what `lambda_http` reads).
fn http_event(path: &str) -> Value {
    http_api_event("GET", path, None)
}

/// Options as given.
fn keep(options: Options) -> Options {
    options
}

/// Starts the emulator, a collector and `moesif_lambda::run_http` over a function whose calls a
/// `MoesifLayer` logs through a client of its own, made from this test's options (its collector, a
/// flush budget of `budget_ms`, then `more`); returns them with the env lock.
async fn start(budget_ms: u64, more: fn(Options) -> Options) -> (RuntimeApi, Collector, LambdaEnv, Function) {
    let (api, collector, env, function, _client) = start_with_client(budget_ms, more).await;
    (api, collector, env, function)
}

/// [`start`], with the function's client (to flush its connection only: other tests' connections, in
/// this process too, may be sending to collectors that fail on purpose).
async fn start_with_client(
    budget_ms: u64,
    more: fn(Options) -> Options,
) -> (RuntimeApi, Collector, LambdaEnv, Function, Client) {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let options = more(
        Options::new()
            .application_id("after-response-app")
            .base_uri_owned(collector.base_url())
            .flush_budget(Duration::from_millis(budget_ms)),
    );
    let client = Client::new(&options).expect("a client");
    let env = LambdaEnv::acquire(&api, &[]).await;
    let function = MoesifLayer::with_client(options, client.clone()).layer(lambda_http::service_fn(|_request| async {
        let answer = lambda_http::Response::builder()
            .status(200)
            .header("Content-Type", "application/json")
            .body(lambda_http::Body::from(r#"{"ok":true}"#))?;
        Ok::<_, Error>(answer)
    }));
    let (stop, mut stopped) = watch::channel(false);
    // On a thread of its own, as lambda_http's loop runs (its future is not `Send`).
    spawn_function(move || async move {
        tokio::select! {
            _ = moesif_lambda::run_http(function) => {}
            _ = stopped.wait_for(|stopped| *stopped) => {}
        }
    });
    (api, collector, env, Function(stop), client)
}

/// The function's loop, running until [`Function::abort`].
struct Function(watch::Sender<bool>);

impl Function {
    fn abort(&self) {
        let _ = self.0.send(true);
    }
}

/// [`start`] for the tests of the attribute's own path: `moesif_lambda::run(handler)` over the
/// handler of `$module`, with this test's collector.
macro_rules! start_annotated {
    ($module:ident) => {{
        let api = RuntimeApi::start().await;
        let collector = Collector::start().await;
        let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
        let _ = $module::URL.set(url);
        let env = LambdaEnv::acquire(&api, &[]).await;
        let runtime = tokio::spawn(moesif_lambda::run(service_fn($module::handler)));
        (api, collector, env, runtime)
    }};
}

async fn invoke(api: &RuntimeApi, event: Value, request_id: &str) -> Invocation {
    let options = InvokeOptions {
        request_id: Some(request_id.to_owned()),
        ..InvokeOptions::default()
    };
    api.invoke_with(event, options).await.expect("the function answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cases_after_the_response() {
    let (api, collector, _env, runtime) = start_annotated!(conformance);
    let mut failures = Vec::new();
    for case in cases() {
        let invocation = invoke(&api, case.event.clone(), &format!("req-{}", case.name)).await;
        if invocation.response_json().as_ref() != Some(&case.response) {
            failures.push(format!("{}: the caller got {:?}", case.name, invocation.outcome));
        }
        assert!(api.wait_until_idle(WAIT).await);
        // Sent after the response; a full batch under warm traffic arrives after the invocation ended.
        let sent = match case.expected.is_null() {
            true => Vec::new(),
            false => collector.wait_for_events_of(&format!("req-{}", case.name), WAIT).await,
        };
        match (sent.as_slice(), case.expected.is_null()) {
            (_, true) => {}
            ([event], false) => {
                failures.extend(compare(case, event).into_iter().map(|d| format!("{}: {d}", case.name)))
            }
            (other, false) => failures.push(format!("{}: {} events received", case.name, other.len())),
        }
    }
    runtime.abort();
    // Registered only so that Lambda sends SIGTERM at shutdown: subscribed to no events, it is never
    // waited for during an invocation (sends happen in the runtime's own loop).
    assert_eq!(
        api.registered_extensions(),
        vec![("moesif-lambda-flush".to_owned(), Vec::<String>::new())]
    );
    let posts: Vec<_> = collector
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        posts.iter().all(|r| r.path == "/v1/events/batch"),
        "after-response delivery uses the batch endpoint"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_does_not_wait_for_the_collector() {
    let (api, collector, _env, runtime) = start(2000, each_event).await;
    let delay = Duration::from_millis(300);
    collector.set_default_behaviour(Some(Behaviour::Delay(delay)));
    for n in 0..3 {
        let id = format!("slow-{n}");
        let invocation = invoke(&api, http_event("/slow"), &id).await;
        assert!(api.wait_until_idle(WAIT).await);
        assert_eq!(collector.wait_for_events_of(&id, WAIT).await.len(), 1, "{id} arrived");
        let post = collector
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.body.windows(id.len()).any(|w| w == id.as_bytes()))
            .expect("the event was posted");
        assert!(
            invocation.answered_at <= post.received_at,
            "the caller had its response before the collector even received the event"
        );
        // The sandbox's first invocation (the next may be far away) sends at once and goes on once
        // its request is written; warm traffic's full batch is built and written in the loop. Either
        // way the answer is awaited on the delivery thread: billed time ends before it comes.
        let finished = api.invocation_finished_at(&id).expect("the invocation ended");
        assert!(finished < post.received_at + delay, "{id}: the answer was not awaited");
    }
    runtime.abort();
    assert_eq!(collector.events().len(), 3);
}

/// Under warm traffic the loop never waits for the collector: sends whose answers are awaited pile up
/// on the delivery thread (two at most), and what fills the queue meanwhile goes when the last of them
/// is answered, with no further invocation to send it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_due_while_an_answer_is_awaited_goes_without_another_invocation() {
    let (api, collector, _env, runtime) = start(2000, each_event).await;
    let delay = Duration::from_millis(200);
    collector.set_default_behaviour(Some(Behaviour::Delay(delay)));
    let mut ended = Vec::new();
    for n in 0..5 {
        let id = format!("piled-{n}");
        invoke(&api, http_event("/piled"), &id).await;
        assert!(api.wait_until_idle(WAIT).await);
        ended.push(api.invocation_finished_at(&id).expect("the invocation ended"));
    }
    assert_eq!(collector.wait_for_event_count(5, WAIT).await, 5, "every event arrived");
    runtime.abort();
    let answered_last = collector
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.received_at + delay)
        .max()
        .expect("POSTs");
    let warm_span = ended[4] - ended[1];
    assert!(
        warm_span < delay,
        "the four warm invocations ended within {warm_span:?}, none waiting for a {delay:?} answer"
    );
    assert!(
        ended[4] < answered_last,
        "the last events went after the last invocation ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_traffic_is_sent_in_batches_and_most_invocations_send_nothing() {
    // Never sparse (a loaded test machine may pause between invocations): batching alone decides.
    let (api, collector, _env, runtime, client) =
        start_with_client(2000, |options: Options| options.idle_threshold(Duration::from_secs(60))).await;
    for n in 0..200 {
        invoke(&api, http_event(&format!("/items/{n}")), &format!("warm-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    // The default batch is 50: the sandbox's first invocation sends at once (the next may be far
    // away), then one POST per 50 events; the last events wait for the next batch, or shutdown.
    let during = collector.post_count();
    assert!(during <= 5, "{during} POSTs for 200 warm invocations");
    let report = client.flush(WAIT).await;
    runtime.abort();
    assert!(report.sent > 0 && report.requeued == 0, "{report:?}");
    let mut ids = collector.event_request_ids();
    ids.sort();
    let mut expected: Vec<String> = (0..200).map(|n| format!("warm-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected, "each invocation's event arrived exactly once");
    assert!(collector.post_count() <= 10, "at most one POST per 20 events");
    assert!(collector
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .all(|r| r.path == "/v1/events/batch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_traffic_is_sent_right_after_each_response() {
    let (api, collector, _env, runtime) = start(2000, keep).await;
    for n in 0..3 {
        // Idle longer than the 500 ms threshold before each invocation: the next may be far away.
        tokio::time::sleep(Duration::from_millis(600)).await;
        invoke(&api, http_event("/sparse"), &format!("sparse-{n}")).await;
        assert!(api.wait_until_idle(WAIT).await);
        // The loop went on once the request was written; the collector answers right after.
        collector.wait_for_event_count(n + 1, WAIT).await;
        assert_eq!(
            collector.event_request_ids().len(),
            n + 1,
            "sparse-{n} is on the collector before the next invocation"
        );
    }
    runtime.abort();
}

/// The sandbox's first invocation sends right after its response, over one connection: the server
/// config (its sampling applies to that first batch already) and the governance rules, then the
/// events. The rules come before the events, not after them: once the events are written the loop
/// goes on, and the sandbox may freeze before a later fetch gets its answer. A later send reuses the
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_send_is_the_config_then_the_events_on_one_connection() {
    let (api, collector, _env, runtime) = start(2000, keep).await;
    invoke(&api, http_event("/first"), "first-1").await;
    // The shutdown extension asked for its next event (on Lambda, init is not over until it has).
    let started = std::time::Instant::now();
    while api.extensions_waiting().is_empty() && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(api.extensions_waiting(), ["moesif-lambda-flush"]);
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(1, WAIT).await;
    let requests: Vec<(String, String)> = collector.requests().into_iter().map(|r| (r.method, r.path)).collect();
    let expected = [
        ("GET", "/v1/config"),
        ("GET", "/v1/rules"),
        ("POST", "/v1/events/batch"),
    ]
    .map(|(m, p)| (m.to_owned(), p.to_owned()));
    assert_eq!(requests, expected, "before the next invocation");
    assert_eq!(collector.event_request_ids(), ["first-1"]);
    assert_eq!(
        collector.connections(),
        1,
        "the config and the events share one connection"
    );
    // Sparse traffic: sent after the response again, on the same (kept-alive) connection.
    tokio::time::sleep(Duration::from_millis(600)).await;
    invoke(&api, http_event("/first"), "first-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(2, WAIT).await;
    runtime.abort();
    assert_eq!(collector.event_request_ids(), ["first-1", "first-2"]);
    assert_eq!(collector.requests().len(), 4, "no second config or rules fetch");
    assert_eq!(collector.connections(), 1);
}

/// When Lambda refuses the shutdown extension (it warns once that nothing is sent at shutdown), the
/// function serves all the same and its events are still sent after each response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_extension_still_sends_after_each_response() {
    let api = RuntimeApi::start().await;
    api.refuse_registrations();
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let _ = refused::URL.set(url);
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let runtime = tokio::spawn(moesif_lambda::run(service_fn(refused::handler)));
    for n in 1..=2 {
        let id = format!("refused-{n}");
        let invocation = invoke(&api, http_event("/refused"), &id).await;
        assert_eq!(
            invocation.response_json(),
            Some(json!({"statusCode": 200, "body": "{\"ok\":true}"}))
        );
        assert!(api.wait_until_idle(WAIT).await);
        assert_eq!(collector.wait_for_events_of(&id, WAIT).await.len(), 1, "{id}");
    }
    runtime.abort();
    assert!(api.registered_extensions().is_empty());
    assert!(api.extensions_waiting().is_empty());
}

/// A function that builds its own `Runtime` (its own layers) adds `MoesifRuntimeLayer` and gets what
/// `run` does: each event sent after its response was posted, before the next event is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_runtime_with_the_public_layer_sends_after_each_response() {
    use lambda_runtime::{layers::TracingLayer, Runtime};
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let _ = own_runtime::URL.set(url);
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let runtime = tokio::spawn(async {
        let moesif = moesif_lambda::MoesifRuntimeLayer::start().await;
        Runtime::new(service_fn(own_runtime::handler))
            .layer(TracingLayer::new())
            .layer(moesif)
            .run()
            .await
    });
    for n in 0..3 {
        let invocation = invoke(&api, http_event("/own"), &format!("own-{n}")).await;
        assert!(api.wait_until_idle(WAIT).await);
        assert_eq!(
            collector.wait_for_event_count(n + 1, WAIT).await,
            n + 1,
            "own-{n} is on the collector"
        );
        let post = collector
            .requests()
            .into_iter()
            .rfind(|r| r.method == "POST")
            .expect("a POST");
        assert!(invocation.answered_at <= post.received_at, "after the response");
    }
    runtime.abort();
    assert_eq!(
        api.registered_extensions(),
        vec![("moesif-lambda-flush".to_owned(), Vec::<String>::new())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_waits_at_most_the_max_batch_delay() {
    let (api, collector, _env, runtime) = start(2000, |options: Options| {
        options
            .max_batch_delay(Duration::from_millis(150))
            .idle_threshold(Duration::from_secs(60))
    })
    .await;
    invoke(&api, http_event("/d"), "delay-0").await; // the first: sent at once
    assert!(api.wait_until_idle(WAIT).await);
    invoke(&api, http_event("/d"), "delay-1").await; // warm, one event: waits
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(1, WAIT).await;
    assert_eq!(collector.event_request_ids(), ["delay-0"]);
    tokio::time::sleep(Duration::from_millis(200)).await; // past the 150 ms max delay
    invoke(&api, http_event("/d"), "delay-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(3, WAIT).await;
    runtime.abort();
    assert_eq!(collector.event_request_ids(), ["delay-0", "delay-1", "delay-2"]);
    assert_eq!(collector.post_count(), 2, "the waiting event went with the next batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_pause_sends_and_nothing_is_lost() {
    let (api, collector, _env, runtime, client) = start_with_client(2000, each_event_quick_breaker).await;
    collector.push_behaviours([
        Behaviour::Status(500),
        Behaviour::Status(503),
        Behaviour::Close,
        Behaviour::Close,
    ]);
    for n in 0..4 {
        let invocation = invoke(&api, http_event("/retry"), &format!("retry-{n}")).await;
        assert_eq!(
            invocation
                .response_json()
                .map(|r| (r["statusCode"].clone(), r["body"].clone())),
            Some((json!(200), json!("{\"ok\":true}")))
        );
        assert!(api.wait_until_idle(WAIT).await);
        // The attempt of this invocation (two for the dropped connection, retried at once) is over.
        collector.wait_for_posts([1, 2, 4, 5][n], WAIT).await;
        tokio::time::sleep(Duration::from_millis(60)).await; // past the breaker's backoff
    }
    let report = client.flush(WAIT).await;
    runtime.abort();
    assert_eq!(report.requeued, 0, "{report:?}");
    let mut ids = collector.event_request_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["retry-0", "retry-1", "retry-2", "retry-3"],
        "each event arrived once"
    );
    // One attempt per flush: 500, 503, then a dropped connection retried at once (also dropped),
    // then the queue drained in one batch.
    assert_eq!(collector.post_count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_delays_neither_the_response_nor_the_next_invocation() {
    let budget = Duration::from_millis(300);
    let (api, collector, _env, runtime, client) = start_with_client(300, |options: Options| {
        each_event(options).collector_backoff(Duration::from_millis(300), Duration::from_millis(300))
    })
    .await;
    collector.set_default_behaviour(Some(Behaviour::Hang));
    for n in 0..3 {
        let invocation = invoke(&api, http_event("/hang"), &format!("hang-{n}")).await;
        assert_eq!(
            invocation
                .response_json()
                .map(|r| (r["statusCode"].clone(), r["body"].clone())),
            Some((json!(200), json!("{\"ok\":true}")))
        );
    }
    assert!(api.wait_until_idle(WAIT).await);
    // The sandbox's first invocation sent its event at once, and went on once it was written: the
    // answer that never comes was not waited for (the flush budget would have been).
    collector.wait_for_posts(1, WAIT).await;
    let requests = collector.requests();
    let first_post = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("the first invocation's event was posted");
    assert!(first_post.body.windows(6).any(|w| w == b"hang-0"));
    for n in 0..3 {
        let finished = api.invocation_finished_at(&format!("hang-{n}")).expect("it ended");
        assert!(
            finished < first_post.received_at + budget,
            "hang-{n} did not wait for the answer"
        );
    }
    // The collector recovers. The hanging send gives up at its budget and puts its event back (the
    // delivery thread, shared by every test here, may start it late): nothing is lost, what is queued
    // goes with the next flush.
    collector.set_default_behaviour(None);
    invoke(&api, http_event("/hang"), "hang-3").await;
    assert!(api.wait_until_idle(WAIT).await);
    for _ in 0..50 {
        if collector.event_count() >= 4 {
            break;
        }
        client.flush(Duration::from_millis(500)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    runtime.abort();
    let mut ids = collector.event_request_ids();
    ids.sort();
    assert_eq!(ids, ["hang-0", "hang-1", "hang-2", "hang-3"], "nothing lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_costs_one_attempt_per_backoff_and_drains_in_one_batch() {
    let (api, collector, _env, runtime) = start(2000, |options: Options| {
        each_event(options).collector_backoff(Duration::from_millis(200), Duration::from_millis(200))
    })
    .await;
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    for n in 0..10 {
        invoke(&api, http_event("/down"), &format!("down-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    // The loop goes on once the first POST is written: it may arrive after the tenth invocation.
    collector.wait_for_posts(1, WAIT).await;
    assert_eq!(
        collector.post_count(),
        1,
        "ten invocations, one attempt: the breaker held the others back"
    );
    collector.set_default_behaviour(None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    invoke(&api, http_event("/up"), "down-10").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!(collector.wait_for_event_count(11, WAIT).await, 11, "nothing lost");
    runtime.abort();
    assert_eq!(collector.post_count(), 2, "the queue drained in one batch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let (api, collector, _env, runtime) = start(2000, each_event_quick_breaker).await;
    collector.push_behaviours([Behaviour::RetryAfter(429, 1)]);
    invoke(&api, http_event("/limited"), "limited-0").await;
    assert!(api.wait_until_idle(WAIT).await);
    tokio::time::sleep(Duration::from_millis(100)).await; // past the 20–40 ms backoff, not the Retry-After
    invoke(&api, http_event("/limited"), "limited-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!(collector.post_count(), 1, "no send before the collector's Retry-After");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    invoke(&api, http_event("/limited"), "limited-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(3, WAIT).await;
    runtime.abort();
    assert_eq!(collector.event_request_ids().len(), 3);
    assert_eq!(collector.post_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_collector_refuses_does_not_take_the_batch_down() {
    let (api, collector, _env, runtime) = start(2000, |options: Options| options.batch_size(5, usize::MAX)).await;
    collector.set_default_behaviour(Some(Behaviour::RefuseContaining("/poison")));
    invoke(&api, http_event("/first"), "iso-first").await; // the first invocation sends alone
    for n in 0..5 {
        let path = if n == 2 {
            "/poison".to_owned()
        } else {
            format!("/ok/{n}")
        };
        invoke(&api, http_event(&path), &format!("iso-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(5, WAIT).await;
    runtime.abort();
    let mut ids = collector.event_request_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["iso-0", "iso-1", "iso-3", "iso-4", "iso-first"],
        "only the refused event is dropped"
    );
    assert!(
        collector.post_count() <= 1 + 1 + 2 * 3,
        "halving finds it in a few POSTs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_sample_rate_sends_nothing() {
    let (api, collector, _env, runtime, client) = start_with_client(2000, each_event).await;
    collector.set_config(json!({"sample_rate": 0}), "zero");
    for n in 0..10 {
        invoke(&api, http_event("/sampled"), &format!("zero-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    client.flush(WAIT).await; // after the sends still under way
    runtime.abort();
    assert!(
        collector.requests().iter().any(|r| r.path == "/v1/config"),
        "the config was fetched"
    );
    assert!(collector.events().is_empty(), "sample_rate 0 sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_percent_sample_rate_sends_weight_two() {
    let (api, collector, _env, runtime, client) = start_with_client(2000, each_event).await;
    collector.set_config(json!({"sample_rate": 50}), "half");
    for n in 0..40 {
        invoke(&api, http_event("/sampled"), &format!("half-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    client.flush(WAIT).await; // after the sends still under way
    runtime.abort();
    let events = collector.events();
    assert!(
        !events.is_empty() && events.len() < 40,
        "about half sent: {}",
        events.len()
    );
    assert!(
        events.iter().all(|e| e["weight"] == 2),
        "sent events stand for two calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_rule_samples_its_calls_and_what_the_config_gets_wrong_is_ignored() {
    let (api, collector, _env, runtime, client) = start_with_client(2000, each_event).await;
    collector.set_config(
        json!({
            "sample_rate": "not a number",
            "user_sample_rate": {"someone": "fast"},
            "regex_config": [
                {"conditions": [{"path": "request.route", "value": "^/health"}], "sample_rate": 0},
                {"conditions": [{"path": "request.verb", "value": "GET"}]},
                "not a rule"
            ],
            "a_setting_from_the_future": {"on": true}
        }),
        "rules",
    );
    for n in 0..3 {
        invoke(&api, http_event("/health"), &format!("rule-health-{n}")).await;
        invoke(&api, http_event("/orders"), &format!("rule-orders-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    client.flush(WAIT).await; // after the sends still under way
    runtime.abort();
    let mut ids = collector.event_request_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["rule-orders-0", "rule-orders-1", "rule-orders-2"],
        "the rule samples /health at 0 %"
    );
    assert!(
        collector.events().iter().all(|e| e["weight"] == 1),
        "the rest at 100 %: the malformed default rate is ignored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_config_etag_triggers_a_refetch() {
    let (api, collector, _env, runtime) = start(2000, each_event).await;
    collector.set_config(json!({"sample_rate": 100}), "etag-a");
    let config_fetches = |collector: &Collector| collector.requests().iter().filter(|r| r.path == "/v1/config").count();
    invoke(&api, http_event("/e"), "etag-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    invoke(&api, http_event("/e"), "etag-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(2, WAIT).await;
    assert_eq!(config_fetches(&collector), 1, "same ETag: no refetch");
    collector.set_config(json!({"sample_rate": 100}), "etag-b");
    // Its POST answers with the new ETag; the send that saw it fetches the config again.
    invoke(&api, http_event("/e"), "etag-3").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(3, WAIT).await;
    invoke(&api, http_event("/e"), "etag-4").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(4, WAIT).await;
    runtime.abort();
    assert_eq!(config_fetches(&collector), 2, "a changed ETag triggers one refetch");
    assert_eq!(collector.events().len(), 4);
}

/// Governance rules are fetched with the first send, and again (once) after a collector answer carries
/// another `X-Moesif-Rules-Tag`; the new rules then apply to the next request (the old ones until then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rules_tag_triggers_a_refetch_and_the_new_rules_apply() {
    let (api, collector, _env, runtime) = start(2000, each_event).await;
    let block = |route: &str| {
        json!([{"_id": format!("block-{route}"), "type": "regex", "block": true,
                "regex_config": [{"conditions": [{"path": "request.route", "value": format!("^/{route}$")}]}],
                "response": {"status": 403, "body": {"blocked": route}}}])
    };
    collector.set_rules(block("a"), "tag-a");
    let rules_fetches = |collector: &Collector| collector.requests().iter().filter(|r| r.path == "/v1/rules").count();
    let status = |invocation: &moesif_lambda_testkit::Invocation| {
        invocation.response_json().map(|answer| answer["statusCode"].clone())
    };
    // Before the first send nothing is known: not blocked (as in Moesif's SDKs).
    let first = invoke(&api, http_event("/a"), "tag-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!(status(&first), Some(json!(200)));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let blocked = invoke(&api, http_event("/a"), "tag-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!(
        status(&blocked),
        Some(json!(403)),
        "the rules fetched with the first send apply"
    );
    assert_eq!(rules_fetches(&collector), 1, "same tag: no refetch");
    collector.set_rules(block("b"), "tag-b");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Its POST answers with the new tag, and the same send (after the response) fetches the new rules.
    invoke(&api, http_event("/x"), "tag-3").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!(
        collector.wait_for_requests_to("/v1/rules", 2, WAIT).await,
        2,
        "refetched by the send that saw the new tag (once its answer came, on the delivery thread)"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (a, b) = (
        invoke(&api, http_event("/a"), "tag-4").await,
        invoke(&api, http_event("/b"), "tag-5").await,
    );
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    assert_eq!(rules_fetches(&collector), 2, "a changed tag triggers one refetch");
    assert_eq!((status(&a), status(&b)), (Some(json!(200)), Some(json!(403))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_not_retried() {
    let (api, collector, _env, runtime) = start(2000, each_event).await;
    collector.set_default_behaviour(Some(Behaviour::Status(400)));
    invoke(&api, http_event("/bad"), "rejected-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    // The loop went on once the POST was written: its answer (400) is chosen when it arrives.
    assert_eq!(collector.wait_for_requests_to("/v1/events/batch", 1, WAIT).await, 1);
    collector.set_default_behaviour(None);
    invoke(&api, http_event("/good"), "rejected-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(1, WAIT).await;
    runtime.abort();
    assert_eq!(
        collector.post_count(),
        2,
        "the 400 was not retried, nor sent again with the next flush"
    );
    assert_eq!(collector.event_request_ids(), ["rejected-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_the_newest_events() {
    let (api, collector, _env, runtime) = start(100, |options: Options| {
        each_event_quick_breaker(options).queue_capacity(2, 1024 * 1024)
    })
    .await;
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    for n in 0..4 {
        invoke(&api, http_event("/q"), &format!("queued-{n}")).await;
        assert!(api.wait_until_idle(WAIT).await);
    }
    collector.set_default_behaviour(None);
    tokio::time::sleep(Duration::from_millis(60)).await; // past the breaker's backoff
    invoke(&api, http_event("/q"), "queued-4").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.wait_for_event_count(2, WAIT).await;
    runtime.abort();
    // Capacity 2: the two oldest waited for the collector to recover, the newer ones were dropped.
    assert_eq!(collector.event_request_ids(), ["queued-0", "queued-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_six_megabyte_request_and_answer_are_logged_with_the_body_marker() {
    let (api, collector, _env, runtime) = start_annotated!(large);
    let mut event = http_event("/upload");
    event["body"] = json!("x".repeat(SIX_MB));
    let invocation = invoke(&api, event, "large-1").await;
    assert_eq!(
        invocation
            .response_json()
            .and_then(|r| r["body"].as_str().map(str::len)),
        Some(SIX_MB),
        "the caller's answer is untouched"
    );
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    let events = collector.wait_for_events(1, WAIT).await;
    assert_eq!(events.len(), 1, "the event is not dropped as too large for the queue");
    let event = &events[0];
    for half in ["request", "response"] {
        assert_eq!(event[half]["body"]["original_size"], SIX_MB, "{half}");
        assert!(event[half]["body"]["moesif_body_omitted"].is_string(), "{half}");
        assert_eq!(event[half]["transfer_encoding"], "json", "{half}");
    }
    assert!(collector.requests().iter().all(|r| r.body.len() < 64 * 1024));
}

mod narrow {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    /// All the handler reads of its event: the method.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub struct MethodOnly {
        #[serde(rename = "httpMethod")]
        pub http_method: String,
    }
    fn options() -> Options {
        each_event(
            Options::new()
                .application_id("after-response-app")
                .base_uri(URL.get().copied().unwrap_or("http://127.0.0.1:9")),
        )
    }
    #[moesif_logger(options = options)]
    pub async fn handler(event: LambdaEvent<MethodOnly>) -> Result<Value, Error> {
        Ok(json!({"statusCode": 200, "body": event.payload.http_method}))
    }
}

/// Under `run` the event is captured as Lambda sent it (the raw invocation body the runtime layer
/// holds), not as the handler's type re-serialises it: fields the type leaves out are still logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_is_logged_as_lambda_sent_it_not_as_the_handler_type_keeps_it() {
    let (api, collector, _env, runtime) = start_annotated!(narrow);
    let event = json!({"httpMethod": "PUT", "path": "/narrow", "headers": {"Host": "api.example", "X-Trace": "t-1"},
        "queryStringParameters": {"q": "1"}, "requestContext": {"requestTimeEpoch": 1583349317135_i64}});
    invoke(&api, event, "narrow-1").await;
    let events = collector.wait_for_events(1, WAIT).await;
    runtime.abort();
    let request = &events[0]["request"];
    assert_eq!(request["uri"], "http://api.example/narrow?q=1");
    assert_eq!(request["verb"], "PUT");
    assert_eq!(request["headers"]["X-Trace"], "t-1");
    assert_eq!(request["time"], "2020-03-04T19:15:17.135");
}

/// With `governance(false)` the rules are never fetched, and nothing is blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_off_never_fetches_the_rules() {
    let (api, collector, _env, runtime) = start(2000, |options: Options| each_event(options).governance(false)).await;
    collector.set_rules(
        json!([{"_id": "all", "type": "regex", "block": true, "response": {"status": 403}}]),
        "tag-all",
    );
    for n in 0..2 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let invocation = invoke(&api, http_event("/open"), &format!("open-{n}")).await;
        assert!(api.wait_until_idle(WAIT).await);
        assert_eq!(
            invocation.response_json().map(|a| a["statusCode"].clone()),
            Some(json!(200))
        );
    }
    collector.wait_for_event_count(2, WAIT).await;
    runtime.abort();
    assert_eq!(collector.event_request_ids().len(), 2);
    assert!(collector.requests().iter().all(|r| r.path != "/v1/rules"));
}
