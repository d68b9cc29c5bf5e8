#![deny(warnings)]
// The README quick start: one-line bodies must not warn (no `unused_braces`, `unused_mut`,
// `unreachable_code`, ... from the expansion).
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use serde_json::{json, Value};

const OPTIONS: Options = Options::new();

#[moesif_logger(options = OPTIONS)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> { Ok(json!({ "statusCode": 200, "body": "hi", "id": event.context.request_id })) }

#[moesif_logger]
async fn bare(_event: LambdaEvent<Value>) -> Result<Value, Error> { Ok(json!({ "statusCode": 200, "body": "hi" })) }

#[moesif_logger]
fn sync_one_line(_event: LambdaEvent<Value>) -> Result<Value, Error> { Ok(json!({ "statusCode": 200 })) }

#[moesif_logger]
async fn mutated(mut event: LambdaEvent<Value>) -> Result<Value, Error> { event.payload = Value::Null; Ok(event.payload) }

#[moesif_logger]
async fn diverges(_event: LambdaEvent<Value>) -> Result<Value, Error> { unimplemented!() }

#[moesif_logger]
async fn always_returns(_event: LambdaEvent<Value>) -> Result<Value, Error> { return Ok(Value::Null); }

fn main() {
    let _ = service_fn(handler);
    let _ = service_fn(bare);
    let _ = sync_one_line;
    let _ = service_fn(mutated);
    let _ = service_fn(diverges);
    let _ = service_fn(always_returns);
}
