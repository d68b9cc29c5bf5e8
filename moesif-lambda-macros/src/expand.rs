//! Rebuilds a checked handler: the same attributes, visibility and signature, and the user's statements
//! unchanged inside one call to `moesif_lambda::__private`, typed by the declared return type. On any
//! error the function is emitted unchanged beside the errors, so editors keep working.
//!
//! Spans: generated tokens carry the attribute's (call-site) hygiene, so lints skip them; where a
//! diagnostic can land on them (the body's braces, the return-type pin) they are *located* at the
//! user's tokens, so errors point into the handler, not at the attribute.

use crate::args::Args;
use crate::validate;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{parse_quote, FnArg, ItemFn, Pat, ReturnType, Signature, Type, TypeInfer};

/// The attribute: the wrapped handler, or the item unchanged beside every error found.
pub(crate) fn moesif_logger(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                first_token_span(&item),
                "#[moesif_logger] goes on a Lambda handler function: \
                 `async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error>`",
            );
            return with_error(item, error);
        }
    };
    let args = syn::parse2::<Args>(args);
    let checked = validate::handler(&function);
    match (args, checked) {
        (Ok(args), Ok(())) => expand(&args, function),
        (args, checked) => match validate::combine(args.err().into_iter().chain(checked.err())) {
            Err(error) => with_error(function.into_token_stream(), error),
            Ok(()) => function.into_token_stream(),
        },
    }
}

/// The item as written, preceded by the errors as `compile_error!`s.
fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    quote! { #error #item }
}

