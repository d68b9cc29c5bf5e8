//! A deployable handler: API Gateway / ALB / Function URL events as JSON, events sent after the response.
//!
//! ```sh
//! cargo lambda build --release --example basic
//! cargo lambda deploy basic --env-var MOESIF_APPLICATION_ID=your-moesif-application-id
//! ```

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options, RequestView};
use serde_json::{json, Value};

/// Identify users by a header your authorizer sets; everything else is the reference's default.
const OPTIONS: Options = Options::new()
    .identify_user(|event, _| RequestView::of(event)?.header("x-user-id").map(String::from))
    .identify_company(|event, _| RequestView::of(event)?.header("x-company-id").map(String::from))
    .skip(|event, _| event.get("path").and_then(Value::as_str) == Some("/health"));

#[moesif_logger(options = OPTIONS)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let name = event
        .payload
        .pointer("/queryStringParameters/name")
        .and_then(Value::as_str)
        .unwrap_or("world");
    Ok(json!({
        "statusCode": 200,
        "headers": { "Content-Type": "application/json" },
        "body": json!({ "hello": name }).to_string(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("info").without_time().init();
    moesif_lambda::run(service_fn(handler)).await
}
