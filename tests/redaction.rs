//! Redaction by name pattern and by value shape, through the real `lambda_runtime` loop against the
//! loopback emulator and collector: credentials planted under credential-looking names (`X-Auth-Token`,
//! `accessToken`, …) and under innocuous names in the shape of a secret (a JWT under `data`, `Bearer …`
//! in a note, an AWS key id under `id`, a private key block, a GitHub token, a query string with an
//! access token), in the request, the answer, text (non-JSON) bodies and an outgoing `ureq` call made
//! by the handler. None of them may be in what the collector received (base64 bodies decoded), and
//! names that only look close (`author`, `tokenizer`, `NextToken`, `max_tokens`, …) arrive untouched.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifMiddleware, Options};
use moesif_lambda_testkit::{Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyZWRhY3Rpb24tdGVzdCJ9.S3cr3tS1gnatureOfTheJwtXyz";
const BEARER: &str = "Zm9vYmFyQmVhcmVyVG9rZW4xMjM";
const AWS_KEY: &str = "AKIAQWERTYUIOPASDFGH";
const KEY_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
const GITHUB: &str = "ghp_R3dact10nT3stT0k3nAbCdEfGhIjKlMnOpQr";
const STRIPE: &str = "sk_live_51R3dact10nT3stStr1peKey";
const SLACK: &str = "xoxb-123456789012-R3dact10nSlack";
const QS_TOKEN: &str = "S3CRET-QS-TOKEN";

/// Secrets under credential names (any value would do).
const NAMED: [&str; 7] = [
    "S3CRET-X-AUTH-TOKEN",
    "S3CRET-X-ACCESS-TOKEN",
    "S3CRET-X-CSRF-TOKEN",
    "S3CRET-X-SESSION-ID",
    "S3CRET-ACCESS-TOKEN-FIELD",
    "S3CRET-ANSWER-TOKEN",
    "S3CRET-OUT-AUTH",
];

fn private_key() -> String {
    format!("-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----")
}

/// Every secret, and the distinctive parts of the shaped ones.
fn secrets() -> Vec<String> {
    let mut all: Vec<String> = NAMED.iter().map(|s| s.to_string()).collect();
    let jwt_signature = JWT.rsplit('.').next().unwrap_or(JWT);
    for shaped in [
        JWT,
        jwt_signature,
        BEARER,
        AWS_KEY,
        KEY_BODY,
        GITHUB,
        STRIPE,
        SLACK,
        QS_TOKEN,
    ] {
        all.push(shaped.to_owned());
    }
    all
}

/// Names that look close to credential names but are not, with the values they must keep.
fn innocuous_headers() -> Value {
    json!({
        "Keep-Alive": "timeout=5, max=1000",
        "Accept": "application/json",
        "Cache-Control": "no-cache",
        "X-Request-Id": "rid-4711",
        "User-Agent": "redaction-test/1.0",
    })
}

fn innocuous_fields() -> Value {
    json!({
        "author": "Ada Lovelace", "keyword": "rust", "monkey": "banana", "tokenizer": "bpe",
        "NextToken": "next-page-2", "pageToken": "pt-3", "token_type": "Bearer", "max_tokens": 256
    })
}

/// Credentials in every shape, under credential names and innocuous ones.
fn planted_fields(token_field: &str) -> Value {
    let mut fields = innocuous_fields();
    let planted = json!({
        "accessToken": token_field,
        "note": format!("Bearer {BEARER}"),
        "data": JWT,
        "id": AWS_KEY,
        "deploy": {"key": private_key()},
        "repos": [GITHUB],
        "qs": format!("page=2&access_token={QS_TOKEN}"),
    });
    if let (Some(fields), Some(planted)) = (fields.as_object_mut(), planted.as_object()) {
        fields.extend(planted.clone());
    }
    fields
}

/// A plain-text body (not JSON: logged as base64) full of secrets by shape.
fn text_body() -> String {
    format!(
        "note: call with Authorization: Bearer {BEARER}\nid={AWS_KEY} tokens {GITHUB} {STRIPE} {SLACK}\n{}\nsee page=2&access_token={QS_TOKEN}\njwt {JWT}\n",
        private_key()
    )
}

fn request_headers() -> Value {
    let mut headers = innocuous_headers();
    let planted = json!({
        "Host": "api.example",
        "X-Auth-Token": NAMED[0],
        "x-access-token": NAMED[1],
        "X-CSRF-Token": NAMED[2],
        "x-session-id": NAMED[3],
        "X-Forwarded-Note": format!("Bearer {BEARER}"),
        "Referer": format!("https://app.example/cb?page=2&access_token={QS_TOKEN}"),
    });
    if let (Some(headers), Some(planted)) = (headers.as_object_mut(), planted.as_object()) {
        headers.extend(planted.clone());
    }
    headers
}

fn json_event(kind: &str) -> Value {
    let mut headers = request_headers();
    headers["x-answer"] = json!(kind);
    headers["Content-Type"] = json!("application/json");
    json!({
        "httpMethod": "POST", "path": "/orders",
        "queryStringParameters": {"page": "2"},
        "headers": headers,
        "requestContext": {"stage": "prod", "requestId": "ctx-1"},
        "body": planted_fields(NAMED[4]).to_string(),
        "isBase64Encoded": false
    })
}

fn text_event() -> Value {
    let mut event = json_event("text");
    event["headers"]["Content-Type"] = json!("text/plain");
    event["body"] = json!(text_body());
    event
}

static API_URL: OnceLock<String> = OnceLock::new();
static MOESIF_URL: OnceLock<String> = OnceLock::new();

fn options() -> Options {
    let url = MOESIF_URL.get().cloned().unwrap_or_else(|| "http://127.0.0.1:9".into());
    Options::new().application_id("redaction-app").base_uri_owned(url)
}

/// Calls the loopback API as a function would: credential headers, a query with an access token, a
/// text body full of secrets; the API answers JSON with secrets in it.
fn call_the_api(options: &Options) -> Result<(), ureq::Error> {
    let api = API_URL.get().cloned().unwrap_or_default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .middleware(MoesifMiddleware::new(options.clone()))
        .build()
        .into();
    agent
        .get(format!("{api}/v1/config?page=2&access_token={QS_TOKEN}"))
        .header("X-Auth-Token", NAMED[6])
        .header("Authorization", format!("Bearer {BEARER}"))
        .header("User-Agent", "redaction-test/1.0")
        .header("X-Request-Id", "rid-4711")
        .call()?
        .body_mut()
        .read_to_string()?;
    agent
        .post(format!("{api}/v1/users"))
        .header("Content-Type", "text/plain")
        .send(text_body())?;
    Ok(())
}

#[moesif_logger(options = options)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let kind = event.payload["headers"]["x-answer"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match kind.as_str() {
        "outgoing" => {
            let options = options();
            tokio::task::spawn_blocking(move || call_the_api(&options)).await??;
            Ok(json!({"statusCode": 204}))
        }
        "text" => Ok(json!({
            "statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": text_body()
        })),
        _ => Ok(json!({
            "statusCode": 200,
            "headers": {
                "Content-Type": "application/json", "X-Auth-Token": NAMED[5],
                "Set-Cookie": "sid=S3CRET-X-SESSION-ID; Path=/; HttpOnly", "Cache-Control": "no-cache"
            },
            "body": planted_fields(NAMED[5]).to_string()
        })),
    }
}

