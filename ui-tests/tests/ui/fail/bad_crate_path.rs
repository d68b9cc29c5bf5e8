use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

// The path is used as written: a crate that is not there is an error at the string.
#[moesif_logger(crate = "moesif")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

// The path is a string.
#[moesif_logger(crate = moesif_lambda)]
async fn unquoted(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {}
