//! Never break the function, never leak — through the real `lambda_runtime` loop (synchronous delivery)
//! against the loopback emulator and collector: panicking hooks and options, failing and panicking
//! handlers, every collector fault, 1000 invocations without leaks, redaction, trusted client IP, and an
//! application id that never reaches the logs; an action tracked in a handler is sent before the
//! invocation ends.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::actions::{track_action_with, ActionModel, ActionRequest};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::{
    Behaviour, Collector, Invocation, InvokeOptions, LambdaEnv, LogBuffer, Outcome, RuntimeApi,
};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const APP_ID: &str = "secret-application-id-1234";

/// Everything our crates log in this binary, to check warnings and secrets.
fn logs() -> LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("moesif_lambda=debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
    .clone()
}

fn log_text() -> String {
    logs().text()
}

fn answer() -> Value {
    json!({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"ok\":true}"})
}

fn http_event() -> Value {
    json!({
        "httpMethod": "POST", "path": "/orders",
        "headers": {"Host": "api.example", "Authorization": "Bearer eyJ.secret", "Cookie": "session=abc",
                    "X-Forwarded-For": "6.6.6.6", "X-Internal-Token": "t0p"},
        "body": "{\"card\": {\"number\": \"4111\"}, \"password\": \"hunter2\"}",
        "requestContext": {"identity": {"sourceIp": "198.51.100.7"}, "requestTimeEpoch": 1583349317135_i64}
    })
}

/// A handler with its own options (and so its own collector connection).
macro_rules! handler_module {
    ($name:ident, $options:expr, $body:expr) => {
        mod $name {
            use super::*;
            pub static URL: OnceLock<&'static str> = OnceLock::new();
            fn options() -> Options {
                let options: Options = $options;
                options
                    .application_id(APP_ID)
                    .base_uri(URL.get().copied().unwrap_or("http://127.0.0.1:9"))
            }
            #[moesif_logger(options = options)]
            pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
                let body: fn(LambdaEvent<Value>) -> Result<Value, Error> = $body;
                body(event)
            }
        }
    };
}

handler_module!(
    panicking_hooks,
    Options::new()
        .identify_user(|_, _| panic!("identify_user broke"))
        .metadata(|_, _| panic!("metadata broke"))
        .skip(|_, _| panic!("skip broke")),
    |_| Ok(answer())
);
handler_module!(
    panicking_mask,
    Options::new().mask_event_model(|_| panic!("mask broke")),
    |_| Ok(answer())
);
handler_module!(failing_handler, Options::new(), |event| {
    if event.payload["path"] == "/panic" {
        panic!("handler panicked");
    }
    Err("payment declined".into())
});
handler_module!(
    faults,
    Options::new()
        .request_timeout(Duration::from_millis(500))
        // A breaker that lets the next invocation probe at once, so every fault is met.
        .collector_backoff(Duration::from_millis(1), Duration::from_millis(1)),
    |_| Ok(answer())
);
handler_module!(
    down,
    Options::new().connect_timeout(Duration::from_millis(200)),
    |_| Ok(answer())
);
handler_module!(defaults, Options::new(), |_| Ok(answer()));
handler_module!(
    slow_timeout,
    Options::new().request_timeout(Duration::from_secs(10)),
    |_| Ok(answer())
);
handler_module!(large_body, Options::new(), |_| Ok(
    json!({"statusCode": 200, "body": "x".repeat(600 * 1024)})
));
handler_module!(
    custom_privacy,
    Options::new()
        .redact_default_headers(false)
        .keep(&["authorization"])
        .redact(&["cookie", "x-internal-token", "password"])
        .trusted_source_ip_only(true)
        .mask_event_model(|mut event| {
            if let Some(body) = event.request.body.as_mut() {
                moesif_lambda::redact::pointer(body, "/card/number");
            }
            event
        }),
    |_| Ok(answer())
);

#[moesif_logger(options = Options::new())]
async fn without_application_id(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(answer())
}

