//! `MoesifLayer` on an axum `Router`, through the real loop (`moesif_lambda::run_http`, after the
//! response): each route answers exactly as without the layer (compared with the same `Router` under
//! plain `lambda_http::run`), and each request's event carries the real status, headers and body —
//! JSON, a 404, a created resource, a streamed body, a body over the cap.
//!
//! Then bodies of every shape, each stack compared with itself without the layer: a response body and
//! a future that are not `Unpin`, with frames whose data is a chained `Buf` (logged whole); a body a
//! layer outside drops after its first frame (logged as cut) and a `HEAD` request's body axum drops
//! unread (not cut); request bodies read by reference (lambda_http's `Body`, empty or not) and ones
//! that are not lambda_http's, handed on untouched: under `run_http` logged from the raw Lambda event
//! (`RequestDecompressionLayer`'s outside the layer), under `lambda_http::run` without their body
//! (axum's inside a `Router`).

use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bytes::buf::Chain;
use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt as _;
use lambda_http::http::Response;
use moesif_lambda::{MoesifBody, MoesifLayer, Options, RequestView, ResponseFuture};
use moesif_lambda_testkit::encode::gzip;
use moesif_lambda_testkit::{
    event_for, event_request_id, http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi,
};
use pin_project_lite::pin_project;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::decompression::RequestDecompressionLayer;

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
    answers_to(start, extra_env, requests()).await
}

/// Invokes `requests` (request id, event) on a function started by `start`; the answers, in order.
async fn answers_to(
    start: impl FnOnce() + Send,
    extra_env: &[(&str, Option<&str>)],
    requests: Vec<(&'static str, Value)>,
) -> Vec<Option<Value>> {
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, extra_env).await;
    start();
    let mut answers = Vec::new();
    for (id, event) in requests {
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
    let by_id = |id: &str| event_for(&events, id).clone();
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

// ---------------------------------------------------------------------------------------------------
// Bodies of every shape.

fn options(url: &str) -> Options {
    Options::new()
        .application_id("layer-bodies-app")
        .base_uri_owned(url.to_owned())
}

/// The `n` events of the requests `ids` the collector got (after a flush: under `lambda_http::run` the
/// events are sent while the response is posted), one each.
async fn events_of(collector: &Collector, ids: &[&str]) -> Vec<Value> {
    moesif_lambda::flush(Duration::from_secs(10)).await;
    collector.wait_for_event_count(ids.len(), Duration::from_secs(10)).await;
    let events = collector.events();
    ids.iter()
        .map(|id| {
            let mine: Vec<&Value> = events.iter().filter(|e| event_request_id(e) == Some(*id)).collect();
            assert_eq!(mine.len(), 1, "exactly one event for {id}: {events:?}");
            mine[0].clone()
        })
        .collect()
}

/// Compiles only for a type that is not `Unpin` (the two impls are ambiguous for an `Unpin` one).
trait AmbiguousIfUnpin<A> {
    fn check() {}
}
impl<T: ?Sized> AmbiguousIfUnpin<()> for T {}
impl<T: ?Sized + Unpin> AmbiguousIfUnpin<u8> for T {}

pin_project! {
    /// A response body that must stay where it is polled (`PhantomPinned`), whose data frames are each
    /// two `Bytes` chained: `chunk()` is only the first of them.
    struct Pinned {
        frames: VecDeque<Chain<Bytes, Bytes>>,
        #[pin]
        _pinned: PhantomPinned,
    }
}

impl HttpBody for Pinned {
    type Data = Chain<Bytes, Bytes>;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Infallible>>> {
        Poll::Ready(self.project().frames.pop_front().map(|data| Ok(Frame::data(data))))
    }
}

pin_project! {
    /// A future that is not `Unpin` either, answering at once.
    struct PinnedAnswer {
        response: Option<Response<Pinned>>,
        #[pin]
        _pinned: PhantomPinned,
    }
}

impl Future for PinnedAnswer {
    type Output = Result<Response<Pinned>, lambda_http::Error>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(self.project().response.take().ok_or_else(|| "polled again".into()))
    }
}

/// A hand-written service answering JSON in two frames of chained halves, with a `Pinned` body.
#[derive(Clone)]
struct PinnedService;

impl tower::Service<lambda_http::Request> for PinnedService {
    type Response = Response<Pinned>;
    type Error = lambda_http::Error;
    type Future = PinnedAnswer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: lambda_http::Request) -> PinnedAnswer {
        let halves =
            |a: &'static str, b: &'static str| Bytes::from_static(a.as_bytes()).chain(Bytes::from_static(b.as_bytes()));
        let body = Pinned {
            frames: VecDeque::from([halves("{\"pinned\": ", "true, "), halves("\"parts\": [1, ", "2, 3]}")]),
            _pinned: PhantomPinned,
        };
        let mut response = Response::new(body);
        response.headers_mut().insert(
            "content-type",
            lambda_http::http::HeaderValue::from_static("application/json"),
        );
        PinnedAnswer {
            response: Some(response),
            _pinned: PhantomPinned,
        }
    }
}

