//! `MoesifLayer` in the stacks users build, through the real loop (`moesif_lambda::run_http`, buffered):
//! every invocation that reaches the layer is logged exactly once, with the status the caller got, and
//! the caller gets exactly what the same service answers without the layer (compared with it under plain
//! `lambda_http::run`).
//!
//! - failures: a handler that panics (with `CatchPanicLayer` outside and inside the layer, and without
//!   it), a panic in a hand-written service's `call` and in its future, a body that fails mid-way or
//!   panics while it streams, the inner service's `Err`. An invocation error (the front end answers
//!   500/502) is logged as 500 with `metadata.error` (type and message);
//! - gzip request bodies (`Content-Encoding: gzip`, base64 in the event) answered with 500, decoded by
//!   `RequestDecompressionLayer` inside the layer, through an annotated lambda_http handler too;
//! - CORS + compression with the layer outermost and innermost: outermost, the event has the headers the
//!   caller got.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use moesif_lambda::{moesif_logger, MoesifLayer, Options};
use moesif_lambda_testkit::encode::gzip;
use moesif_lambda_testkit::{http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, Outcome, RuntimeApi};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::decompression::RequestDecompressionLayer;

/// Where the event of a failed invocation says it failed.
#[derive(Clone, Copy)]
enum Failure {
    /// No `metadata.error`: the layer saw a response.
    None,
    /// `metadata.error.type` contains the first, `message` the second.
    Error(&'static str, &'static str),
}

/// One request and what its event must carry besides the caller's status.
struct Case {
    id: String,
    event: Value,
    failure: Failure,
}

fn case(id: &str, method: &str, path: &str, failure: Failure) -> Case {
    Case {
        id: id.to_owned(),
        event: http_api_event(method, path, None),
        failure,
    }
}

/// A POST whose body the client gzipped: API Gateway hands it over base64, `isBase64Encoded`.
fn gzip_event(path: &str, json: &Value) -> Value {
    let mut event = http_api_event("POST", path, None);
    event["headers"]["content-encoding"] = json!("gzip");
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(gzip(json.to_string().as_bytes())));
    event["isBase64Encoded"] = json!(true);
    event
}

const PANIC: (&str, &str) = ("panic", "handler panicked on purpose");

fn panicking_stream() -> Body {
    let mut sent = false;
    Body::from_stream(futures_util::stream::poll_fn(move |_| {
        if sent {
            panic!("body panicked on purpose");
        }
        sent = true;
        Poll::Ready(Some(Ok::<_, std::io::Error>("first chunk")))
    }))
}

/// Routes that fail every way a handler can.
fn failing_routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { Json(json!({"ok": true})) }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("handler panicked on purpose");
                }
                "unreachable"
            }),
        )
        .route(
            "/broken-stream",
            get(|| async {
                let chunks = [Ok("first chunk"), Err(std::io::Error::other("stream broke on purpose"))];
                Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route("/panicking-stream", get(|| async { panicking_stream() }))
}

/// The requests to [`failing_routes`], with ids starting `prefix`; `caught_inside`: a
/// `CatchPanicLayer` inside the layer turns the handler's panic into a response.
fn failure_cases(prefix: &str, caught_inside: bool) -> Vec<Case> {
    let panic = match caught_inside {
        true => Failure::None,
        false => Failure::Error(PANIC.0, PANIC.1),
    };
    let broken = Failure::Error("axum_core::error::Error", "stream broke on purpose");
    vec![
        case(&format!("{prefix}-ok"), "GET", "/ok", Failure::None),
        case(&format!("{prefix}-panic"), "GET", "/panic", panic),
        case(&format!("{prefix}-broken"), "GET", "/broken-stream", broken),
        case(
            &format!("{prefix}-panicking"),
            "GET",
            "/panicking-stream",
            Failure::Error("panic", "body panicked on purpose"),
        ),
    ]
}

/// A `Service` written by hand: it panics in `call` itself, in its future, or fails.
#[derive(Clone)]
struct Handwritten;

type BoxedAnswer =
    Pin<Box<dyn Future<Output = Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error>> + Send>>;

impl tower::Service<lambda_http::Request> for Handwritten {
    type Response = lambda_http::Response<lambda_http::Body>;
    type Error = lambda_http::Error;
    type Future = BoxedAnswer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: lambda_http::Request) -> Self::Future {
        match request.uri().path() {
            "/call-panics" => panic!("call panicked on purpose"),
            "/future-panics" => Box::pin(async { panic!("future panicked on purpose") }),
            "/err" => Box::pin(async { Err("inner service failed on purpose".into()) }),
            _ => Box::pin(async { Ok(lambda_http::Response::new(lambda_http::Body::from("ok"))) }),
        }
    }
}

fn handwritten_cases() -> Vec<Case> {
    vec![
        case("hand-ok", "GET", "/ok", Failure::None),
        case(
            "hand-call",
            "GET",
            "/call-panics",
            Failure::Error("panic", "call panicked on purpose"),
        ),
        case(
            "hand-future",
            "GET",
            "/future-panics",
            Failure::Error("panic", "future panicked on purpose"),
        ),
        case(
            "hand-err",
            "GET",
            "/err",
            Failure::Error(
                "alloc::boxed::Box<dyn core::error::Error",
                "inner service failed on purpose",
            ),
        ),
    ]
}

/// A JSON API that decodes gzipped request bodies and fails.
fn gzip_routes() -> Router {
    Router::new()
        .route(
            "/upload",
            post(|body: Bytes| async move {
                let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"failed": parsed})))
            }),
        )
        .route(
            "/upload-panics",
            post(|body: Bytes| async move {
                if !body.is_empty() {
                    panic!("handler panicked on purpose");
                }
                "unreachable"
            }),
        )
        .layer(RequestDecompressionLayer::new())
}

