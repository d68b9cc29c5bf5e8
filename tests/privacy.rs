//! No credential leaves the function — through the real `lambda_runtime` loop (synchronous delivery)
//! against the loopback emulator and collector. Every event carries secrets in every place one can sit
//! (headers, multi-value headers, v2 cookies, query strings, JSON and form bodies; in the answer: headers,
//! `Set-Cookie`, cookies, a JSON body, a handler that echoes its whole event); the bytes the collector
//! received must contain none of them, for REST v1, HTTP API v2, ALB, Function URL and WebSocket, raw and
//! typed handlers. Each category can be turned off; then the values arrive, proving the switch works.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifMiddleware, Options};
use moesif_lambda_testkit::conformance::load_cases;
use moesif_lambda_testkit::{spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

const APP_ID: &str = "privacy-app-id-do-not-log";

/// Every secret planted in the events and answers; none may reach the collector.
const SECRETS: [&str; 16] = [
    "S3CRET-BEARER",
    "S3CRET-COOKIE",
    "S3CRET-APIKEY",
    "S3CRET-STS",
    "S3CRET-PROXY",
    "S3CRET-QTOKEN",
    "S3CRET-QSIG",
    "S3CRET-PASSWORD",
    "S3CRET-REFRESH",
    "S3CRET-FORM",
    "S3CRET-SETCOOKIE",
    "S3CRET-RESPCOOKIE",
    "S3CRET-RESPTOKEN",
    "S3CRET-MVSETCOOKIE",
    "S3CRET-WSTOKEN",
    "S3CRET-CLIENTSECRET",
];

fn credential_headers() -> Value {
    json!({
        "Host": "api.example",
        "Authorization": "Bearer S3CRET-BEARER",
        "Cookie": "sid=S3CRET-COOKIE; theme=dark",
        "x-api-key": "S3CRET-APIKEY",
        "X-Amz-Security-Token": "S3CRET-STS",
        "Proxy-Authorization": "Basic S3CRET-PROXY",
        "Content-Type": "application/json",
    })
}

fn multi_value(headers: &Value) -> Value {
    let map = headers.as_object().cloned().unwrap_or_default();
    Value::Object(map.into_iter().map(|(k, v)| (k, json!([v]))).collect())
}

fn json_body() -> String {
    json!({"user": "ada", "password": "S3CRET-PASSWORD", "nested": [{"refresh_token": "S3CRET-REFRESH"}]}).to_string()
}

/// A real event of the conformance set, to build on (what `lambda_http` also accepts).
fn fixture(name: &str) -> Value {
    let cases = load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).expect("cases");
    cases
        .into_iter()
        .find(|case| case.name == name)
        .map(|case| case.event)
        .expect("the case exists")
}

fn rest_v1() -> Value {
    let mut event = fixture("pt-apiGatewayProxyOtherEvent--json");
    event["httpMethod"] = json!("POST");
    event["headers"] = credential_headers();
    event["multiValueHeaders"] = multi_value(&credential_headers());
    event["queryStringParameters"] = json!({"access_token": "S3CRET-QTOKEN", "page": "1"});
    event["multiValueQueryStringParameters"] =
        json!({"access_token": ["S3CRET-QTOKEN"], "page": ["1"], "X-Amz-Signature": ["S3CRET-QSIG"]});
    event["body"] = json!(json_body());
    event["isBase64Encoded"] = json!(false);
    event
}

fn http_api_v2(domain: &str) -> Value {
    let mut headers = credential_headers();
    if let Some(map) = headers.as_object_mut() {
        map.remove("Cookie"); // v2 carries cookies in their own array
    }
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/orders",
        "rawQueryString": "access_token=S3CRET-QTOKEN&X-Amz-Signature=S3CRET-QSIG&page=1",
        "cookies": ["sid=S3CRET-COOKIE", "theme=dark"],
        "headers": headers,
        "queryStringParameters": {"access_token": "S3CRET-QTOKEN", "X-Amz-Signature": "S3CRET-QSIG", "page": "1"},
        "requestContext": {"domainName": domain, "timeEpoch": 1583348638390_i64,
                           "http": {"method": "GET", "path": "/orders", "sourceIp": "198.51.100.7"}},
        "isBase64Encoded": false
    })
}

fn function_url_form_post() -> Value {
    let mut event = http_api_v2("abc.lambda-url.us-east-1.on.aws");
    event["requestContext"]["http"]["method"] = json!("POST");
    event["headers"]["Content-Type"] = json!("application/x-www-form-urlencoded");
    event["body"] = json!(base64_encode(
        "user=ada&password=S3CRET-FORM&client_secret=S3CRET-CLIENTSECRET"
    ));
    event["isBase64Encoded"] = json!(true);
    event
}

