//! Rebuilds the handler: same attributes, visibility and signature; the body wrapped in one call to
//! `moesif_lambda::__private`. On any error the function is emitted unchanged beside the error, so the
//! user sees one real error and editors keep working.

use crate::args::Args;
use crate::validate;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{parse_quote, FnArg, Ident, ItemFn, Pat, ReturnType, Type};

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
    let args = match (args, checked) {
        (Ok(args), Ok(())) => args,
        (args, checked) => match validate::combine(args.err().into_iter().chain(checked.err())) {
            Err(error) => return with_error(function.into_token_stream(), error),
            Ok(()) => return function.into_token_stream(),
        },
    };
    match expand(args, function.clone()) {
        Ok(tokens) => tokens,
        Err(error) => with_error(function.into_token_stream(), error),
    }
}

fn with_error(item: TokenStream, error: syn::Error) -> TokenStream {
    let error = error.into_compile_error();
    quote! { #error #item }
}

fn first_token_span(item: &TokenStream) -> Span {
    item.clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |token| token.span())
}

fn expand(args: Args, mut function: ItemFn) -> syn::Result<TokenStream> {
    let krate: syn::Path = args.krate.unwrap_or_else(|| parse_quote!(::moesif_lambda));
    let private = quote!(#krate::__private);
    let options = match &args.options {
        Some(options) => quote_spanned!(options.span()=> &#options),
        None => quote!(&#krate::Options::new()),
    };

    // The event argument: a plain binding is used as is; a pattern is bound to a fresh name and
    // destructured inside the body.
    let event_ident = Ident::new("__moesif_event", Span::mixed_site());
    let mut prelude = TokenStream::new();
    let event = match function.sig.inputs.first_mut() {
        Some(FnArg::Typed(typed)) => match &*typed.pat {
            Pat::Ident(binding) if binding.by_ref.is_none() && binding.subpat.is_none() => binding.ident.clone(),
            _ => {
                let pattern = std::mem::replace(&mut *typed.pat, parse_quote!(#event_ident));
                prelude = quote!(let #pattern = #event_ident;);
                event_ident
            }
        },
        _ => {
            return Err(syn::Error::new(
                function.sig.span(),
                "the first argument must be the event",
            ))
        }
    };

    let block = &function.block;
    let output_type = match &function.sig.output {
        ReturnType::Type(_, ty) if !contains_impl_trait(ty) => {
            quote!(: ::core::result::Result<#ty, ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>>)
        }
        _ => TokenStream::new(),
    };
    let probes = quote! {
        #[allow(unused_imports)]
        use #private::probe::{
            Probe as __MoesifProbe, ViaDebugError as _, ViaDisplayError as _, ViaHttpRequest as _,
            ViaHttpResponse as _, ViaLambdaEvent as _, ViaLambdaEventValue as _, ViaOpaqueError as _, ViaSerializeResponse as _,
            ViaUnknownEvent as _, ViaUnknownResponse as _,
        };
    };
    let (run_body, finish) = if function.sig.asyncness.is_some() {
        (
            quote!(#private::catch_unwind(async move { #prelude #block }).await),
            quote!(__moesif_pending.finish(__moesif_answer).await;),
        )
    } else {
        let closure_type = match &function.sig.output {
            ReturnType::Type(_, ty) if !contains_impl_trait(ty) => quote!(-> #ty),
            _ => TokenStream::new(),
        };
        (
            quote!(#private::catch_unwind_blocking(move || #closure_type { #prelude #block })),
            quote!(__moesif_pending.finish_blocking(__moesif_answer);),
        )
    };

    let body = quote! {
        {
            static __MOESIF_STATE: #private::State = #private::State::new();
            let __moesif_pending = {
                #probes
                __MOESIF_STATE.begin(#options, (&&&__MoesifProbe(&#event)).__moesif_event())
            };
            let __moesif_output #output_type = #run_body;
            let __moesif_answer = {
                #probes
                match &__moesif_output {
                    ::core::result::Result::Ok(::core::result::Result::Ok(__moesif_value)) => {
                        #private::CallAnswer::Response((&&&__MoesifProbe(__moesif_value)).__moesif_response())
                    }
                    ::core::result::Result::Ok(::core::result::Result::Err(__moesif_error)) => {
                        #private::answer_of_error(__moesif_error, (&&&__MoesifProbe(__moesif_error)).__moesif_error())
                    }
                    ::core::result::Result::Err(__moesif_panic) => #private::answer_of_panic(&**__moesif_panic),
                }
            };
            #finish
            #private::resume(__moesif_output)
        }
    };
    function.block = syn::parse2(body)?;
    Ok(function.into_token_stream())
}

/// Whether a type mentions `impl Trait` (then it cannot be written in a `let` annotation).
fn contains_impl_trait(ty: &Type) -> bool {
    fn tokens_have_impl(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => tokens_have_impl(group.stream()),
            _ => false,
        })
    }
    tokens_have_impl(ty.to_token_stream())
}
