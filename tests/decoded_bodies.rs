//! Compressed bodies (`Content-Encoding` gzip, x-gzip, deflate, br, stacks of them) are decoded for
//! capture, then parsed and redacted like any body, through the real loop: an axum `Router` with
//! tower-http's `CompressionLayer` inside `MoesifLayer`, an annotated raw handler answering a gzip body,
//! compressed requests, and outgoing `ureq` calls. What the caller gets is unchanged (compared with the
//! same function without the middleware, byte for byte), the logged headers keep their
//! `Content-Encoding`, a body that cannot be decoded is the marker with the reason, and no planted secret
//! can be read back from anything the collector received, however it is decoded.

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifLayer, MoesifMiddleware, Options};
use moesif_lambda_testkit::encode::{gzip, raw_deflate, zlib};
use moesif_lambda_testkit::{
    event_for, http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi,
};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;

const TOKEN: &str = "tok-3f9a1c-do-not-log";
const PASSWORD: &str = "pw-hunter2-do-not-log";

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        encoder.write_all(bytes).expect("in memory");
    }
    out
}

/// The account the apps answer: long enough to be compressed, with a token redaction must remove.
fn account() -> Value {
    json!({"user": "ada", "token": TOKEN, "plan": "pro", "items": (1..=20).collect::<Vec<u32>>()})
}

fn signup() -> Value {
    json!({"user": "ada", "password": PASSWORD, "newsletter": true})
}

