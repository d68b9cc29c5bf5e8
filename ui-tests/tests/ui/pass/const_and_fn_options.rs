#![deny(warnings)]
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use serde_json::Value;

const OPTIONS: Options = Options::new().log_body(false);

fn options() -> Options {
    Options::new().identify_user(|event, _| event["user"].as_str().map(String::from))
}

#[moesif_logger(options = OPTIONS)]
async fn with_const(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let number: i64 = "1".parse()?;
    Ok(serde_json::json!({ "n": number, "echo": event.payload }))
}

/// Doc comments and attributes stay.
#[moesif_logger(options = options)]
#[allow(clippy::needless_return)]
pub(crate) async fn with_fn(mut event: LambdaEvent<Value>) -> Result<Value, Error> {
    event.payload = Value::Null;
    return Ok(event.payload);
}

#[moesif_logger]
fn sync_body(LambdaEvent { payload, .. }: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(payload)
}

fn main() {
    let _ = service_fn(with_const);
    let _ = service_fn(with_fn);
    let _ = sync_body;
}
