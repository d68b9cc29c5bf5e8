//! The same handler as `minimal_bare`, logged: `#[moesif_logger]` under `moesif_lambda::run`, the
//! crate's default features.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::{json, Value};

#[moesif_logger]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "statusCode": 200, "body": event.payload.to_string() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    moesif_lambda::run(service_fn(handler)).await
}