/// Where an item that is not a function starts (`struct`, `const`, ...).
fn first_token_span(item: &TokenStream) -> Span {
    item.clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

/// The handler with its body wrapped; `function` has passed [`validate::handler`].
fn expand(args: &Args, mut function: ItemFn) -> TokenStream {
    let krate: syn::Path = args.krate.clone().unwrap_or_else(|| parse_quote!(::moesif_lambda));
    let private = quote!(#krate::__private);
    let options = match &args.options {
        Some(options) => quote_spanned!(options.span()=> &#options),
        None => quote!(&#krate::Options::new()),
    };
    let (event, rebind) = rebind_arguments(&mut function.sig);
    let Some(event) = event else {
        return function.into_token_stream();
    };
    let body = typed_body(&function, &rebind);
    // The event must be one the runtime can read: checked at compile time, the error on its type.
    let event_check = match function.sig.inputs.first() {
        Some(FnArg::Typed(typed)) => {
            let at = Span::call_site().located_at(typed.ty.span());
            quote_spanned!(at=> #private::assert_readable_event(__moesif_event);)
        }
        _ => TokenStream::new(),
    };
    let probes = quote! {
        #[allow(unused_imports)]
        use #private::probe::{
            Probe as __MOESIF_PROBE, ViaDebugError as _, ViaDisplayError as _, ViaHttpRequest as _,
            ViaHttpResponse as _, ViaHttpResponseHead as _, ViaLambdaEvent as _, ViaLambdaEventValue as _,
            ViaOpaqueError as _,
            ViaSerializeResponse as _, ViaUnknownEvent as _, ViaUnknownResponse as _,
        };
    };
    let (run_body, finish) = if function.sig.asyncness.is_some() {
        (
            quote!(#private::catch_unwind(&__moesif_pending, async move { #body }).await),
            quote!(__moesif_pending.finish(__moesif_answer).await;),
        )
    } else {
        (
            quote!(#private::catch_unwind_blocking(&__moesif_pending, move || { #body })),
            quote!(__moesif_pending.finish_blocking(__moesif_answer);),
        )
    };
    // The blocked answer a governance rule gives, as the declared answer type (probed); a type with an
    // `impl Trait` in it cannot be named, and is not governed.
    let into_response = matches!(&function.sig.output, ReturnType::Type(_, ty) if is_impl_into_response(ty));
    let answer_type = match &function.sig.output {
        ReturnType::Type(_, ty) if !has_impl_trait(ty) => Some(ty.clone()),
        _ => None,
    };
    let blocked = match answer_type {
        Some(ty) => quote! {{
            #[allow(unused_imports)]
            use #private::probe::{
                ViaBlockedHttp as _, ViaBlockedTyped as _, ViaBlockedUnknown as _, ViaBlockedValue as _,
            };
            (&&&#private::probe::AnswerType(::core::marker::PhantomData::<#ty>)).__moesif_blocked(&__moesif_governance)
        }},
        None => quote!(::core::option::Option::None),
    };
    let ok = quote!(::core::result::Result::Ok);
    let err = quote!(::core::result::Result::Err);
    let answer_of = quote! {
        #ok(#err(__moesif_error)) => {
            #private::answer_of_error(__moesif_error, (&&&__MOESIF_PROBE(__moesif_error)).__moesif_error())
        }
        #err(__moesif_panic) => #private::answer_of_panic(&**__moesif_panic),
    };
    let governed_body = if into_response {
        // `Result<impl IntoResponse, _>`: the body answers the rule's response or the handler's, one type.
        quote! {
            let __moesif_blocked = #private::blocked_response(&__moesif_governance);
            if __moesif_blocked.is_some() {
                __moesif_pending.note_blocked(&__moesif_governance);
            }
            let __moesif_output = match __moesif_blocked {
                ::core::option::Option::Some(__moesif_rule_answer) => {
                    #ok(#ok(#private::GovernedResponse::Blocked(__moesif_rule_answer)))
                }
                ::core::option::Option::None => match #run_body {
                    #ok(#ok(__moesif_value)) => {
                        __moesif_pending.note_added_headers(&__moesif_governance);
                        #ok(#ok(#private::GovernedResponse::Handler(
                            __moesif_value,
                            #private::added_headers(&__moesif_governance),
                        )))
                    }
                    #ok(#err(__moesif_error)) => #ok(#err(__moesif_error)),
                    #err(__moesif_panic) => #err(__moesif_panic),
                },
            };
            let __moesif_answer = {
                #probes
                match &__moesif_output {
                    #ok(#ok(#private::GovernedResponse::Blocked(__moesif_value))) => {
                        #private::CallAnswer::Response((&&&__MOESIF_PROBE(__moesif_value)).__moesif_response())
                    }
                    #ok(#ok(#private::GovernedResponse::Handler(__moesif_value, _))) => {
                        #private::CallAnswer::Response((&&&__MOESIF_PROBE(__moesif_value)).__moesif_response())
                    }
                    #answer_of
                }
            };
        }
    } else {
        quote! {
        let __moesif_blocked = #private::blocked_output(&__moesif_governance, #blocked);
        let __moesif_governed = __moesif_blocked.is_none();
        if !__moesif_governed {
            __moesif_pending.note_blocked(&__moesif_governance);
        }
        let mut __moesif_output = match __moesif_blocked {
            ::core::option::Option::Some(__moesif_rule_answer) => ::core::result::Result::Ok(__moesif_rule_answer),
            ::core::option::Option::None => #run_body,
        };
        if __moesif_governed {
            if let ::core::result::Result::Ok(::core::result::Result::Ok(__moesif_value)) = &mut __moesif_output {
                #[allow(unused_imports)]
                use #private::probe::{
                    ViaHeadersHttp as _, ViaHeadersTyped as _, ViaHeadersUnknown as _, ViaHeadersValue as _,
                };
                (&&&#private::probe::AnswerMut(::core::cell::Cell::new(::core::option::Option::Some(__moesif_value))))
                    .__moesif_add_headers(&__moesif_governance);
            }
        }
        let __moesif_answer = {
            #probes
            match &__moesif_output {
                ::core::result::Result::Ok(::core::result::Result::Ok(__moesif_value)) => {
                    #private::CallAnswer::Response((&&&__MOESIF_PROBE(__moesif_value)).__moesif_response())
                }
                #answer_of
            }
        };
        }
    };
    let wrapped = quote! {{
        static __MOESIF_STATE: #private::State = #private::State::new();
        // The wrapper's own read of the event (which may be named `_event`).
        #[allow(clippy::used_underscore_binding)]
        let __moesif_event = &#event;
        #event_check
        let mut __moesif_pending = {
            #probes
            __MOESIF_STATE.begin(#options, (&&&__MOESIF_PROBE(__moesif_event)).__moesif_event())
        };
        let __moesif_governance = {
            #probes
            __moesif_pending.govern((&&&__MOESIF_PROBE(__moesif_event)).__moesif_govern())
        };
        #governed_body
        #finish
        #private::resume(__moesif_output)
    }};
    match syn::parse2(wrapped) {
        Ok(block) => function.block = block,
        Err(error) => return with_error(function.into_token_stream(), error),
    }
    function.into_token_stream()
}

