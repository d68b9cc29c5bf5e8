//! Cookies as the client sent and got them, through the real `lambda_runtime` loop (synchronous
//! delivery) against the loopback emulator and collector: an HTTP API v2 / Function URL `cookies` array
//! is logged as the `cookie` request header (joined by `; `) and the answer's `cookies` as `set-cookie`
//! (with every `Set-Cookie` the answer carries, joined by `, `); each cookie keeps its name (and a
//! `Set-Cookie` its attributes) and loses its value. Typed, raw and lambda_http handlers, and the layer.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifLayer, Options};
use moesif_lambda_testkit::{
    event_for, http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi,
};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const SECRETS: [&str; 4] = [
    "S3CRET-REQ-SID",
    "S3CRET-REQ-CSRF",
    "S3CRET-SET-SID",
    "S3CRET-SET-REMEMBER",
];

fn v2_event(domain: &str) -> Value {
    let mut event = http_api_event("GET", "/account", None);
    event["requestContext"]["domainName"] = json!(domain);
    event["cookies"] = json!(["sid=S3CRET-REQ-SID", "csrf=S3CRET-REQ-CSRF", "lang=en"]);
    event
}

fn set_cookies() -> Vec<String> {
    vec![
        "sid=S3CRET-SET-SID; Path=/; HttpOnly; Secure".into(),
        "remember=S3CRET-SET-REMEMBER; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/".into(),
    ]
}

fn options(url: &OnceLock<&'static str>) -> Options {
    Options::new()
        .application_id("cookies-app")
        .base_uri(url.get().copied().unwrap_or("http://127.0.0.1:9"))
}

mod typed {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    fn opts() -> Options {
        options(&URL)
    }
    #[moesif_logger(options = opts)]
    pub async fn handler(_event: LambdaEvent<ApiGatewayV2httpRequest>) -> Result<ApiGatewayV2httpResponse, Error> {
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = 200;
        response.cookies = set_cookies();
        response.body = Some(Body::Text("ok".into()));
        Ok(response)
    }
}

mod raw {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    fn opts() -> Options {
        options(&URL)
    }
    /// A v2 answer with `cookies`, or a REST answer with two `Set-Cookie` in `multiValueHeaders`.
    #[moesif_logger(options = opts)]
    pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
        Ok(if event.payload.get("httpMethod").is_some() {
            json!({"statusCode": 200, "headers": {"Content-Type": "text/plain"},
                   "multiValueHeaders": {"Set-Cookie": set_cookies()}, "body": "ok"})
        } else {
            json!({"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "cookies": set_cookies(), "body": "ok"})
        })
    }
}

/// Invokes each event once; the events the collector then has, by request id.
async fn run_events(api: &RuntimeApi, collector: &Collector, events: &[(&str, Value)]) -> Vec<Value> {
    for (name, event) in events {
        let options = InvokeOptions {
            request_id: Some(format!("req-{name}")),
            timeout: Duration::from_secs(20),
            ..InvokeOptions::default()
        };
        let invocation = api.invoke_with(event.clone(), options).await.expect("answered");
        assert!(invocation.response_json().is_some(), "{name}: {:?}", invocation.outcome);
    }
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    let _ = moesif_lambda::flush(Duration::from_secs(5)).await;
    collector.events()
}

fn header<'a>(headers: &'a Value, name: &str) -> &'a str {
    headers
        .as_object()
        .and_then(|map| map.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)))
        .and_then(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers}"))
}

/// The request's cookies by name, values redacted; both `Set-Cookie`s by name, attributes kept.
fn assert_cookies_as_the_client_saw_them(event: &Value, request_cookies: bool) {
    if request_cookies {
        let cookie = header(&event["request"]["headers"], "cookie");
        for name in ["sid=", "csrf=", "lang="] {
            assert!(cookie.contains(name), "{name} in {cookie}");
        }
        assert_eq!(
            cookie.matches("; ").count(),
            2,
            "three cookies joined by '; ': {cookie}"
        );
    }
    let set_cookie = header(&event["response"]["headers"], "set-cookie");
    for kept in ["sid=", "remember=", "Path=/", "HttpOnly", "Expires="] {
        assert!(set_cookie.contains(kept), "{kept} in {set_cookie}");
    }
}

fn assert_no_secret(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} reached the collector: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_raw_handlers_log_cookies_arrays_and_every_set_cookie() {
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let _ = typed::URL.set(url);
    let _ = raw::URL.set(url);
    {
        let api = RuntimeApi::start().await;
        let _env = LambdaEnv::acquire(&api, &[]).await;
        let runtime = tokio::spawn(lambda_runtime::run(service_fn(typed::handler)));
        let events = run_events(&api, &collector, &[("typed-v2", v2_event("api.example"))]).await;
        assert_cookies_as_the_client_saw_them(event_for(&events, "req-typed-v2"), true);
        runtime.abort();
    }
    {
        let api = RuntimeApi::start().await;
        let _env = LambdaEnv::acquire(&api, &[]).await;
        let runtime = tokio::spawn(lambda_runtime::run(service_fn(raw::handler)));
        let rest = json!({"httpMethod": "GET", "path": "/account", "headers": {"Host": "api.example"},
                          "requestContext": {}});
        let cases = [
            ("raw-furl", v2_event("abc.lambda-url.us-east-1.on.aws")),
            ("raw-rest", rest),
        ];
        let events = run_events(&api, &collector, &cases).await;
        assert_cookies_as_the_client_saw_them(event_for(&events, "req-raw-furl"), true);
        assert_cookies_as_the_client_saw_them(event_for(&events, "req-raw-rest"), false);
        runtime.abort();
    }
    for request in collector.requests() {
        assert_no_secret(&request.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_logs_the_cookie_header_and_every_set_cookie() {
    use axum::{response::IntoResponse, routing::get, Router};
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let layer_options = Options::new().application_id("cookies-app").base_uri(url);
    spawn_function(move || {
        let app = Router::new()
            .route(
                "/account",
                get(|| async {
                    let mut headers = axum::http::HeaderMap::new();
                    for cookie in set_cookies() {
                        if let Ok(value) = cookie.parse() {
                            headers.append(axum::http::header::SET_COOKIE, value);
                        }
                    }
                    (headers, "ok").into_response()
                }),
            )
            .layer(MoesifLayer::new(layer_options));
        moesif_lambda::run_http(app)
    });
    let options = InvokeOptions {
        request_id: Some("req-layer-v2".into()),
        ..InvokeOptions::default()
    };
    let invocation = api
        .invoke_with(v2_event("api.example"), options)
        .await
        .expect("answered");
    let answer = invocation.response_json().unwrap_or_default();
    assert_eq!(
        answer["cookies"].as_array().map(Vec::len),
        Some(2),
        "the client got both: {answer}"
    );
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    let mut events = Vec::new();
    for _ in 0..100 {
        events = collector.events();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_cookies_as_the_client_saw_them(event_for(&events, "req-layer-v2"), true);
    for request in collector.requests() {
        assert_no_secret(&request.body);
    }
}
