//! [`OutgoingOptions`]: what is captured of the HTTP calls the function makes (the Python `*_OUTGOING`
//! keys), and [`OutgoingCall`], the view its hooks receive.

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
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct OutgoingOptions {
    pub(crate) skip: Option<OutgoingSkipHook>,
    pub(crate) identify_user: Option<OutgoingIdentifyHook>,
    pub(crate) identify_company: Option<OutgoingIdentifyHook>,
    pub(crate) session_token: Option<OutgoingIdentifyHook>,
    pub(crate) metadata: Option<OutgoingMetadataHook>,
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
    pub const fn log_body(mut self, log_body: bool) -> Self {
        self.log_body = log_body;
        self
    }
}