fn alb() -> Value {
    let mut event = fixture("pt-albMultiValueHeadersEvent--text");
    event["httpMethod"] = json!("POST");
    event["multiValueHeaders"] = multi_value(&credential_headers());
    event["multiValueQueryStringParameters"] = json!({"api_key": ["S3CRET-QTOKEN"], "page": ["1"]});
    event["body"] = json!(json_body());
    event["isBase64Encoded"] = json!(false);
    event
}

fn websocket_connect() -> Value {
    json!({
        "headers": credential_headers(), "multiValueHeaders": multi_value(&credential_headers()),
        "queryStringParameters": {"token": "S3CRET-WSTOKEN"},
        "multiValueQueryStringParameters": {"token": ["S3CRET-WSTOKEN"]},
        "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c-1", "stage": "prod",
                           "domainName": "ws.example", "requestTimeEpoch": 1583349317135_i64},
        "isBase64Encoded": false
    })
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The answer a raw handler gives: chosen by the `x-answer` header (any case, single or multi-value).
fn answer_for(event: &Value) -> Value {
    let kind = ["headers", "multiValueHeaders"].iter().find_map(|key| {
        let headers = event.get(*key)?.as_object()?;
        let (_, value) = headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("x-answer"))?;
        value.as_str().or_else(|| value.get(0)?.as_str()).map(str::to_owned)
    });
    match kind.as_deref() {
        // The whole event, as the HTTP API shorthand: it is its own body.
        Some("echo") => event.clone(),
        Some("redirect") => json!({
            "statusCode": 302,
            "headers": {"Location": "/next", "Set-Cookie": "sid=S3CRET-SETCOOKIE; HttpOnly"},
            "multiValueHeaders": {"Set-Cookie": ["a=S3CRET-MVSETCOOKIE", "b=2"]},
            "cookies": ["c=S3CRET-RESPCOOKIE"]
        }),
        Some("invalid-status") => json!({"statusCode": 1000, "body": "{\"ok\":true}"}),
        _ => json!({
            "statusCode": 200,
            "headers": {"Content-Type": "application/json", "Set-Cookie": "sid=S3CRET-SETCOOKIE"},
            "cookies": ["c=S3CRET-RESPCOOKIE"],
            "body": json!({"ok": true, "access_token": "S3CRET-RESPTOKEN"}).to_string()
        }),
    }
}

macro_rules! handler_module {
    ($name:ident, $options:expr) => {
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
                Ok(answer_for(&event.payload))
            }
        }
    };
}

handler_module!(defaults, Options::new());
handler_module!(invalid_status, Options::new());
handler_module!(
    all_off,
    Options::new()
        .redact_default_headers(false)
        .redact_default_query_params(false)
        .redact_default_body_fields(false)
        .redact_cookies(false)
        .redact_by_value(false)
        .redact(&["user"])
);

/// The default options, sending to the collector a test set in `url`.
fn options_for(url: &OnceLock<&'static str>) -> Options {
    Options::new()
        .application_id(APP_ID)
        .base_uri(url.get().copied().unwrap_or("http://127.0.0.1:9"))
}

mod typed {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    fn options() -> Options {
        options_for(&URL)
    }
    /// A typed HTTP API handler answering a redirect with cookies and no body.
    #[moesif_logger(options = options)]
    pub async fn handler(event: LambdaEvent<ApiGatewayV2httpRequest>) -> Result<ApiGatewayV2httpResponse, Error> {
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = 302;
        response.cookies = vec!["c=S3CRET-RESPCOOKIE".into()];
        response.body = event.payload.body.map(Body::Text);
        Ok(response)
    }
}

mod http {
    use super::*;
    pub static URL: OnceLock<&'static str> = OnceLock::new();
    fn options() -> Options {
        options_for(&URL)
    }
    /// A `lambda_http` handler that sets a cookie.
    #[moesif_logger(options = options)]
    pub async fn handler(request: lambda_http::Request) -> Result<lambda_http::Response<String>, Error> {
        Ok(lambda_http::Response::builder()
            .status(200)
            .header("set-cookie", "sid=S3CRET-SETCOOKIE")
            .header("content-type", "application/json")
            .body(json!({"token": "S3CRET-RESPTOKEN", "path": request.uri().path()}).to_string())?)
    }
}