/// The user's statements as the value of the future or closure. A never-run typed `return` comes first
/// (async-trait, tracing-attributes): it pins the return type, so `?`, early `return`s and the tail are
/// all checked against the declared type. The statements then stay the tail, as in the original
/// function (a `let` around them would make clippy see a diverging body as a diverging sub-expression).
fn typed_body(function: &ItemFn, rebind: &TokenStream) -> TokenStream {
    let statements = &function.block.stmts;
    // The body's braces: at the user's braces, but marked as generated (no `unused_braces`).
    let braces = Span::call_site().located_at(function.block.brace_token.span.join());
    let block = quote_spanned!(braces=> { #(#statements)* });
    let ReturnType::Type(_, ty) = &function.sig.output else {
        return quote!(#rebind #block);
    };
    let ret = erase_impl_trait(ty);
    if let Type::Infer(_) = ret {
        // `-> impl Trait`: nothing to pin.
        return quote!(#rebind #block);
    }
    let pin = quote_spanned! {Span::call_site().located_at(ty.span())=>
        if let ::core::option::Option::Some(__moesif_ret) = ::core::option::Option::None::<#ret> {
            #[allow(unreachable_code)]
            return __moesif_ret;
        }
    };
    quote!(#pin #rebind #block)
}

/// Gives every argument a plain name in the signature and moves its pattern (`mut x`, a destructuring)
/// into the body as `let PATTERN = name;`, where the original function had it. Returns the first name
/// (the event) and the `let`s.
fn rebind_arguments(signature: &mut Signature) -> (Option<Ident>, TokenStream) {
    let mut first = None;
    let mut lets = TokenStream::new();
    for (index, input) in signature.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = input else { continue };
        let (name, plain) = match &*typed.pat {
            Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => {
                (binding.ident.clone(), binding.mutability.is_none())
            }
            _ => (format_ident!("__moesif_arg{}", index), false),
        };
        if !plain {
            let pattern = std::mem::replace(&mut *typed.pat, parse_quote!(#name));
            lets.extend(quote!(let #pattern = #name;));
        }
        first = first.or(Some(name));
    }
    (first, lets)
}

/// Whether the type has an `impl Trait` in it (then it cannot be written inside the body).
fn has_impl_trait(ty: &Type) -> bool {
    erase_impl_trait(ty).to_token_stream().to_string() != ty.to_token_stream().to_string()
}

/// Whether the type is lambda_http's `Result<impl IntoResponse, E>` (an `impl IntoResponse` in it, not
/// axum's).
fn is_impl_into_response(ty: &Type) -> bool {
    let text = ty.to_token_stream().to_string();
    has_impl_trait(ty) && text.contains("IntoResponse") && !text.contains("axum")
}

/// The type with every `impl Trait` replaced by `_`, so it can be written inside the body (as
/// tracing-attributes does).
fn erase_impl_trait(ty: &Type) -> Type {
    /// Replaces `impl Trait` types.
    struct Eraser;
    impl VisitMut for Eraser {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(impl_trait) = ty {
                let underscore_token = syn::Token![_](impl_trait.impl_token.span);
                *ty = Type::Infer(TypeInfer { underscore_token });
            } else {
                visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    Eraser.visit_type_mut(&mut ty);
    ty
}

/// The expansion as text, for the checks below (trybuild covers what the compiler makes of it).
#[cfg(test)]
mod tests {
    use quote::quote;

    /// `moesif_logger(args, item)`, as a string of tokens.
    fn expand(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        super::moesif_logger(args, item).to_string()
    }

    /// Every mistake is reported, and the function is still emitted unchanged.
    #[test]
    fn errors_are_combined_beside_the_unchanged_function() {
        let out = expand(
            quote!(option = X),
            quote!(
                const fn handler() -> u8 {
                    1
                }
            ),
        );
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
        assert!(out.ends_with("const fn handler () -> u8 { 1 }"), "{out}");
    }

    /// Patterns move into the body; the signature binds plain names; the return type is pinned first.
    #[test]
    fn patterns_move_inside_and_the_return_type_is_pinned() {
        let item = quote!(
            async fn h(mut event: E, (a, b): (u8, u8)) -> Result<impl R, Error> {
                Ok(1)
            }
        );
        let out = expand(quote!(), item);
        assert!(out.starts_with("async fn h (event : E , __moesif_arg1 : (u8 , u8)) -> Result < impl R , Error >"));
        let pin = out.find("None :: < Result < _ , Error > >").unwrap_or(usize::MAX);
        let lets = out.find("let mut event = event ; let (a , b) = __moesif_arg1 ; { Ok (1) }");
        assert!(lets.is_some_and(|lets| pin < lets), "{out}");
    }

    /// `crate = "..."` replaces `::moesif_lambda` everywhere.
    #[test]
    fn crate_path_is_used() {
        let out = expand(
            quote!(crate = "renamed"),
            quote!(
                fn h(event: E) -> Result<T, Error> {
                    Ok(event)
                }
            ),
        );
        assert!(out.contains("renamed :: __private :: catch_unwind_blocking"), "{out}");
        assert!(!out.contains("moesif_lambda"), "{out}");
    }
}