/// Every way `secret` could be read back from `bytes`: as they are, or from any JSON string in them,
/// base64-decoded or not, then as they are or decompressed (gzip, zlib, raw deflate, brotli; twice, for
/// stacks).
fn reveals(bytes: &[u8], secret: &str) -> bool {
    fn strings(value: &Value, out: &mut Vec<Vec<u8>>) {
        match value {
            Value::String(text) => {
                out.push(text.as_bytes().to_vec());
                if let Ok(decoded) = STANDARD.decode(text) {
                    out.push(decoded);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
            Value::Object(map) => map.values().for_each(|item| strings(item, out)),
            _ => {}
        }
    }
    fn decompressed(bytes: &[u8]) -> Vec<Vec<u8>> {
        let read = |mut reader: Box<dyn Read + '_>| {
            let mut out = Vec::new();
            // Whatever decodes before an error counts too.
            let _ = reader.read_to_end(&mut out);
            out
        };
        vec![
            read(Box::new(flate2::read::MultiGzDecoder::new(bytes))),
            read(Box::new(flate2::read::ZlibDecoder::new(bytes))),
            read(Box::new(flate2::read::DeflateDecoder::new(bytes))),
            read(Box::new(brotli::Decompressor::new(bytes, 4096))),
        ]
    }
    let contains = |haystack: &[u8]| haystack.windows(secret.len()).any(|window| window == secret.as_bytes());
    let mut candidates = vec![bytes.to_vec()];
    if let Ok(json) = serde_json::from_slice::<Value>(bytes) {
        strings(&json, &mut candidates);
    }
    candidates.iter().any(|candidate| {
        contains(candidate)
            || decompressed(candidate)
                .iter()
                .any(|once| contains(once) || decompressed(once).iter().any(|twice| contains(twice)))
    })
}

/// Nothing the collector received (as sent, and gunzipped) reveals a planted secret.
fn assert_nothing_revealed(collector: &Collector) {
    let requests = collector.requests();
    assert!(!requests.is_empty());
    for request in requests {
        for secret in [TOKEN, PASSWORD] {
            assert!(
                !reveals(&request.raw_body, secret) && !reveals(&request.body, secret),
                "{secret} can be read from what {} received: {}",
                request.path,
                String::from_utf8_lossy(&request.body)
            );
        }
    }
}

#[test]
fn the_check_finds_a_secret_however_it_is_hidden() {
    let plain = signup().to_string();
    assert!(reveals(plain.as_bytes(), PASSWORD));
    let event = json!({"response": {"body": STANDARD.encode(gzip(plain.as_bytes()))}}).to_string();
    assert!(reveals(event.as_bytes(), PASSWORD));
    let stacked = json!({"body": STANDARD.encode(gzip(&zlib(plain.as_bytes())))}).to_string();
    assert!(reveals(stacked.as_bytes(), PASSWORD));
    let brotli = json!({"body": STANDARD.encode(brotli(plain.as_bytes()))}).to_string();
    assert!(reveals(brotli.as_bytes(), PASSWORD));
    assert!(!reveals(
        json!({"password": "[REDACTED]"}).to_string().as_bytes(),
        PASSWORD
    ));
}

// ---------------------------------------------------------------------------------------------------
// MoesifLayer outermost, tower-http compression inside.

fn app() -> Router {
    Router::new()
        .route("/account", get(|| async { Json(account()) }))
        .route(
            "/signup",
            post(|Json(body): Json<Value>| async move { Json(json!({"created": body["user"]})) }),
        )
        .route(
            "/raw-upload",
            post(|body: Bytes| async move { format!("{} bytes", body.len()) }),
        )
        .layer(RequestDecompressionLayer::new())
        .layer(CompressionLayer::new())
}

fn layer_requests() -> Vec<(&'static str, Value)> {
    let get_account = |accept: &str| {
        let mut event = http_api_event("GET", "/account", None);
        event["headers"]["accept-encoding"] = json!(accept);
        event
    };
    let mut compressed_signup = http_api_event("POST", "/signup", None);
    compressed_signup["headers"]["content-encoding"] = json!("gzip");
    compressed_signup["body"] = json!(STANDARD.encode(gzip(signup().to_string().as_bytes())));
    compressed_signup["isBase64Encoded"] = json!(true);
    let mut unknown = http_api_event("POST", "/raw-upload", None);
    unknown["headers"]["content-encoding"] = json!("zstd");
    unknown["headers"]["content-type"] = json!("application/octet-stream");
    unknown["body"] = json!(STANDARD.encode(signup().to_string()));
    unknown["isBase64Encoded"] = json!(true);
    vec![
        ("decode-gzip", get_account("gzip")),
        ("decode-br", get_account("br")),
        ("decode-deflate", get_account("deflate")),
        ("decode-plain", get_account("identity")),
        ("decode-signup", compressed_signup),
        ("decode-unknown", unknown),
    ]
}

async fn layer_answers(start: impl FnOnce() + Send) -> Vec<Option<Value>> {
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    start();
    let mut answers = Vec::new();
    for (id, event) in layer_requests() {
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
async fn a_compressed_router_answers_as_without_the_layer_and_is_logged_decoded() {
    let without = layer_answers(|| spawn_function(|| lambda_http::run(app()))).await;
    let collector = Collector::start().await;
    let url = collector.base_url();
    let with = layer_answers(move || {
        spawn_function(move || {
            let options = Options::new().application_id_owned("decode-app").base_uri_owned(url);
            moesif_lambda::run_http(app().layer(MoesifLayer::new(options)))
        })
    })
    .await;
    assert_eq!(with, without, "the caller gets the compressed bodies unchanged");
    for (index, coding) in ["gzip", "br", "deflate"].into_iter().enumerate() {
        let answer = with[index].clone().unwrap_or_default();
        assert_eq!(answer["headers"]["content-encoding"], coding, "{answer}");
        assert_eq!(answer["isBase64Encoded"], true);
        let bytes = STANDARD.decode(answer["body"].as_str().unwrap_or_default());
        assert!(
            bytes.is_ok_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_err()),
            "the caller's body is compressed: {answer}"
        );
    }
    assert_eq!(
        with[4].as_ref().map(|a| a["body"].clone()),
        Some(json!("{\"created\":\"ada\"}"))
    );

    let report = moesif_lambda::flush(Duration::from_secs(10)).await;
    assert_eq!(report.requeued, 0, "{report:?}");
    let events = collector.events();
    let by_id = |id: &str| event_for(&events, id).clone();
    for (id, coding) in [
        ("decode-gzip", Some("gzip")),
        ("decode-br", Some("br")),
        ("decode-deflate", Some("deflate")),
        ("decode-plain", None),
    ] {
        let response = &by_id(id)["response"];
        assert_eq!(response["transfer_encoding"], "json", "{id}: {response}");
        let body = &response["body"];
        assert_eq!(
            (&body["user"], &body["plan"]),
            (&json!("ada"), &json!("pro")),
            "{id}: {body}"
        );
        assert_eq!(body["items"].as_array().map(Vec::len), Some(20));
        assert_eq!(body["token"], "[REDACTED]", "{id}: decoded, then redacted");
        assert_eq!(
            response["headers"]["content-encoding"].as_str(),
            coding,
            "{id}: the logged headers stay as they were"
        );
    }

    let signup_event = by_id("decode-signup");
    let request = &signup_event["request"];
    assert_eq!(request["headers"]["content-encoding"], "gzip");
    assert_eq!(request["transfer_encoding"], "json");
    assert_eq!(
        request["body"]["user"], "ada",
        "the gzip request body is logged decoded"
    );
    assert_eq!(request["body"]["password"], "[REDACTED]");
    assert_eq!(signup_event["response"]["body"], json!({"created": "ada"}));

    let unknown = by_id("decode-unknown");
    let size = STANDARD
        .decode(layer_requests()[5].1["body"].as_str().unwrap_or_default())
        .map(|b| b.len());
    assert_eq!(
        unknown["request"]["body"],
        json!({"moesif_body_omitted": "unsupported content-encoding: zstd", "original_size": size.ok()}),
        "a body that cannot be decoded is the marker, never its bytes"
    );
    assert_nothing_revealed(&collector);
}

// ---------------------------------------------------------------------------------------------------
// An annotated raw handler (`LambdaEvent<Value>`) answering a compressed body.

fn gzipped_answer() -> Value {
    json!({
        "statusCode": 200,
        "headers": {"content-encoding": "gzip", "content-type": "application/json"},
        "isBase64Encoded": true,
        "body": STANDARD.encode(gzip(account().to_string().as_bytes())),
    })
}

/// Claims an encoding this crate does not decode; its bytes hold the token in the clear.
fn unknown_answer() -> Value {
    json!({
        "statusCode": 200,
        "multiValueHeaders": {"Content-Encoding": ["zstd"]},
        "isBase64Encoded": true,
        "body": STANDARD.encode(account().to_string()),
    })
}

#[moesif_logger]
async fn raw(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(match event.payload["path"].as_str() {
        Some("/zstd") => unknown_answer(),
        _ => gzipped_answer(),
    })
}

/// A REST (v1) event whose body was deflated, then gzipped: `multiValueHeaders` has the whole stack,
/// `headers` only its last value, as API Gateway sends them.
fn stacked_request(path: &str) -> Value {
    json!({
        "httpMethod": "POST", "path": path, "requestContext": {"requestTimeEpoch": 1_583_349_317_135_i64},
        "headers": {"Host": "api.example", "Content-Encoding": "gzip", "Content-Type": "application/json"},
        "multiValueHeaders": {"Host": ["api.example"], "Content-Encoding": ["deflate", "gzip"],
                              "Content-Type": ["application/json"]},
        "body": STANDARD.encode(gzip(&zlib(signup().to_string().as_bytes()))),
        "isBase64Encoded": true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annotated_handler_answering_gzip_is_logged_decoded() {
    let collector = Collector::start().await;
    let url = collector.base_url();
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(
        &api,
        &[
            ("MOESIF_APPLICATION_ID", Some("decode-app")),
            ("MOESIF_BASE_URI", Some(&url)),
        ],
    )
    .await;
    spawn_function(|| lambda_runtime::run(service_fn(raw)));
    let gzipped = api.invoke(stacked_request("/account")).await.expect("answers");
    let unknown = api.invoke(stacked_request("/zstd")).await.expect("answers");
    assert_eq!(
        gzipped.response_json(),
        Some(gzipped_answer()),
        "the answer is unchanged"
    );
    assert_eq!(unknown.response_json(), Some(unknown_answer()));
    let events = collector.wait_for_events(2, Duration::from_secs(10)).await;
    assert_eq!(events.len(), 2, "{events:?}");

    let logged = &events[0];
    assert_eq!(logged["response"]["transfer_encoding"], "json");
    assert_eq!(logged["response"]["body"]["user"], "ada");
    assert_eq!(logged["response"]["body"]["token"], "[REDACTED]");
    assert_eq!(logged["response"]["headers"]["content-encoding"], "gzip");
    assert_eq!(
        logged["request"]["body"]["password"], "[REDACTED]",
        "the stacked request body is undone from its end"
    );
    assert_eq!(logged["request"]["body"]["user"], "ada");
    assert_eq!(logged["request"]["headers"]["Content-Encoding"], "gzip");

    let marker = &events[1]["response"]["body"];
    assert_eq!(marker["moesif_body_omitted"], "unsupported content-encoding: zstd");
    assert_eq!(
        marker["original_size"].as_u64(),
        Some(account().to_string().len() as u64)
    );
    assert_nothing_revealed(&collector);
}

// ---------------------------------------------------------------------------------------------------
// Outgoing calls: a loopback API answering compressed bodies.

/// A raw HTTP/1.1 server on 127.0.0.1 (one request per connection) answering `account()` under the
/// coding its path names, with a `Content-Length`.
struct Api {
    url: String,
}

impl Api {
    fn start() -> Api {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = serve(stream);
                });
            }
        });
        Api { url }
    }
}

