//! An axum `Router` behind `MoesifLayer`, on the embedded emulator: no AWS, no Moesif account,
//! loopback only.
//!
//! ```sh
//! cargo run --example axum
//! ```
//!
//! It starts an emulator of the Lambda Runtime API (and Extensions API) and a stand-in Moesif collector
//! on 127.0.0.1, serves the Router with `moesif_lambda::run_http` (events sent after the response, when
//! due), invokes a few routes (JSON, a created resource, a 404), sends what is still queued (as at
//! shutdown), and prints what each caller got and every Moesif event the collector received.

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use moesif_lambda::{MoesifLayer, Options};
use moesif_lambda_testkit::{http_api_event, spawn_function, Collector, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::time::Duration;

/// The function: a Router, and the layer. On Lambda, `main` would be just these lines.
fn app(options: Options) -> Router {
    Router::new()
        .route("/hello", get(|| async { Json(json!({ "hello": "world" })) }))
        .route(
            "/orders",
            post(|body: String| async move { (StatusCode::CREATED, body) }),
        )
        .layer(MoesifLayer::new(options))
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt().with_env_filter("warn").without_time().init();
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let options = Options::new()
        .application_id("demo-app")
        .base_uri(Box::leak(collector.base_url().into_boxed_str()));
    spawn_function(move || moesif_lambda::run_http(app(options)));

    for (name, event) in [
        ("GET /hello", http_api_event("GET", "/hello", None)),
        (
            "POST /orders",
            http_api_event("POST", "/orders", Some("{\"item\": \"book\", \"qty\": 2}")),
        ),
        ("GET /missing", http_api_event("GET", "/missing", None)),
    ] {
        let invocation = api.invoke(event).await?;
        api.wait_until_idle(Duration::from_secs(10)).await;
        println!(
            "── {name}: caller got {}",
            invocation.response_json().unwrap_or(Value::Null)
        );
    }
    let report = moesif_lambda::flush(Duration::from_secs(5)).await;
    println!("\nflushed at the end (as on shutdown): {report:?}");

    let events = collector.events();
    println!("\nThe collector received {} Moesif event(s):\n", events.len());
    for event in &events {
        println!("{}\n", serde_json::to_string_pretty(event)?);
    }
    Ok(())
}