/// Starts the emulator and `lambda_runtime::run(handler)` with the collector URL set for the module.
macro_rules! run {
    ($handler:expr, $url_cell:expr, $collector:expr) => {{
        let api = RuntimeApi::start().await;
        let url: &'static str = Box::leak($collector.base_url().into_boxed_str());
        let _ = $url_cell.set(url);
        let env = LambdaEnv::acquire(&api, &[]).await;
        let runtime = tokio::spawn(lambda_runtime::run(service_fn($handler)));
        (api, env, runtime)
    }};
}

async fn invoke_all(api: &RuntimeApi, events: &[(&str, Value)]) {
    for (name, event) in events {
        let options = InvokeOptions {
            timeout: Duration::from_secs(20),
            request_id: Some(format!("req-{name}")),
            ..InvokeOptions::default()
        };
        let invocation = api
            .invoke_with(event.clone(), options)
            .await
            .expect("the function answers");
        assert!(
            invocation.response_json().is_some(),
            "{name}: the caller got {:?}",
            invocation.outcome
        );
    }
}

/// Every shape, each with the three kinds of answer.
fn every_event() -> Vec<(String, Value)> {
    let shapes = [
        ("rest-v1", rest_v1()),
        ("http-api-v2", http_api_v2("api.example")),
        ("function-url-get", http_api_v2("abc.lambda-url.us-east-1.on.aws")),
        ("function-url-form", function_url_form_post()),
        ("alb", alb()),
        ("websocket-connect", websocket_connect()),
    ];
    let mut events = Vec::new();
    for (shape, event) in shapes {
        for answer in ["plain", "redirect", "echo"] {
            let mut event = event.clone();
            let key = if event.get("headers").is_some() {
                "headers"
            } else {
                "multiValueHeaders"
            };
            event[key]["x-answer"] = if key == "headers" {
                json!(answer)
            } else {
                json!([answer])
            };
            events.push((format!("{shape}-{answer}"), event));
        }
    }
    events
}

