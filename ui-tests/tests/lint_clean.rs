//! The expansion adds no warning, rustc's or clippy's, to the handlers it wraps: this file is built by
//! `cargo clippy -p moesif-lambda-ui-tests --all-targets -- -D warnings` (trybuild runs only rustc).
#![deny(warnings, clippy::all, clippy::pedantic)]

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use serde_json::{json, Value};
use std::fmt;

const OPTIONS: Options = Options::new();

fn options() -> Options {
    Options::new()
}

#[derive(Debug)]
struct NotFound;

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for NotFound {}

// One-line bodies: where a false `unused_braces` would show.
#[rustfmt::skip]
#[moesif_logger(options = OPTIONS)]
async fn one_line(_event: LambdaEvent<Value>) -> Result<Value, Error> { Ok(json!({ "statusCode": 200, "body": "hi" })) }

#[rustfmt::skip]
#[moesif_logger(options = options)]
fn sync_one_line(_event: LambdaEvent<Value>) -> Result<Value, Error> { Ok(json!({ "statusCode": 200 })) }

#[moesif_logger]
async fn mutated(mut event: LambdaEvent<Value>) -> Result<Value, Error> {
    event.payload["seen"] = Value::Bool(true);
    Ok(event.payload)
}

#[moesif_logger]
async fn destructured(LambdaEvent { payload, .. }: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(payload)
}

#[moesif_logger]
async fn boxed_error_and_question_mark(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let Some(id) = event.payload["id"].as_str() else {
        return Err(Box::new(NotFound));
    };
    let id: u64 = id.parse()?;
    Ok(json!({ "id": id }))
}

#[moesif_logger]
fn sync_boxed_error_and_question_mark(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["id"].as_str() {
        None => Err(Box::new(NotFound)),
        Some(id) => Ok(json!({ "id": id.parse::<u64>()? })),
    }
}

#[moesif_logger]
async fn diverges(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    unimplemented!()
}

#[moesif_logger]
async fn http(request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, lambda_http::Error> {
    Ok(format!("hello {}", request.uri().path()))
}

#[test]
fn handlers_are_services() {
    let _ = service_fn(one_line);
    let _ = sync_one_line;
    let _ = service_fn(mutated);
    let _ = service_fn(destructured);
    let _ = service_fn(boxed_error_and_question_mark);
    let _ = sync_boxed_error_and_question_mark;
    let _ = service_fn(diverges);
    let _ = lambda_http::service_fn(http);
}
