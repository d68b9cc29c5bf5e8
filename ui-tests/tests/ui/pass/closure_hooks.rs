// Options from a `fn` may hold hooks that capture values read at run time, and owned strings.
#![deny(warnings)]

use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options, OutgoingOptions, RequestView};
use serde_json::Value;

fn options() -> Options {
    let tenant_header = std::env::var("TENANT_HEADER").unwrap_or_else(|_| "x-tenant".to_owned());
    let skipped = vec!["/health".to_owned()];
    Options::new()
        .application_id_owned(std::env::var("MY_APP_ID").unwrap_or_default())
        .identify_company_with(move |event, _| RequestView::of(event)?.header(&tenant_header).map(String::from))
        .skip_with(move |event, _| RequestView::of(event).is_some_and(|r| skipped.contains(&r.path())))
        .outgoing(OutgoingOptions::new().log_body(false))
        .outgoing_identify_user_with(|call| call.request_id.map(String::from))
}

#[moesif_logger(options = options)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() {
    let _ = handler;
}
