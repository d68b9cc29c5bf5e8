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

fn agent(options: Options) -> ureq::Agent {
    ureq::Agent::config_builder()
        .middleware(MoesifMiddleware::new(options))
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
    let agent = agent(handler_options());
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
        let agent = agent(options);
        let _ = agent.get(format!("{api}/v1/config?skip-me=1")).call();
        let _ = agent
            .get(format!("{api}/v1/config"))
            .header("x-user", "u-9")
            .header("x-session", "s-1")
            .call();
    })
    .await
    .expect("calls ran");
    let events = servers.moesif.events();
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
async fn a_panicking_outgoing_hook_costs_only_its_field() {
    let servers = Servers::start().await;
    let options = servers
        .options()
        .outgoing(OutgoingOptions::new().identify_user(|_| panic!("hook broke")));
    let api = servers.api.base_url();
    let status = tokio::task::spawn_blocking(move || {
        agent(options)
            .get(format!("{api}/v1/config"))
            .call()
            .map(|r| r.status().as_u16())
    })
    .await
    .expect("call ran");
    assert_eq!(status.ok(), Some(200));
    let events = servers.moesif.events();
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
        let errors = (error_kind(&agent(options)), error_kind(&plain_agent()));
        let with = read(&agent(options)).ok();
        let without = read(&plain_agent()).ok();
        let refused = |agent: &ureq::Agent| {
            agent
                .get(format!("{}/x", Collector::closed_port_url()))
                .call()
                .err()
                .map(|e| e.to_string().split(':').next().map(str::to_owned))
        };
        let refusals = (refused(&agent(options)), refused(&plain_agent()));
        assert_eq!(refusals.0, refusals.1, "a connection error passes through unchanged");
        let collector_call = agent(options)
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
    let events = servers.moesif.events();
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
        large["response"].get("body").is_none(),
        "a body over the cap is streamed on, not captured"
    );
}
