//! `moesif_lambda::run_http_streaming` through the real loop (lambda_http's streaming runtime): an axum
//! `Router` answering Function URL requests in `RESPONSE_STREAM` mode, against the Runtime API
//! emulator, which reads the response as Lambda's streaming protocol says (prelude, chunks, errors).
//! Each event carries what the caller got and is sent after the response, once the stream has ended.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use moesif_lambda::Options;
use moesif_lambda_testkit::{
    event_for, http_api_event, spawn_function, Collector, Invocation, InvokeOptions, LambdaEnv, Recorded, RuntimeApi,
    Streamed,
};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

const WAIT: Duration = Duration::from_secs(10);

type Chunk = Result<String, std::io::Error>;

/// A body of `chunks`, each its own frame, with a short pause before each (so each is written on its
/// own); an `Err` ends it.
fn streamed_body(chunks: Vec<Chunk>) -> Body {
    let stream = futures_util::stream::unfold(chunks.into_iter(), |mut rest| async move {
        let chunk = rest.next()?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let failed = chunk.is_err();
        Some((chunk, if failed { Vec::new().into_iter() } else { rest }))
    });
    Body::from_stream(stream)
}

/// A streamed answer: status, two headers, the chunks.
fn answer(status: StatusCode, chunks: Vec<Chunk>) -> axum::response::Response {
    (
        status,
        [("content-type", "text/plain"), ("x-stream", "chunked")],
        streamed_body(chunks),
    )
        .into_response()
}

