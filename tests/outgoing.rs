//! Outgoing calls: a `ureq` agent with `MoesifMiddleware` inside an annotated handler, run by the real
//! loop; calls to a loopback API server become `Outgoing` events tied to the invocation, options apply,
//! the caller's results are unchanged, and calls to the collector are never captured.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifMiddleware, Options, OutgoingOptions};
use moesif_lambda_testkit::{Behaviour, Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::sync::OnceLock;

const APP_ID: &str = "outgoing-app";

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn agent(options: &Options) -> ureq::Agent {
    ureq::Agent::config_builder()
        .middleware(MoesifMiddleware::new(options.clone()))
        .build()
        .into()
}

fn plain_agent() -> ureq::Agent {
    ureq::Agent::config_builder().build().into()
}

/// The loopback "third-party API" the function calls (a collector answers JSON at `/v1/config` and 201
/// at `/v1/users`), and where Moesif events go.
struct Servers {
    api: Collector,
    moesif: Collector,
}

impl Servers {
    async fn start() -> Servers {
        let servers = Servers {
            api: Collector::start().await,
            moesif: Collector::start().await,
        };
        servers
            .api
            .set_config(json!({"orders": [1, 2, 3], "note": "x".repeat(200)}), "api-etag");
        servers
    }

    fn options(&self) -> Options {
        Options::new()
            .application_id(APP_ID)
            .base_uri(leak(self.moesif.base_url()))
    }
}

static HANDLER_SERVERS: OnceLock<(String, String)> = OnceLock::new();

fn handler_options() -> Options {
    let (_, moesif) = HANDLER_SERVERS.get().cloned().unwrap_or_default();
    Options::new().application_id(APP_ID).base_uri(leak(moesif))
}

#[moesif_logger(options = handler_options)]
async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (api, _) = HANDLER_SERVERS.get().cloned().unwrap_or_default();
    let agent = agent(&handler_options());
    let fetched = tokio::task::spawn_blocking(move || -> Result<Value, ureq::Error> {
        let config: Value = agent
            .get(format!("{api}/v1/config?page=1"))
            .call()?
            .body_mut()
            .read_json()?;
        agent
            .post(format!("{api}/v1/users"))
            .send_json(json!({"user_id": "u-1"}))?;
        Ok(config)
    })
    .await??;
    Ok(json!({"statusCode": 200, "body": fetched.to_string()}))
}

