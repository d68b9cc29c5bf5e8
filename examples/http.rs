//! A deployable `lambda_http` handler (the way most Rust Lambda APIs are written), logged to Moesif with
//! events sent after the response.
//!
//! ```sh
//! cargo lambda build --release --example http
//! cargo lambda deploy http --env-var MOESIF_APPLICATION_ID=your-moesif-application-id
//! ```

use lambda_http::{service_fn, Error, IntoResponse, Request, RequestExt, Response};
use moesif_lambda::{moesif_logger, Options};

fn options() -> Options {
    Options::new().api_version_str("2024-06-01").identify_user(|event, _| {
        event
            .pointer("/requestContext/authorizer/jwt/claims/sub")?
            .as_str()
            .map(String::from)
    })
}

#[moesif_logger(options = options)]
async fn handler(request: Request) -> Result<impl IntoResponse, Error> {
    let name = request
        .query_string_parameters_ref()
        .and_then(|q| q.first("name"))
        .unwrap_or("world")
        .to_owned();
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "hello": name }).to_string())?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("info").without_time().init();
    moesif_lambda::run_http(service_fn(handler)).await
}
