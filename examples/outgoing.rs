//! Logging the calls the function makes: a `ureq` agent with `MoesifMiddleware`, used inside an
//! annotated handler. Each call becomes an `Outgoing` event with the invocation's request id in its
//! metadata, sent with the function's own events (after the response under `moesif_lambda::run`).
//!
//! ```sh
//! cargo lambda build --release --example outgoing
//! cargo lambda deploy outgoing --env-var MOESIF_APPLICATION_ID=your-moesif-application-id
//! ```

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifMiddleware, Options, OutgoingOptions};
use serde_json::{json, Value};
use std::sync::OnceLock;

const OPTIONS: Options = Options::new().outgoing(
    OutgoingOptions::new()
        .skip(|call| call.uri.contains("/health"))
        .metadata(|call| Some(json!({ "upstream_status": call.status }))),
);

/// One agent per process: it keeps connections alive across invocations.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .middleware(MoesifMiddleware::new(OPTIONS))
            .build()
            .into()
    })
}

#[moesif_logger(options = OPTIONS)]
async fn handler(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    // ureq is blocking: call it off the async worker.
    let quote = tokio::task::spawn_blocking(|| -> Result<String, ureq::Error> {
        agent()
            .get("https://api.example.com/v1/quote")
            .call()?
            .body_mut()
            .read_to_string()
    })
    .await??;
    Ok(json!({ "statusCode": 200, "body": quote }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("info").without_time().init();
    moesif_lambda::run(service_fn(handler)).await
}
