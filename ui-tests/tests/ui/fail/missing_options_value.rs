use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

#[moesif_logger(options)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[moesif_logger(options = )]
async fn other(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {}