/// What the collector received once everything queued was sent (calls made outside an invocation are
/// sent in the background, never on the caller's time).
async fn sent_events(servers: &Servers) -> Vec<Value> {
    let report = moesif_lambda::flush(std::time::Duration::from_secs(10)).await;
    assert_eq!(report.requeued, 0, "{report:?}");
    servers.moesif.events()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_in_a_handler_are_outgoing_events_of_that_invocation() {
    let servers = Servers::start().await;
    let _ = HANDLER_SERVERS.set((servers.api.base_url(), servers.moesif.base_url()));
    let runtime_api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&runtime_api, &[]).await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(handler)));
    let options = InvokeOptions {
        request_id: Some("req-outgoing-1".into()),
        ..InvokeOptions::default()
    };
    let event = json!({"httpMethod": "GET", "path": "/proxy", "headers": {"host": "fn"}, "requestContext": {}});
    let invocation = runtime_api.invoke_with(event, options).await.expect("answers");
    runtime.abort();
    assert_eq!(
        invocation.response_json().map(|r| r["statusCode"].clone()),
        Some(json!(200))
    );

    let events = servers.moesif.events();
    let outgoing: Vec<&Value> = events.iter().filter(|e| e["direction"] == "Outgoing").collect();
    assert_eq!(outgoing.len(), 2, "both calls logged: {events:?}");
    assert_eq!(events.iter().filter(|e| e["direction"] == "Incoming").count(), 1);
    let get = outgoing[0];
    assert_eq!(get["request"]["verb"], "GET");
    assert_eq!(
        get["request"]["uri"],
        format!("{}/v1/config?page=1", servers.api.base_url())
    );
    assert_eq!(get["response"]["status"], 200);
    assert_eq!(get["response"]["body"]["orders"], json!([1, 2, 3]));
    assert_eq!(get["response"]["transfer_encoding"], "json");
    assert_eq!(get["response"]["headers"]["x-moesif-config-etag"], "api-etag");
    assert_eq!(
        get["metadata"]["request_id"], "req-outgoing-1",
        "tied to the invocation"
    );
    let post = outgoing[1];
    assert_eq!(post["request"]["verb"], "POST");
    assert_eq!(post["request"]["body"], json!({"user_id": "u-1"}));
    assert_eq!(post["response"]["status"], 201);
    // What the API received is what the handler sent.
    let received = servers.api.requests();
    assert_eq!(received[1].json, Some(json!({"user_id": "u-1"})));
    assert!(servers
        .moesif
        .requests()
        .iter()
        .all(|r| r.header("x-moesif-application-id") == Some(APP_ID)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_options_apply() {
    let servers = Servers::start().await;
    let options = servers.options().outgoing(
        OutgoingOptions::new()
            .skip(|call| call.uri.contains("skip-me"))
            .identify_user(|call| call.request_headers["x-user"].as_str().map(String::from))
            .identify_company(|_| Some("acme".into()))
            .session_token(|call| call.request_headers["x-session"].as_str().map(String::from))
            .metadata(|call| Some(json!({"status_seen": call.status})))
            .log_body(false),
    );
    let api = servers.api.base_url();
    tokio::task::spawn_blocking(move || {
        let agent = agent(&options);
        let _ = agent.get(format!("{api}/v1/config?skip-me=1")).call();
        let _ = agent
            .get(format!("{api}/v1/config"))
            .header("x-user", "u-9")
            .header("x-session", "s-1")
            .call();
    })
    .await
    .expect("calls ran");
    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 1, "the skipped call is not logged");
    let event = &events[0];
    assert_eq!(event["user_id"], "u-9");
    assert_eq!(event["company_id"], "acme");
    assert_eq!(event["session_token"], "s-1");
    assert_eq!(event["metadata"], json!({"status_seen": 200}));
    assert!(
        event["response"].get("body").is_none() && event["request"].get("body").is_none(),
        "log_body(false)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_hooks_that_capture_values_go_on_options_after_outgoing() {
    let servers = Servers::start().await;
    let (skipped, user, tenant, session) = (
        "skip-me".to_owned(),
        "u-captured".to_owned(),
        "tenant-captured".to_owned(),
        "s-captured".to_owned(),
    );
    // Owned strings too: the application id and base URI read at run time.
    let options = Options::new()
        .application_id_owned(APP_ID.to_owned())
        .base_uri_owned(servers.moesif.base_url())
        .outgoing(
            OutgoingOptions::new()
                .identify_user(|_| Some("from-the-fn".into()))
                .metadata(|_| Some(json!({"from": "fn"})))
                .log_body(false),
        )
        .outgoing_skip_with(move |call| call.uri.contains(&skipped))
        .outgoing_identify_user_with(move |_| Some(user.clone()))
        .outgoing_identify_company_with(move |_| Some(tenant.clone()))
        .outgoing_session_token_with(move |_| Some(session.clone()))
        .outgoing_metadata_with(|call| Some(json!({"status_seen": call.status})));
    // A later `outgoing(…)` replaces every outgoing setting, closures included.
    let replaced = options
        .clone()
        .outgoing(OutgoingOptions::new().identify_user(|_| Some("replaced".into())));
    let api = servers.api.base_url();
    tokio::task::spawn_blocking(move || {
        let with_closures = agent(&options);
        let _ = with_closures.get(format!("{api}/v1/config?skip-me=1")).call();
        let _ = with_closures.get(format!("{api}/v1/config?first=1")).call();
        let _ = agent(&replaced).get(format!("{api}/v1/config?skip-me=2")).call();
    })
    .await
    .expect("calls ran");
    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 2, "one call skipped by the closure: {events:?}");
    let first = events
        .iter()
        .find(|e| e["request"]["uri"].as_str().is_some_and(|u| u.contains("first=1")));
    let first = first.expect("the call with closures was logged");
    assert_eq!(first["user_id"], "u-captured", "the closure replaced the fn");
    assert_eq!(first["company_id"], "tenant-captured");
    assert_eq!(first["session_token"], "s-captured");
    assert_eq!(first["metadata"]["status_seen"], 200);
    assert!(first["response"].get("body").is_none(), "log_body(false) kept");
    let second = events
        .iter()
        .find(|e| e["request"]["uri"].as_str().is_some_and(|u| u.contains("skip-me=2")));
    let second = second.expect("the replaced options have no skip hook");
    assert_eq!(second["user_id"], "replaced");
    assert!(second.get("company_id").is_none() && second.get("session_token").is_none());
    assert!(second["response"].get("body").is_some(), "log_body back to its default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_outgoing_hook_costs_only_its_field() {
    let servers = Servers::start().await;
    let options = servers
        .options()
        .outgoing(OutgoingOptions::new().identify_user(|_| panic!("hook broke")));
    let api = servers.api.base_url();
    let status = tokio::task::spawn_blocking(move || {
        agent(&options)
            .get(format!("{api}/v1/config"))
            .call()
            .map(|r| r.status().as_u16())
    })
    .await
    .expect("call ran");
    assert_eq!(status.ok(), Some(200));
    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 1);
    assert!(events[0].get("user_id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_reads_exactly_what_it_would_without_the_middleware() {
    let servers = Servers::start().await;
    let options = servers.options().max_body_bytes(16); // the API's answer is larger than the cap
    let api = servers.api.base_url();
    let moesif = servers.moesif.base_url();
    servers
        .api
        .push_behaviours([Behaviour::Status(500), Behaviour::Status(500)]);
    let (with, without, errors, collector_call) = tokio::task::spawn_blocking(move || {
        let read = |agent: &ureq::Agent| {
            agent
                .get(format!("{api}/v1/config"))
                .call()
                .and_then(|mut r| r.body_mut().read_to_string())
        };
        let error_kind = |agent: &ureq::Agent| {
            agent
                .get(format!("{api}/v1/config"))
                .call()
                .err()
                .map(|e| e.to_string())
        };
        let errors = (error_kind(&agent(&options)), error_kind(&plain_agent()));
        let with = read(&agent(&options)).ok();
        let without = read(&plain_agent()).ok();
        let refused = |agent: &ureq::Agent| {
            agent
                .get(format!("{}/x", Collector::closed_port_url()))
                .call()
                .err()
                .map(|e| e.to_string().split(':').next().map(str::to_owned))
        };
        let refusals = (refused(&agent(&options)), refused(&plain_agent()));
        assert_eq!(refusals.0, refusals.1, "a connection error passes through unchanged");
        let collector_call = agent(&options)
            .get(format!("{moesif}/v1/config"))
            .call()
            .map(|r| r.status().as_u16())
            .ok();
        (with, without, errors, collector_call)
    })
    .await
    .expect("calls ran");
    assert_eq!(
        errors.0, errors.1,
        "a 500 reaches the caller as it would without the middleware"
    );
    assert!(
        with.as_ref().is_some_and(|body| body.len() > 200),
        "the whole body, beyond the capture cap"
    );
    assert_eq!(with, without);
    assert_eq!(collector_call, Some(200));
    let events = sent_events(&servers).await;
    let uris: Vec<&str> = events.iter().filter_map(|e| e["request"]["uri"].as_str()).collect();
    assert!(
        uris.iter().all(|uri| !uri.starts_with(&servers.moesif.base_url())),
        "collector calls are never captured"
    );
    let large = events
        .iter()
        .find(|e| e["response"]["status"] == 200)
        .expect("the 200 call is logged");
    assert!(
        large["response"]["body"]["original_size"]
            .as_u64()
            .is_some_and(|size| size > 200),
        "a body over the cap is handed over untouched; the event has a marker with its size"
    );
}

/// A raw HTTP/1.1 server on loopback (one request per connection), for answers a collector cannot give:
/// binary, gzip, Latin-1, chunked, truncated, never-ending. It records what it received, decoded.
mod api {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// One request as the server received it (the testkit's type: method, path, headers, body).
    pub use moesif_lambda_testkit::Received;

    pub const BINARY: &[u8] = &[0, 159, 146, 150, 255, 1, 2, 3];

    pub fn big() -> Vec<u8> {
        (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect()
    }

    pub struct Api {
        pub url: String,
        received: Arc<Mutex<Vec<Received>>>,
    }

    impl Api {
        pub fn start() -> Api {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            let url = format!("http://{}", listener.local_addr().expect("address"));
            let received = Arc::new(Mutex::new(Vec::new()));
            let log = received.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let log = log.clone();
                    std::thread::spawn(move || serve(stream, &log));
                }
            });
            Api { url, received }
        }

        pub fn received(&self) -> Vec<Received> {
            self.received.lock().map(|r| r.clone()).unwrap_or_default()
        }
    }

    fn serve(stream: TcpStream, log: &Mutex<Vec<Received>>) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let Ok(mut writer) = stream.try_clone() else { return };
        let mut reader = BufReader::new(stream);
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        if let Ok(mut log) = log.lock() {
            log.push(request.clone());
        }
        let _ = answer(&request, &mut writer);
    }

    fn read_request(reader: &mut impl BufRead) -> Option<Received> {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let mut words = line.split_whitespace();
        let (method, path) = (words.next()?.to_owned(), words.next()?.to_owned());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut request = Received {
            method,
            path,
            headers,
            body: Vec::new(),
        };
        if request
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).ok()?;
                let size = usize::from_str_radix(size.trim(), 16).ok()?;
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).ok()?;
                if size == 0 {
                    break;
                }
                request.body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = request.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok()?;
            request.body = body;
        }
        Some(request)
    }

    fn write_head(out: &mut impl Write, status: &str, headers: &[(&str, String)]) -> std::io::Result<()> {
        write!(out, "HTTP/1.1 {status}\r\nconnection: close\r\n")?;
        for (name, value) in headers {
            write!(out, "{name}: {value}\r\n")?;
        }
        write!(out, "\r\n")
    }

    fn answer(request: &Received, out: &mut TcpStream) -> std::io::Result<()> {
        let path = request.path.split('?').next().unwrap_or_default();
        let fixed = |out: &mut TcpStream, status: &str, content_type: &str, body: &[u8]| {
            write_head(
                out,
                status,
                &[
                    ("content-type", content_type.to_owned()),
                    ("content-length", body.len().to_string()),
                ],
            )?;
            out.write_all(body)
        };
        match path {
            // The request body back, and a header to see.
            "/echo" => {
                let content_type = request
                    .header("content-type")
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                write_head(
                    out,
                    "200 OK",
                    &[
                        ("content-type", content_type),
                        ("x-api", "echo".to_owned()),
                        ("content-length", request.body.len().to_string()),
                    ],
                )?;
                out.write_all(&request.body)
            }
            "/binary" => fixed(out, "200 OK", "application/octet-stream", BINARY),
            "/json" => fixed(out, "200 OK", "application/json", br#"{"ok":true,"items":[1,2]}"#),
            "/big" => fixed(out, "200 OK", "text/plain", &big()),
            "/latin1" => fixed(out, "200 OK", "text/plain; charset=iso-8859-1", b"caf\xe9"),
            "/fail" => fixed(
                out,
                "500 Internal Server Error",
                "application/json",
                br#"{"error":"boom"}"#,
            ),
            "/gzip" => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                encoder.write_all(br#"{"zipped":true}"#)?;
                let body = encoder.finish()?;
                write_head(
                    out,
                    "200 OK",
                    &[
                        ("content-type", "application/json".to_owned()),
                        ("content-encoding", "gzip".to_owned()),
                        ("content-length", body.len().to_string()),
                    ],
                )?;
                out.write_all(&body)
            }
            "/chunked" => {
                write_head(
                    out,
                    "200 OK",
                    &[
                        ("content-type", "text/plain".to_owned()),
                        ("transfer-encoding", "chunked".to_owned()),
                    ],
                )?;
                for chunk in big().chunks(7000) {
                    write!(out, "{:x}\r\n", chunk.len())?;
                    out.write_all(chunk)?;
                    write!(out, "\r\n")?;
                }
                write!(out, "0\r\n\r\n")
            }
            // Promises 1000 bytes, sends 10 and hangs up.
            "/truncated" => {
                write_head(
                    out,
                    "200 OK",
                    &[
                        ("content-type", "text/plain".to_owned()),
                        ("content-length", "1000".to_owned()),
                    ],
                )?;
                out.write_all(b"0123456789")?;
                out.flush()?;
                out.shutdown(std::net::Shutdown::Both)
            }
            // One event, then the stream stays open (a server-sent event stream).
            "/events" => {
                write_head(
                    out,
                    "200 OK",
                    &[
                        ("content-type", "text/event-stream".to_owned()),
                        ("transfer-encoding", "chunked".to_owned()),
                    ],
                )?;
                let event = b"data: hello\n\n";
                write!(out, "{:x}\r\n", event.len())?;
                out.write_all(event)?;
                write!(out, "\r\n")?;
                out.flush()?;
                std::thread::sleep(Duration::from_secs(5));
                write!(out, "0\r\n\r\n")
            }
            _ => fixed(out, "404 Not Found", "text/plain", b"not found"),
        }
    }
}

