use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

const LOG_BODY: bool = true;

#[moesif_logger(options = LOG_BODY)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {}
