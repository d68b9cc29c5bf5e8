//! Who made the call and what to attach to it: the user hooks, or the reference's defaults.
//!
//! Defaults: user = `requestContext.identity.cognitoIdentityId`, session token =
//! `requestContext.identity.apiKey`, API version = the function version, metadata = request id (as
//! `trace_id`), function name, `requestContext` and `context.aws_request_id`; company = none.

use super::shape::{non_empty_str_at, object};
use crate::hooks;
use crate::options::{IdentifyFn, IdentifyHook, Options, Slot};
use lambda_runtime::Context;
use serde_json::Value;
use std::borrow::Cow;

/// The identity fields of one event.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Identity {
    pub user_id: Option<String>,
    pub company_id: Option<String>,
    pub session_token: Option<String>,
    pub api_version: Option<String>,
}

/// Runs the hooks (each contained) or the defaults.
pub(crate) fn identify(event: &Value, context: &Context, options: &Options) -> Identity {
    let run =
        |name: &'static str, hook: &Slot<IdentifyHook, IdentifyFn>, default: fn(&Value, &Context) -> Option<String>| {
            match hook.get() {
                Some(hook) => hooks::call(name, || hook(event, context)).flatten(),
                None => default(event, context),
            }
        };
    let api_version = match (options.api_version.is_set(), options.api_version_str) {
        (false, Some(fixed)) => Some(fixed.to_owned()),
        _ => run("api_version", &options.api_version, |_, context| {
            Some(context.env_config.version.clone()).filter(|v| !v.is_empty())
        }),
    };
    Identity {
        user_id: run("identify_user", &options.identify_user, |event, _| {
            non_empty_str_at(event, &["requestContext", "identity", "cognitoIdentityId"])
        }),
        company_id: run("identify_company", &options.identify_company, |_, _| None),
        session_token: run("session_token", &options.session_token, |event, _| {
            non_empty_str_at(event, &["requestContext", "identity", "apiKey"])
        }),
        api_version,
    }
}

/// The user id (when `user`) and company id (when `company`): the hooks, or the defaults.
pub(crate) fn entities(
    event: &Value,
    context: &Context,
    options: &Options,
    user: bool,
    company: bool,
) -> (Option<String>, Option<String>) {
    let run = |name, hook: &Slot<IdentifyHook, IdentifyFn>, default: fn(&Value) -> Option<String>| match hook.get() {
        Some(hook) => hooks::call(name, || hook(event, context)).flatten(),
        None => default(event),
    };
    (
        user.then(|| {
            run("identify_user", &options.identify_user, |event| {
                non_empty_str_at(event, &["requestContext", "identity", "cognitoIdentityId"])
            })
        })
        .flatten(),
        company
            .then(|| run("identify_company", &options.identify_company, |_| None))
            .flatten(),
    )
}

/// The metadata: the hook's, or the default. Takes the event: the default moves its `requestContext`
/// into the metadata rather than copying its largest part, so this is the event's last reader.
pub(crate) fn metadata(event: Cow<'_, Value>, context: &Context, options: &Options) -> Option<Value> {
    match options.metadata.get() {
        Some(hook) => hooks::call("metadata", || hook(&event, context)).flatten(),
        None => default_metadata(event, context),
    }
}

/// Whether the default metadata is built for invocations with `context` (it needs a request id and a
/// function name, as the reference's does).
pub(crate) fn builds_default_metadata(context: &Context) -> bool {
    !context.request_id.is_empty() && !context.env_config.function_name.is_empty()
}

/// The reference's metadata; it takes the request context out of an event of our own, else copies it.
fn default_metadata(event: Cow<'_, Value>, context: &Context) -> Option<Value> {
    if !builds_default_metadata(context) {
        return None;
    }
    let request_context = match event {
        Cow::Owned(mut event) => event.as_object_mut()?.remove("requestContext")?,
        Cow::Borrowed(event) => event.get("requestContext")?.clone(),
    };
    let text = |text: &str| Value::String(text.to_owned());
    Some(object([
        ("trace_id", text(&context.request_id)),
        ("function_name", text(&context.env_config.function_name)),
        ("request_context", request_context),
        ("context", object([("aws_request_id", text(&context.request_id))])),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn context() -> Context {
        let mut context = Context::default();
        context.request_id = "req-1".into();
        context.env_config = Arc::new(lambda_runtime::Config {
            function_name: "fn".into(),
            version: "$LATEST".into(),
            ..Default::default()
        });
        context
    }

    #[test]
    fn defaults_follow_the_reference() {
        let event = json!({"requestContext": {"identity": {"cognitoIdentityId": "u1", "apiKey": "k1"}}});
        let identity = identify(&event, &context(), &Options::new());
        assert_eq!(identity.user_id.as_deref(), Some("u1"));
        assert_eq!(identity.session_token.as_deref(), Some("k1"));
        assert_eq!(identity.api_version.as_deref(), Some("$LATEST"));
        assert_eq!(identity.company_id, None);
        let borrowed = metadata(Cow::Borrowed(&event), &context(), &Options::new());
        let metadata = metadata(Cow::Owned(event), &context(), &Options::new());
        assert_eq!(metadata.as_ref().and_then(|m| m.get("trace_id")), Some(&json!("req-1")));
        assert_eq!(
            metadata
                .as_ref()
                .and_then(|m| m.pointer("/request_context/identity/apiKey")),
            Some(&json!("k1"))
        );
        assert_eq!(borrowed, metadata, "the same whether the event is borrowed or owned");
    }

    #[test]
    fn no_request_context_no_metadata() {
        assert_eq!(metadata(Cow::Owned(json!({})), &context(), &Options::new()), None);
    }

    #[test]
    fn hooks_replace_defaults_and_panics_are_contained() {
        let options = Options::new()
            .identify_user(|_, _| Some("hooked".into()))
            .identify_company(|_, _| panic!("company hook broke"))
            .api_version_str("v9")
            .metadata(|_, ctx| Some(json!({"id": ctx.request_id})));
        let identity = identify(&json!({}), &context(), &options);
        assert_eq!(identity.user_id.as_deref(), Some("hooked"));
        assert_eq!(identity.company_id, None);
        assert_eq!(identity.api_version.as_deref(), Some("v9"));
        assert_eq!(
            metadata(Cow::Owned(json!({})), &context(), &options),
            Some(json!({"id": "req-1"}))
        );
    }
}
