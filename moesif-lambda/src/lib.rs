//! Log every API call an AWS Lambda function serves to [Moesif](https://www.moesif.com) API analytics.
//!
//! Put `#[moesif_logger]` on the handler; the signature stays as written:
//!
//! ```no_run
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use moesif_lambda::{moesif_logger, Options};
//! use serde_json::Value;
//!
//! const OPTIONS: Options = Options::new().log_body(true);
//!
//! #[moesif_logger(options = OPTIONS)]
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(serde_json::json!({ "statusCode": 200, "body": "hello" }))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     lambda_runtime::run(service_fn(handler)).await
//! }
//! ```
//!
//! See the README for every option, the delivery modes and the guarantees.

mod body;
mod call;
mod capture;
mod client_ip;
mod config;
mod current;
mod delivery;
mod error;
mod event;
mod extension;
mod flush;
mod hooks;
#[cfg(feature = "http")]
mod http;
mod identity;
mod model;
mod options;
mod outgoing;
mod profiles;
mod queue;
pub mod redact;
mod time;
mod transport;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use call::preview_event;
pub use error::Error;
pub use event::EventShape;
#[cfg(feature = "http")]
pub use extension::run_http;
pub use extension::{flush, run};
pub use flush::FlushReport;
pub use model::{Direction, EventModel, EventRequest, EventResponse};
pub use moesif_lambda_macros::moesif_logger;
pub use options::{
    IdentifyHook, MaskHook, MetadataHook, Options, OptionsSource, SkipHook, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_FLUSH_BUDGET, DEFAULT_MAX_BODY_BYTES, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, DEFAULT_REQUEST_TIMEOUT,
};
pub use outgoing::{
    MoesifMiddleware, OutgoingCall, OutgoingIdentifyHook, OutgoingMetadataHook, OutgoingOptions, OutgoingSkipHook,
};
pub use profiles::{
    update_companies_batch, update_companies_batch_async, update_companies_batch_with, update_company,
    update_company_async, update_company_with, update_user, update_user_async, update_user_with, update_users_batch,
    update_users_batch_async, update_users_batch_with, CampaignModel, CompanyModel, UserModel,
};
pub use transport::DEFAULT_BASE_URI;
