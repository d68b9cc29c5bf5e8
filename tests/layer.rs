//! `MoesifLayer` on an axum `Router`, through the real loop (`moesif_lambda::run_http`, after the
//! response): each route answers exactly as without the layer (compared with the same `Router` under
//! plain `lambda_http::run`), and each request's event carries the real status, headers and body —
//! JSON, a 404, a created resource, a streamed body, a body over the cap.

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use moesif_lambda::{MoesifLayer, Options, RequestView};
use moesif_lambda_testkit::{http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::time::Duration;

const LARGE: usize = 600 * 1024;

fn app() -> Router {
    Router::new()
        .route("/json", get(|| async { Json(json!({"ok": true, "items": [1, 2, 3]})) }))
        .route(
            "/items",
            post(|body: String| async move { (StatusCode::CREATED, [("x-item", "7")], body) }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks =
                    ["{\"part\": ", "1, ", "\"more\": ", "true}"].map(|c| Ok::<_, std::io::Error>(c.to_owned()));
                (
                    [("content-type", "application/json")],
                    Body::from_stream(futures_util::stream::iter(chunks)),
                )
            }),
        )
        .route("/large", get(|| async { "y".repeat(LARGE) }))
}

fn requests() -> Vec<(&'static str, Value)> {
    let with_user = |mut event: Value| {
        event["headers"]["X-User-Id"] = json!("u-42");
        event
    };
    vec![
        ("layer-json", with_user(http_api_event("GET", "/json", None))),
        ("layer-missing", http_api_event("GET", "/missing", None)),
        (
            "layer-created",
            http_api_event("POST", "/items", Some("{\"name\": \"seven\"}")),
        ),
        ("layer-stream", http_api_event("GET", "/stream", None)),
        ("layer-large", http_api_event("GET", "/large", None)),
    ]
}

/// Invokes every request on a function started by `start`; the answers, in order.
async fn answers(start: impl FnOnce() + Send, extra_env: &[(&str, Option<&str>)]) -> Vec<Option<Value>> {
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, extra_env).await;
    start();
    let mut answers = Vec::new();
    for (id, event) in requests() {
        let options = InvokeOptions {
            request_id: Some(id.to_owned()),
            timeout: Duration::from_secs(20),
            ..InvokeOptions::default()
        };
        let invocation = api.invoke_with(event, options).await.expect("the function answers");
        answers.push(invocation.response_json());
    }
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axum_router_answers_as_without_the_layer_and_each_event_is_real() {
    let without = answers(|| spawn_function(|| lambda_http::run(app())), &[]).await;

    let collector = Collector::start().await;
    let url = collector.base_url();
    let with = answers(
        || {
            spawn_function(move || {
                // Built at run time: owned strings, and a hook that captures a value read at start-up.
                let user_header = String::from("x-user-id");
                let options = Options::new()
                    .application_id_owned("layer-app")
                    .base_uri_owned(url)
                    .identify_user_with(move |event, _| RequestView::of(event)?.header(&user_header).map(String::from));
                moesif_lambda::run_http(app().layer(MoesifLayer::new(options)))
            })
        },
        &[],
    )
    .await;
    assert_eq!(with, without, "the layer changes no answer");
    assert_eq!(with[1].as_ref().map(|a| a["statusCode"].clone()), Some(json!(404)));

    let report = moesif_lambda::flush(Duration::from_secs(10)).await;
    assert_eq!(report.requeued, 0, "{report:?}");
    let events = collector.events();
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e.pointer("/metadata/trace_id").and_then(Value::as_str) == Some(id))
            .cloned()
            .unwrap_or_else(|| panic!("an event for {id}: {events:?}"))
    };
    let json_event = by_id("layer-json");
    assert_eq!(json_event["response"]["status"], 200);
    assert_eq!(json_event["response"]["headers"]["content-type"], "application/json");
    assert_eq!(json_event["response"]["body"], json!({"ok": true, "items": [1, 2, 3]}));
    assert_eq!(json_event["request"]["uri"], "http://api.example/json");
    assert_eq!(
        json_event["user_id"], "u-42",
        "a closure hook capturing a run-time value"
    );
    assert!(by_id("layer-created").get("user_id").is_none(), "no header, no user");

    let missing = by_id("layer-missing");
    assert_eq!(missing["response"]["status"], 404);
    assert_eq!(missing["response"]["headers"], json!({}), "no header invented");
    assert!(missing["response"].get("body").is_none_or(Value::is_null));

    let created = by_id("layer-created");
    assert_eq!(created["response"]["status"], 201);
    assert_eq!(created["response"]["headers"]["x-item"], "7");
    assert_eq!(
        created["response"]["headers"]["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(created["request"]["body"], json!({"name": "seven"}));

    let streamed = by_id("layer-stream");
    assert_eq!(
        streamed["response"]["body"],
        json!({"part": 1, "more": true}),
        "every chunk, in order"
    );

    let large = by_id("layer-large");
    assert_eq!(large["response"]["status"], 200);
    assert_eq!(large["response"]["body"]["original_size"], LARGE);
}