/// The collector's bytes, with every base64 body of the events it got decoded and added.
fn received_text(collector: &Collector) -> String {
    let mut text: Vec<String> = collector
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    for event in collector.events() {
        for half in ["request", "response"] {
            if event[half]["transfer_encoding"] == "base64" {
                let body = event[half]["body"].as_str().unwrap_or_default();
                let decoded = STANDARD.decode(body).expect("base64 bodies decode");
                text.push(String::from_utf8_lossy(&decoded).into_owned());
            }
        }
    }
    text.join("\n")
}

fn decoded_body(half: &Value) -> String {
    let body = half["body"].as_str().unwrap_or_default();
    String::from_utf8(STANDARD.decode(body).unwrap_or_default()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_by_name_and_by_shape_never_reach_the_collector() {
    let collector = Collector::start().await;
    let api = Collector::start().await;
    let _ = MOESIF_URL.set(collector.base_url());
    let _ = API_URL.set(api.base_url());
    let runtime_api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&runtime_api, &[]).await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(handler)));
    for (name, event) in [
        ("json", json_event("json")),
        ("text", text_event()),
        ("outgoing", json_event("outgoing")),
    ] {
        let options = InvokeOptions {
            request_id: Some(format!("req-{name}")),
            timeout: Duration::from_secs(20),
            ..InvokeOptions::default()
        };
        let invocation = runtime_api
            .invoke_with(event, options)
            .await
            .expect("the function answers");
        assert!(invocation.response_json().is_some(), "{name}: {:?}", invocation.outcome);
    }
    runtime.abort();

    let events = collector.events();
    assert_eq!(events.len(), 5, "three invocations and two outgoing calls: {events:#?}");
    let text = received_text(&collector);
    let leaked: Vec<String> = secrets().into_iter().filter(|s| text.contains(s.as_str())).collect();
    assert!(leaked.is_empty(), "leaked to the collector: {leaked:?}");
    let received_by_api = String::from_utf8_lossy(&api.requests()[1].body).into_owned();
    assert_eq!(received_by_api, text_body(), "the API got what the handler sent");

    let incoming = |id: &str| {
        events
            .iter()
            .find(|e| e["direction"] == "Incoming" && e["metadata"]["trace_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("an event for {id}"))
    };
    let json = incoming("req-json");
    let headers = &json["request"]["headers"];
    for name in ["X-Auth-Token", "x-access-token", "X-CSRF-Token", "x-session-id"] {
        assert_eq!(headers[name], "[REDACTED]", "{name}");
    }
    for (name, value) in innocuous_headers().as_object().into_iter().flatten() {
        assert_eq!(&headers[name], value, "{name} arrives untouched");
    }
    assert_eq!(headers["X-Forwarded-Note"], "Bearer [REDACTED]");
    assert_eq!(
        headers["Referer"],
        "https://app.example/cb?page=2&access_token=[REDACTED]"
    );
    let expected_fields = |token: &str| {
        let mut fields = innocuous_fields();
        let redacted = json!({
            "accessToken": token, "note": "Bearer [REDACTED]", "data": "[REDACTED]", "id": "[REDACTED]",
            "deploy": {"key": "[REDACTED]"}, "repos": ["[REDACTED]"],
            "qs": "page=2&access_token=[REDACTED]",
        });
        if let (Some(fields), Some(redacted)) = (fields.as_object_mut(), redacted.as_object()) {
            fields.extend(redacted.clone());
        }
        fields
    };
    assert_eq!(json["request"]["body"], expected_fields("[REDACTED]"));
    assert_eq!(json["response"]["body"], expected_fields("[REDACTED]"));
    assert_eq!(json["response"]["headers"]["X-Auth-Token"], "[REDACTED]");
    assert_eq!(
        json["response"]["headers"]["Set-Cookie"],
        "sid=[REDACTED]; Path=/; HttpOnly"
    );
    assert_eq!(json["response"]["headers"]["Cache-Control"], "no-cache");

    let text_call = incoming("req-text");
    let expected_text = text_body()
        .replace(BEARER, "[REDACTED]")
        .replace(&format!("id={AWS_KEY}"), "id=[REDACTED]")
        .replace(GITHUB, "[REDACTED]")
        .replace(STRIPE, "[REDACTED]")
        .replace(SLACK, "[REDACTED]")
        .replace(&private_key(), "[REDACTED]")
        .replace(QS_TOKEN, "[REDACTED]")
        .replace(JWT, "[REDACTED]");
    assert_eq!(text_call["request"]["transfer_encoding"], "base64");
    assert_eq!(decoded_body(&text_call["request"]), expected_text);
    assert_eq!(decoded_body(&text_call["response"]), expected_text);

    let outgoing: Vec<&Value> = events.iter().filter(|e| e["direction"] == "Outgoing").collect();
    assert_eq!(outgoing.len(), 2);
    let get = outgoing[0];
    assert_eq!(
        get["request"]["uri"],
        format!("{}/v1/config?page=2&access_token=[REDACTED]", api.base_url())
    );
    let out_headers = &get["request"]["headers"];
    assert_eq!(out_headers["x-auth-token"], "[REDACTED]");
    assert_eq!(out_headers["authorization"], "[REDACTED]");
    assert_eq!(out_headers["user-agent"], "redaction-test/1.0");
    assert_eq!(out_headers["x-request-id"], "rid-4711");
    let post = outgoing[1];
    assert_eq!(post["request"]["transfer_encoding"], "base64");
    assert_eq!(decoded_body(&post["request"]), expected_text);
}

mod kept {
    use super::*;
    pub static URL: OnceLock<String> = OnceLock::new();
    fn options() -> Options {
        let url = URL.get().cloned().unwrap_or_else(|| "http://127.0.0.1:9".into());
        Options::new()
            .application_id("redaction-app")
            .base_uri_owned(url)
            .keep(&["Authorization"])
    }
    /// Answers with its request body.
    #[moesif_logger(options = options)]
    pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
        Ok(json!({"statusCode": 200, "body": event.payload["body"].clone()}))
    }
}

