//! Governance under Lambda Managed Instances (`moesif_lambda::run_concurrent`): the rules come with the
//! background sender's first send and are refreshed by it when an answer carries a new rules tag; no
//! invocation waits for either, and requests are blocked or tagged once the rules are known.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::{answer_header, Collector, FunctionRuntime, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const MAX_CONCURRENCY: usize = 4;

/// Handler bodies that ran.
static HANDLED: AtomicUsize = AtomicUsize::new(0);

fn options() -> Options {
    Options::new().application_id("managed-governance-app")
}

#[moesif_logger(options = options)]
async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    Ok(json!({"statusCode": 200, "headers": {"x-own": "1"}, "body": "ok"}))
}

fn event(path: &str) -> Value {
    json!({"httpMethod": "GET", "path": path, "headers": {"Host": "fn"}, "requestContext": {}})
}

fn blocking_rules() -> Value {
    json!([{"_id": "no-admin", "type": "regex", "block": true,
            "regex_config": [{"conditions": [{"path": "request.route", "value": "^/admin"}]}],
            "response": {"status": 403, "body": {"error": "forbidden"}}}])
}

fn tagging_rules() -> Value {
    json!([{"_id": "plan", "type": "regex", "response": {"headers": {"X-Plan": "free"}}}])
}

/// How many times the collector was asked for the rules, once that is at least `n` (10 s at most).
async fn rules_fetches(collector: &Collector, n: usize) -> usize {
    let started = Instant::now();
    loop {
        let fetches = collector
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1/rules"))
            .count();
        if fetches >= n || started.elapsed() > Duration::from_secs(10) {
            return fetches;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_sender_fetches_and_refreshes_the_rules() {
    let collector = Collector::start().await;
    collector.set_rules(blocking_rules(), "rules-1");
    let api = RuntimeApi::start_concurrent(MAX_CONCURRENCY).await;
    let _env = LambdaEnv::acquire(&api, &[("MOESIF_BASE_URI", Some(&collector.base_url()))]).await;
    let _function = FunctionRuntime::start(MAX_CONCURRENCY, moesif_lambda::run_concurrent(service_fn(handler)));

    // Before the first send nothing is known, so nothing is blocked (as in Moesif's SDKs).
    let first = api.invoke(event("/admin/first")).await.expect("an answer");
    assert_eq!(first.response_json().map(|a| a["statusCode"].clone()), Some(json!(200)));
    assert_eq!(
        rules_fetches(&collector, 1).await,
        1,
        "fetched with the background sender's first send"
    );
    let handled = HANDLED.load(Ordering::SeqCst);
    let blocked = api.invoke(event("/admin/users")).await.expect("an answer");
    let blocked = blocked.response_json().unwrap_or_default();
    assert_eq!(blocked["statusCode"], 403, "{blocked}");
    assert_eq!(answer_header(&blocked, "x-moesif-blocked-by"), Some("no-admin"));
    assert_eq!(blocked["body"], r#"{"error":"forbidden"}"#);
    assert_eq!(HANDLED.load(Ordering::SeqCst), handled, "the handler never ran for it");

    // New rules: the next answer to an events POST names a new tag, and the sender fetches them.
    collector.set_rules(tagging_rules(), "rules-2");
    let _ = api.invoke(event("/items")).await.expect("an answer");
    assert_eq!(rules_fetches(&collector, 2).await, 2, "refetched on the new rules tag");
    let tagged = api.invoke(event("/admin/users")).await.expect("an answer");
    let tagged = tagged.response_json().unwrap_or_default();
    assert_eq!(tagged["statusCode"], 200, "no longer blocked: {tagged}");
    assert_eq!(answer_header(&tagged, "x-plan"), Some("free"));
    assert_eq!(answer_header(&tagged, "x-own"), Some("1"));

    let events = collector.wait_for_events(4, Duration::from_secs(10)).await;
    let blocked_by: Vec<Option<&str>> = events.iter().map(|e| e["blocked_by"].as_str()).collect();
    assert_eq!(
        blocked_by.iter().filter(|b| **b == Some("no-admin")).count(),
        1,
        "{events:?}"
    );
}
