use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use serde_json::Value;

const A: Options = Options::new();

#[moesif_logger(options = A, options = A)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {}
