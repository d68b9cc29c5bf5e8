//! What the outgoing-client tests share: the annotated handler (its scenarios: every call made with and
//! without the middleware, or concurrent calls), the caller's views, running a scenario through the real
//! loop, and the checks every client's events pass.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{
    moesif_logger, InvocationHandle, MoesifClientLayer, MoesifReqwest, Options, OutgoingOptions, OutgoingRecord,
    OutgoingRecorder,
};
use moesif_lambda_testkit::{
    Collector, InvokeOptions, LambdaEnv, RuntimeApi, Upstream, UPSTREAM_BINARY, UPSTREAM_CHUNKS, UPSTREAM_TEXT,
};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;
use tower::{ServiceBuilder, ServiceExt};

pub const APP_ID: &str = "clients-app";

/// The application id; the collector comes from `MOESIF_BASE_URI` (set by each test).
pub fn options() -> Options {
    Options::new().application_id(APP_ID)
}

/// The GETs made with each client: every kind of answer.
pub const PATHS: [&str; 10] = [
    "/json?page=1&api_key=k-secret",
    "/text",
    "/binary",
    "/gzip",
    "/status/404",
    "/status/503",
    "/stream",
    "/redirect",
    "/empty",
    "/broken",
];

pub fn reqwest_plain() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build()
}

pub fn reqwest_logged() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(MoesifReqwest::new(options()))
        .build()
}

pub fn error_text(error: &reqwest_middleware::Error) -> Value {
    match error {
        reqwest_middleware::Error::Reqwest(error) => {
            json!({"error": error.to_string(), "connect": error.is_connect()})
        }
        other => json!({"error": other.to_string()}),
    }
}

/// What the caller of a reqwest call sees: status, version, headers (but `date`), `url()`,
/// `content_length()`, and the body chunk by chunk (or where it failed).
pub async fn reqwest_view(result: Result<reqwest::Response, reqwest_middleware::Error>) -> Value {
    let mut response = match result {
        Ok(response) => response,
        Err(error) => return error_text(&error),
    };
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let (status, url, length, version) = (
        response.status().as_u16(),
        response.url().to_string(),
        response.content_length(),
        format!("{:?}", response.version()),
    );
    let mut body = Vec::new();
    let mut first_chunk = None;
    let mut failure = Value::Null;
    for _ in 0..1000 {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                first_chunk.get_or_insert_with(|| String::from_utf8_lossy(&chunk).into_owned());
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(error) => {
                failure = json!({"error": error.to_string(), "decode": error.is_decode(), "body": error.is_body()});
                break;
            }
        }
    }
    json!({
        "status": status, "url": url, "content_length": length, "version": version, "headers": headers,
        "body": STANDARD.encode(&body), "first_chunk": first_chunk, "failure": failure,
    })
}

