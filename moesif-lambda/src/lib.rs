#![doc = include_str!("../docs/guide.md")]
#![warn(missing_docs)]
// The crate reads bottom-up; each layer imports only from those below it:
//
//   options, model, error, time, hooks, current   leaves
//   governance/     the app's governance rules: parse, evaluate (pure: no I/O)
//   capture/        Lambda event + answer -> Moesif event (pure: no I/O)
//   delivery/       queue, pipeline, transport, server config, the after-response extension
//   client          the public handle on one collector connection
//   integrations/   the macro's `__private` entry, lambda_http, the tower layer
//   outgoing/       the ureq middleware
//   profiles        user and company profiles

mod capture;
mod client;
mod current;
mod delivery;
mod error;
mod governance;
mod hooks;
mod integrations;
mod model;
mod options;
mod outgoing;
pub mod profiles;
mod time;

#[doc(hidden)]
pub use integrations::macro_entry as __private;

pub use capture::redact;
pub use capture::{preview_event, RequestView};
pub use client::Client;
pub use current::InvocationHandle;
pub use delivery::{flush, run, run_concurrent, FlushReport, MoesifRuntimeLayer};
pub use error::Error;
#[cfg(feature = "http")]
pub use integrations::http::run_http;
#[cfg(feature = "http")]
pub use integrations::layer::{MoesifBody, MoesifLayer, MoesifService, ResponseFuture};
#[cfg(feature = "http")]
pub use integrations::streaming::{run_http_streaming, run_http_streaming_with};
pub use model::{Direction, EventModel, EventRequest, EventResponse, TransferEncoding};
pub use moesif_lambda_macros::moesif_logger;
pub use options::{
    IdentifyHook, MaskHook, MetadataHook, Options, OptionsSource, OutgoingCall, OutgoingIdentifyHook,
    OutgoingMetadataHook, OutgoingOptions, OutgoingSkipHook, SkipHook,
};
pub use outgoing::MoesifMiddleware;

/// The repository's README: its examples run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