fn serve(stream: std::net::TcpStream) -> std::io::Result<()> {
    use std::io::BufRead;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut request_body = vec![0; length];
    reader.read_exact(&mut request_body)?;
    let plain = account().to_string().into_bytes();
    let (coding, body) = match path.as_str() {
        "/gzip" => ("gzip", gzip(&plain)),
        "/x-gzip" => ("x-gzip", gzip(&plain)),
        "/deflate" => ("deflate", zlib(&plain)),
        "/deflate-raw" => ("deflate", raw_deflate(&plain)),
        "/stacked" => ("deflate, gzip", gzip(&zlib(&plain))),
        "/br" => ("br", brotli(&plain)),
        "/zstd" => ("zstd", plain),
        "/corrupt" => ("deflate", plain),
        _ => ("identity", br#"{"received":true}"#.to_vec()),
    };
    write!(
        out,
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-encoding: {coding}\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )?;
    out.write_all(&body)
}

/// Everything a caller can observe of an answer: status, headers but `date`, and the body's bytes.
fn observe(agent: &ureq::Agent, url: &str) -> String {
    match agent.get(url).call() {
        Err(error) => format!("error: {error}"),
        Ok(mut response) => {
            let headers: Vec<String> = response
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str() != "date")
                .map(|(name, value)| format!("{name}={value:?}"))
                .collect();
            let mut bytes = Vec::new();
            let read = response.body_mut().as_reader().read_to_end(&mut bytes);
            format!(
                "{} {headers:?} length={:?} body={bytes:?} read={:?}",
                response.status(),
                response.body().content_length(),
                read.map_err(|e| e.kind())
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_compressed_bodies_are_logged_decoded_and_the_caller_sees_them_unchanged() {
    let collector = Collector::start().await;
    let built_on = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = built_on.clone();
    let options = Options::new()
        .application_id("decode-outgoing")
        .base_uri_owned(collector.base_url())
        .mask_event_model_with(move |event| {
            if let Ok(mut threads) = record.lock() {
                threads.push(std::thread::current().id());
            }
            event
        });
    let api = Api::start();
    let url = api.url.clone();
    let paths = [
        "/gzip",
        "/x-gzip",
        "/deflate",
        "/deflate-raw",
        "/stacked",
        "/br",
        "/zstd",
        "/corrupt",
    ];
    let (with, without, caller) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .middleware(MoesifMiddleware::new(options))
            .build()
            .into();
        let plain: ureq::Agent = ureq::Agent::config_builder().build().into();
        let run = |agent: &ureq::Agent| -> Vec<String> {
            paths
                .iter()
                .map(|path| observe(agent, &format!("{url}{path}")))
                .collect()
        };
        let (with, without) = (run(&agent), run(&plain));
        let sent = agent
            .post(format!("{url}/upload"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .send(&gzip(signup().to_string().as_bytes())[..])
            .map(|r| r.status().as_u16());
        assert_eq!(sent.ok(), Some(200));
        (with, without, std::thread::current().id())
    })
    .await
    .expect("calls ran");
    assert_eq!(
        with, without,
        "the caller observes exactly what it would without the middleware"
    );

    let report = moesif_lambda::flush(Duration::from_secs(10)).await;
    assert_eq!(report.requeued, 0, "{report:?}");
    let events = collector.events();
    assert_eq!(events.len(), paths.len() + 1, "{events:?}");
    let by_path = |path: &str| {
        events
            .iter()
            .find(|e| e["request"]["uri"] == format!("{}{path}", api.url))
            .cloned()
            .unwrap_or_else(|| panic!("an event for {path}: {events:?}"))
    };
    for (path, coding) in [
        // ureq itself decompresses `gzip` and drops the header (as the caller sees it): nothing is left.
        ("/gzip", None),
        ("/x-gzip", Some("x-gzip")),
        ("/deflate", Some("deflate")),
        ("/deflate-raw", Some("deflate")),
        ("/stacked", Some("deflate, gzip")),
        ("/br", Some("br")),
    ] {
        let response = &by_path(path)["response"];
        assert_eq!(response["transfer_encoding"], "json", "{path}: {response}");
        assert_eq!(response["body"]["user"], "ada", "{path}: {response}");
        assert_eq!(response["body"]["token"], "[REDACTED]", "{path}");
        assert_eq!(
            response["headers"]["content-encoding"].as_str(),
            coding,
            "{path}: the logged headers are the ones the caller gets"
        );
    }
    let plain_size = account().to_string().len();
    assert_eq!(
        by_path("/zstd")["response"]["body"],
        json!({"moesif_body_omitted": "unsupported content-encoding: zstd", "original_size": plain_size})
    );
    assert_eq!(
        by_path("/corrupt")["response"]["body"],
        json!({"moesif_body_omitted": "body could not be decoded as deflate", "original_size": plain_size})
    );
    let upload = by_path("/upload");
    assert_eq!(upload["request"]["headers"]["content-encoding"], "gzip");
    assert_eq!(
        upload["request"]["body"]["user"], "ada",
        "the gzip request body is logged decoded"
    );
    assert_eq!(upload["request"]["body"]["password"], "[REDACTED]");
    assert_eq!(upload["response"]["body"], json!({"received": true}));

    let threads = built_on.lock().map(|t| t.clone()).unwrap_or_default();
    assert_eq!(threads.len(), paths.len() + 1);
    assert!(
        threads.iter().all(|thread| *thread != caller),
        "events are built (decoded, redacted, masked) off the caller's thread"
    );
    assert_nothing_revealed(&collector);
}