fn lenient_agent(options: Option<Options>) -> ureq::Agent {
    let builder = ureq::Agent::config_builder().http_status_as_error(false);
    match options {
        Some(options) => builder.middleware(MoesifMiddleware::new(options)).build().into(),
        None => builder.build().into(),
    }
}

/// Everything a caller can observe of an answer: status, headers but `date`, body metadata, and the
/// body (or the error reading it).
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
            let meta = format!(
                "{} {:?} mime={:?} charset={:?} length={:?}",
                response.status(),
                headers,
                response.body().mime_type(),
                response.body().charset(),
                response.body().content_length()
            );
            let mut bytes = Vec::new();
            let read = std::io::Read::read_to_end(&mut response.body_mut().as_reader(), &mut bytes);
            let summary = if bytes.len() > 64 {
                format!(
                    "{} bytes, sum {}",
                    bytes.len(),
                    bytes.iter().map(|&b| u64::from(b)).sum::<u64>()
                )
            } else {
                format!("{bytes:?}")
            };
            format!("{meta} body={summary} read={:?}", read.map_err(|e| e.kind()))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_have_method_uri_status_headers_times_and_json_or_base64_bodies() {
    let servers = Servers::start().await;
    let options = servers.options();
    let api = api::Api::start();
    let url = api.url.clone();
    tokio::task::spawn_blocking(move || {
        let agent = agent(&options);
        let mut echoed = agent
            .put(format!("{url}/echo?x=1"))
            .header("x-trace", "t-1")
            .content_type("application/octet-stream")
            .send(api::BINARY)
            .expect("echo answers");
        assert_eq!(echoed.body_mut().read_to_vec().ok().as_deref(), Some(api::BINARY));
        agent.get(format!("{url}/json")).call().expect("json answers");
    })
    .await
    .expect("calls ran");
    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let binary = &events[0];
    assert_eq!(binary["direction"], "Outgoing");
    assert_eq!(binary["weight"], 1);
    assert_eq!(binary["request"]["verb"], "PUT");
    assert_eq!(binary["request"]["uri"], format!("{}/echo?x=1", api.url));
    assert_eq!(binary["request"]["headers"]["x-trace"], "t-1");
    assert_eq!(binary["request"]["headers"]["content-type"], "application/octet-stream");
    // Host as the upstream got it (from the URI); nothing ureq might add later is invented.
    let host = api.url.trim_start_matches("http://");
    assert_eq!(binary["request"]["headers"]["host"], host);
    assert!(binary["request"]["headers"].get("user-agent").is_none());
    assert_eq!(binary["request"]["body"], "AJ+Slv8BAgM=");
    assert_eq!(binary["request"]["transfer_encoding"], "base64");
    assert_eq!(binary["response"]["status"], 200);
    assert_eq!(binary["response"]["headers"]["x-api"], "echo");
    assert_eq!(binary["response"]["body"], "AJ+Slv8BAgM=");
    assert_eq!(binary["response"]["transfer_encoding"], "base64");
    let (sent, answered) = (
        binary["request"]["time"].as_str().unwrap_or_default(),
        binary["response"]["time"].as_str().unwrap_or_default(),
    );
    assert_eq!(sent.len(), "2024-01-01T00:00:00.000".len(), "{sent}");
    assert!(sent <= answered, "{sent} <= {answered}");
    assert!(binary["transaction_id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(binary["metadata"].is_null(), "outside an invocation: no request id");

    let json = &events[1];
    assert_eq!(json["request"]["verb"], "GET");
    assert!(json["request"].get("body").is_none());
    assert_eq!(json["response"]["body"], json!({"ok": true, "items": [1, 2]}));
    assert_eq!(json["response"]["transfer_encoding"], "json");
    assert_eq!(json["response"]["headers"]["content-type"], "application/json");
    assert_eq!(api.received()[0].body, api::BINARY, "the API received the bytes sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_receives_exactly_what_it_would_without_the_middleware() {
    let servers = Servers::start().await;
    let options = servers.options().max_body_bytes(1024);
    let (with, without) = (api::Api::start(), api::Api::start());
    let (with_url, without_url) = (with.url.clone(), without.url.clone());
    tokio::task::spawn_blocking(move || {
        for (agent, url) in [(agent(&options), with_url), (plain_agent(), without_url)] {
            let big = api::big();
            agent
                .post(format!("{url}/echo"))
                .send_json(json!({"a": [1, 2]}))
                .expect("json");
            agent
                .post(format!("{url}/echo"))
                .send(&big[..])
                .expect("bytes over the cap");
            agent.post(format!("{url}/echo")).send_empty().expect("empty");
            agent.get(format!("{url}/echo")).call().expect("no body");
            agent.delete(format!("{url}/echo")).call().expect("delete");
            let mut small: &[u8] = b"streamed";
            agent
                .post(format!("{url}/echo"))
                .send(ureq::SendBody::from_reader(&mut small))
                .expect("small reader");
            let mut large: &[u8] = &big;
            agent
                .put(format!("{url}/echo"))
                .send(ureq::SendBody::from_reader(&mut large))
                .expect("large reader");
        }
    })
    .await
    .expect("calls ran");
    let (with, without) = (with.received(), without.received());
    assert_eq!(with.len(), 7);
    let framing = ["content-length", "transfer-encoding", "content-type"];
    for (index, (a, b)) in with.iter().zip(&without).enumerate() {
        assert_eq!(
            (&a.method, &a.path, &a.body),
            (&b.method, &b.path, &b.body),
            "request {index}"
        );
        if index < 5 {
            // A reader body (no known length) is read whole for capture and goes out with its length
            // instead of chunked.
            for name in framing {
                assert_eq!(a.header(name), b.header(name), "request {index}: {name}");
            }
        }
    }
    assert_eq!(without[5].header("transfer-encoding"), Some("chunked"));
    assert_eq!(with[5].header("content-length"), Some("8"));
    assert_eq!(with[6].header("content-length"), Some("100000"));

    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 7);
    assert_eq!(events[0]["request"]["body"], json!({"a": [1, 2]}));
    assert_eq!(
        events[1]["request"]["body"]["original_size"], 100_000,
        "over the cap: a marker"
    );
    assert!(events[2]["request"].get("body").is_none());
    assert_eq!(events[5]["request"]["body"], "c3RyZWFtZWQ=");
    assert_eq!(events[6]["request"]["body"]["original_size"], 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_observes_exactly_what_it_would_without_the_middleware() {
    let servers = Servers::start().await;
    let options = servers.options().max_body_bytes(1024);
    let api = api::Api::start();
    let url = api.url.clone();
    let (with, without) = tokio::task::spawn_blocking(move || {
        let paths = [
            "/binary",
            "/json",
            "/big",
            "/chunked",
            "/latin1",
            "/gzip",
            "/fail",
            "/truncated",
            "/missing",
        ];
        let run = |agent: &ureq::Agent| -> Vec<String> {
            paths
                .iter()
                .map(|path| observe(agent, &format!("{url}{path}")))
                .collect()
        };
        (run(&lenient_agent(Some(options))), run(&lenient_agent(None)))
    })
    .await
    .expect("calls ran");
    for (index, (a, b)) in with.iter().zip(&without).enumerate() {
        if index == 7 {
            // A body whose read fails is handed over as a stream: the same bytes and the same error, but
            // `Body::content_length()` no longer knows the length the server announced.
            assert_eq!(a.replace("length=None", "length=Some(1000)"), *b);
        } else {
            assert_eq!(a, b);
        }
    }
    assert!(
        with[7].contains("read=Err"),
        "a truncated body still fails: {}",
        with[7]
    );

    let events = sent_events(&servers).await;
    let by_path = |path: &str| {
        events
            .iter()
            .find(|e| e["request"]["uri"] == format!("{}{path}", api.url))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_path("/gzip")["response"]["body"],
        json!({"zipped": true}),
        "captured decompressed"
    );
    assert_eq!(by_path("/fail")["response"]["status"], 500);
    assert_eq!(by_path("/fail")["response"]["body"], json!({"error": "boom"}));
    assert_eq!(by_path("/missing")["response"]["status"], 404);
    assert_eq!(
        by_path("/big")["response"]["body"]["original_size"],
        100_000,
        "over the cap: its size"
    );
    assert!(
        by_path("/chunked")["response"].get("body").is_none(),
        "over the cap, size unknown"
    );
    assert!(
        by_path("/truncated")["response"].get("body").is_none(),
        "a failed read is not captured"
    );
    assert_eq!(by_path("/latin1")["response"]["transfer_encoding"], "base64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_are_logged_and_returned_unchanged() {
    let servers = Servers::start().await;
    let options = servers.options();
    let api = api::Api::start();
    let url = api.url.clone();
    let (with, without) = tokio::task::spawn_blocking(move || {
        let call = |agent: ureq::Agent| {
            agent
                .post(format!("{url}/fail"))
                .send_json(json!({"q": 1}))
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        };
        (call(agent(&options)), call(plain_agent()))
    })
    .await
    .expect("calls ran");
    assert_eq!(with, without);
    assert_eq!(with, Err("http status: 500".to_owned()));
    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 1, "ureq's status error is still an event");
    assert_eq!(events[0]["response"]["status"], 500);
    assert_eq!(events[0]["request"]["body"], json!({"q": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_is_handed_over_at_once() {
    let servers = Servers::start().await;
    let options = servers.options();
    let api = api::Api::start();
    let url = api.url.clone();
    let (elapsed, first) = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut response = agent(&options)
            .get(format!("{url}/events"))
            .call()
            .expect("stream opens");
        let elapsed = started.elapsed();
        let mut first = [0u8; 13];
        let read = std::io::Read::read_exact(&mut response.body_mut().as_reader(), &mut first);
        (elapsed, read.map(|()| first.to_vec()).ok())
    })
    .await
    .expect("call ran");
    assert!(elapsed < std::time::Duration::from_secs(2), "not buffered: {elapsed:?}");
    assert_eq!(first.as_deref(), Some(&b"data: hello\n\n"[..]));
    let events = sent_events(&servers).await;
    assert_eq!(events.len(), 1);
    assert!(events[0]["response"].get("body").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_body_fails_the_call_as_it_would() {
    /// Five bytes, then an error.
    struct Broken(bool);
    impl std::io::Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if std::mem::replace(&mut self.0, true) {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = buf.len().min(5);
            buf[..n].copy_from_slice(&b"hello"[..n]);
            Ok(n)
        }
    }
    let servers = Servers::start().await;
    let options = servers.options();
    let api = api::Api::start();
    let url = api.url.clone();
    let (with, without) = tokio::task::spawn_blocking(move || {
        let call = |agent: ureq::Agent| {
            let mut body = Broken(false);
            agent
                .post(format!("{url}/echo"))
                .send(ureq::SendBody::from_reader(&mut body))
                .map(|r| r.status().as_u16())
                .map_err(|e| e.to_string())
        };
        (call(agent(&options)), call(plain_agent()))
    })
    .await
    .expect("calls ran");
    assert_eq!(with, without);
    assert!(with.is_err_and(|e| e.contains("disk gone")));
    assert!(sent_events(&servers).await.is_empty(), "no answer, no event");
}