/// Every call of the reqwest scenario, each made without and with the middleware: `[plain, logged]`.
pub async fn reqwest_calls(upstream: &str) -> Vec<(String, Value, Value)> {
    let (plain, logged) = (reqwest_plain(), reqwest_logged());
    let mut views = Vec::new();
    for path in PATHS {
        let url = format!("{upstream}{path}");
        let without = reqwest_view(plain.get(&url).send().await).await;
        let with = reqwest_view(logged.get(&url).send().await).await;
        views.push((path.to_owned(), without, with));
    }
    // A POST with a JSON body, a credential header and a secret field; then a streamed request body.
    let post = |client: &reqwest_middleware::ClientWithMiddleware| {
        client
            .post(format!("{upstream}/echo?token=q-secret"))
            .header("authorization", "Bearer h-secret")
            .header("content-type", "application/json")
            .body(r#"{"password":"b-secret","sku":"A-1"}"#)
            .send()
    };
    let without = reqwest_view(post(&plain).await).await;
    let with = reqwest_view(post(&logged).await).await;
    views.push(("/echo".to_owned(), without, with));
    let streamed = |client: &reqwest_middleware::ClientWithMiddleware| {
        let body = reqwest::Body::wrap(Full::new(Bytes::from_static(b"streamed request body")));
        client
            .put(format!("{upstream}/echo?streamed=1"))
            .header("content-type", "text/plain")
            .body(body)
            .send()
    };
    let without = reqwest_view(streamed(&plain).await).await;
    let with = reqwest_view(streamed(&logged).await).await;
    views.push(("/echo?streamed=1".to_owned(), without, with));
    // No answer: refused.
    let closed = Collector::closed_port_url();
    let without = reqwest_view(plain.get(format!("{closed}/refused")).send().await).await;
    let with = reqwest_view(logged.get(format!("{closed}/refused")).send().await).await;
    views.push(("refused".to_owned(), without, with));
    views
}

pub type Hyper<B> = HyperClient<hyper_util::client::legacy::connect::HttpConnector, B>;

/// What the caller of a hyper call sees: status, version, headers (but `date`), the body (or where it
/// failed).
pub async fn hyper_view<B: http_body::Body<Data = Bytes>>(
    result: Result<http::Response<B>, impl std::fmt::Display>,
) -> Value
where
    B::Error: std::fmt::Display,
{
    let response = match result {
        Ok(response) => response,
        Err(error) => return json!({"error": error.to_string()}),
    };
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let (status, version) = (response.status().as_u16(), format!("{:?}", response.version()));
    let hint = response.body().size_hint().exact();
    let body = match response.into_body().collect().await {
        Ok(collected) => json!(STANDARD.encode(collected.to_bytes())),
        Err(error) => json!({"error": error.to_string()}),
    };
    json!({"status": status, "version": version, "headers": headers, "size_hint": hint, "body": body})
}

pub fn get(url: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(url)
        .body(Full::default())
        .unwrap_or_else(|_| http::Request::new(Full::default()))
}

/// Every call of the hyper scenario, each made without and with the layer: `[plain, logged]`.
pub async fn hyper_calls(upstream: &str) -> Vec<(String, Value, Value)> {
    let plain: Hyper<Full<Bytes>> = HyperClient::builder(TokioExecutor::new()).build_http();
    let logged = ServiceBuilder::new()
        .layer(MoesifClientLayer::new(options()))
        .service(plain.clone());
    let mut views = Vec::new();
    for path in PATHS {
        let url = format!("{upstream}{path}");
        let without = hyper_view(plain.request(get(&url)).await).await;
        let with = hyper_view(logged.clone().oneshot(get(&url)).await).await;
        views.push((path.to_owned(), without, with));
    }
    let post = || {
        http::Request::post(format!("{upstream}/echo?token=q-secret"))
            .header("authorization", "Bearer h-secret")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"password":"b-secret","sku":"A-1"}"#)))
            .unwrap_or_else(|_| http::Request::new(Full::default()))
    };
    let without = hyper_view(plain.request(post()).await).await;
    let with = hyper_view(logged.clone().oneshot(post()).await).await;
    views.push(("/echo".to_owned(), without, with));
    // A boxed (streamed) request body: sent on, logged without its body.
    let boxed: Hyper<BoxBody<Bytes, Infallible>> = HyperClient::builder(TokioExecutor::new()).build_http();
    let boxed_logged = ServiceBuilder::new()
        .layer(MoesifClientLayer::new(options()))
        .service(boxed.clone());
    let streamed = || {
        http::Request::put(format!("{upstream}/echo?streamed=1"))
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(b"streamed request body")).boxed())
            .unwrap_or_else(|_| http::Request::new(Full::default().boxed()))
    };
    let without = hyper_view(boxed.request(streamed()).await).await;
    let with = hyper_view(boxed_logged.oneshot(streamed()).await).await;
    views.push(("/echo?streamed=1".to_owned(), without, with));
    let closed = format!("{}/refused", Collector::closed_port_url());
    let without = hyper_view(plain.request(get(&closed)).await).await;
    let with = hyper_view(logged.oneshot(get(&closed)).await).await;
    views.push(("refused".to_owned(), without, with));
    views
}

/// Two calls joined in the handler's task and one spawned with `InvocationHandle`, with each client.
pub async fn concurrent_calls(upstream: &str, tag: &str) -> Value {
    let logged = reqwest_logged();
    let hyper: Hyper<Full<Bytes>> = HyperClient::builder(TokioExecutor::new()).build_http();
    let layered = ServiceBuilder::new()
        .layer(MoesifClientLayer::new(options()))
        .service(hyper);
    let (a, b) = tokio::join!(
        async { reqwest_view(logged.get(format!("{upstream}/json?{tag}=joined-reqwest")).send().await).await },
        async {
            hyper_view(
                layered
                    .clone()
                    .oneshot(get(&format!("{upstream}/text?{tag}=joined-hyper")))
                    .await,
            )
            .await
        }
    );
    let invocation = InvocationHandle::current();
    let spawned_url = format!("{upstream}/json?{tag}=spawned-reqwest");
    let spawned_hyper_url = format!("{upstream}/text?{tag}=spawned-hyper");
    let work = async move {
        let one = reqwest_view(logged.get(spawned_url).send().await).await;
        let two = hyper_view(layered.oneshot(get(&spawned_hyper_url)).await).await;
        (one, two)
    };
    let spawned = match invocation {
        Some(invocation) => tokio::spawn(invocation.scope(work)).await.ok(),
        None => None,
    }
    .unwrap_or_default();
    json!([a["status"], b["status"], spawned.0["status"], spawned.1["status"]])
}

