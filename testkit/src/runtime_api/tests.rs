//! The emulator at the protocol level, through raw HTTP/1.1 calls standing in for the runtime's workers
//! and an extension: concurrent hand-out, answers matched by request id, the cap on invocations in
//! flight, extensions never holding invocations back in concurrent mode, and the default mode's order.
//! Every call is bounded; "did not happen" is checked after a short pause, which can only miss a bug, not
//! fail a correct emulator on a slow machine.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const BOUND: Duration = Duration::from_secs(10);
const PAUSE: Duration = Duration::from_millis(300);

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request on its own connection, answered within [`BOUND`].
async fn call(addr: String, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let exchange = async {
        let mut stream = TcpStream::connect(&addr).await.expect("connect to the emulator");
        stream.write_all(request.as_bytes()).await.expect("send the request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read the answer");
        raw
    };
    let raw = tokio::time::timeout(BOUND, exchange)
        .await
        .expect("the emulator answers in time");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete HTTP answer");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `GET /runtime/invocation/next`, on its own task (it long-polls).
fn next(api: &RuntimeApi) -> JoinHandle<Answer> {
    let addr = api.endpoint();
    tokio::spawn(async move { call(addr, "GET", "/2018-06-01/runtime/invocation/next", &[], "").await })
}

async fn respond_to(api: &RuntimeApi, request_id: &str, body: &str) -> u16 {
    let path = format!("/2018-06-01/runtime/invocation/{request_id}/response");
    call(api.endpoint(), "POST", &path, &[], body).await.status
}

async fn fail(api: &RuntimeApi, request_id: &str) -> u16 {
    let path = format!("/2018-06-01/runtime/invocation/{request_id}/error");
    let headers = [("lambda-runtime-function-error-type", "Handler.Failed")];
    let body = r#"{"errorType":"Handler.Failed","errorMessage":"no"}"#;
    call(api.endpoint(), "POST", &path, &headers, body).await.status
}

/// Registers an extension for `INVOKE` and `SHUTDOWN`; its identifier.
async fn register(api: &RuntimeApi) -> String {
    let answer = call(
        api.endpoint(),
        "POST",
        "/2020-01-01/extension/register",
        &[("lambda-extension-name", "slow-extension")],
        r#"{"events":["INVOKE","SHUTDOWN"]}"#,
    )
    .await;
    assert_eq!(answer.status, 200);
    answer
        .header("lambda-extension-identifier")
        .expect("an identifier")
        .to_owned()
}

/// `GET /extension/event/next` for the extension, on its own task.
fn extension_next(api: &RuntimeApi, id: &str) -> JoinHandle<Answer> {
    let addr = api.endpoint();
    let id = id.to_owned();
    tokio::spawn(async move {
        let headers = [("lambda-extension-identifier", id.as_str())];
        call(addr, "GET", "/2020-01-01/extension/event/next", &headers, "").await
    })
}

async fn joined(task: JoinHandle<Answer>) -> Answer {
    tokio::time::timeout(BOUND, task)
        .await
        .expect("answered in time")
        .expect("the call did not panic")
}

fn request_id(answer: &Answer) -> String {
    answer
        .header("lambda-runtime-aws-request-id")
        .unwrap_or_default()
        .to_owned()
}

/// Queues `count` invocations with ids `{prefix}-{n}` on a task; their results in order.
fn invoke_many(api: &Arc<RuntimeApi>, prefix: &str, count: usize) -> JoinHandle<Vec<Result<Invocation, TestkitError>>> {
    let calls = (0..count)
        .map(|n| {
            let options = InvokeOptions {
                request_id: Some(format!("{prefix}-{n}")),
                ..InvokeOptions::default()
            };
            (json!({"n": n}), options)
        })
        .collect();
    let api = api.clone();
    tokio::spawn(async move { api.invoke_many(calls).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_next_calls_get_different_invocations_and_answers_match_by_id() {
    let api = Arc::new(RuntimeApi::start_concurrent(2).await);
    assert_eq!(api.max_concurrency(), Some(2));
    let results = invoke_many(&api, "c", 3);

    let first = joined(next(&api)).await;
    let second = joined(next(&api)).await;
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(
        (request_id(&first), request_id(&second)),
        ("c-0".to_owned(), "c-1".to_owned())
    );
    assert_eq!((first.json(), second.json()), (json!({"n": 0}), json!({"n": 1})));

    let third = next(&api);
    tokio::time::sleep(PAUSE).await;
    assert!(!third.is_finished(), "a third /next waits while 2 are in flight");
    assert_eq!((api.invocations_handed_out(), api.invocations_in_flight()), (2, 2));

    assert_eq!(respond_to(&api, "c-1", r#"{"r":1}"#).await, 202, "answers in any order");
    let third = joined(third).await;
    assert_eq!(request_id(&third), "c-2");
    assert_eq!(respond_to(&api, "nope", "{}").await, 400, "not in flight");
    assert_eq!(respond_to(&api, "c-1", "{}").await, 400, "already answered");
    assert_eq!(fail(&api, "c-0").await, 202);
    assert_eq!(respond_to(&api, "c-2", r#"{"r":2}"#).await, 202);

    let results = tokio::time::timeout(BOUND, results)
        .await
        .expect("in time")
        .expect("no panic");
    let outcomes: Vec<(String, Outcome)> = results
        .into_iter()
        .map(|r| r.map(|i| (i.request_id, i.outcome)).expect("answered"))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (
                "c-0".to_owned(),
                Outcome::Error {
                    error_type: Some("Handler.Failed".to_owned()),
                    body: json!({"errorType": "Handler.Failed", "errorMessage": "no"})
                }
            ),
            ("c-1".to_owned(), Outcome::Response(br#"{"r":1}"#.to_vec())),
            ("c-2".to_owned(), Outcome::Response(br#"{"r":2}"#.to_vec())),
        ]
    );
    assert_eq!(api.max_in_flight(), 2);
    assert_eq!(api.invocations_in_flight(), 0);
    assert!(api.wait_until_idle(BOUND).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mode_never_waits_for_extensions() {
    let api = Arc::new(RuntimeApi::start_concurrent(2).await);
    let extension = register(&api).await;
    let first_event = extension_next(&api, &extension);
    let results = invoke_many(&api, "e", 2);

    // The extension never comes back while the runtime takes, answers and takes again.
    let e0 = joined(next(&api)).await;
    assert_eq!(request_id(&e0), "e-0");
    assert_eq!(respond_to(&api, "e-0", "{}").await, 202);
    let e1 = joined(next(&api)).await;
    assert_eq!(request_id(&e1), "e-1", "handed out without waiting for the extension");
    assert_eq!(respond_to(&api, "e-1", "{}").await, 202);
    let results = tokio::time::timeout(BOUND, results)
        .await
        .expect("in time")
        .expect("no panic");
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(
        api.invocation_finished_at("e-0"),
        None,
        "the extension is not done with it"
    );

    // It still gets every INVOKE event, in order, queued while it was busy.
    let first_event = joined(first_event).await.json();
    assert_eq!(
        (first_event["eventType"].clone(), first_event["requestId"].clone()),
        (json!("INVOKE"), json!("e-0"))
    );
    let second_event = joined(extension_next(&api, &extension)).await.json();
    assert_eq!(second_event["requestId"], "e-1");
    assert!(
        api.invocation_finished_at("e-0").is_some(),
        "answered, and the extension came back after it"
    );
    assert_eq!(api.invocation_finished_at("e-1"), None);
    assert!(
        !api.wait_until_idle(PAUSE).await,
        "the extension is still busy with e-1"
    );

    let parked = extension_next(&api, &extension);
    assert!(api.wait_until_idle(BOUND).await);
    assert!(api.invocation_finished_at("e-1").is_some());
    api.shutdown();
    assert_eq!(joined(parked).await.json()["eventType"], "SHUTDOWN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_mode_waits_for_the_runtime_and_for_invoke_extensions() {
    let api = Arc::new(RuntimeApi::start().await);
    assert_eq!(api.max_concurrency(), None);
    let extension = register(&api).await;
    let first_event = extension_next(&api, &extension);
    let results = invoke_many(&api, "d", 2);

    let d0 = joined(next(&api)).await;
    assert_eq!(request_id(&d0), "d-0");
    let waiting = next(&api);
    tokio::time::sleep(PAUSE).await;
    assert_eq!(api.invocations_handed_out(), 1, "not while d-0 is in flight");
    assert_eq!(respond_to(&api, "d-0", "{}").await, 202);
    tokio::time::sleep(PAUSE).await;
    assert!(
        !waiting.is_finished(),
        "not before the extension asked for its next event"
    );
    assert_eq!(api.invocations_handed_out(), 1);

    assert_eq!(joined(first_event).await.json()["requestId"], "d-0");
    let second_event = extension_next(&api, &extension);
    let d1 = joined(waiting).await;
    assert_eq!(request_id(&d1), "d-1");
    assert!(api.invocation_finished_at("d-0").is_some());
    assert_eq!(respond_to(&api, "d-1", "{}").await, 202);
    assert_eq!(joined(second_event).await.json()["requestId"], "d-1");
    let parked = extension_next(&api, &extension);
    assert!(
        !api.wait_until_idle(PAUSE).await,
        "d-1 goes on until the runtime asks for its next event"
    );
    let _parked_runtime = next(&api);
    assert!(api.wait_until_idle(BOUND).await);
    let results = tokio::time::timeout(BOUND, results)
        .await
        .expect("in time")
        .expect("no panic");
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(api.max_in_flight(), 1);
    api.shutdown();
    assert_eq!(joined(parked).await.json()["eventType"], "SHUTDOWN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_ends_when_the_runtime_asks_again_and_no_event_extensions_are_never_waited_for() {
    let api = Arc::new(RuntimeApi::start().await);
    let answer = call(
        api.endpoint(),
        "POST",
        "/2020-01-01/extension/register",
        &[("lambda-extension-name", "shutdown-only")],
        r#"{"events":[]}"#,
    )
    .await;
    assert_eq!(answer.status, 200);
    let results = invoke_many(&api, "b", 1);
    let b0 = joined(next(&api)).await;
    assert_eq!(request_id(&b0), "b-0");
    assert_eq!(respond_to(&api, "b-0", "{}").await, 202);
    tokio::time::sleep(PAUSE).await;
    assert_eq!(
        api.invocation_finished_at("b-0"),
        None,
        "answered, but the runtime has not asked for its next event: still billed"
    );
    let asked_at = std::time::Instant::now();
    let _parked = next(&api);
    assert!(
        api.wait_until_idle(BOUND).await,
        "the extension with no events is not waited for"
    );
    assert!(api.invocation_finished_at("b-0").is_some_and(|at| at >= asked_at));
    let results = tokio::time::timeout(BOUND, results)
        .await
        .expect("in time")
        .expect("no panic");
    assert!(results.iter().all(Result::is_ok));
}

/// `POST …/response` as a streaming runtime writes it: chunked, each of `chunks` its own chunk, then
/// `trailers` (raw `Name: value` lines) after the last one; the status the emulator answered.
async fn stream_to(api: &RuntimeApi, request_id: &str, chunks: &[&[u8]], trailers: &[&str]) -> u16 {
    let addr = api.endpoint();
    let mut request = format!(
        "POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         lambda-runtime-function-response-mode: streaming\r\ntransfer-encoding: chunked\r\n\
         content-type: {HTTP_INTEGRATION_RESPONSE}\r\n\
         trailer: Lambda-Runtime-Function-Error-Type\r\ntrailer: Lambda-Runtime-Function-Error-Body\r\n\r\n"
    )
    .into_bytes();
    for chunk in chunks {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n");
    for trailer in trailers {
        request.extend_from_slice(format!("{trailer}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    let exchange = async {
        let mut stream = TcpStream::connect(&addr).await.expect("connect to the emulator");
        for (n, chunk) in request.chunks(64).enumerate() {
            stream.write_all(chunk).await.expect("send the request");
            if n % 4 == 0 {
                // Let the emulator read what came so far on its own.
                tokio::task::yield_now().await;
            }
        }
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read the answer");
        raw
    };
    let raw = tokio::time::timeout(BOUND, exchange).await.expect("answered in time");
    let text = String::from_utf8_lossy(&raw).into_owned();
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// One invocation handed out; its request id and the task waiting for its answer.
async fn handed_out(api: &Arc<RuntimeApi>, id: &str) -> JoinHandle<Vec<Result<Invocation, TestkitError>>> {
    let results = invoke_many(api, id, 1);
    let handed = joined(next(api)).await;
    assert_eq!(request_id(&handed), format!("{id}-0"));
    results
}

async fn answered(results: JoinHandle<Vec<Result<Invocation, TestkitError>>>) -> Invocation {
    let mut results = tokio::time::timeout(BOUND, results)
        .await
        .expect("in time")
        .expect("no panic");
    results.remove(0).expect("answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_response_is_read_as_the_caller_gets_it_prelude_then_chunks() {
    let api = Arc::new(RuntimeApi::start().await);
    let results = handed_out(&api, "s").await;
    let prelude =
        br#"{"statusCode":201,"headers":{"content-type":"text/plain","x-many":["a","b"]},"cookies":["id=1; Secure"]}"#;
    let chunks: [&[u8]; 5] = [prelude, &[0; 8], b"hello ", b"streamed ", b"world"];
    assert_eq!(stream_to(&api, "s-0", &chunks, &[]).await, 202);

    let invocation = answered(results).await;
    let streamed = invocation.streamed.clone().expect("read as a streamed response");
    assert_eq!(streamed.status, 201);
    assert_eq!(
        streamed.headers,
        [("content-type", "text/plain"), ("x-many", "a"), ("x-many", "b")].map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    assert_eq!(streamed.cookies, ["id=1; Secure"]);
    assert_eq!(streamed.body, b"hello streamed world");
    assert_eq!(
        streamed.chunks.concat(),
        b"hello streamed world",
        "the chunks after the prelude"
    );
    assert!(streamed.chunks.len() >= 3, "chunk by chunk: {:?}", streamed.chunks);
    assert_eq!(streamed.trailer_error, None);
    assert_eq!(streamed.reported_error(), None);
    assert_eq!(streamed.request_header("transfer-encoding"), Some("chunked"));
    assert!(streamed.began_at <= invocation.answered_at);
    assert!(
        matches!(&invocation.outcome, Outcome::Response(raw) if raw.starts_with(prelude)),
        "the outcome keeps every byte posted"
    );
    assert_eq!(invocation.response_json(), None, "not a buffered JSON answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_part_way_is_read_from_the_trailers_or_from_lambda_runtimes_inline_lines() {
    let api = Arc::new(RuntimeApi::start().await);
    let prelude = br#"{"statusCode":200,"headers":{},"cookies":[]}"#;
    // "broke" in base64.
    let trailers = [
        "Lambda-Runtime-Function-Error-Type: Runtime.StreamError",
        "Lambda-Runtime-Function-Error-Body: YnJva2U=",
    ];

    let results = handed_out(&api, "t").await;
    let chunks: [&[u8]; 3] = [prelude, &[0; 8], b"part"];
    assert_eq!(stream_to(&api, "t-0", &chunks, &trailers).await, 202);
    let streamed = answered(results).await.streamed.expect("streamed");
    assert_eq!(streamed.body, b"part");
    let error = streamed.trailer_error.clone().expect("the trailers' error");
    assert_eq!(error.error_type, "Runtime.StreamError");
    assert_eq!(error.message().as_deref(), Some("broke"));
    assert_eq!(streamed.reported_error(), Some(error));

    // lambda_runtime 1.x writes the same lines as a chunk of the body instead.
    let results = handed_out(&api, "u").await;
    let inline = format!("{}\r\n{}\r\n", trailers[0], trailers[1]);
    let chunks: [&[u8]; 4] = [prelude, &[0; 8], b"part", inline.as_bytes()];
    assert_eq!(stream_to(&api, "u-0", &chunks, &[]).await, 202);
    let streamed = answered(results).await.streamed.expect("streamed");
    assert_eq!(streamed.trailer_error, None, "no HTTP trailers");
    assert_eq!(
        streamed.body,
        [&b"part"[..], inline.as_bytes()].concat(),
        "the caller gets those lines as body bytes"
    );
    let error = streamed.reported_error().expect("read from the body");
    assert_eq!(
        (error.error_type.as_str(), error.message().as_deref()),
        ("Runtime.StreamError", Some("broke"))
    );
}
