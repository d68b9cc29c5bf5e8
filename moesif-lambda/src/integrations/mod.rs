//! Where the library meets the user's code: the entry the `#[moesif_logger]` macro expands to
//! ([`macro_entry`], exported as `__private`), `lambda_http` support ([`http`]) and the tower layer for
//! axum and other `lambda_http` services ([`layer`]); both read requests and answers the same way.
//! [`streaming`] runs a service under lambda_http's streaming runtime with the layer set for it.

pub(crate) mod govern;
#[cfg(feature = "http")]
pub(crate) mod http;
#[cfg(feature = "http")]
pub(crate) mod layer;
pub mod macro_entry;
pub mod probe;
#[cfg(feature = "http")]
pub(crate) mod streaming;