/// Calls recorded by hand (`OutgoingRecorder`): one with gzip bodies and a credential header, one to
/// the collector itself (never logged).
pub fn by_hand_calls(upstream: &str) -> Vec<(String, Value, Value)> {
    let recorder = OutgoingRecorder::new(options());
    let method = http::Method::POST;
    let uri: http::Uri = format!("{upstream}/by-hand?api_key=k-secret")
        .parse()
        .unwrap_or_default();
    let mut request_headers = http::HeaderMap::new();
    request_headers.insert("authorization", http::HeaderValue::from_static("Bearer h-secret"));
    request_headers.insert("content-type", http::HeaderValue::from_static("application/json"));
    let mut response_headers = http::HeaderMap::new();
    response_headers.insert("content-encoding", http::HeaderValue::from_static("gzip"));
    response_headers.insert("content-type", http::HeaderValue::from_static("application/json"));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = std::io::Write::write_all(&mut gzip, br#"{"id":7,"password":"b-secret"}"#);
    let zipped = gzip.finish().unwrap_or_default();
    let started = std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let finished = started + Duration::from_millis(250);
    recorder.record(
        OutgoingRecord::new(&method, &uri, 201)
            .request_headers(&request_headers)
            .request_body(br#"{"sku":"A-1"}"#)
            .response_headers(&response_headers)
            .response_body(&zipped)
            .times(started, finished),
    );
    let collector: http::Uri = std::env::var("MOESIF_BASE_URI")
        .unwrap_or_default()
        .parse::<http::Uri>()
        .map(|base| format!("{base}v1/events").parse().unwrap_or_default())
        .unwrap_or_default();
    recorder.record(OutgoingRecord::new(&method, &collector, 200));
    Vec::new()
}

/// A client whose options skip some calls, identify the user and leave bodies out.
pub async fn hooked_calls(upstream: &str) -> Vec<(String, Value, Value)> {
    let hooked = options().outgoing(
        OutgoingOptions::new()
            .skip(|call| call.uri.contains("skip-me"))
            .identify_user(|call| call.request_headers["x-user"].as_str().map(String::from))
            .metadata(|call| Some(json!({"status_seen": call.status})))
            .log_body(false),
    );
    let plain = reqwest_plain();
    let logged = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(MoesifReqwest::new(hooked.clone()))
        .build();
    let layered = ServiceBuilder::new()
        .layer(MoesifClientLayer::new(hooked))
        .service(HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
    let mut views = Vec::new();
    for path in ["/json?skip-me=1", "/stream?hooked=reqwest"] {
        let url = format!("{upstream}{path}");
        let without = reqwest_view(plain.get(&url).header("x-user", "u-9").send().await).await;
        let with = reqwest_view(logged.get(&url).header("x-user", "u-9").send().await).await;
        views.push((path.to_owned(), without, with));
    }
    let request = || {
        http::Request::get(format!("{upstream}/json?hooked=hyper"))
            .header("x-user", "u-9")
            .body(Full::default())
            .unwrap_or_else(|_| http::Request::new(Full::default()))
    };
    let plain_hyper: Hyper<Full<Bytes>> = HyperClient::builder(TokioExecutor::new()).build_http();
    let without = hyper_view(plain_hyper.request(request()).await).await;
    let with = hyper_view(layered.oneshot(request()).await).await;
    views.push(("/json?hooked=hyper".to_owned(), without, with));
    views
}

/// Bodies over a small cap, streamed and not, with each client; and a response dropped unread.
pub async fn capped_calls(upstream: &str) -> Vec<(String, Value, Value)> {
    let capped = options().max_body_bytes(16);
    let plain = reqwest_plain();
    let logged = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(MoesifReqwest::new(capped.clone()))
        .build();
    let plain_hyper: Hyper<Full<Bytes>> = HyperClient::builder(TokioExecutor::new()).build_http();
    let layered = ServiceBuilder::new()
        .layer(MoesifClientLayer::new(capped))
        .service(plain_hyper.clone());
    let mut views = Vec::new();
    let url = format!("{upstream}/stream?capped=reqwest");
    let without = reqwest_view(plain.get(&url).send().await).await;
    let with = reqwest_view(logged.get(&url).send().await).await;
    views.push(("/stream?capped=reqwest".to_owned(), without, with));
    let url = format!("{upstream}/json?capped=hyper");
    let without = hyper_view(plain_hyper.request(get(&url)).await).await;
    let with = hyper_view(layered.clone().oneshot(get(&url)).await).await;
    views.push(("/json?capped=hyper".to_owned(), without, with));
    // Dropped before the body is read: logged as cut, with the status and headers.
    let dropped = logged.get(format!("{upstream}/stream?dropped=reqwest")).send().await;
    let status = dropped.as_ref().map(|response| response.status().as_u16()).ok();
    drop(dropped);
    let dropped = layered.oneshot(get(&format!("{upstream}/text?dropped=hyper"))).await;
    let hyper_status = dropped.as_ref().map(|response| response.status().as_u16()).ok();
    drop(dropped);
    views.push(("dropped".to_owned(), json!([status, hyper_status]), json!([200, 200])));
    views
}

#[moesif_logger(options = options)]
pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let upstream = event.payload["upstream"].as_str().unwrap_or_default().to_owned();
    let body = match event.payload["scenario"].as_str() {
        Some("reqwest") => json!(reqwest_calls(&upstream).await),
        Some("hyper") => json!(hyper_calls(&upstream).await),
        Some("by-hand") => json!(by_hand_calls(&upstream)),
        Some("capped") => json!(capped_calls(&upstream).await),
        Some("hooks") => json!(hooked_calls(&upstream).await),
        Some("concurrent") => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            concurrent_calls(&upstream, &event.context.request_id).await
        }
        _ => Value::Null,
    };
    Ok(json!({"statusCode": 200, "body": body.to_string()}))
}

pub fn http_event(upstream: &Upstream, scenario: &str) -> Value {
    json!({"httpMethod": "GET", "path": "/proxy", "headers": {"host": "fn"}, "requestContext": {},
           "upstream": upstream.base_url(), "scenario": scenario})
}

/// Runs each of `scenarios` (with its request id) in its own invocation, one after the other, through
/// the real loop (one loop, one collector: the annotated handler keeps the connection it found first);
/// per scenario, the views the handler returned and the outgoing events of its invocation.
pub async fn run_scenarios(scenarios: &[(&str, &str)]) -> (Vec<(Vec<(String, Value, Value)>, Vec<Value>)>, Upstream) {
    let collector = Collector::start().await;
    let upstream = Upstream::start().await;
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[("MOESIF_BASE_URI", Some(&collector.base_url()))]).await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(handler)));
    let mut answers = Vec::new();
    for (scenario, request_id) in scenarios {
        let options = InvokeOptions {
            request_id: Some((*request_id).into()),
            timeout: Duration::from_secs(30),
            ..InvokeOptions::default()
        };
        let invocation = api
            .invoke_with(http_event(&upstream, scenario), options)
            .await
            .expect("the function answers");
        let answer = invocation.response_json().unwrap_or_default();
        let views: Vec<(String, Value, Value)> =
            serde_json::from_str(answer["body"].as_str().unwrap_or_default()).expect("the handler's views");
        answers.push(views);
    }
    runtime.abort();
    let events = collector.events();
    let mut results = Vec::new();
    for ((_, request_id), views) in scenarios.iter().zip(answers) {
        let incoming = events
            .iter()
            .filter(|e| e["direction"] == "Incoming" && e.pointer("/metadata/trace_id") == Some(&json!(request_id)));
        assert_eq!(incoming.count(), 1, "{request_id}: {events:#?}");
        let outgoing: Vec<Value> = events
            .iter()
            .filter(|e| e["direction"] == "Outgoing" && e["metadata"]["request_id"] == *request_id)
            .cloned()
            .collect();
        results.push((views, outgoing));
    }
    let outgoing = events.iter().filter(|e| e["direction"] == "Outgoing").count();
    let tied: usize = results.iter().map(|(_, events)| events.len()).sum();
    assert_eq!(
        outgoing, tied,
        "every outgoing event tied to its invocation: {events:#?}"
    );
    (results, upstream)
}

