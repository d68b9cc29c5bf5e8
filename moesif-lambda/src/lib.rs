#![doc = include_str!("../docs/guide.md")]
#![warn(missing_docs)]
// The crate reads bottom-up; each layer imports only from those below it:
//
//   process                 the process-wide state (data only)
//   options, model, error, time, hooks, current   leaves
//   governance/     the app's governance rules: parse, evaluate (pure: no I/O)
//   capture/        Lambda event + answer -> Moesif event (pure: no I/O)
//   delivery/       queue, pipeline, transport, server config, the after-response extension
//   profiles        user, company and subscription profiles
//   actions         actions (queued with the events)
//   client          the public handle on one collector connection
//   integrations/   the macro's `__private` entry, lambda_http, the tower layer
//   outgoing/       outgoing calls: one capture core; the ureq and reqwest middlewares, the tower
//                   client layer, recording by hand

pub mod actions;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench;
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
mod process;
pub mod profiles;
mod sync;
mod time;

#[doc(hidden)]
pub use integrations::macro_entry as __private;

pub use capture::redact;
pub use capture::{preview_event, RequestView};
pub use client::Client;
pub use current::InvocationHandle;
pub use delivery::{flush, prefetch_governance, run, run_concurrent, FlushReport, MoesifRuntimeLayer};
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
#[cfg(any(feature = "reqwest", feature = "tower-client"))]
pub use outgoing::MoesifClientBody;
#[cfg(feature = "reqwest")]
pub use outgoing::MoesifReqwest;
#[cfg(feature = "tower-client")]
pub use outgoing::{
    snapshot_by_clone, MoesifClientFuture, MoesifClientLayer, MoesifClientService, RequestBodySnapshot,
};
pub use outgoing::{MoesifMiddleware, OutgoingRecord, OutgoingRecorder};

/// The repository's README: its examples run as doctests too.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
