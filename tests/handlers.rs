//! The handler kinds users write, through the real loop: typed `aws_lambda_events` requests and responses
//! (REST v1, HTTP API v2, ALB, WebSocket), `lambda_http` handlers, and a sync body.

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
    ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use moesif_lambda_testkit::conformance::load_cases;
use moesif_lambda_testkit::{spawn_function, Collector, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::path::Path;

fn case_event(name: &str) -> Value {
    load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases"))
        .expect("cases")
        .into_iter()
        .find(|case| case.name == name)
        .map(|case| case.event)
        .expect("case exists")
}

#[moesif_logger]
async fn rest(event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = 201;
    response.body = Some(Body::Text(format!(
        "{{\"path\":\"{}\"}}",
        event.payload.path.unwrap_or_default()
    )));
    Ok(response)
}

#[moesif_logger]
async fn http_api(event: LambdaEvent<ApiGatewayV2httpRequest>) -> Result<ApiGatewayV2httpResponse, Error> {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = 202;
    response.body = event.payload.raw_path.map(Body::Text);
    Ok(response)
}

#[moesif_logger]
async fn alb(event: LambdaEvent<AlbTargetGroupRequest>) -> Result<AlbTargetGroupResponse, Error> {
    let mut response = AlbTargetGroupResponse::default();
    response.status_code = 204;
    let _ = event.payload.http_method;
    Ok(response)
}

#[moesif_logger]
async fn websocket(event: LambdaEvent<ApiGatewayWebsocketProxyRequest>) -> Result<Value, Error> {
    Ok(json!({"statusCode": 200, "body": event.payload.body.unwrap_or_default()}))
}

#[moesif_logger]
async fn http_handler(request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, Error> {
    let status = if request.uri().path().ends_with("/missing") {
        404
    } else {
        200
    };
    Ok(lambda_http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(format!("{{\"method\":\"{}\"}}", request.method()))?)
}

/// `impl IntoResponse` answered with a `String`: lambda_http makes it a 200 with that body, no header.
#[moesif_logger]
async fn text_handler(request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, Error> {
    Ok(format!("plain {}", request.uri().path()))
}

/// `impl IntoResponse` answered with a JSON value: a 200 with `content-type: application/json`.
#[moesif_logger]
async fn json_handler(request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, Error> {
    Ok(json!({"path": request.uri().path()}))
}

#[moesif_logger]
fn sync_body(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let path = event.payload.get("path").cloned().ok_or("no path")?;
    Ok(json!({"statusCode": 200, "body": json!({"sync": path}).to_string()}))
}

/// Typed REST events and `lambda_http` keep query parameters in a map: their order is not the event's.
fn assert_uri_ignoring_query_order(event: &Value, expected_base: &str) {
    let uri = event["request"]["uri"].as_str().unwrap_or_default();
    let (base, query) = uri.split_once('?').unwrap_or((uri, ""));
    assert_eq!(base, expected_base);
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.sort();
    assert_eq!(pairs, ["parameter1=value1", "parameter1=value2", "parameter2=value"]);
}

/// Runs `function` (a closure making the loop's future) against a fresh emulator and collector, invokes
/// it with `event`, and returns the caller's answer and the one event the collector received.
macro_rules! one_call {
    ($function:expr, $event:expr) => {{
        let collector = Collector::start().await;
        one_call!($function, $event, collector)
    }};
    ($function:expr, $event:expr, $collector:expr) => {{
        let api = RuntimeApi::start().await;
        let collector = &$collector;
        let before = collector.events().len();
        let url = collector.base_url();
        let env = LambdaEnv::acquire(
            &api,
            &[
                ("MOESIF_APPLICATION_ID", Some("handlers-app")),
                ("MOESIF_BASE_URI", Some(&url)),
            ],
        )
        .await;
        spawn_function($function);
        let invocation = api.invoke($event).await.expect("the function answers");
        drop(env);
        let mut events: Vec<Value> = collector.events().into_iter().skip(before).collect();
        assert_eq!(events.len(), 1, "one event per call");
        (invocation.response_json(), events.remove(0))
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_rest_api_events() {
    let (answer, event) = one_call!(
        || lambda_runtime::run(service_fn(rest)),
        case_event("edge-v1-cognito-apikey--json")
    );
    assert_eq!(answer.as_ref().map(|a| a["statusCode"].clone()), Some(json!(201)));
    assert_eq!(event["request"]["verb"], "GET");
    assert_uri_ignoring_query_order(&event, "http://id.execute-api.us-east-1.amazonaws.com/my/path");
    assert_eq!(event["request"]["time"], "2020-03-04T19:15:17.135");
    assert_eq!(event["user_id"], "us-east-1:cog-123");
    assert_eq!(event["session_token"], "key-abc");
    assert_eq!(event["response"]["status"], 201);
    assert_eq!(event["response"]["body"], json!({"path": "/my/path"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_http_api_events() {
    let (answer, event) = one_call!(
        || lambda_runtime::run(service_fn(http_api)),
        case_event("rr-example-apigw-v2-request-iam--json")
    );
    assert_eq!(answer.as_ref().map(|a| a["statusCode"].clone()), Some(json!(202)));
    assert_eq!(event["request"]["verb"], "GET");
    assert_eq!(
        event["request"]["uri"],
        "http://id.execute-api.us-east-1.amazonaws.com/my/path?parameter1=value1&parameter1=value2&parameter2=value"
    );
    assert_eq!(event["response"]["status"], 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_alb_events() {
    let (_, event) = one_call!(
        || lambda_runtime::run(service_fn(alb)),
        case_event("pt-albMultiValueQueryStringEvent--b64")
    );
    assert_uri_ignoring_query_order(
        &event,
        "http://alb-c-LoadB-14POFKYCLBNSF-1815800096.eu-central-1.elb.amazonaws.com/todos",
    );
    assert_eq!(event["request"]["ip_address"], "123.123.123.123");
    assert_eq!(event["response"]["status"], 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_events() {
    let message = json!({
        "requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "connectionId": "c-1", "stage": "prod",
                           "domainName": "ws.example.com", "requestTimeEpoch": 1583349317135_i64, "apiId": "a", "requestId": "r",
                           "identity": {"sourceIp": "203.0.113.9"}, "connectedAt": 1583349317135_i64},
        "body": "{\"action\":\"ping\"}", "isBase64Encoded": false
    });
    let (answer, event) = one_call!(|| lambda_runtime::run(service_fn(websocket)), message);
    assert_eq!(
        answer.as_ref().map(|a| a["body"].clone()),
        Some(json!("{\"action\":\"ping\"}"))
    );
    assert_eq!(event["request"]["uri"], "wss://ws.example.com/prod/$default");
    assert_eq!(event["request"]["ip_address"], "203.0.113.9");
    assert_eq!(event["request"]["body"], json!({"action": "ping"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_http_handlers() {
    // One collector: the handler connects to it once per process (per cold start).
    let collector = Collector::start().await;
    let (answer, event) = one_call!(
        || lambda_http::run(lambda_http::service_fn(http_handler)),
        case_event("rr-example-apigw-v2-request-iam--json"),
        collector
    );
    assert_eq!(answer.as_ref().map(|a| a["statusCode"].clone()), Some(json!(200)));
    assert_eq!(event["request"]["verb"], "GET");
    assert_eq!(
        event["request"]["uri"],
        "http://id.execute-api.us-east-1.amazonaws.com/my/path?parameter1=value1&parameter1=value2&parameter2=value"
    );
    assert_eq!(event["request"]["time"], "2020-03-04T19:03:58.390");
    assert_eq!(event["response"]["status"], 200);
    assert_eq!(event["response"]["body"], json!({"method": "GET"}));
    assert_eq!(event["response"]["headers"]["content-type"], "application/json");

    let (_, event) = one_call!(
        || lambda_http::run(lambda_http::service_fn(http_handler)),
        case_event("edge-v1-cognito-apikey--json"),
        collector
    );
    assert_uri_ignoring_query_order(&event, "http://id.execute-api.us-east-1.amazonaws.com/my/path");
    assert_eq!(event["user_id"], "us-east-1:cog-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_bodies() {
    let function = || lambda_runtime::run(service_fn(|event| async { sync_body(event) }));
    let (answer, event) = one_call!(
        function,
        json!({"httpMethod": "GET", "path": "/s", "headers": {"host": "h"}, "requestContext": {}})
    );
    assert_eq!(answer.as_ref().map(|a| a["statusCode"].clone()), Some(json!(200)));
    assert_eq!(event["response"]["body"], json!({"sync": "/s"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_http_answers_are_read_as_lambda_http_reads_them() {
    let collector = Collector::start().await;
    let mut event = case_event("rr-example-apigw-v2-request-iam--json");
    event["rawPath"] = json!("/my/text");
    let (answer, logged) = one_call!(
        || lambda_http::run(lambda_http::service_fn(text_handler)),
        event.clone(),
        collector
    );
    let answer = answer.unwrap_or_default();
    assert_eq!(answer["body"], "plain /my/text");
    assert_eq!(logged["response"]["status"], 200);
    assert_eq!(
        logged["response"]["headers"],
        json!({}),
        "no header invented for a String answer"
    );
    assert_eq!(logged["response"]["body"], json!(base64_of("plain /my/text")));

    event["rawPath"] = json!("/my/json");
    let (_, logged) = one_call!(
        || lambda_http::run(lambda_http::service_fn(json_handler)),
        event,
        collector
    );
    assert_eq!(logged["response"]["headers"]["content-type"], "application/json");
    assert_eq!(logged["response"]["body"], json!({"path": "/my/json"}));
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