const BAD_URI: Options = Options::new()
    .application_id(APP_ID)
    .base_uri("api.moesif.net/no-scheme");

#[moesif_logger(options = BAD_URI)]
async fn with_bad_base_uri(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(answer())
}

fn options_that_panic() -> Options {
    panic!("the options fn broke")
}

#[moesif_logger(options = options_that_panic)]
async fn broken_options(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(answer())
}

/// Runs `handler` under the real loop with a fresh emulator; `collector_url` for its options.
macro_rules! run {
    ($handler:path, $url_cell:expr, $collector_url:expr) => {{
        let _ = logs();
        let api = RuntimeApi::start().await;
        let url: &'static str = Box::leak(String::from($collector_url).into_boxed_str());
        let _ = $url_cell.set(url);
        let env = LambdaEnv::acquire(&api, &[]).await;
        let runtime = tokio::spawn(lambda_runtime::run(service_fn($handler)));
        (api, env, runtime)
    }};
}

async fn invoke(api: &RuntimeApi, event: Value) -> Invocation {
    let options = InvokeOptions {
        timeout: Duration::from_secs(20),
        ..InvokeOptions::default()
    };
    api.invoke_with(event, options).await.expect("the function answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_hooks_cost_only_their_fields() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(panicking_hooks::handler, panicking_hooks::URL, collector.base_url());
    for _ in 0..3 {
        assert_eq!(invoke(&api, http_event()).await.response_json(), Some(answer()));
    }
    runtime.abort();
    let events = collector.events();
    assert_eq!(events.len(), 3, "a panicking skip hook logs the call");
    assert!(events
        .iter()
        .all(|e| e.get("user_id").is_none() && e.get("metadata").is_none()));
    let logs = log_text();
    for hook in ["identify_user", "metadata", "skip"] {
        let warnings = logs.matches(&format!("the `{hook}` hook panicked")).count();
        assert_eq!(warnings, 1, "one warning for the {hook} hook, not one per event");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_mask_skips_the_event_and_a_panicking_options_fn_serves_on() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(panicking_mask::handler, panicking_mask::URL, collector.base_url());
    assert_eq!(invoke(&api, http_event()).await.response_json(), Some(answer()));
    runtime.abort();
    drop(_env);
    assert!(
        collector.events().is_empty(),
        "an unmasked event could leak: it is not sent"
    );

    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(broken_options)));
    assert_eq!(invoke(&api, http_event()).await.response_json(), Some(answer()));
    runtime.abort();
    assert!(log_text().contains("the `options` hook panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misconfiguration_warns_once_and_the_function_serves_on() {
    let _ = logs();
    let api = RuntimeApi::start().await;
    let env = LambdaEnv::acquire(&api, &[("MOESIF_APPLICATION_ID", None), ("MOESIF_BASE_URI", None)]).await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(without_application_id)));
    for _ in 0..3 {
        assert_eq!(invoke(&api, http_event()).await.response_json(), Some(answer()));
    }
    runtime.abort();
    drop(env);
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(with_bad_base_uri)));
    for _ in 0..3 {
        assert_eq!(invoke(&api, http_event()).await.response_json(), Some(answer()));
    }
    runtime.abort();
    let logs = log_text();
    assert_eq!(
        logs.matches("no application id").count(),
        1,
        "one warning, not one per call"
    );
    assert_eq!(logs.matches("is not an http(s) URL").count(), 1);
    assert!(!logs.contains(APP_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_invocations_are_logged_and_returned_unchanged() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(failing_handler::handler, failing_handler::URL, collector.base_url());
    let failed = invoke(&api, http_event()).await;
    match &failed.outcome {
        Outcome::Error { body, .. } => assert_eq!(body["errorMessage"], "payment declined"),
        other => panic!("the error reaches Lambda unchanged, got {other:?}"),
    }
    let mut panicking = http_event();
    panicking["path"] = json!("/panic");
    let panicked = invoke(&api, panicking).await;
    assert!(
        matches!(panicked.outcome, Outcome::Error { .. }),
        "the panic goes on to the runtime"
    );
    runtime.abort();
    let events = collector.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["response"]["status"], 500);
    assert_eq!(events[0]["metadata"]["error"]["message"], "payment declined");
    assert_eq!(events[1]["response"]["status"], 500);
    assert_eq!(events[1]["metadata"]["error"]["type"], "panic");
    assert_eq!(events[1]["metadata"]["error"]["message"], "handler panicked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_faults_never_change_the_answer_and_warn_once() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(faults::handler, faults::URL, collector.base_url());
    let faults = [
        Behaviour::Status(401),
        Behaviour::Status(413),
        Behaviour::Status(429),
        Behaviour::Status(500),
        Behaviour::Close,
        Behaviour::Delay(Duration::from_millis(50)),
        Behaviour::Hang,
    ];
    for fault in faults {
        collector.set_default_behaviour(Some(fault));
        for _ in 0..5 {
            let invocation = invoke(&api, http_event()).await;
            assert_eq!(invocation.response_json(), Some(answer()), "{fault:?}");
        }
    }
    collector.set_default_behaviour(None);
    tokio::time::sleep(Duration::from_millis(10)).await;
    invoke(&api, http_event()).await;
    runtime.abort();
    // 401 and 413 refuse their events for good (nothing to retry); an outage (429, 500, a dropped
    // connection, a hang) keeps them queued, and they went with the first send that was accepted.
    let events = collector.events().len();
    assert_eq!(
        events,
        15 + 5 + 5 + 1,
        "the 15 queued during 429/500/close, the 5 slow ones, the 5 queued during the hang, the last one"
    );
    let logs = log_text();
    assert_eq!(logs.matches("rejected the application id (401)").count(), 1);
    assert_eq!(logs.matches("the collector refused an event").count(), 1);
    assert_eq!(logs.matches("the collector is not accepting events for now").count(), 1);
    assert_eq!(logs.matches("could not reach the collector").count(), 1);
    assert!(!logs.contains(APP_ID), "the application id never reaches the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_large_invocations_against_a_dead_collector_leak_nothing() {
    let (api, _env, runtime) = run!(down::handler, down::URL, Collector::closed_port_url());
    let threads = || {
        std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("Threads:")
                    .and_then(|n| n.trim().parse::<usize>().ok())
            })
        })
    };
    let rss_kb = || {
        std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")
                    .and_then(|n| n.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
            })
        })
    };
    // Each request carries a 200 KB body: the queue's bounds (4 MiB by default) must hold however
    // long the collector stays down.
    let mut large = http_event();
    large["body"] = json!(format!("{{\"blob\": \"{}\"}}", "x".repeat(200 * 1024)));
    for _ in 0..100 {
        invoke(&api, large.clone()).await;
    }
    let (threads_before, rss_before) = (threads(), rss_kb());
    for _ in 0..1000 {
        let invocation = invoke(&api, large.clone()).await;
        assert_eq!(invocation.response_json(), Some(answer()));
    }
    let (threads_after, rss_after) = (threads(), rss_kb());
    runtime.abort();
    if let (Some(before), Some(after)) = (threads_before, threads_after) {
        assert!(
            after <= before + 2,
            "threads: {before} before, {after} after 1000 invocations"
        );
    }
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        assert!(
            after < before + 16 * 1024,
            "resident memory grew from {before} kB to {after} kB"
        );
    }
    assert!(!log_text().contains(APP_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_redacted_by_default() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(defaults::handler, defaults::URL, collector.base_url());
    invoke(&api, http_event()).await;
    runtime.abort();
    let event = collector.events().pop().expect("an event");
    let headers = &event["request"]["headers"];
    assert_eq!(headers["Authorization"], "[REDACTED]");
    assert_eq!(headers["Cookie"], "session=[REDACTED]", "each cookie keeps its name");
    assert_eq!(headers["Host"], "api.example");
    assert_eq!(
        event["request"]["ip_address"], "6.6.6.6",
        "the reference's header order by default"
    );
    let raw = String::from_utf8_lossy(&collector.requests()[0].body).into_owned();
    assert!(
        !raw.contains("eyJ.secret") && !raw.contains("session=abc"),
        "the secrets are not in the bytes sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction_and_client_ip_can_be_configured() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(custom_privacy::handler, custom_privacy::URL, collector.base_url());
    invoke(&api, http_event()).await;
    runtime.abort();
    let event = collector.events().pop().expect("an event");
    let headers = &event["request"]["headers"];
    assert_eq!(
        headers["Authorization"], "Bearer eyJ.secret",
        "kept, so Moesif can read the JWT"
    );
    assert_eq!(headers["Cookie"], "[REDACTED]");
    assert_eq!(headers["X-Internal-Token"], "[REDACTED]");
    assert_eq!(
        event["request"]["body"],
        json!({"card": {"number": "[REDACTED]"}, "password": "[REDACTED]"})
    );
    assert_eq!(
        event["request"]["ip_address"], "198.51.100.7",
        "the platform's source IP, not X-Forwarded-For"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_becomes_a_marker_and_the_caller_gets_it_whole() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(large_body::handler, large_body::URL, collector.base_url());
    let invocation = invoke(&api, http_event()).await;
    runtime.abort();
    let body = invocation
        .response_json()
        .and_then(|r| r["body"].as_str().map(str::len));
    assert_eq!(body, Some(600 * 1024), "the caller's answer is untouched");
    let event = collector.events().pop().expect("an event");
    assert_eq!(event["response"]["body"]["original_size"], 600 * 1024);
    assert_eq!(event["response"]["transfer_encoding"], "json");
    assert!(
        collector.requests()[0].body.len() < 64 * 1024,
        "the oversized body was not sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronous_delivery_never_outlives_the_invocation() {
    let collector = Collector::start().await;
    collector.set_default_behaviour(Some(Behaviour::Hang));
    let (api, _env, runtime) = run!(slow_timeout::handler, slow_timeout::URL, collector.base_url());
    let options = InvokeOptions {
        deadline: Duration::from_millis(1500),
        timeout: Duration::from_secs(20),
        ..InvokeOptions::default()
    };
    let invocation = api
        .invoke_with(http_event(), options)
        .await
        .expect("the function answers");
    runtime.abort();
    assert_eq!(invocation.response_json(), Some(answer()));
    // The send gave up at the invocation's deadline less a margin, not at the 10 s request timeout.
    // (The harness measures how close to the deadline; here only which bound applied.)
    assert!(
        invocation.latency() < Duration::from_millis(3000),
        "answered after {:?} with a 1.5 s deadline",
        invocation.latency()
    );
}

/// Tracks an action in the handler.
mod synchronous_action {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    pub fn options() -> Options {
        Options::new()
            .application_id("actions-app")
            .base_uri(URL.get().copied().unwrap_or("http://127.0.0.1:9"))
    }
    #[moesif_logger(options = options)]
    pub async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
        let action = ActionModel {
            action_name: "Signed Up".into(),
            user_id: Some("u-2".into()),
            request: ActionRequest {
                uri: "https://app.example/signup?token=tok-998877".into(),
                ..ActionRequest::default()
            },
            ..ActionModel::default()
        };
        track_action_with(&options(), &action);
        Ok(json!({"statusCode": 200, "body": "ok"}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_plain_lambda_runtime_an_action_is_sent_before_the_invocation_ends() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(
        synchronous_action::handler,
        synchronous_action::URL,
        collector.base_url()
    );
    invoke(&api, http_event()).await;
    // No waiting: the handler's answer came after its event and action were sent.
    let actions = collector.actions();
    runtime.abort();
    assert_eq!(actions.len(), 1, "{:?}", collector.requests());
    assert_eq!(
        (&actions[0]["action_name"], &actions[0]["user_id"]),
        (&json!("Signed Up"), &json!("u-2"))
    );
    assert!(
        !actions[0].to_string().contains("tok-998877"),
        "redacted: {}",
        actions[0]
    );
    assert_eq!(collector.events().len(), 1);
}
