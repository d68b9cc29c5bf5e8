//! [`OutgoingOptions`]: what is captured of the HTTP calls the function makes (the Python `*_OUTGOING`
//! keys), and [`OutgoingCall`], the view its hooks receive.

use super::slot::{as_dyn, AsDyn, Slot};
use serde_json::Value;

/// A read-only view of one outgoing call, for the outgoing hooks.
#[derive(Debug)]
#[non_exhaustive]
pub struct OutgoingCall<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Full URI.
    pub uri: &'a str,
    /// Request headers (a JSON object of strings).
    pub request_headers: &'a Value,
    /// Response status.
    pub status: u16,
    /// Response headers (a JSON object of strings).
    pub response_headers: &'a Value,
    /// The request id of the invocation that made the call, if any.
    pub request_id: Option<&'a str>,
}

/// A hook deriving a string (user, company, session token) from an outgoing call.
pub type OutgoingIdentifyHook = fn(&OutgoingCall<'_>) -> Option<String>;
/// A hook returning the metadata of an outgoing call.
pub type OutgoingMetadataHook = fn(&OutgoingCall<'_>) -> Option<Value>;
/// A hook returning `true` for outgoing calls not to log.
pub type OutgoingSkipHook = fn(&OutgoingCall<'_>) -> bool;

/// An outgoing identify hook that may capture values.
pub(crate) type OutgoingIdentifyFn = dyn Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync;
/// An outgoing metadata hook that may capture values.
pub(crate) type OutgoingMetadataFn = dyn Fn(&OutgoingCall<'_>) -> Option<Value> + Send + Sync;
/// An outgoing skip hook that may capture values.
pub(crate) type OutgoingSkipFn = dyn Fn(&OutgoingCall<'_>) -> bool + Send + Sync;

as_dyn!(
    OutgoingIdentifyHook => OutgoingIdentifyFn,
    OutgoingMetadataHook => OutgoingMetadataFn,
    OutgoingSkipHook => OutgoingSkipFn,
);

/// Options for capturing the HTTP calls the function makes (see [`crate::Options::outgoing`]); the
/// Python `*_OUTGOING` keys.
///
/// Its hooks are `fn`s (closures that capture nothing coerce to them), so it can be a `const`. Hooks
/// that capture values go on [`crate::Options`] itself, after `outgoing(…)`:
/// [`crate::Options::outgoing_skip_with`], [`crate::Options::outgoing_identify_user_with`], …
///
/// ```
/// use moesif_lambda::{Options, OutgoingOptions};
/// const OPTIONS: Options = Options::new().outgoing(
///     OutgoingOptions::new()
///         .skip(|call| call.uri.contains("/health"))
///         .log_body(false),
/// );
/// ```
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct OutgoingOptions {
    skip: Option<OutgoingSkipHook>,
    identify_user: Option<OutgoingIdentifyHook>,
    identify_company: Option<OutgoingIdentifyHook>,
    session_token: Option<OutgoingIdentifyHook>,
    metadata: Option<OutgoingMetadataHook>,
    log_body: bool,
}

impl Default for OutgoingOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OutgoingOptions {
    /// The defaults: log every call, with bodies.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new();
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            skip: None,
            identify_user: None,
            identify_company: None,
            session_token: None,
            metadata: None,
            log_body: true,
        }
    }

    /// `SKIP_OUTGOING`: return `true` to leave a call out.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new().skip(|call| call.method == "HEAD");
    /// ```
    #[doc(alias = "SKIP_OUTGOING")]
    #[must_use = "a builder returns the changed options"]
    pub const fn skip(mut self, hook: OutgoingSkipHook) -> Self {
        self.skip = Some(hook);
        self
    }

    /// `IDENTIFY_USER_OUTGOING`: the user id of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().identify_user(|call| call.request_headers["x-user"].as_str().map(String::from));
    /// ```
    #[doc(alias = "IDENTIFY_USER_OUTGOING")]
    #[must_use = "a builder returns the changed options"]
    pub const fn identify_user(mut self, hook: OutgoingIdentifyHook) -> Self {
        self.identify_user = Some(hook);
        self
    }

    /// `IDENTIFY_COMPANY_OUTGOING`: the company id of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().identify_company(|_| Some("acme".into()));
    /// ```
    #[doc(alias = "IDENTIFY_COMPANY_OUTGOING")]
    #[must_use = "a builder returns the changed options"]
    pub const fn identify_company(mut self, hook: OutgoingIdentifyHook) -> Self {
        self.identify_company = Some(hook);
        self
    }

    /// `GET_SESSION_TOKEN_OUTGOING`: the session token of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().session_token(|call| call.request_headers["x-session"].as_str().map(String::from));
    /// ```
    #[doc(alias = "GET_SESSION_TOKEN_OUTGOING")]
    #[must_use = "a builder returns the changed options"]
    pub const fn session_token(mut self, hook: OutgoingIdentifyHook) -> Self {
        self.session_token = Some(hook);
        self
    }

    /// `GET_METADATA_OUTGOING`: metadata of a call (merged with `request_id`).
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().metadata(|call| Some(serde_json::json!({ "status": call.status })));
    /// ```
    #[doc(alias = "GET_METADATA_OUTGOING")]
    #[must_use = "a builder returns the changed options"]
    pub const fn metadata(mut self, hook: OutgoingMetadataHook) -> Self {
        self.metadata = Some(hook);
        self
    }

    /// `LOG_BODY_OUTGOING`: capture request and response bodies (default `true`).
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new().log_body(false);
    /// ```
    #[doc(alias = "LOG_BODY_OUTGOING")]
    #[must_use = "a builder returns the changed options"]
    pub const fn log_body(mut self, log_body: bool) -> Self {
        self.log_body = log_body;
        self
    }
}

impl std::fmt::Debug for OutgoingOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hook = |set: bool| if set { "set" } else { "none" };
        f.debug_struct("OutgoingOptions")
            .field("skip", &hook(self.skip.is_some()))
            .field("identify_user", &hook(self.identify_user.is_some()))
            .field("identify_company", &hook(self.identify_company.is_some()))
            .field("session_token", &hook(self.session_token.is_some()))
            .field("metadata", &hook(self.metadata.is_some()))
            .field("log_body", &self.log_body)
            .finish()
    }
}

/// The outgoing settings as [`crate::Options`] holds them: the `fn`s of the last [`OutgoingOptions`]
/// given, or the closures of the `Options::outgoing_*_with` builders called after it.
#[derive(Clone)]
pub(crate) struct OutgoingHooks {
    pub(crate) skip: Slot<OutgoingSkipHook, OutgoingSkipFn>,
    pub(crate) identify_user: Slot<OutgoingIdentifyHook, OutgoingIdentifyFn>,
    pub(crate) identify_company: Slot<OutgoingIdentifyHook, OutgoingIdentifyFn>,
    pub(crate) session_token: Slot<OutgoingIdentifyHook, OutgoingIdentifyFn>,
    pub(crate) metadata: Slot<OutgoingMetadataHook, OutgoingMetadataFn>,
    pub(crate) log_body: bool,
}

impl OutgoingHooks {
    /// The defaults of [`OutgoingOptions::new`].
    pub(crate) const fn new() -> Self {
        Self {
            skip: Slot::unset(),
            identify_user: Slot::unset(),
            identify_company: Slot::unset(),
            session_token: Slot::unset(),
            metadata: Slot::unset(),
            log_body: true,
        }
    }

    /// Every setting from `options` (the hooks it leaves unset become unset).
    pub(crate) const fn replace_with(&mut self, options: OutgoingOptions) {
        self.skip.set_or_unset(options.skip);
        self.identify_user.set_or_unset(options.identify_user);
        self.identify_company.set_or_unset(options.identify_company);
        self.session_token.set_or_unset(options.session_token);
        self.metadata.set_or_unset(options.metadata);
        self.log_body = options.log_body;
    }
}

impl std::fmt::Debug for OutgoingHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hook = |set: bool| if set { "set" } else { "none" };
        f.debug_struct("OutgoingOptions")
            .field("skip", &hook(self.skip.is_set()))
            .field("identify_user", &hook(self.identify_user.is_set()))
            .field("identify_company", &hook(self.identify_company.is_set()))
            .field("session_token", &hook(self.session_token.is_set()))
            .field("metadata", &hook(self.metadata.is_set()))
            .field("log_body", &self.log_body)
            .finish()
    }
}
