// The first argument is not an event the middleware can read: a state value first, and a payload type
// that cannot be serialised back to JSON.
use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::Value;

struct AppState;
struct Opaque;

#[moesif_logger]
async fn state_first(state: AppState, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = (state, event);
    Ok(Value::Null)
}

#[moesif_logger]
async fn unserialisable(event: LambdaEvent<Opaque>) -> Result<Value, Error> {
    let _ = event;
    Ok(Value::Null)
}

fn main() {}