/// Where `/gated` tells the test it is part-way, and waits for it to let the stream end.
#[derive(Clone, Default)]
struct Gate {
    midway: Arc<Mutex<Option<oneshot::Sender<()>>>>,
    release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

fn app(gate: Gate) -> Router {
    Router::new()
        .route(
            "/report",
            get(|| async {
                let chunks = ["alpha ", "beta ", "gamma ", "delta"];
                answer(StatusCode::OK, chunks.into_iter().map(|c| Ok(c.to_owned())).collect())
            }),
        )
        .route(
            "/broken",
            get(|| async {
                let chunks = vec![
                    Ok("first ".to_owned()),
                    Ok("second ".to_owned()),
                    Err(std::io::Error::other("upstream went away")),
                ];
                answer(StatusCode::ACCEPTED, chunks)
            }),
        )
        .route(
            "/gated",
            get(move || {
                let gate = gate.clone();
                async move {
                    let stream = futures_util::stream::unfold(0, move |step| {
                        let gate = gate.clone();
                        async move {
                            match step {
                                0 => Some((Ok::<_, std::io::Error>("begin ".to_owned()), 1)),
                                1 => {
                                    // Part-way: the head and the first chunk are out; wait for the test.
                                    let midway = gate.midway.lock().ok().and_then(|mut m| m.take());
                                    let release = gate.release.lock().ok().and_then(|mut r| r.take());
                                    if let Some(midway) = midway {
                                        let _ = midway.send(());
                                    }
                                    if let Some(release) = release {
                                        let _ = tokio::time::timeout(WAIT, release).await;
                                    }
                                    Some((Ok("end".to_owned()), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    ([("content-type", "text/plain")], Body::from_stream(stream)).into_response()
                }
            }),
        )
}

/// The emulator, a collector, and the function (`run_http_streaming_with`) on its own thread; with
/// the environment lock, held while the test runs.
async fn start(gate: Gate) -> (Arc<RuntimeApi>, Collector, LambdaEnv) {
    let api = Arc::new(RuntimeApi::start().await);
    let collector = Collector::start().await;
    let env = LambdaEnv::acquire(&api, &[]).await;
    let url = collector.base_url();
    spawn_function(move || {
        let options = Options::new()
            .application_id("streaming-app")
            .base_uri_owned(url)
            .batch_size(1, usize::MAX);
        moesif_lambda::run_http_streaming_with(options, app(gate))
    });
    (api, collector, env)
}

async fn invoke(api: &RuntimeApi, path: &str, request_id: &str) -> Invocation {
    let options = InvokeOptions {
        request_id: Some(request_id.to_owned()),
        timeout: Duration::from_secs(20),
        ..InvokeOptions::default()
    };
    api.invoke_with(http_api_event("GET", path, None), options)
        .await
        .expect("the function answers")
}

fn streamed(invocation: &Invocation) -> &Streamed {
    invocation
        .streamed
        .as_ref()
        .unwrap_or_else(|| panic!("a streamed response: {:?}", invocation.outcome))
}

/// The caller's headers as the event's `response.headers` object.
fn headers_json(streamed: &Streamed) -> Value {
    let map: Map<String, Value> = streamed
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), json!(value)))
        .collect();
    Value::Object(map)
}

/// The body an event's `response` logged, as bytes (a text body that is not JSON is logged base64, with
/// `transfer_encoding: base64`, as Moesif's SDKs do).
fn logged_body(response: &Value) -> Vec<u8> {
    use base64::Engine as _;
    match (response["body"].as_str(), response["transfer_encoding"].as_str()) {
        (Some(text), Some("base64")) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_else(|e| panic!("base64 body {text:?}: {e}")),
        (Some(text), _) => text.as_bytes().to_vec(),
        _ => panic!("a body: {response}"),
    }
}

/// The event of `request_id` (waiting for it), and the POST that carried it.
async fn event_of(collector: &Collector, request_id: &str) -> (Value, Recorded) {
    let events = collector.wait_for_events(1, WAIT).await;
    let event = event_for(&events, request_id).clone();
    let post = collector
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.body.windows(request_id.len()).any(|w| w == request_id.as_bytes()))
        .expect("the POST that carried it");
    (event, post)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_answer_is_logged_as_the_caller_got_it_after_the_stream_ended() {
    let (api, collector, _env) = start(Gate::default()).await;
    let invocation = invoke(&api, "/report", "stream-report").await;
    let caller = streamed(&invocation);
    assert_eq!(
        caller.request_header("lambda-runtime-function-response-mode"),
        Some("streaming")
    );
    assert_eq!(caller.request_header("transfer-encoding"), Some("chunked"));
    assert_eq!(caller.status, 200);
    assert_eq!(
        headers_json(caller),
        json!({"content-type": "text/plain", "x-stream": "chunked"})
    );
    assert_eq!(caller.body, b"alpha beta gamma delta");
    assert!(caller.chunks.len() >= 4, "chunk by chunk: {:?}", caller.chunks);
    assert_eq!(caller.reported_error(), None);

    let (event, post) = event_of(&collector, "stream-report").await;
    assert_eq!(event["response"]["status"], json!(caller.status));
    assert_eq!(
        event["response"]["headers"],
        headers_json(caller),
        "the headers the caller got"
    );
    assert_eq!(
        logged_body(&event["response"]),
        caller.body,
        "the whole body the caller got, every chunk in order"
    );
    assert_eq!(event["request"]["uri"], "http://api.example/report");
    assert!(
        invocation.answered_at <= post.received_at,
        "sent after the response was posted, to the end of the stream"
    );
    assert!(api.wait_until_idle(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_failing_part_way_is_logged_with_the_status_sent_and_the_error() {
    let (api, collector, _env) = start(Gate::default()).await;
    let invocation = invoke(&api, "/broken", "stream-broken").await;
    let caller = streamed(&invocation);
    assert_eq!(caller.status, 202, "the head was out before the body failed");
    assert!(
        caller.body.starts_with(b"first second "),
        "the chunks before the failure: {:?}",
        String::from_utf8_lossy(&caller.body)
    );
    let reported = caller.reported_error().expect("the runtime reported the failure");
    assert_eq!(reported.error_type, "Runtime.StreamError");
    assert!(
        reported.message().is_some_and(|m| m.contains("upstream went away")),
        "{reported:?}"
    );

    let (event, post) = event_of(&collector, "stream-broken").await;
    assert_eq!(event["response"]["status"], 202, "the status the caller got, not a 500");
    assert_eq!(event["response"]["headers"], headers_json(caller));
    assert!(
        event["response"].get("body").is_none_or(Value::is_null),
        "no body: it broke off"
    );
    let error = &event["metadata"]["error"];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("upstream went away")),
        "metadata.error: {event}"
    );
    assert!(error["type"].is_string(), "{error}");
    assert!(invocation.answered_at <= post.received_at);
    assert!(api.wait_until_idle(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_is_sent_only_once_the_stream_has_ended() {
    let (midway_tx, midway) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    let gate = Gate {
        midway: Arc::new(Mutex::new(Some(midway_tx))),
        release: Arc::new(Mutex::new(Some(release_rx))),
    };
    let (api, collector, _env) = start(gate).await;
    let calling = {
        let api = api.clone();
        tokio::spawn(async move { invoke(&api, "/gated", "stream-gated").await })
    };
    tokio::time::timeout(WAIT, midway)
        .await
        .expect("the stream got part-way in time")
        .expect("the stream signalled");
    assert_eq!(api.invocations_in_flight(), 1, "the response is still streaming");
    assert_eq!(collector.post_count(), 0, "nothing is sent while the stream is open");

    let _ = release.send(());
    let invocation = tokio::time::timeout(WAIT * 2, calling)
        .await
        .expect("answered in time")
        .expect("no panic");
    assert_eq!(streamed(&invocation).body, b"begin end");
    let (event, post) = event_of(&collector, "stream-gated").await;
    assert_eq!(logged_body(&event["response"]), b"begin end", "logged whole");
    assert!(
        invocation.answered_at <= post.received_at,
        "sent after the stream ended"
    );
    assert!(api.wait_until_idle(WAIT).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governance_rule_blocks_a_streamed_request_before_the_service_runs() {
    let api = Arc::new(RuntimeApi::start().await);
    let collector = Collector::start().await;
    collector.set_rules(
        json!([{"_id": "no-reports", "type": "regex", "block": true,
                "regex_config": [{"conditions": [{"path": "request.route", "value": "^/report"}]}],
                "response": {"status": 429, "headers": {"X-Quota": "0"}, "body": {"error": "quota"}}}]),
        "rules-1",
    );
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let url = collector.base_url();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = served.clone();
    spawn_function(move || {
        let options = Options::new()
            .application_id("streaming-governance-app")
            .base_uri_owned(url)
            .wait_for_governance(Duration::from_secs(10));
        let app = Router::new().route(
            "/report",
            get(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { answer(StatusCode::OK, vec![Ok("streamed".to_owned())]) }
            }),
        );
        moesif_lambda::run_http_streaming_with(options, app)
    });
    let invocation = invoke(&api, "/report", "stream-blocked").await;
    let caller = streamed(&invocation);
    assert_eq!(caller.status, 429);
    let headers = headers_json(caller);
    assert_eq!(headers["x-moesif-blocked-by"], "no-reports", "{headers}");
    assert_eq!(headers["x-quota"], "0");
    assert_eq!(caller.body, br#"{"error":"quota"}"#);
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the service never ran"
    );

    let (event, _) = event_of(&collector, "stream-blocked").await;
    assert_eq!(event["blocked_by"], "no-reports");
    assert_eq!(event["response"]["status"], 429);
    assert_eq!(event["response"]["body"], json!({"error": "quota"}));
    assert!(api.wait_until_idle(WAIT).await);
}
