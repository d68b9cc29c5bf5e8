//! Logging the calls a `reqwest` client makes: `MoesifReqwest` in a `reqwest-middleware` client, used
//! inside an annotated handler, on the embedded emulator with a loopback upstream API: no AWS, no Moesif
//! account, loopback only.
//!
//! ```sh
//! cargo run --example reqwest
//! ```
//!
//! It starts an emulator of the Lambda Runtime API (and Extensions API), a stand-in Moesif collector
//! and a stand-in upstream API on 127.0.0.1, runs the handler under the real `lambda_runtime` loop with
//! `moesif_lambda::run` (events sent after the response, when due), invokes it once (the handler
//! calls the upstream twice), sends what is still queued (as at shutdown), and prints what the caller
//! got and every Moesif event the collector received: the invocation's `Incoming` event and one
//! `Outgoing` event per call, with the invocation's request id in `metadata.request_id`.
//!
//! On Lambda, `main` is the last two lines, and the upstream a real API.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifReqwest, Options, OutgoingOptions};
use moesif_lambda_testkit::{Collector, LambdaEnv, RuntimeApi, Upstream};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const OPTIONS: Options = Options::new().outgoing(
    OutgoingOptions::new()
        .skip(|call| call.uri.contains("/health"))
        .metadata(|call| Some(json!({ "upstream_status": call.status }))),
);

/// One client per process: it keeps connections alive across invocations.
fn client() -> &'static ClientWithMiddleware {
    static CLIENT: OnceLock<ClientWithMiddleware> = OnceLock::new();
    CLIENT.get_or_init(|| {
        ClientBuilder::new(reqwest::Client::new())
            .with(MoesifReqwest::new(OPTIONS))
            .build()
    })
}

/// Where the upstream API is (here the loopback stand-in; on Lambda, its real URL).
static UPSTREAM: OnceLock<String> = OnceLock::new();

#[moesif_logger(options = OPTIONS)]
async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    let upstream = UPSTREAM.get().map_or("https://api.example.com", String::as_str);
    let orders: Value = serde_json::from_slice(&client().get(format!("{upstream}/json")).send().await?.bytes().await?)?;
    let echoed = client()
        .post(format!("{upstream}/echo"))
        .header("content-type", "application/json")
        .body(r#"{"sku":"A-1","qty":2}"#)
        .send()
        .await?
        .text()
        .await?;
    Ok(json!({ "statusCode": 200, "body": json!({ "orders": orders["orders"], "echoed": echoed }).to_string() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("warn").without_time().init();
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let upstream = Upstream::start().await;
    let _ = UPSTREAM.set(upstream.base_url());
    let _env = LambdaEnv::acquire(
        &api,
        &[
            ("MOESIF_APPLICATION_ID", Some("demo-app")),
            ("MOESIF_BASE_URI", Some(&collector.base_url())),
        ],
    )
    .await;
    let function = tokio::spawn(moesif_lambda::run(service_fn(handler)));

    let event =
        json!({"httpMethod": "GET", "path": "/orders", "headers": {"host": "fn.example"}, "requestContext": {}});
    let invocation = api.invoke(event).await?;
    api.wait_until_idle(Duration::from_secs(10)).await;
    println!(
        "── the caller got {}",
        invocation.response_json().unwrap_or(Value::Null)
    );

    let report = moesif_lambda::flush(Duration::from_secs(5)).await;
    println!("\nflushed at the end (as on shutdown): {report:?}");
    function.abort();
    let events = collector.events();
    println!("\nThe collector received {} Moesif event(s):\n", events.len());
    for event in &events {
        println!("{}\n", serde_json::to_string_pretty(event)?);
    }
    Ok(())
}
