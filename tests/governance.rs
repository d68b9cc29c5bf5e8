//! Governance rules through the real loop: the stand-in collector serves `/v1/rules` (with its
//! `X-Moesif-Rules-Tag`) and the config's cohorts; a blocked request never reaches the handler and the
//! caller gets the rule's answer; the headers of the rules that apply are added to the handler's; the
//! event of a blocked request carries `blocked_by`.

use axum::routing::{get, post};
use axum::Router;
use moesif_lambda::{MoesifLayer, Options, RequestView};
use moesif_lambda_testkit::{http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many times the handler ran (a blocked request must not count).
static HANDLED: AtomicUsize = AtomicUsize::new(0);

fn app() -> Router {
    Router::new()
        .route(
            "/orders",
            post(|| async {
                HANDLED.fetch_add(1, Ordering::SeqCst);
                ([("x-plan", "handler's"), ("x-own", "1")], "created")
            }),
        )
        .route(
            "/hello",
            get(|| async {
                HANDLED.fetch_add(1, Ordering::SeqCst);
                "hello"
            }),
        )
}

fn rules() -> Value {
    json!([
        {"_id": "quota", "type": "user", "block": true, "applied_to": "matching",
         "regex_config": [{"conditions": [{"path": "request.verb", "value": "POST"}]}],
         "response": {"status": 429, "headers": {"X-Quota": "{{limit|10}}"},
                      "body": {"error": "Quota of {{limit|10}} calls exceeded on plan {{plan}}"}}},
        {"_id": "plan-header", "type": "user", "applied_to": "not_matching", "applied_to_unidentified": true,
         "response": {"headers": {"X-Plan": "free"}}},
        {"_id": "bots", "type": "regex", "block": true,
         "regex_config": [{"conditions": [{"path": "request.headers.user-agent", "value": "(?i)badbot"}]}],
         "response": {"status": 403, "body": {"error": "no bots"}}}
    ])
}

fn config() -> Value {
    json!({"sample_rate": 100,
           "user_rules": {"u-over": [{"rules": "quota", "values": {"limit": "1000", "plan": "gold"}}]}})
}

fn event(method: &str, path: &str, user: Option<&str>) -> Value {
    let mut event = http_api_event(method, path, (method == "POST").then_some("{}"));
    if let Some(user) = user {
        event["headers"]["x-user-id"] = json!(user);
    }
    event
}

/// Starts `run_http` with the layer, invokes each `(request id, event)`, and returns the answers.
async fn invoke(api: &RuntimeApi, requests: Vec<(&str, Value)>) -> Vec<Value> {
    let mut answers = Vec::new();
    for (id, event) in requests {
        let options = InvokeOptions {
            request_id: Some(id.to_owned()),
            timeout: Duration::from_secs(20),
            ..InvokeOptions::default()
        };
        let invocation = api.invoke_with(event, options).await.expect("the function answers");
        answers.push(invocation.response_json().unwrap_or_default());
    }
    answers
}

fn header<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["headers"]
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))?
        .1
        .as_str()
}

fn options(url: String) -> Options {
    Options::new()
        .application_id("governance-app")
        .base_uri_owned(url)
        .identify_user_with(|event, _| RequestView::of(event)?.header("x-user-id").map(String::from))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_blocks_by_the_rules_and_adds_their_headers_and_the_event_says_blocked_by() {
    let collector = Collector::start().await;
    collector.set_rules(rules(), "rules-1");
    collector.set_config(config(), "etag-1");
    let url = collector.base_url();
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    spawn_function(move || {
        let options = options(url).wait_for_governance(Duration::from_secs(10));
        moesif_lambda::run_http(app().layer(MoesifLayer::new(options)))
    });
    let mut bot = event("GET", "/hello", None);
    bot["headers"]["user-agent"] = json!("Mozilla BadBot/1.0");
    let answers = invoke(
        &api,
        vec![
            ("gov-over", event("POST", "/orders", Some("u-over"))),
            ("gov-other", event("POST", "/orders", Some("u-other"))),
            ("gov-bot", bot),
            ("gov-anonymous", event("GET", "/hello", None)),
        ],
    )
    .await;
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);

    // Blocked: the rule's status, headers and templated body, and the handler never ran for it.
    let over = &answers[0];
    assert_eq!(over["statusCode"], 429, "{over}");
    assert_eq!(header(over, "x-moesif-blocked-by"), Some("quota"));
    assert_eq!(header(over, "content-type"), Some("application/json"));
    assert_eq!(header(over, "x-quota"), Some("1000"));
    assert_eq!(
        header(over, "x-plan"),
        Some("free"),
        "u-over is not in plan-header's cohort: merged in"
    );
    assert_eq!(over["body"], r#"{"error":"Quota of 1000 calls exceeded on plan gold"}"#);
    // Not blocked: the handler's answer, the rule's header replacing the handler's of the same name.
    let other = &answers[1];
    assert_eq!(other["statusCode"], 200, "{other}");
    assert_eq!(other["body"], "created");
    assert_eq!(header(other, "x-plan"), Some("free"));
    assert_eq!(header(other, "x-own"), Some("1"));
    assert_eq!(header(other, "x-moesif-blocked-by"), None);
    let bot = &answers[2];
    assert_eq!(
        (bot["statusCode"].clone(), bot["body"].clone()),
        (json!(403), json!(r#"{"error":"no bots"}"#))
    );
    assert_eq!(header(bot, "x-moesif-blocked-by"), Some("bots"));
    assert_eq!(
        header(&answers[3], "x-plan"),
        Some("free"),
        "unidentified: applied_to_unidentified"
    );
    assert_eq!(answers[3]["body"], "hello");
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        2,
        "the two blocked requests never reached the handler"
    );

    moesif_lambda::flush(Duration::from_secs(10)).await;
    let events = collector.wait_for_events(4, Duration::from_secs(10)).await;
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e.pointer("/metadata/trace_id").and_then(Value::as_str) == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("an event for {id}: {events:?}"))
    };
    let over = by_id("gov-over");
    assert_eq!(over["blocked_by"], "quota");
    assert_eq!(over["response"]["status"], 429);
    assert_eq!(
        over["response"]["body"],
        json!({"error": "Quota of 1000 calls exceeded on plan gold"})
    );
    assert_eq!(over["user_id"], "u-over");
    assert_eq!(by_id("gov-bot")["blocked_by"], "bots");
    let other = by_id("gov-other");
    assert!(other.get("blocked_by").is_none(), "absent when not blocked: {other}");
    assert_eq!(
        other["response"]["headers"]["x-plan"], "free",
        "the event has the answer the caller got"
    );
}