/// The collector's bytes (gunzipped), all requests together.
fn received_text(collector: &Collector) -> String {
    collector
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_the_collector_from_any_shape_or_place() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(defaults::handler, defaults::URL, collector);
    let events = every_event();
    let named: Vec<(&str, Value)> = events.iter().map(|(n, e)| (n.as_str(), e.clone())).collect();
    invoke_all(&api, &named).await;
    runtime.abort();
    let sent = collector.events();
    assert_eq!(sent.len(), events.len(), "one event per invocation");
    let text = received_text(&collector);
    let leaked: Vec<&str> = SECRETS.iter().copied().filter(|s| text.contains(s)).collect();
    assert!(leaked.is_empty(), "leaked to the collector: {leaked:?}");
    assert!(
        !text.contains(APP_ID),
        "the application id is a header, never in a body"
    );

    // Names stay, values go: the events still say what was there.
    let by_id = |name: &str| {
        sent.iter()
            .find(|e| e.pointer("/metadata/trace_id").and_then(Value::as_str) == Some(&format!("req-{name}")))
            .cloned()
            .unwrap_or_else(|| panic!("an event for {name}"))
    };
    let v1 = by_id("rest-v1-plain");
    assert_eq!(v1["request"]["headers"]["Authorization"], "[REDACTED]");
    assert!(v1["request"]["uri"]
        .as_str()
        .is_some_and(|uri| uri.contains("access_token=%5BREDACTED%5D") || uri.contains("access_token=[REDACTED]")));
    assert_eq!(v1["request"]["body"]["password"], "[REDACTED]");
    assert_eq!(v1["request"]["body"]["user"], "ada", "other fields are kept");
    assert_eq!(v1["request"]["headers"]["Cookie"], "sid=[REDACTED]; theme=[REDACTED]");
    assert_eq!(v1["response"]["headers"]["Set-Cookie"], "sid=[REDACTED]");
    assert_eq!(v1["response"]["body"]["access_token"], "[REDACTED]");
    let v2 = by_id("http-api-v2-plain");
    assert_eq!(
        v2["request"]["uri"],
        "http://api.example/orders?access_token=[REDACTED]&X-Amz-Signature=[REDACTED]&page=1"
    );
    assert_eq!(v2["request"]["body"], Value::Null, "a GET without a body logs no body");
    assert_eq!(v2["request"]["transfer_encoding"], "json");
    assert_eq!(
        by_id("rest-v1-redirect")["response"]["headers"]["Set-Cookie"],
        "a=[REDACTED], b=[REDACTED]",
        "API Gateway REST merges multiValueHeaders over headers of the same name; each cookie keeps its name"
    );
    assert_eq!(
        by_id("http-api-v2-redirect")["response"]["headers"]["Set-Cookie"],
        "sid=[REDACTED]; HttpOnly, c=[REDACTED]",
        "HTTP API v2: the header and the cookies array, each cookie with its name and attributes"
    );
    let redirect = by_id("http-api-v2-redirect");
    assert_eq!(redirect["response"]["status"], 302);
    assert_eq!(
        redirect["response"]["body"],
        Value::Null,
        "an answer with a status and no body has none"
    );
    let echo = by_id("http-api-v2-echo");
    assert_eq!(
        echo["response"]["body"]["cookies"],
        json!(["sid=[REDACTED]", "theme=[REDACTED]"])
    );
    assert_eq!(echo["response"]["body"]["headers"]["Host"], "api.example");
    let ws = by_id("websocket-connect-plain");
    assert_eq!(ws["request"]["uri"], "wss://api.example/prod/$connect?token=[REDACTED]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_and_lambda_http_handlers_leak_nothing() {
    let collector = Collector::start().await;
    {
        let (api, _env, runtime) = run!(typed::handler, typed::URL, collector);
        invoke_all(&api, &[("typed-v2-get", http_api_v2("api.example"))]).await;
        runtime.abort();
    }
    {
        let api = RuntimeApi::start().await;
        let _ = http::URL.set(Box::leak(collector.base_url().into_boxed_str()));
        let _env = LambdaEnv::acquire(&api, &[]).await;
        spawn_function(|| lambda_http::run(service_fn(http::handler)));
        invoke_all(
            &api,
            &[
                ("http-v2", http_api_v2("api.example")),
                ("http-v1", rest_v1()),
                ("http-alb", alb()),
            ],
        )
        .await;
    }
    let sent = collector.events();
    assert_eq!(sent.len(), 4);
    let text = received_text(&collector);
    let leaked: Vec<&str> = SECRETS.iter().copied().filter(|s| text.contains(s)).collect();
    assert!(leaked.is_empty(), "leaked to the collector: {leaked:?}");
    let typed = &sent[0];
    assert_eq!(typed["response"]["status"], 302);
    assert_eq!(
        typed["request"]["body"],
        Value::Null,
        "an empty typed body is omitted, not the event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_category_can_be_turned_off_and_names_added() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(all_off::handler, all_off::URL, collector);
    invoke_all(
        &api,
        &[
            ("off-v1", rest_v1()),
            ("off-form", function_url_form_post()),
            ("off-echo", {
                let mut event = http_api_v2("api.example");
                event["headers"]["x-answer"] = json!("echo");
                event
            }),
        ],
    )
    .await;
    runtime.abort();
    let sent = collector.events();
    assert_eq!(sent.len(), 3);
    let v1 = &sent[0];
    assert_eq!(v1["request"]["headers"]["Authorization"], "Bearer S3CRET-BEARER");
    assert!(v1["request"]["uri"]
        .as_str()
        .is_some_and(|uri| uri.contains("access_token=S3CRET-QTOKEN")));
    assert_eq!(v1["request"]["body"]["password"], "S3CRET-PASSWORD");
    assert_eq!(v1["request"]["body"]["user"], "[REDACTED]", "an added name");
    assert_eq!(v1["response"]["body"]["access_token"], "S3CRET-RESPTOKEN");
    let form = sent[1]["request"]["body"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        form,
        base64_encode("user=[REDACTED]&password=S3CRET-FORM&client_secret=S3CRET-CLIENTSECRET")
    );
    assert_eq!(
        sent[2]["response"]["body"]["cookies"],
        json!(["sid=S3CRET-COOKIE", "theme=dark"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_the_collector_would_refuse_is_logged_as_502_with_the_original() {
    let collector = Collector::start().await;
    let (api, _env, runtime) = run!(invalid_status::handler, invalid_status::URL, collector);
    let mut event = rest_v1();
    event["headers"]["x-answer"] = json!("invalid-status");
    event["multiValueHeaders"]["x-answer"] = json!(["invalid-status"]);
    invoke_all(&api, &[("invalid-status", event)]).await;
    runtime.abort();
    let sent = collector.events();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["response"]["status"], 502);
    assert_eq!(sent[0]["metadata"]["original_status"], 1000);
    assert_eq!(
        sent[0]["metadata"]["trace_id"], "req-invalid-status",
        "the default metadata is kept"
    );
}

#[test]
fn debug_output_never_shows_the_application_id() {
    let options = Options::new().application_id(APP_ID);
    let middleware = MoesifMiddleware::new(options.clone());
    for text in [
        format!("{options:?}"),
        format!("{options:#?}"),
        format!("{middleware:?}"),
    ] {
        assert!(!text.contains(APP_ID), "{text}");
        assert!(text.contains("application_id"), "{text}");
    }
}
