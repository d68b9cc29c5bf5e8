//! Outgoing API calls: the HTTP calls the function itself makes, captured as Moesif events with direction
//! `Outgoing`, tied to the invocation in progress (its request id in `metadata.request_id`). The Python
//! middleware's `start_capture_outgoing`.
//!
//! Every client goes through one capture core ([`record`]): the `ureq` middleware, the `reqwest`
//! middleware, the tower client layer, and [`OutgoingRecorder`] for calls recorded by hand.

#[cfg(any(feature = "reqwest", feature = "tower-client"))]
mod body;
mod event;
mod read;
mod record;
#[cfg(feature = "reqwest")]
mod reqwest_client;
#[cfg(feature = "tower-client")]
mod tower_client;
mod ureq_client;

#[cfg(any(feature = "reqwest", feature = "tower-client"))]
pub use body::MoesifClientBody;
pub use record::{OutgoingRecord, OutgoingRecorder};
#[cfg(feature = "reqwest")]
pub use reqwest_client::MoesifReqwest;
#[cfg(feature = "tower-client")]
pub use tower_client::{
    snapshot_by_clone, MoesifClientFuture, MoesifClientLayer, MoesifClientService, RequestBodySnapshot,
};
pub use ureq_client::MoesifMiddleware;
