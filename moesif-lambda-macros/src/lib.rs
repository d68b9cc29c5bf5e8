//! The `#[moesif_logger]` attribute of [`moesif-lambda`](https://docs.rs/moesif-lambda). Use it through
//! that crate (`use moesif_lambda::moesif_logger;`): all behaviour lives there; this crate only rewrites
//! the handler's body to call it.
//!
//! Pipeline: `args` parses `#[moesif_logger(...)]`, `validate` checks the function (all mistakes at
//! once), `expand` re-emits the signature and wraps the body.

mod args;
mod expand;
mod validate;

use proc_macro::TokenStream;

/// Logs every call the annotated Lambda handler serves to Moesif.
///
/// Arguments (all optional):
/// - `options = PATH`: a `const`/`static` of type `moesif_lambda::Options`, or a `fn() -> Options`
///   (called once per cold start). Default: `Options::new()`.
/// - `crate = "path"`: where `moesif_lambda` is, if it was renamed.
///
/// The handler keeps its signature; its first argument is the event (`LambdaEvent<T>` or
/// `lambda_http::Request`). Works on `async fn` and plain `fn`. The body compiles as it would without
/// the attribute: it is checked against the declared return type (so `?` and `Err(Box::new(..))`
/// convert as usual, and type errors point into the body), and the expansion adds no warnings.
///
/// ```ignore
/// #[moesif_logger(options = OPTIONS)]
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> { Ok(event.payload) }
/// ```
#[proc_macro_attribute]
pub fn moesif_logger(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::moesif_logger(args.into(), item.into()).into()
}
