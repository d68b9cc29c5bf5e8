//! The attribute's arguments: `options = PATH`, `crate = "path"`.

use syn::parse::{Parse, ParseStream};
use syn::{Expr, LitStr, Path, Token};

/// The `options` key (`crate` is a Rust keyword already).
mod kw {
    syn::custom_keyword!(options);
}

/// Parsed `#[moesif_logger(...)]` arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `options = X`: the expression naming the options (a path, usually).
    pub options: Option<Expr>,
    /// `crate = "path"`: the runtime crate's path.
    pub krate: Option<Path>,
}

/// What the arguments look like, for error messages.
const EXPECTED: &str = "expected `options = <const or fn path>` or `crate = \"path\"`";

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let lookahead = input.lookahead1();
            if lookahead.peek(kw::options) {
                let key = input.parse::<kw::options>()?;
                if args.options.is_some() {
                    return Err(syn::Error::new(
                        key.span,
                        "`options` is set more than once: keep one `options = ...`",
                    ));
                }
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(key.span, "expected `options = <const or fn path>`"));
                }
                let eq = input.parse::<Token![=]>()?;
                if input.is_empty() || input.peek(Token![,]) {
                    return Err(syn::Error::new(
                        eq.span,
                        "expected a const or fn path after `options =`",
                    ));
                }
                args.options = Some(input.parse()?);
            } else if lookahead.peek(Token![crate]) {
                let key = input.parse::<Token![crate]>()?;
                if args.krate.is_some() {
                    return Err(syn::Error::new(
                        key.span,
                        "`crate` is set more than once: keep one `crate = \"path\"`",
                    ));
                }
                if !input.peek(Token![=]) {
                    return Err(syn::Error::new(key.span, "expected `crate = \"path\"`"));
                }
                input.parse::<Token![=]>()?;
                let literal: LitStr = input
                    .parse()
                    .map_err(|error| syn::Error::new(error.span(), "expected a string: `crate = \"path\"`"))?;
                args.krate = Some(literal.parse()?);
            } else if input.peek(syn::Ident) {
                let unknown: syn::Ident = input.parse()?;
                return Err(syn::Error::new(
                    unknown.span(),
                    format!("unknown argument `{unknown}`; {EXPECTED}"),
                ));
            } else {
                return Err(lookahead.error());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
