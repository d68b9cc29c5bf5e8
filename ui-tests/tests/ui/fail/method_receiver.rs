use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

struct Service;

impl Service {
    #[moesif_logger]
    async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        Ok(event.payload)
    }
}

fn main() {}
