use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

#[moesif_logger]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event;
    Ok(5)
}

#[moesif_logger]
fn sync_handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload.is_null() {
        return Ok("null");
    }
    Ok(event.payload)
}

fn main() {}
