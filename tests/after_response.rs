//! After-response delivery (`moesif_lambda::run`) through the real `lambda_runtime` loop and the internal
//! extension, against the loopback Runtime/Extensions API emulator and a stand-in collector.
//!
//! Every test has its own handler (so its own options, collector connection and server config) and holds
//! the Lambda environment lock while its loop runs.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::conformance::{compare, load_cases, Case};
use moesif_lambda_testkit::{Behaviour, Collector, Invocation, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

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

handler_module!(conformance, 2000);
handler_module!(slow_collector, 2000);
handler_module!(batches, 2000);
handler_module!(retries, 2000);
handler_module!(hanging, 300);
handler_module!(sampled_out, 2000);
handler_module!(sampled_half, 2000);
handler_module!(etag, 2000);
handler_module!(rejected, 2000);

handler_module!(bounded, 100, |options: Options| options.queue_capacity(2, 1024 * 1024));

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

fn http_event(path: &str) -> Value {
    json!({"httpMethod": "GET", "path": path, "headers": {"Host": "api.example"}, "requestContext": {"requestTimeEpoch": 1583349317135_i64}})
}

/// Starts the emulator, a collector and `moesif_lambda::run(handler)`; returns them with the env lock.
macro_rules! start {
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
    let (api, collector, _env, runtime) = start!(conformance);
    let mut failures = Vec::new();
    for case in cases() {
        let invocation = invoke(&api, case.event.clone(), &format!("req-{}", case.name)).await;
        if invocation.response_json().as_ref() != Some(&case.response) {
            failures.push(format!("{}: the caller got {:?}", case.name, invocation.outcome));
        }
        assert!(api.wait_until_idle(WAIT).await, "the extension finished its flush");
        let sent: Vec<Value> = collector
            .events()
            .into_iter()
            .filter(|e| e.pointer("/metadata/trace_id").and_then(Value::as_str) == Some(&format!("req-{}", case.name)))
            .collect();
        match (sent.as_slice(), case.expected.is_null()) {
            (_, true) => {}
            ([event], false) => {
                failures.extend(compare(case, event).into_iter().map(|d| format!("{}: {d}", case.name)))
            }
            (other, false) => failures.push(format!("{}: {} events received", case.name, other.len())),
        }
    }
    runtime.abort();
    assert_eq!(
        api.registered_extensions(),
        vec![("moesif-lambda-flush".to_owned(), vec!["INVOKE".to_owned()])]
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
    let (api, collector, _env, runtime) = start!(slow_collector);
    collector.set_default_behaviour(Some(Behaviour::Delay(Duration::from_millis(300))));
    for n in 0..3 {
        let invocation = invoke(&api, http_event("/slow"), &format!("slow-{n}")).await;
        assert!(api.wait_until_idle(WAIT).await);
        let post = collector
            .requests()
            .into_iter()
            .find(|r| r.method == "POST" && r.body.windows(6).any(|w| w == format!("slow-{n}").as_bytes()))
            .expect("the event was posted");
        assert!(
            invocation.answered_at <= post.received_at,
            "the caller had its response before the collector even received the event"
        );
    }
    runtime.abort();
    assert_eq!(collector.events().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_many_invocations_arrives_in_batches() {
    let (api, collector, _env, runtime) = start!(batches);
    for n in 0..20 {
        invoke(&api, http_event(&format!("/items/{n}")), &format!("batch-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    let mut ids = collector.event_request_ids();
    ids.sort();
    let mut expected: Vec<String> = (0..20).map(|n| format!("batch-{n}")).collect();
    expected.sort();
    assert_eq!(ids, expected, "each invocation's event arrived exactly once");
    assert!(collector
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .all(|r| r.path == "/v1/events/batch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_nothing_is_lost() {
    let (api, collector, _env, runtime) = start!(retries);
    collector.push_behaviours([Behaviour::Status(500), Behaviour::Status(503), Behaviour::Close]);
    let invocation = invoke(&api, http_event("/retry"), "retry-1").await;
    assert_eq!(
        invocation.response_json(),
        Some(json!({"statusCode": 200, "body": "{\"ok\":true}"}))
    );
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    let posts: Vec<_> = collector
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 4, "500, 503, dropped connection, then accepted");
    assert_eq!(collector.events().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_delays_neither_the_response_nor_the_next_invocation() {
    let (api, collector, _env, runtime) = start!(hanging);
    collector.set_default_behaviour(Some(Behaviour::Hang));
    let started = std::time::Instant::now();
    for n in 0..3 {
        let invocation = invoke(&api, http_event("/hang"), &format!("hang-{n}")).await;
        assert_eq!(
            invocation.response_json(),
            Some(json!({"statusCode": 200, "body": "{\"ok\":true}"}))
        );
    }
    assert!(api.wait_until_idle(WAIT).await, "each flush gives up at its budget");
    // Three flushes of a 300 ms budget; a generous bound, not a speed measurement.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the loop was held {:?}",
        started.elapsed()
    );
    // The collector recovers: what was queued is sent on the next flush, nothing lost.
    collector.set_default_behaviour(None);
    invoke(&api, http_event("/hang"), "hang-3").await;
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    let ids = collector.event_request_ids();
    assert_eq!(
        ids.len(),
        4,
        "all four events arrived once the collector answered: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_sample_rate_sends_nothing() {
    let (api, collector, _env, runtime) = start!(sampled_out);
    collector.set_config(json!({"sample_rate": 0}), "zero");
    for n in 0..10 {
        invoke(&api, http_event("/sampled"), &format!("zero-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    assert!(
        collector.requests().iter().any(|r| r.path == "/v1/config"),
        "the config was fetched"
    );
    assert!(collector.events().is_empty(), "sample_rate 0 sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifty_percent_sample_rate_sends_weight_two() {
    let (api, collector, _env, runtime) = start!(sampled_half);
    collector.set_config(json!({"sample_rate": 50}), "half");
    for n in 0..40 {
        invoke(&api, http_event("/sampled"), &format!("half-{n}")).await;
    }
    assert!(api.wait_until_idle(WAIT).await);
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
async fn a_new_config_etag_triggers_a_refetch() {
    let (api, collector, _env, runtime) = start!(etag);
    collector.set_config(json!({"sample_rate": 100}), "etag-a");
    let config_fetches = |collector: &Collector| collector.requests().iter().filter(|r| r.path == "/v1/config").count();
    invoke(&api, http_event("/e"), "etag-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    invoke(&api, http_event("/e"), "etag-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!(config_fetches(&collector), 1, "same ETag: no refetch");
    collector.set_config(json!({"sample_rate": 100}), "etag-b");
    invoke(&api, http_event("/e"), "etag-3").await; // its POST answers with the new ETag
    assert!(api.wait_until_idle(WAIT).await);
    invoke(&api, http_event("/e"), "etag-4").await; // this flush refetches
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    assert_eq!(config_fetches(&collector), 2, "a changed ETag triggers one refetch");
    assert_eq!(collector.events().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_not_retried() {
    let (api, collector, _env, runtime) = start!(rejected);
    collector.set_default_behaviour(Some(Behaviour::Status(400)));
    invoke(&api, http_event("/bad"), "rejected-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    collector.set_default_behaviour(None);
    invoke(&api, http_event("/good"), "rejected-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    let posts = collector.requests().into_iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 2, "the 400 was not retried, nor sent again with the next flush");
    assert_eq!(collector.event_request_ids(), ["rejected-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_the_newest_events() {
    let (api, collector, _env, runtime) = start!(bounded);
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    for n in 0..4 {
        invoke(&api, http_event("/q"), &format!("queued-{n}")).await;
        assert!(api.wait_until_idle(WAIT).await);
    }
    collector.set_default_behaviour(None);
    invoke(&api, http_event("/q"), "queued-4").await;
    assert!(api.wait_until_idle(WAIT).await);
    runtime.abort();
    // Capacity 2: the two oldest waited for the collector to recover, the newer ones were dropped.
    assert_eq!(collector.event_request_ids(), ["queued-0", "queued-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_six_megabyte_request_and_answer_are_logged_with_the_body_marker() {
    let (api, collector, _env, runtime) = start!(large);
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
    let events = collector.events();
    assert_eq!(events.len(), 1, "the event is not dropped as too large for the queue");
    let event = &events[0];
    for half in ["request", "response"] {
        assert_eq!(event[half]["body"]["original_size"], SIX_MB, "{half}");
        assert!(event[half]["body"]["moesif_body_omitted"].is_string(), "{half}");
        assert_eq!(event[half]["transfer_encoding"], "json", "{half}");
    }
    assert!(collector.requests().iter().all(|r| r.body.len() < 64 * 1024));
}
