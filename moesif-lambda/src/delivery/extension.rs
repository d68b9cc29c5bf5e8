//! The internal extension that makes Lambda send `SIGTERM` before it ends the sandbox: registered for
//! no events (Lambda never waits for it during an invocation), it only has to ask for its next event
//! once, to end its part of init, and then keeps that long poll open.
//!
//! Two requests of the Extensions API over the Runtime API client `lambda_runtime` already links in
//! (no extension framework, no server for the Logs or Telemetry APIs).

use http_body_util::BodyExt as _;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, Client};

const REGISTER: &str = "/2020-01-01/extension/register";
const NEXT_EVENT: &str = "/2020-01-01/extension/event/next";
const NAME_HEADER: &str = "Lambda-Extension-Name";
const ID_HEADER: &str = "Lambda-Extension-Identifier";

/// Registers the extension `name` for no events and spawns the task that asks for its next event (on
/// the current Tokio runtime). One round trip to the Runtime API; an `Err` says why it did not register.
pub(crate) async fn register(name: &'static str) -> Result<(), String> {
    let endpoint =
        std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set".to_owned())?;
    let endpoint = endpoint
        .parse()
        .map_err(|error| format!("AWS_LAMBDA_RUNTIME_API is not a URI: {error}"))?;
    let client = Client::builder()
        .with_endpoint(endpoint)
        .build()
        .map_err(|error| error.to_string())?;
    let request = build_request()
        .method("POST")
        .uri(REGISTER)
        .header(NAME_HEADER, name)
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"events":[]}"#))
        .map_err(|error| error.to_string())?;
    let response = client.call(request).await.map_err(|error| error.to_string())?;
    let status = response.status();
    let id = response
        .headers()
        .get(ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .map(str::to_owned);
    // Read to the end, so the connection is reused for the long poll.
    let _ = response.into_body().collect().await;
    let id = match (status.is_success(), id) {
        (true, Some(id)) => id,
        (true, None) => return Err("the Runtime API gave no extension identifier".to_owned()),
        (false, _) => return Err(format!("unable to register the extension: {status}")),
    };
    tokio::spawn(async move {
        if let Err(error) = wait_for_events(&client, &id).await {
            tracing::debug!(%error, "moesif: the shutdown extension stopped");
        }
    });
    Ok(())
}

/// Asks for the next event, again each time one comes (none is expected: the extension subscribed to
/// none, and the process ends with `SIGTERM`); stops at the first failure or refusal.
async fn wait_for_events(client: &Client, id: &str) -> Result<(), String> {
    loop {
        let request = build_request()
            .method("GET")
            .uri(NEXT_EVENT)
            .header(ID_HEADER, id)
            .body(Body::empty())
            .map_err(|error| error.to_string())?;
        let response = client.call(request).await.map_err(|error| error.to_string())?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        if !status.is_success() {
            return Err(format!("the Runtime API answered {status}"));
        }
    }
}
