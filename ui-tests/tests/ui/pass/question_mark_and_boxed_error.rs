#![deny(warnings)]
// `return Err(Box::new(NotFound))` in one arm and `?` in another: the body gets the declared return
// type, so both convert to `lambda_runtime::Error` as they do without the attribute.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use serde_json::{json, Value};
use std::fmt;

#[derive(Debug)]
struct NotFound;

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for NotFound {}

#[moesif_logger]
async fn early_return(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let Some(id) = event.payload["id"].as_str() else {
        return Err(Box::new(NotFound));
    };
    let id: u64 = id.parse()?;
    Ok(json!({ "statusCode": 200, "body": id }))
}

#[moesif_logger]
async fn match_arms(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["id"].as_str() {
        None => Err(Box::new(NotFound)),
        Some(id) => Ok(json!({ "id": id.parse::<u64>()? })),
    }
}

#[moesif_logger]
fn sync_early_return(event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload.is_null() {
        return Err(Box::new(NotFound));
    }
    let id: u64 = event.payload["id"].as_str().unwrap_or_default().parse()?;
    Ok(json!({ "id": id }))
}

#[moesif_logger]
fn sync_match_arms(LambdaEvent { payload, .. }: LambdaEvent<Value>) -> Result<Value, Error> {
    match payload["id"].as_str() {
        None => Err(Box::new(NotFound)),
        Some(id) => Ok(json!({ "id": id.parse::<u64>()? })),
    }
}

fn main() {
    let _ = service_fn(early_return);
    let _ = service_fn(match_arms);
    let _ = sync_early_return;
    let _ = sync_match_arms;
}
