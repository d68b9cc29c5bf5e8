use lambda_runtime::Error;
use moesif_lambda::moesif_logger;
use serde_json::Value;

#[moesif_logger]
async fn handler() -> Result<Value, Error> {
    Ok(Value::Null)
}

fn main() {}