fn gzip_cases(prefix: &str) -> Vec<Case> {
    let payload = json!({"order": 7, "items": ["a", "b"]});
    vec![
        Case {
            id: format!("{prefix}-500"),
            event: gzip_event("/upload", &payload),
            failure: Failure::None,
        },
        Case {
            id: format!("{prefix}-panic"),
            event: gzip_event("/upload-panics", &payload),
            failure: Failure::Error(PANIC.0, PANIC.1),
        },
    ]
}

/// Invokes every case on a function started by `start`; the outcomes, in order.
async fn outcomes(start: impl FnOnce() + Send, cases: &[Case], env: &[(&str, Option<&str>)]) -> Vec<Outcome> {
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, env).await;
    start();
    let mut outcomes = Vec::new();
    for case in cases {
        let options = InvokeOptions {
            request_id: Some(case.id.clone()),
            ..InvokeOptions::default()
        };
        let invocation = api
            .invoke_with(case.event.clone(), options)
            .await
            .expect("the function answers");
        outcomes.push(invocation.outcome);
    }
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    outcomes
}

/// The status the caller got: the answer's, or the front end's 500 for an invocation error.
fn caller_status(outcome: &Outcome) -> u64 {
    match outcome {
        Outcome::Response(body) => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|answer| answer["statusCode"].as_u64())
            .unwrap_or_else(|| panic!("a Lambda HTTP answer: {}", String::from_utf8_lossy(body))),
        Outcome::Error { .. } => 500,
    }
}

fn options(url: &str) -> Options {
    Options::new()
        .application_id("stacks-app")
        .base_uri_owned(url.to_owned())
}

/// The events the collector got, after a flush (of every test's queue: the tests of this file run at
/// once, so one may find another's collector already gone and requeue what it had).
async fn flushed_events(collector: &Collector) -> Vec<Value> {
    moesif_lambda::flush(Duration::from_secs(10)).await;
    collector.events()
}

/// What the caller can tell of an outcome: the answer, byte for byte, or that the invocation failed
/// (the front end answers 500/502), and how the runtime classed it. The runtime's error message is
/// compared apart: a body error the Router wraps once more (axum boxes any body but its own) reads
/// `Error { inner: .. }` once more there.
fn caller_view(outcomes: &[Outcome]) -> Vec<(Option<&[u8]>, Option<String>)> {
    outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::Response(body) => (Some(&body[..]), None),
            Outcome::Error { error_type, body } => (None, Some(format!("{error_type:?} {}", body["errorType"]))),
        })
        .collect()
}

/// The outcomes of [`failure_cases`] are those without the layer: what the caller can tell, and every
/// outcome exactly but the failed body's runtime message (see [`caller_view`]).
fn assert_fails_as_without(with: &[Outcome], without: &[Outcome]) {
    assert_eq!(
        caller_view(with),
        caller_view(without),
        "the caller gets what it gets without the layer"
    );
    assert_eq!(with[..2], without[..2], "the panic goes on unchanged");
    assert_eq!(with[3], without[3]);
    assert!(
        error_message(&with[2]).contains("stream broke on purpose"),
        "{:?}",
        with[2]
    );
}

