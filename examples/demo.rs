//! The local demo: no AWS, no Moesif account, loopback only.
//!
//! ```sh
//! cargo run --example demo                 # the bundled sample events
//! cargo run --example demo -- my-event.json  # your own Lambda event(s): a JSON object or an array
//! ```
//!
//! It starts an emulator of the Lambda Runtime API (and Extensions API) and a stand-in Moesif collector
//! on 127.0.0.1, runs an annotated handler under the real `lambda_runtime` loop with
//! `moesif_lambda::run` (events sent after the response, when due), invokes it with each sample event,
//! sends what is still queued (as at shutdown), and prints what the caller got and every Moesif event
//! the collector received, and each request it got.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options, RequestView};
use moesif_lambda_testkit::{Collector, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::time::Duration;

const SAMPLES: [(&str, &str); 5] = [
    ("API Gateway REST (v1)", include_str!("events/apigw-rest.json")),
    ("API Gateway HTTP API (v2)", include_str!("events/http-api.json")),
    ("ALB, multi-value headers", include_str!("events/alb.json")),
    ("Function URL", include_str!("events/function-url.json")),
    (
        "SQS (not HTTP: passed through, nothing sent)",
        include_str!("events/sqs.json"),
    ),
];

/// Users from a header; the rest is the reference's defaults.
const OPTIONS: Options = Options::new()
    .identify_user(|event, _| RequestView::of(event)?.header("x-user-id").map(String::from))
    .identify_company(|_, _| Some("demo-company".to_owned()));

#[moesif_logger(options = OPTIONS)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let path = event
        .payload
        .get("path")
        .or_else(|| event.payload.get("rawPath"))
        .cloned()
        .unwrap_or(json!("/"));
    Ok(json!({
        "statusCode": 200,
        "headers": { "Content-Type": "application/json" },
        "body": json!({ "hello": "from the demo", "path": path }).to_string(),
    }))
}

fn samples() -> Result<Vec<(String, Value)>, Error> {
    match std::env::args().nth(1) {
        Some(file) => {
            let parsed: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
            let events = match parsed {
                Value::Array(events) => events,
                single => vec![single],
            };
            Ok(events
                .into_iter()
                .enumerate()
                .map(|(n, event)| (format!("{file} #{n}"), event))
                .collect())
        }
        None => SAMPLES
            .iter()
            .map(|(name, text)| Ok((name.to_string(), serde_json::from_str(text)?)))
            .collect(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("warn").without_time().init();
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let url = collector.base_url();
    let _env = LambdaEnv::acquire(
        &api,
        &[
            ("MOESIF_APPLICATION_ID", Some("demo-app")),
            ("MOESIF_BASE_URI", Some(&url)),
        ],
    )
    .await;
    let function = tokio::spawn(moesif_lambda::run(service_fn(handler)));

    for (name, event) in samples()? {
        let invocation = api.invoke(event).await?;
        api.wait_until_idle(Duration::from_secs(10)).await;
        println!("── {name}");
        println!(
            "   caller got ({:?}): {}",
            invocation.latency(),
            invocation.response_json().unwrap_or(Value::Null)
        );
    }
    // After the response, events leave when a send is due (the sandbox's first invocation, a full
    // batch, an old event, sparse traffic); these back-to-back invocations are warm traffic, so the
    // rest waits. What SIGTERM would send at shutdown, sent now:
    let report = moesif_lambda::flush(Duration::from_secs(5)).await;
    println!("\nflushed at the end (as on shutdown): {report:?}");
    function.abort();

    let events = collector.events();
    println!("\nThe collector received {} Moesif event(s):\n", events.len());
    for event in &events {
        println!("{}\n", serde_json::to_string_pretty(event)?);
    }
    for request in collector.requests() {
        println!(
            "{} {} ({} bytes gzipped) -> {:?}",
            request.method,
            request.path,
            request.raw_body.len(),
            request.status
        );
    }
    Ok(())
}
