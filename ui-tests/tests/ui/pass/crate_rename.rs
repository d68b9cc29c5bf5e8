#![deny(warnings)]
// As if Cargo.toml had `renamed = { package = "moesif-lambda", ... }`.
extern crate moesif_lambda as renamed;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use renamed::{moesif_logger, Options};
use serde_json::Value;

const OPTIONS: Options = Options::new();

#[moesif_logger(crate = "renamed")]
async fn bare(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[moesif_logger(options = OPTIONS, crate = "::renamed")]
fn with_options(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

/// A facade module that re-exports the runtime under a longer path.
mod facade {
    pub use ::moesif_lambda as logging;
}

#[moesif_logger(crate = "facade::logging")]
async fn through_facade(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {
    let _ = service_fn(bare);
    let _ = with_options;
    let _ = service_fn(through_facade);
}