// Neither is `Unpin`, nor what the layer makes of them: no `Unpin` bound of the layer's.
const _: fn() = || {
    let _ = <Pinned as AmbiguousIfUnpin<_>>::check;
    let _ = <PinnedAnswer as AmbiguousIfUnpin<_>>::check;
    let _ = <MoesifBody<Pinned> as AmbiguousIfUnpin<_>>::check;
    let _ = <ResponseFuture<PinnedAnswer> as AmbiguousIfUnpin<_>>::check;
};

/// Boxes a response body with its data as `Bytes`, as lambda_http needs it (`Unpin`): the layer outside
/// the `Pinned` body that would otherwise not run under lambda_http at all.
fn boxed<B>(response: Response<B>) -> Response<UnsyncBoxBody<Bytes, B::Error>>
where
    B: HttpBody + Send + 'static,
{
    response.map(|body| {
        body.map_frame(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining())))
            .boxed_unsync()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_and_future_that_are_not_unpin_with_chained_bufs_pass_and_are_logged_whole() {
    let requests = || vec![("pinned-json", http_api_event("GET", "/pinned", None))];
    let without = answers_to(
        || spawn_function(|| lambda_http::run(ServiceBuilder::new().map_response(boxed).service(PinnedService))),
        &[],
        requests(),
    )
    .await;
    let collector = Collector::start().await;
    let url = collector.base_url();
    let with = answers_to(
        || {
            spawn_function(move || {
                let service = ServiceBuilder::new()
                    .map_response(boxed)
                    .layer(MoesifLayer::new(options(&url)))
                    .service(PinnedService);
                moesif_lambda::run_http(service)
            })
        },
        &[],
        requests(),
    )
    .await;
    assert_eq!(with, without, "the caller gets every byte, as without the layer");
    assert_eq!(
        with[0].as_ref().map(|a| a["body"].clone()),
        Some(json!("{\"pinned\": true, \"parts\": [1, 2, 3]}"))
    );
    let event = &events_of(&collector, &["pinned-json"]).await[0];
    assert_eq!(event["response"]["status"], 200);
    assert_eq!(
        event["response"]["body"],
        json!({"pinned": true, "parts": [1, 2, 3]}),
        "every byte of each chained frame, not only its first chunk"
    );
    assert!(event.pointer("/metadata/error").is_none(), "{event}");
}

/// Answers with the first frame of the body only, dropping the rest unread (a layer that stops reading,
/// as a client that goes away does).
async fn first_frame_only<F, B, E>(future: F) -> Result<Response<lambda_http::Body>, E>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody + Unpin,
{
    let (parts, mut body) = future.await?.into_parts();
    let first = match body.frame().await {
        Some(Ok(frame)) => frame
            .into_data()
            .map(|mut data| data.copy_to_bytes(data.remaining()))
            .unwrap_or_default(),
        _ => Bytes::new(),
    };
    drop(body);
    Ok(Response::from_parts(parts, lambda_http::Body::from(first.to_vec())))
}

fn streaming_routes() -> Router {
    Router::new().route(
        "/stream",
        get(|| async {
            let chunks = ["first ", "second ", "third"].map(|c| Ok::<_, std::io::Error>(c.to_owned()));
            Body::from_stream(futures_util::stream::iter(chunks))
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_dropped_before_its_end_is_logged_as_cut_and_a_head_body_dropped_unread_is_not() {
    let requests = || {
        vec![
            ("cut-get", http_api_event("GET", "/stream", None)),
            ("cut-head", http_api_event("HEAD", "/stream", None)),
        ]
    };
    let stack = |layer: Option<MoesifLayer>| {
        let routes = match layer {
            Some(layer) => streaming_routes().layer(layer),
            None => streaming_routes(),
        };
        ServiceBuilder::new().map_future(first_frame_only).service(routes)
    };
    let without = answers_to(
        || spawn_function(move || lambda_http::run(stack(None))),
        &[],
        requests(),
    )
    .await;
    let collector = Collector::start().await;
    let url = collector.base_url();
    let with = answers_to(
        || spawn_function(move || moesif_lambda::run_http(stack(Some(MoesifLayer::new(options(&url)))))),
        &[],
        requests(),
    )
    .await;
    assert_eq!(with, without, "the caller gets what it gets without the layer");
    assert_eq!(with[0].as_ref().map(|a| a["body"].clone()), Some(json!("first ")));

    let events = events_of(&collector, &["cut-get", "cut-head"]).await;
    let cut = &events[0];
    assert_eq!(cut["response"]["status"], 200);
    assert_eq!(
        cut["response"]["body"],
        json!({"moesif_body_omitted": "body cut: dropped before its end", "original_size": 6}),
        "never the first chunk as if it were the whole body: {cut}"
    );
    assert_eq!(cut["metadata"]["error"]["type"], "body_cut", "{cut}");
    assert!(
        cut["metadata"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("after 6 bytes")),
        "{cut}"
    );

    let head = &events[1];
    assert_eq!(head["request"]["verb"], "HEAD");
    assert_eq!(head["response"]["status"], 200);
    assert!(head["response"].get("body").is_none_or(Value::is_null), "{head}");
    assert!(
        head.pointer("/metadata/error").is_none(),
        "a HEAD body nobody reads is not cut: {head}"
    );
}

fn echo_routes() -> Router {
    Router::new().route(
        "/echo",
        post(|body: Bytes| async move { format!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body)) }),
    )
}

fn gzip_post(path: &str, json: &Value) -> Value {
    let mut event = http_api_event("POST", path, None);
    event["headers"]["content-encoding"] = json!("gzip");
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(gzip(json.to_string().as_bytes())));
    event["isBase64Encoded"] = json!(true);
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_handed_on_untouched_and_logged_when_they_can_be_read_by_reference() {
    let collector = Collector::start().await;
    let url = collector.base_url();
    let payload = json!({"order": 7});

    // The layer around the Router: lambda_http's `Body`, read by reference (no copy under
    // `lambda_http::run`), empty or not.
    let requests = || {
        vec![
            ("ref-json", http_api_event("POST", "/echo", Some("{\"order\": 7}"))),
            ("ref-empty", http_api_event("POST", "/echo", None)),
        ]
    };
    let without = answers_to(|| spawn_function(|| lambda_http::run(echo_routes())), &[], requests()).await;
    let with_url = url.clone();
    let with = answers_to(
        || {
            spawn_function(move || {
                let app = ServiceBuilder::new()
                    .layer(MoesifLayer::new(options(&with_url)))
                    .service(echo_routes());
                lambda_http::run(app)
            })
        },
        &[],
        requests(),
    )
    .await;
    assert_eq!(with, without, "the service gets the body it gets without the layer");
    assert_eq!(
        with[0].as_ref().map(|a| a["body"].clone()),
        Some(json!("12 bytes: {\"order\": 7}"))
    );
    assert_eq!(with[1].as_ref().map(|a| a["body"].clone()), Some(json!("0 bytes: ")));
    let events = events_of(&collector, &["ref-json", "ref-empty"]).await;
    assert_eq!(events[0]["request"]["body"], payload);
    assert!(
        events[1]["request"].get("body").is_none_or(Value::is_null),
        "{}",
        events[1]
    );

    // Not lambda_http's `Body`: decompressed by a layer outside (under `run_http`, logged from the raw
    // event), and axum's inside a `Router` under `lambda_http::run` (rebuilt: no body).
    let requests = || vec![("other-gzip", gzip_post("/echo", &payload))];
    let decompressed = || {
        ServiceBuilder::new()
            .layer(RequestDecompressionLayer::new())
            .service(echo_routes())
    };
    let without = answers_to(
        || spawn_function(move || lambda_http::run(decompressed())),
        &[],
        requests(),
    )
    .await;
    let with_url = url.clone();
    let with = answers_to(
        || {
            spawn_function(move || {
                let app = ServiceBuilder::new()
                    .layer(RequestDecompressionLayer::new())
                    .layer(MoesifLayer::new(options(&with_url)))
                    .service(echo_routes());
                moesif_lambda::run_http(app)
            })
        },
        &[],
        requests(),
    )
    .await;
    assert_eq!(with, without);
    assert_eq!(
        with[0].as_ref().map(|a| a["body"].clone()),
        Some(json!("11 bytes: {\"order\":7}")),
        "the service read the decoded body, untouched by the layer"
    );

    let requests = || {
        vec![
            ("other-axum", http_api_event("POST", "/echo", Some("{\"order\": 7}"))),
            ("other-axum-empty", http_api_event("POST", "/echo", None)),
        ]
    };
    let without = answers_to(|| spawn_function(|| lambda_http::run(echo_routes())), &[], requests()).await;
    let with = answers_to(
        || spawn_function(move || lambda_http::run(echo_routes().layer(MoesifLayer::new(options(&url))))),
        &[],
        requests(),
    )
    .await;
    assert_eq!(with, without);

    let events = events_of(
        &collector,
        &["ref-json", "ref-empty", "other-gzip", "other-axum", "other-axum-empty"],
    )
    .await;
    // Under `run_http` the layer logs the Lambda event as it arrived: the gzip body the client sent
    // (decoded for the log) and its `Content-Encoding`, whatever a layer outside did to the request.
    assert_eq!(events[2]["request"]["body"], payload, "{}", events[2]);
    assert_eq!(events[2]["request"]["headers"]["content-encoding"], "gzip");
    assert_eq!(events[2]["response"]["status"], 200);
    // Under plain `lambda_http::run` the event is rebuilt from the request, whose axum body is not read.
    for event in &events[3..] {
        assert_eq!(event["request"]["verb"], "POST");
        assert!(
            event["request"].get("body").is_none_or(Value::is_null),
            "logged without the body: {event}"
        );
    }
    for event in &events[2..] {
        assert!(event.pointer("/metadata/error").is_none(), "{event}");
    }
}
