//! Where the library meets the user's code: the entry the `#[moesif_logger]` macro expands to
//! ([`macro_entry`], exported as `__private`), and `lambda_http` support ([`http`]).

#[cfg(feature = "http")]
pub(crate) mod http;
pub mod macro_entry;
pub mod probe;
