//! Latency harness: what the API's caller waits for, with and without `#[moesif_logger]`, in both
//! delivery modes, with a collector that answers after 20 ms (and one that never answers).
//!
//! ```sh
//! cargo run --release --example latency            # 500 invocations per configuration
//! cargo run --release --example latency -- 2000    # more
//! ```
//!
//! Each configuration runs in its own process (the delivery mode is per process): the real
//! `lambda_runtime` loop against the loopback Runtime API emulator; latency is from the moment the
//! runtime receives the event to the moment it has posted the response.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::{Behaviour, Collector, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const CONFIGURATIONS: [(&str, &str); 6] = [
    ("without-macro", "no #[moesif_logger], lambda_runtime::run"),
    (
        "run-without-macro",
        "no #[moesif_logger], moesif_lambda::run (extension only)",
    ),
    (
        "sync",
        "#[moesif_logger], lambda_runtime::run (synchronous), collector 20 ms",
    ),
    (
        "after-response",
        "#[moesif_logger], moesif_lambda::run, collector 20 ms",
    ),
    ("sync-hanging", "#[moesif_logger], lambda_runtime::run, collector hangs"),
    (
        "after-response-hanging",
        "#[moesif_logger], moesif_lambda::run, collector hangs",
    ),
];

const OPTIONS: Options = Options::new()
    .request_timeout(Duration::from_secs(1))
    .flush_budget(Duration::from_millis(200));

fn answer() -> Value {
    json!({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"ok\":true}"})
}

async fn plain(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

#[moesif_logger(options = OPTIONS)]
async fn logged(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// One configuration, in this process; prints `p50_us p99_us`.
async fn measure(mode: &str, invocations: usize) -> Result<(), Error> {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let delay_ms = std::env::var("LATENCY_COLLECTOR_DELAY_MS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(20);
    collector.set_default_behaviour(Some(if mode.ends_with("hanging") {
        Behaviour::Hang
    } else {
        Behaviour::Delay(Duration::from_millis(delay_ms))
    }));
    let url = collector.base_url();
    let _env = LambdaEnv::acquire(
        &api,
        &[
            ("MOESIF_APPLICATION_ID", Some("latency-app")),
            ("MOESIF_BASE_URI", Some(&url)),
        ],
    )
    .await;
    let function = match mode {
        "without-macro" => tokio::spawn(lambda_runtime::run(service_fn(plain))),
        "run-without-macro" => tokio::spawn(moesif_lambda::run(service_fn(plain))),
        "sync" | "sync-hanging" => tokio::spawn(lambda_runtime::run(service_fn(logged))),
        _ => tokio::spawn(moesif_lambda::run(service_fn(logged))),
    };
    let event: Value = serde_json::from_str(include_str!("events/apigw-rest.json"))?;
    // Requests arrive `gap` apart (default 30 ms, more than the collector's 20 ms): every configuration
    // then starts each invocation from an idle process, as on Lambda, instead of back-to-back.
    let gap = Duration::from_millis(
        std::env::var("LATENCY_GAP_MS")
            .ok()
            .and_then(|g| g.parse().ok())
            .unwrap_or(30),
    );
    let mut latencies = Vec::with_capacity(invocations);
    for _ in 0..invocations {
        let started = tokio::time::Instant::now();
        latencies.push(api.invoke(event.clone()).await?.latency());
        api.wait_until_idle(Duration::from_secs(10)).await;
        tokio::time::sleep_until(started + gap).await;
    }
    function.abort();
    latencies.sort();
    println!(
        "{} {}",
        percentile(&latencies, 0.5).as_micros(),
        percentile(&latencies, 0.99).as_micros()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    if let Some("--mode") = args.next().as_deref() {
        let mode = args.next().unwrap_or_default();
        let invocations = args.next().and_then(|n| n.parse().ok()).unwrap_or(500);
        return measure(&mode, invocations).await;
    }
    let invocations: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(500);
    let hanging_invocations = (invocations / 10).max(20); // a hanging collector costs 1 s per sync call
    println!("{invocations} invocations per configuration (hanging collector: {hanging_invocations})\n");
    println!("| configuration | p50 | p99 |\n| --- | --- | --- |");
    for (mode, description) in CONFIGURATIONS {
        let count = if mode.ends_with("hanging") {
            hanging_invocations
        } else {
            invocations
        };
        let output = Command::new(std::env::current_exe()?)
            .args(["--mode", mode, &count.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let numbers: Vec<u128> = text.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        match numbers.as_slice() {
            [p50, p99] => println!("| {description} | {p50} µs | {p99} µs |"),
            _ => println!(
                "| {description} | failed: {} |",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }
    }
    Ok(())
}