/// The one event whose URI ends with `path`.
pub fn event_of<'a>(events: &'a [Value], upstream: &Upstream, path: &str) -> &'a Value {
    let uri = upstream.url(path);
    let found: Vec<&Value> = events.iter().filter(|e| e["request"]["uri"] == uri.as_str()).collect();
    assert_eq!(found.len(), 1, "one event for {uri}: {events:#?}");
    found[0]
}

pub fn decoded(body: &Value) -> Vec<u8> {
    STANDARD.decode(body.as_str().unwrap_or_default()).unwrap_or_default()
}

/// What every client logs alike, checked on the events of one scenario.
pub fn assert_common_events(events: &[Value], upstream: &Upstream, request_id: &str) {
    assert!(
        events.iter().all(|e| e["metadata"]["request_id"] == request_id),
        "tied to the invocation: {events:#?}"
    );
    let host = upstream.base_url().trim_start_matches("http://").to_owned();
    let json = event_of(events, upstream, "/json?page=1&api_key=[REDACTED]");
    assert_eq!(json["request"]["verb"], "GET");
    assert_eq!(json["request"]["headers"]["host"], host.as_str(), "host from the URI");
    assert_eq!(json["response"]["status"], 200);
    assert_eq!(
        json["response"]["body"],
        json!({"orders": [1, 2, 3], "token": "[REDACTED]"})
    );
    assert_eq!(json["response"]["transfer_encoding"], "json");
    assert_eq!(json["response"]["headers"]["content-type"], "application/json");
    let text = event_of(events, upstream, "/text");
    assert_eq!(text["response"]["transfer_encoding"], "base64");
    assert_eq!(decoded(&text["response"]["body"]), UPSTREAM_TEXT.as_bytes());
    let binary = event_of(events, upstream, "/binary");
    assert_eq!(decoded(&binary["response"]["body"]), UPSTREAM_BINARY);
    let gzip = event_of(events, upstream, "/gzip");
    assert_eq!(gzip["response"]["body"], json!({"zipped": true}), "decoded: {gzip:#?}");
    assert_eq!(event_of(events, upstream, "/status/404")["response"]["status"], 404);
    let unavailable = event_of(events, upstream, "/status/503");
    assert_eq!(unavailable["response"]["status"], 503);
    assert_eq!(unavailable["response"]["body"], json!({"error": "status 503"}));
    let stream = event_of(events, upstream, "/stream");
    assert_eq!(
        decoded(&stream["response"]["body"]),
        UPSTREAM_CHUNKS.concat().as_bytes()
    );
    let empty = event_of(events, upstream, "/empty");
    assert_eq!(empty["response"]["status"], 204);
    assert!(empty["response"].get("body").is_none());
    let broken = event_of(events, upstream, "/broken");
    assert_eq!(broken["response"]["status"], 200);
    assert_eq!(
        broken["response"]["body"]["moesif_body_omitted"], "body cut: not read to its end",
        "{broken:#?}"
    );
    let post = event_of(events, upstream, "/echo?token=[REDACTED]");
    assert_eq!(post["request"]["verb"], "POST");
    assert_eq!(post["request"]["headers"]["authorization"], "[REDACTED]");
    assert_eq!(post["request"]["body"], json!({"password": "[REDACTED]", "sku": "A-1"}));
    assert_eq!(
        post["response"]["body"],
        json!({"password": "[REDACTED]", "sku": "A-1"})
    );
    let streamed = event_of(events, upstream, "/echo?streamed=1");
    assert!(
        streamed["request"].get("body").is_none(),
        "a streamed request body is not buffered"
    );
    assert_eq!(decoded(&streamed["response"]["body"]), b"streamed request body");
    assert!(
        events
            .iter()
            .all(|e| !e["request"]["uri"].as_str().unwrap_or_default().contains("refused")),
        "a call without an answer is not logged"
    );
    // Nothing a redaction removes reaches the collector.
    let text = serde_json::to_string(events).unwrap_or_default();
    for secret in ["k-secret", "q-secret", "h-secret", "b-secret", "t-secret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

/// The caller's view of every call is the same with and without the middleware.
pub fn assert_same_views(views: &[(String, Value, Value)]) {
    assert!(!views.is_empty());
    for (path, without, with) in views {
        assert_eq!(with, without, "{path}: what the caller sees");
    }
}
