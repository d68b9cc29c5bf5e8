use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

#[moesif_logger]
async fn handler(event: LambdaEvent<Value>) -> Result<Valeu, Error> {
    Ok(event.payload)
}

fn main() {}