fn error_message(outcome: &Outcome) -> &str {
    match outcome {
        Outcome::Error { body, .. } => body["errorMessage"].as_str().unwrap_or_default(),
        Outcome::Response(_) => "",
    }
}

/// The one event of `id`.
fn event_of<'a>(events: &'a [Value], id: &str) -> &'a Value {
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e.pointer("/metadata/trace_id").and_then(Value::as_str) == Some(id))
        .collect();
    assert_eq!(mine.len(), 1, "exactly one event for {id}: {events:?}");
    mine[0]
}

/// Each case has one event with the status its caller got, and `metadata.error` where it failed.
fn assert_logged(cases: &[Case], outcomes: &[Outcome], events: &[Value]) {
    for (case, outcome) in cases.iter().zip(outcomes) {
        let event = event_of(events, &case.id);
        assert_eq!(
            event["response"]["status"],
            caller_status(outcome),
            "{}: the status the caller got ({outcome:?})",
            case.id
        );
        let error = event.pointer("/metadata/error");
        match case.failure {
            Failure::None => assert!(error.is_none(), "{}: no error: {error:?}", case.id),
            Failure::Error(error_type, message) => {
                let text = |key: &str| error.and_then(|e| e[key].as_str()).unwrap_or_default().to_owned();
                assert!(text("type").contains(error_type), "{}: type in {error:?}", case.id);
                assert!(text("message").contains(message), "{}: message in {error:?}", case.id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_or_body_is_logged_once_and_fails_as_without_the_layer() {
    let collector = Collector::start().await;
    let url = collector.base_url();

    // No CatchPanicLayer: lambda_runtime reports the panic as an invocation error.
    let cases = failure_cases("bare", false);
    let without = outcomes(|| spawn_function(|| lambda_http::run(failing_routes())), &cases, &[]).await;
    let with_url = url.clone();
    let with = outcomes(
        || {
            spawn_function(move || {
                moesif_lambda::run_http(failing_routes().layer(MoesifLayer::new(options(&with_url))))
            })
        },
        &cases,
        &[],
    )
    .await;
    assert_fails_as_without(&with, &without);
    assert!(
        matches!(with[1], Outcome::Error { .. }),
        "a panic is an invocation error"
    );
    assert!(
        matches!(with[2], Outcome::Error { .. }),
        "a failed body: lambda_http panics"
    );
    assert!(matches!(with[3], Outcome::Error { .. }));
    assert_logged(&cases, &with, &flushed_events(&collector).await);

    // CatchPanicLayer outside the layer: the layer sees the panic (logged, then resumed), the caller
    // gets CatchPanicLayer's 500.
    let cases = failure_cases("outside", false);
    let without = outcomes(
        || spawn_function(|| lambda_http::run(failing_routes().layer(CatchPanicLayer::new()))),
        &cases,
        &[],
    )
    .await;
    let with_url = url.clone();
    let with = outcomes(
        || {
            spawn_function(move || {
                let app = failing_routes()
                    .layer(MoesifLayer::new(options(&with_url)))
                    .layer(CatchPanicLayer::new());
                moesif_lambda::run_http(app)
            })
        },
        &cases,
        &[],
    )
    .await;
    assert_fails_as_without(&with, &without);
    assert_eq!(caller_status(&with[1]), 500);
    assert!(matches!(with[1], Outcome::Response(_)), "CatchPanicLayer answers");
    assert_logged(&cases, &with, &flushed_events(&collector).await);

    // CatchPanicLayer inside the layer: the layer sees CatchPanicLayer's 500 response.
    let cases = failure_cases("inside", true);
    let without = outcomes(
        || spawn_function(|| lambda_http::run(failing_routes().layer(CatchPanicLayer::new()))),
        &cases,
        &[],
    )
    .await;
    let with_url = url.clone();
    let with = outcomes(
        || {
            spawn_function(move || {
                let app = failing_routes()
                    .layer(CatchPanicLayer::new())
                    .layer(MoesifLayer::new(options(&with_url)));
                moesif_lambda::run_http(app)
            })
        },
        &cases,
        &[],
    )
    .await;
    assert_fails_as_without(&with, &without);
    assert_logged(&cases, &with, &flushed_events(&collector).await);
    let events = collector.events();
    let caught = event_of(&events, "inside-panic");
    assert_eq!(caught["response"]["status"], 500);
    assert_eq!(
        caught["response"]["headers"]["content-type"], "text/plain; charset=utf-8",
        "CatchPanicLayer's answer"
    );

    // The body that broke off after its first chunk: no partial body is logged as if it were whole.
    let broken = event_of(&events, "bare-broken");
    assert!(broken["response"].get("body").is_none_or(Value::is_null), "{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_panics_in_call_or_fails_is_logged_once_and_fails_as_without_the_layer() {
    let collector = Collector::start().await;
    let url = collector.base_url();
    let cases = handwritten_cases();
    let without = outcomes(|| spawn_function(|| lambda_http::run(Handwritten)), &cases, &[]).await;
    let with = outcomes(
        || {
            spawn_function(move || {
                let service = ServiceBuilder::new()
                    .layer(MoesifLayer::new(options(&url)))
                    .service(Handwritten);
                moesif_lambda::run_http(service)
            })
        },
        &cases,
        &[],
    )
    .await;
    assert_eq!(with, without, "the panic and the error reach the runtime unchanged");
    assert!(with[1..].iter().all(|o| matches!(o, Outcome::Error { .. })), "{with:?}");
    assert_logged(&cases, &with, &flushed_events(&collector).await);
}

/// A gzip body itself never cost the event (logged before this change too: REST v1, HTTP API v2, ALB and
/// VPC Lattice v2 events, up to 3 MB, `RequestDecompressionLayer` inside or outside, compressed answers);
/// what did was a handler that panicked on it (as one reading the body as JSON with `unwrap` does): the
/// caller got a 500 and the panic unwound through the layer, dropping the unfinished event. Both are here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_request_body_answered_with_500_is_logged() {
    let collector = Collector::start().await;
    let url = collector.base_url();
    let cases = gzip_cases("gzip");
    let without = outcomes(|| spawn_function(|| lambda_http::run(gzip_routes())), &cases, &[]).await;
    let with_url = url.clone();
    let with = outcomes(
        || spawn_function(move || moesif_lambda::run_http(gzip_routes().layer(MoesifLayer::new(options(&with_url))))),
        &cases,
        &[],
    )
    .await;
    assert_eq!(with, without);
    let answer: Value = match &with[0] {
        Outcome::Response(body) => serde_json::from_slice(body).expect("JSON"),
        other => panic!("an answer: {other:?}"),
    };
    assert_eq!(answer["statusCode"], 500);
    assert_eq!(
        answer["body"], "{\"failed\":{\"order\":7,\"items\":[\"a\",\"b\"]}}",
        "the handler read the decoded body"
    );
    assert_logged(&cases, &with, &flushed_events(&collector).await);

    // The same behind CatchPanicLayer, outermost, as production apps have it.
    let cases = gzip_cases("gzip-caught");
    let without = outcomes(
        || spawn_function(|| lambda_http::run(gzip_routes().layer(CatchPanicLayer::new()))),
        &cases,
        &[],
    )
    .await;
    let with = outcomes(
        || {
            spawn_function(move || {
                let app = gzip_routes()
                    .layer(MoesifLayer::new(options(&url)))
                    .layer(CatchPanicLayer::new());
                moesif_lambda::run_http(app)
            })
        },
        &cases,
        &[],
    )
    .await;
    assert_eq!(with, without);
    let events = flushed_events(&collector).await;
    assert_logged(&cases, &with, &events);
    let logged = event_of(&events, "gzip-500");
    assert_eq!(logged["request"]["headers"]["content-encoding"], "gzip");
    assert_eq!(
        logged["request"]["transfer_encoding"], "json",
        "the gzip body is logged decoded"
    );
    assert!(logged["request"]["body"].is_object(), "{}", logged["request"]["body"]);
}

/// An annotated lambda_http handler that answers a gzip upload with 500.
#[moesif_logger]
async fn gzip_handler(
    request: lambda_http::Request,
) -> Result<lambda_http::Response<lambda_http::Body>, lambda_http::Error> {
    let compressed = matches!(request.body(), lambda_http::Body::Binary(bytes) if bytes.starts_with(&[0x1f, 0x8b]));
    Ok(lambda_http::Response::builder()
        .status(500)
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(format!("{{\"compressed\":{compressed}}}")))?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_request_body_to_an_annotated_lambda_http_handler_is_logged() {
    let collector = Collector::start().await;
    let url = collector.base_url();
    let cases = [Case {
        id: "macro-gzip-500".into(),
        event: gzip_event("/upload", &json!({"order": 7})),
        failure: Failure::None,
    }];
    let env = [
        ("MOESIF_APPLICATION_ID", Some("stacks-app")),
        ("MOESIF_BASE_URI", Some(url.as_str())),
    ];
    let with = outcomes(
        || spawn_function(|| moesif_lambda::run_http(lambda_http::service_fn(gzip_handler))),
        &cases,
        &env,
    )
    .await;
    assert_eq!(caller_status(&with[0]), 500);
    let events = flushed_events(&collector).await;
    assert_logged(&cases, &with, &events);
    assert_eq!(
        event_of(&events, "macro-gzip-500")["response"]["body"],
        json!({"compressed": true})
    );
}

/// A JSON answer long enough for `CompressionLayer` to compress.
fn api_routes() -> Router {
    Router::new().route(
        "/items",
        get(|| async { Json(json!({"items": (0..50).map(|i| format!("item number {i}")).collect::<Vec<_>>()})) }),
    )
}

fn cors_request(id: &str) -> Case {
    let mut event = http_api_event("GET", "/items", None);
    event["headers"]["origin"] = json!("https://app.example");
    event["headers"]["accept-encoding"] = json!("gzip");
    Case {
        id: id.to_owned(),
        event,
        failure: Failure::None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_and_compression_answer_as_without_the_layer_and_outermost_the_event_has_what_the_caller_got() {
    let collector = Collector::start().await;
    let url = collector.base_url();

    // Outermost: added last with `.layer`.
    let cases = [cors_request("stack-outermost")];
    let bare = || {
        api_routes()
            .layer(CompressionLayer::new())
            .layer(CorsLayer::permissive())
    };
    let without = outcomes(|| spawn_function(move || lambda_http::run(bare())), &cases, &[]).await;
    let with_url = url.clone();
    let with = outcomes(
        || spawn_function(move || moesif_lambda::run_http(bare().layer(MoesifLayer::new(options(&with_url))))),
        &cases,
        &[],
    )
    .await;
    assert_eq!(with, without, "the caller's answer is unchanged");
    let answer: Value = match &with[0] {
        Outcome::Response(body) => serde_json::from_slice(body).expect("JSON"),
        other => panic!("an answer: {other:?}"),
    };
    assert_eq!(answer["headers"]["access-control-allow-origin"], "*");
    assert_eq!(answer["headers"]["content-encoding"], "gzip");
    assert_logged(&cases, &with, &flushed_events(&collector).await);

    // Innermost: last in a `ServiceBuilder`, right around the Router.
    let cases = [cors_request("stack-innermost")];
    let without = outcomes(
        || {
            spawn_function(move || {
                let app = ServiceBuilder::new()
                    .layer(CorsLayer::permissive())
                    .layer(CompressionLayer::new())
                    .service(api_routes());
                lambda_http::run(app)
            })
        },
        &cases,
        &[],
    )
    .await;
    let with = outcomes(
        || {
            spawn_function(move || {
                let app = ServiceBuilder::new()
                    .layer(CorsLayer::permissive())
                    .layer(CompressionLayer::new())
                    .layer(MoesifLayer::new(options(&url)))
                    .service(api_routes());
                moesif_lambda::run_http(app)
            })
        },
        &cases,
        &[],
    )
    .await;
    assert_eq!(with, without, "the caller's answer is unchanged");
    let events = flushed_events(&collector).await;
    assert_logged(&cases, &with, &events);

    let outermost = &event_of(&events, "stack-outermost")["response"]["headers"];
    assert_eq!(outermost["access-control-allow-origin"], "*", "{outermost}");
    assert_eq!(outermost["content-encoding"], "gzip", "{outermost}");
    let innermost = &event_of(&events, "stack-innermost")["response"];
    assert!(
        innermost["headers"].get("access-control-allow-origin").is_none(),
        "{innermost}"
    );
    assert!(innermost["headers"].get("content-encoding").is_none(), "{innermost}");
    assert_eq!(
        innermost["body"]["items"][49], "item number 49",
        "innermost: the body before compression"
    );
}