mod by_value_off {
    use super::*;
    pub static URL: OnceLock<String> = OnceLock::new();
    fn options() -> Options {
        let url = URL.get().cloned().unwrap_or_else(|| "http://127.0.0.1:9".into());
        Options::new()
            .application_id("redaction-app")
            .base_uri_owned(url)
            .redact_by_value(false)
    }
    #[moesif_logger(options = options)]
    pub async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
        Ok(json!({"statusCode": 200, "body": event.payload["body"].clone()}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_authorization_arrives_whole_and_the_value_switch_turns_shapes_off() {
    let collector = Collector::start().await;
    let event = || {
        let mut event = json_event("echo");
        event["headers"]["Authorization"] = json!(format!("Bearer {JWT}"));
        event
    };
    {
        let _ = kept::URL.set(collector.base_url());
        let runtime_api = RuntimeApi::start().await;
        let _env = LambdaEnv::acquire(&runtime_api, &[]).await;
        let runtime = tokio::spawn(lambda_runtime::run(service_fn(kept::handler)));
        runtime_api.invoke(event()).await.expect("answers");
        runtime.abort();
    }
    {
        let _ = by_value_off::URL.set(collector.base_url());
        let runtime_api = RuntimeApi::start().await;
        let _env = LambdaEnv::acquire(&runtime_api, &[]).await;
        let runtime = tokio::spawn(lambda_runtime::run(service_fn(by_value_off::handler)));
        runtime_api.invoke(event()).await.expect("answers");
        runtime.abort();
    }
    let events = collector.events();
    assert_eq!(events.len(), 2);
    let kept = &events[0];
    assert_eq!(
        kept["request"]["headers"]["Authorization"],
        format!("Bearer {JWT}"),
        "kept: Moesif reads the JWT"
    );
    assert_eq!(
        kept["request"]["headers"]["X-Auth-Token"], "[REDACTED]",
        "the rest is not kept"
    );
    assert_eq!(kept["request"]["body"]["data"], "[REDACTED]");
    let off = &events[1];
    assert_eq!(
        off["request"]["headers"]["Authorization"], "[REDACTED]",
        "a credential name"
    );
    assert_eq!(off["request"]["headers"]["X-Auth-Token"], "[REDACTED]");
    assert_eq!(off["request"]["body"]["data"], JWT, "shapes are not looked for");
    assert_eq!(off["request"]["body"]["note"], format!("Bearer {BEARER}"));
    assert_eq!(off["request"]["body"]["accessToken"], "[REDACTED]", "names still count");
    assert_eq!(off["response"]["body"]["id"], AWS_KEY);
}
