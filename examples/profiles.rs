//! Updating user and company profiles in Moesif from a handler (for example after a sign-up).
//! Unlike event capture, these calls return a `Result`: the caller asked, and learns if it failed.
//!
//! ```sh
//! cargo lambda build --release --example profiles
//! cargo lambda deploy profiles --env-var MOESIF_APPLICATION_ID=your-moesif-application-id
//! ```

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::profiles::{update_company_async, update_user_async, CompanyModel, UserModel};
use moesif_lambda::{moesif_logger, Options};
use serde_json::{json, Value};

#[moesif_logger]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let body: Value = event
        .payload
        .get("body")
        .and_then(Value::as_str)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let (Some(user_id), Some(company_id)) = (body["user_id"].as_str(), body["company_id"].as_str()) else {
        return Ok(json!({ "statusCode": 400, "body": "user_id and company_id are required" }));
    };
    let user = UserModel {
        user_id: user_id.to_owned(),
        company_id: Some(company_id.to_owned()),
        metadata: Some(json!({ "email": body["email"], "plan": "trial" })),
        ..Default::default()
    };
    let company = CompanyModel {
        company_id: company_id.to_owned(),
        ..Default::default()
    };
    // Async forms run on tokio's blocking pool, never on the worker serving requests.
    if let Err(error) = update_user_async(Options::new(), user).await {
        tracing::warn!(%error, "could not update the user profile");
    }
    if let Err(error) = update_company_async(Options::new(), company).await {
        tracing::warn!(%error, "could not update the company profile");
    }
    Ok(json!({ "statusCode": 201, "body": "{\"signed_up\":true}" }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().with_env_filter("info").without_time().init();
    moesif_lambda::run(service_fn(handler)).await
}
