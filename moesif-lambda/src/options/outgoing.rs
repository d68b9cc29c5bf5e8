//! [`OutgoingOptions`]: what is captured of the HTTP calls the function makes (the Python `*_OUTGOING`
//! keys), and [`OutgoingCall`], the view its hooks receive.

use super::hook::{as_dyn, AsDyn, Hook};
use serde_json::Value;
use std::sync::Arc;

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
/// ```
/// use moesif_lambda::{Options, OutgoingOptions};
/// const OPTIONS: Options = Options::new().outgoing(
///     OutgoingOptions::new()
///         .skip(|call| call.uri.contains("/health"))
///         .log_body(false),
/// );
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct OutgoingOptions {
    pub(crate) skip: Option<Hook<OutgoingSkipHook, OutgoingSkipFn>>,
    pub(crate) identify_user: Option<Hook<OutgoingIdentifyHook, OutgoingIdentifyFn>>,
    pub(crate) identify_company: Option<Hook<OutgoingIdentifyHook, OutgoingIdentifyFn>>,
    pub(crate) session_token: Option<Hook<OutgoingIdentifyHook, OutgoingIdentifyFn>>,
    pub(crate) metadata: Option<Hook<OutgoingMetadataHook, OutgoingMetadataFn>>,
    pub(crate) log_body: bool,
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
    pub const fn skip(mut self, hook: OutgoingSkipHook) -> Self {
        std::mem::forget(self.skip.replace(Hook::Plain(hook)));
        self
    }

    /// `IDENTIFY_USER_OUTGOING`: the user id of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().identify_user(|call| call.request_headers["x-user"].as_str().map(String::from));
    /// ```
    #[doc(alias = "IDENTIFY_USER_OUTGOING")]
    pub const fn identify_user(mut self, hook: OutgoingIdentifyHook) -> Self {
        std::mem::forget(self.identify_user.replace(Hook::Plain(hook)));
        self
    }

    /// `IDENTIFY_COMPANY_OUTGOING`: the company id of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().identify_company(|_| Some("acme".into()));
    /// ```
    #[doc(alias = "IDENTIFY_COMPANY_OUTGOING")]
    pub const fn identify_company(mut self, hook: OutgoingIdentifyHook) -> Self {
        std::mem::forget(self.identify_company.replace(Hook::Plain(hook)));
        self
    }

    /// `GET_SESSION_TOKEN_OUTGOING`: the session token of a call.
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().session_token(|call| call.request_headers["x-session"].as_str().map(String::from));
    /// ```
    #[doc(alias = "GET_SESSION_TOKEN_OUTGOING")]
    pub const fn session_token(mut self, hook: OutgoingIdentifyHook) -> Self {
        std::mem::forget(self.session_token.replace(Hook::Plain(hook)));
        self
    }

    /// `GET_METADATA_OUTGOING`: metadata of a call (merged with `request_id`).
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions =
    ///     moesif_lambda::OutgoingOptions::new().metadata(|call| Some(serde_json::json!({ "status": call.status })));
    /// ```
    #[doc(alias = "GET_METADATA_OUTGOING")]
    pub const fn metadata(mut self, hook: OutgoingMetadataHook) -> Self {
        std::mem::forget(self.metadata.replace(Hook::Plain(hook)));
        self
    }

    /// [`OutgoingOptions::skip`] with a closure that captures values.
    ///
    /// ```
    /// let internal = String::from("internal.example");
    /// let out = moesif_lambda::OutgoingOptions::new().skip_with(move |call| call.uri.contains(&internal));
    /// ```
    pub fn skip_with(mut self, hook: impl Fn(&OutgoingCall<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.skip = Some(Hook::Shared(Arc::new(hook)));
        self
    }

    /// [`OutgoingOptions::identify_user`] with a closure that captures values.
    ///
    /// ```
    /// let header = String::from("x-user");
    /// let out = moesif_lambda::OutgoingOptions::new()
    ///     .identify_user_with(move |call| call.request_headers[header.as_str()].as_str().map(String::from));
    /// ```
    pub fn identify_user_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify_user = Some(Hook::Shared(Arc::new(hook)));
        self
    }

    /// [`OutgoingOptions::identify_company`] with a closure that captures values.
    ///
    /// ```
    /// let tenant = String::from("acme");
    /// let out = moesif_lambda::OutgoingOptions::new().identify_company_with(move |_| Some(tenant.clone()));
    /// ```
    pub fn identify_company_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify_company = Some(Hook::Shared(Arc::new(hook)));
        self
    }

    /// [`OutgoingOptions::session_token`] with a closure that captures values.
    ///
    /// ```
    /// let token = String::from("session-1");
    /// let out = moesif_lambda::OutgoingOptions::new().session_token_with(move |_| Some(token.clone()));
    /// ```
    pub fn session_token_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.session_token = Some(Hook::Shared(Arc::new(hook)));
        self
    }

    /// [`OutgoingOptions::metadata`] with a closure that captures values.
    ///
    /// ```
    /// let service = String::from("orders");
    /// let out = moesif_lambda::OutgoingOptions::new()
    ///     .metadata_with(move |call| Some(serde_json::json!({ "service": service, "status": call.status })));
    /// ```
    pub fn metadata_with(mut self, hook: impl Fn(&OutgoingCall<'_>) -> Option<Value> + Send + Sync + 'static) -> Self {
        self.metadata = Some(Hook::Shared(Arc::new(hook)));
        self
    }

    /// `LOG_BODY_OUTGOING`: capture request and response bodies (default `true`).
    ///
    /// ```
    /// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new().log_body(false);
    /// ```
    #[doc(alias = "LOG_BODY_OUTGOING")]
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
