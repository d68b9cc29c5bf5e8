//! Where the library meets the user's code: the entry the `#[moesif_logger]` macro expands to
//! ([`macro_entry`], exported as `__private`), `lambda_http` support ([`http`]) and the tower layer for
//! axum and other `lambda_http` services ([`layer`]); both read requests and answers the same way.

#[cfg(feature = "http")]
pub(crate) mod http;
#[cfg(feature = "http")]
pub(crate) mod layer;
pub mod macro_entry;
pub mod probe;
