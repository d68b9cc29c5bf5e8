//! Every check on the annotated item, in one step before any code is generated: each mistake is
//! reported at the offending token with what to write instead, and all of them are reported at once.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

/// Checks that `function` is a handler the wrapper can serve; every problem, combined into one error.
pub(crate) fn handler(function: &ItemFn) -> syn::Result<()> {
    let signature = &function.sig;
    let mut errors = Vec::new();
    if let Some(constness) = &signature.constness {
        errors.push(syn::Error::new(
            constness.span,
            "#[moesif_logger] cannot go on a `const fn`: remove `const` (a handler is an `async fn` or a `fn`)",
        ));
    }
    match signature.inputs.first() {
        None => errors.push(syn::Error::new(
            signature.paren_token.span.join(),
            "a Lambda handler takes the event as its first argument: \
             `fn handler(event: LambdaEvent<Value>)` or `fn handler(request: lambda_http::Request)`",
        )),
        Some(FnArg::Receiver(receiver)) => errors.push(syn::Error::new(
            receiver.span(),
            "#[moesif_logger] goes on a free handler function, not a method: the first argument must be the \
             event, as in `async fn handler(event: LambdaEvent<Value>)`",
        )),
        Some(FnArg::Typed(_)) => {}
    }
    if let ReturnType::Default = signature.output {
        errors.push(syn::Error::new(
            signature.paren_token.span.close(),
            "a Lambda handler returns a `Result`: add `-> Result<Value, Error>` after the arguments",
        ));
    }
    combine(errors)
}

/// Folds errors into one with [`syn::Error::combine`]; `Ok` when there are none.
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> syn::Result<()> {
    let combined = errors.into_iter().reduce(|mut all, error| {
        all.combine(error);
        all
    });
    combined.map_or(Ok(()), Err)
}
