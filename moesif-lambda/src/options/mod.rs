//! [`Options`]: what the middleware captures and where it sends it.
//!
//! Every option of Moesif's Python middleware (`MoesifLogger(moesif_options)`) exists here with the same
//! meaning and default. Hooks are plain `fn` pointers (non-capturing closures coerce to them), so an
//! `Options` can be a `const`; options built at run time (a `fn() -> Options`, a layer's) may also take
//! closures that capture values (the `*_with` builders). [`OptionsSource`] lets
//! `#[moesif_logger(options = X)]` take either a const or a `fn() -> Options`.
//!
//! No `const fn` builder drops a value (a `const fn` cannot run a destructor): each hook and string is
//! a [`Slot`], whose `const` half holds only `Copy` data (`fn` pointers, `&'static str`) and whose
//! owned half (closures, owned strings) only the run-time builders write. [`OutgoingOptions`], which a
//! `const` builder takes by value, holds only `fn`s for that reason; closures for the outgoing hooks
//! go through `Options::outgoing_*_with`.

mod outgoing;
mod slot;

pub(crate) use slot::Slot;

use slot::{as_dyn, AsDyn};
use std::sync::Arc;

pub use outgoing::{OutgoingCall, OutgoingIdentifyHook, OutgoingMetadataHook, OutgoingOptions, OutgoingSkipHook};
pub(crate) use outgoing::{OutgoingHooks, OutgoingIdentifyFn};

use crate::model::EventModel;
use lambda_runtime::Context;
use serde_json::Value;
use std::time::Duration;

/// A hook that derives a string (user id, company id, session token, API version) from the raw event
/// (as JSON) and the Lambda context. `None` leaves the field empty.
pub type IdentifyHook = fn(&Value, &Context) -> Option<String>;
/// A hook that returns the `metadata` object of the event (any JSON value).
pub type MetadataHook = fn(&Value, &Context) -> Option<Value>;
/// A hook that returns `true` when the invocation must not be logged.
pub type SkipHook = fn(&Value, &Context) -> bool;
/// A hook that receives the finished event model and returns it with sensitive data removed.
pub type MaskHook = fn(EventModel) -> EventModel;

/// An identify hook that may capture values (see [`Options::identify_user_with`]).
pub(crate) type IdentifyFn = dyn Fn(&Value, &Context) -> Option<String> + Send + Sync;
/// A metadata hook that may capture values.
pub(crate) type MetadataFn = dyn Fn(&Value, &Context) -> Option<Value> + Send + Sync;
/// A skip hook that may capture values.
pub(crate) type SkipFn = dyn Fn(&Value, &Context) -> bool + Send + Sync;
/// A mask hook that may capture values.
pub(crate) type MaskFn = dyn Fn(EventModel) -> EventModel + Send + Sync;

as_dyn!(
    IdentifyHook => IdentifyFn,
    MetadataHook => MetadataFn,
    SkipHook => SkipFn,
    MaskHook => MaskFn,
);

/// Default body size cap, in bytes, per request or response body (512 KiB).
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;

/// Default time to open a connection to the collector.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default time for one request to the collector, connection included.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time a flush after the response may take (never past the invocation's deadline).
pub(crate) const DEFAULT_FLUSH_BUDGET: Duration = Duration::from_secs(2);
/// Default number of events the after-response queue holds.
pub(crate) const DEFAULT_QUEUE_CAPACITY: usize = 1000;
/// Default size, in bytes (estimated), the after-response queue holds.
pub(crate) const DEFAULT_QUEUE_BYTES: usize = 4 * 1024 * 1024;
/// Default number of queued events that makes a batch worth sending at once.
pub(crate) const DEFAULT_BATCH_EVENTS: usize = 50;
/// Default queued size, in bytes (estimated), that makes a batch worth sending at once.
pub(crate) const DEFAULT_BATCH_BYTES: usize = 512 * 1024;
/// Default longest an event waits in the queue for a batch to fill.
pub(crate) const DEFAULT_MAX_BATCH_DELAY: Duration = Duration::from_secs(10);
/// Default idle time before an invocation after which traffic counts as sparse (flush at once).
pub(crate) const DEFAULT_IDLE_THRESHOLD: Duration = Duration::from_millis(500);
/// Default first wait of the circuit breaker after a failed send.
pub(crate) const DEFAULT_BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Default longest wait of the circuit breaker.
pub(crate) const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

/// Configuration of the Moesif middleware.
///
/// Build it in `const` context (the `const fn` builders, hooks as `fn`s) or at run time (also the
/// `*_with` builders, whose hooks may capture values, and the `*_owned` strings).
///
/// ```
/// use moesif_lambda::Options;
/// use serde_json::Value;
///
/// fn user(event: &Value, _ctx: &lambda_runtime::Context) -> Option<String> {
///     event.pointer("/requestContext/authorizer/claims/sub")?.as_str().map(String::from)
/// }
///
/// const OPTIONS: Options = Options::new().identify_user(user).log_body(true).api_version_str("v2");
/// assert!(OPTIONS.log_body_enabled());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Options {
    // Hooks and strings are `Slot`s: the `const` builders write only their `Copy` half, so that no
    // `const fn` has a value to drop (see `slot.rs`).
    pub(crate) identify_user: Slot<IdentifyHook, IdentifyFn>,
    pub(crate) identify_company: Slot<IdentifyHook, IdentifyFn>,
    pub(crate) session_token: Slot<IdentifyHook, IdentifyFn>,
    pub(crate) api_version: Slot<IdentifyHook, IdentifyFn>,
    pub(crate) api_version_str: Option<&'static str>,
    pub(crate) metadata: Slot<MetadataHook, MetadataFn>,
    pub(crate) skip: Slot<SkipHook, SkipFn>,
    pub(crate) mask_event_model: Slot<MaskHook, MaskFn>,
    pub(crate) log_body: bool,
    pub(crate) debug: bool,
    pub(crate) application_id: Slot<&'static str, str>,
    pub(crate) base_uri: Slot<&'static str, str>,
    pub(crate) max_body_bytes: usize,
    pub(crate) redact_names: &'static [&'static str],
    pub(crate) keep_names: &'static [&'static str],
    pub(crate) redact_by_value: bool,
    pub(crate) redact_default_headers: bool,
    pub(crate) redact_default_query_params: bool,
    pub(crate) redact_default_body_fields: bool,
    pub(crate) redact_cookies: bool,
    pub(crate) trusted_source_ip_only: bool,
    pub(crate) outgoing: OutgoingHooks,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) flush_budget: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) queue_bytes: usize,
    pub(crate) batch_events: usize,
    pub(crate) batch_bytes: usize,
    pub(crate) max_batch_delay: Duration,
    pub(crate) idle_threshold: Duration,
    pub(crate) backoff_first: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) governance: bool,
    pub(crate) wait_for_governance: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// The defaults of the Python middleware: log bodies, no hooks, application id from
    /// `MOESIF_APPLICATION_ID`, collector `https://api.moesif.net` (or `MOESIF_BASE_URI`).
    ///
    /// ```
    /// const OPTIONS: moesif_lambda::Options = moesif_lambda::Options::new();
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            identify_user: Slot::unset(),
            identify_company: Slot::unset(),
            session_token: Slot::unset(),
            api_version: Slot::unset(),
            api_version_str: None,
            metadata: Slot::unset(),
            skip: Slot::unset(),
            mask_event_model: Slot::unset(),
            log_body: true,
            debug: false,
            application_id: Slot::unset(),
            base_uri: Slot::unset(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            redact_names: &[],
            keep_names: &[],
            redact_by_value: true,
            redact_default_headers: true,
            redact_default_query_params: true,
            redact_default_body_fields: true,
            redact_cookies: true,
            trusted_source_ip_only: false,
            outgoing: OutgoingHooks::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            flush_budget: DEFAULT_FLUSH_BUDGET,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            batch_events: DEFAULT_BATCH_EVENTS,
            batch_bytes: DEFAULT_BATCH_BYTES,
            max_batch_delay: DEFAULT_MAX_BATCH_DELAY,
            idle_threshold: DEFAULT_IDLE_THRESHOLD,
            backoff_first: DEFAULT_BACKOFF_FIRST,
            backoff_max: DEFAULT_BACKOFF_MAX,
            governance: true,
            wait_for_governance: Duration::ZERO,
        }
    }

    /// `IDENTIFY_USER`: derive the user id. Default: `requestContext.identity.cognitoIdentityId`.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new()
    ///     .identify_user(|event, _| moesif_lambda::RequestView::of(event)?.header("x-user-id").map(String::from));
    /// ```
    #[doc(alias = "IDENTIFY_USER")]
    #[must_use = "a builder returns the changed options"]
    pub const fn identify_user(mut self, hook: IdentifyHook) -> Self {
        self.identify_user.set(hook);
        self
    }

    /// `IDENTIFY_COMPANY`: derive the company id. Default: none.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new()
    ///     .identify_company(|event, _| moesif_lambda::RequestView::of(event)?.header("x-org").map(String::from));
    /// ```
    #[doc(alias = "IDENTIFY_COMPANY")]
    #[must_use = "a builder returns the changed options"]
    pub const fn identify_company(mut self, hook: IdentifyHook) -> Self {
        self.identify_company.set(hook);
        self
    }

    /// `GET_SESSION_TOKEN`: derive the session token. Default: `requestContext.identity.apiKey`.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new()
    ///     .session_token(|event, _| moesif_lambda::RequestView::of(event)?.header("x-session").map(String::from));
    /// ```
    #[doc(alias = "GET_SESSION_TOKEN")]
    #[must_use = "a builder returns the changed options"]
    pub const fn session_token(mut self, hook: IdentifyHook) -> Self {
        self.session_token.set(hook);
        self
    }

    /// `GET_API_VERSION`: derive the API version. Default: the function version (`$LATEST`, `3`, …).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new()
    ///     .api_version(|event, _| moesif_lambda::RequestView::of(event)?.header("x-api-version").map(String::from));
    /// ```
    #[doc(alias = "GET_API_VERSION")]
    #[must_use = "a builder returns the changed options"]
    pub const fn api_version(mut self, hook: IdentifyHook) -> Self {
        self.api_version.set(hook);
        self
    }

    /// A fixed API version for every event (a shortcut for an `api_version` hook returning a constant).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().api_version_str("2024-01-01");
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn api_version_str(mut self, version: &'static str) -> Self {
        self.api_version_str = Some(version);
        self
    }

    /// `GET_METADATA`: the event's metadata. Default: trace id, function name, request context and
    /// request id, as the reference sends them.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new()
    ///     .metadata(|_, ctx| Some(serde_json::json!({ "request_id": ctx.request_id })));
    /// ```
    #[doc(alias = "GET_METADATA")]
    #[must_use = "a builder returns the changed options"]
    pub const fn metadata(mut self, hook: MetadataHook) -> Self {
        self.metadata.set(hook);
        self
    }

    /// `SKIP`: return `true` to leave an invocation out. Default: log everything.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new()
    ///     .skip(|event, _| event["path"] == "/health");
    /// ```
    #[doc(alias = "SKIP")]
    #[must_use = "a builder returns the changed options"]
    pub const fn skip(mut self, hook: SkipHook) -> Self {
        self.skip.set(hook);
        self
    }

    /// `MASK_EVENT_MODEL`: edit the event before it is sent (remove secrets, PII, …).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().mask_event_model(|mut event| {
    ///     event.request.body = None;
    ///     event
    /// });
    /// ```
    #[doc(alias = "MASK_EVENT_MODEL")]
    #[must_use = "a builder returns the changed options"]
    pub const fn mask_event_model(mut self, hook: MaskHook) -> Self {
        self.mask_event_model.set(hook);
        self
    }

    /// [`Options::identify_user`] with a closure that captures values (options built at run time).
    ///
    /// ```
    /// use moesif_lambda::{Options, RequestView};
    /// let header = std::env::var("USER_HEADER").unwrap_or_else(|_| "x-user-id".into());
    /// let options = Options::new()
    ///     .identify_user_with(move |event, _| RequestView::of(event)?.header(&header).map(String::from));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn identify_user_with(
        mut self,
        hook: impl Fn(&Value, &Context) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify_user.set_owned(Arc::new(hook));
        self
    }

    /// [`Options::identify_company`] with a closure that captures values.
    ///
    /// ```
    /// let tenant = String::from("acme");
    /// let options = moesif_lambda::Options::new().identify_company_with(move |_, _| Some(tenant.clone()));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn identify_company_with(
        mut self,
        hook: impl Fn(&Value, &Context) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.identify_company.set_owned(Arc::new(hook));
        self
    }

    /// [`Options::session_token`] with a closure that captures values.
    ///
    /// ```
    /// let header = String::from("x-session");
    /// let options = moesif_lambda::Options::new()
    ///     .session_token_with(move |event, _| moesif_lambda::RequestView::of(event)?.header(&header).map(String::from));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn session_token_with(
        mut self,
        hook: impl Fn(&Value, &Context) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.session_token.set_owned(Arc::new(hook));
        self
    }

    /// [`Options::api_version`] with a closure that captures values.
    ///
    /// ```
    /// let version = std::env::var("API_VERSION").unwrap_or_else(|_| "v1".into());
    /// let options = moesif_lambda::Options::new().api_version_with(move |_, _| Some(version.clone()));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn api_version_with(
        mut self,
        hook: impl Fn(&Value, &Context) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.api_version.set_owned(Arc::new(hook));
        self
    }

    /// [`Options::metadata`] with a closure that captures values.
    ///
    /// ```
    /// let region = String::from("eu-west-1");
    /// let options = moesif_lambda::Options::new()
    ///     .metadata_with(move |_, _| Some(serde_json::json!({ "region": region })));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn metadata_with(mut self, hook: impl Fn(&Value, &Context) -> Option<Value> + Send + Sync + 'static) -> Self {
        self.metadata.set_owned(Arc::new(hook));
        self
    }

    /// [`Options::skip`] with a closure that captures values.
    ///
    /// ```
    /// let skipped = vec!["/health".to_owned(), "/ready".to_owned()];
    /// let options = moesif_lambda::Options::new().skip_with(move |event, _| {
    ///     moesif_lambda::RequestView::of(event).is_some_and(|r| skipped.contains(&r.path()))
    /// });
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn skip_with(mut self, hook: impl Fn(&Value, &Context) -> bool + Send + Sync + 'static) -> Self {
        self.skip.set_owned(Arc::new(hook));
        self
    }

    /// [`Options::mask_event_model`] with a closure that captures values.
    ///
    /// ```
    /// let hidden = vec!["/card/number".to_owned()];
    /// let options = moesif_lambda::Options::new().mask_event_model_with(move |mut event| {
    ///     if let Some(body) = event.request.body.as_mut() {
    ///         hidden.iter().for_each(|pointer| moesif_lambda::redact::pointer(body, pointer));
    ///     }
    ///     event
    /// });
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn mask_event_model_with(mut self, hook: impl Fn(EventModel) -> EventModel + Send + Sync + 'static) -> Self {
        self.mask_event_model.set_owned(Arc::new(hook));
        self
    }

    /// `LOG_BODY`: capture request and response bodies (default `true`).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().log_body(false);
    /// assert!(!O.log_body_enabled());
    /// ```
    #[doc(alias = "LOG_BODY")]
    #[must_use = "a builder returns the changed options"]
    pub const fn log_body(mut self, log_body: bool) -> Self {
        self.log_body = log_body;
        self
    }

    /// `DEBUG`: log what the middleware does at `info` level through `tracing` (default `false`;
    /// at `debug` level it always logs).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().debug(true);
    /// ```
    #[doc(alias = "DEBUG")]
    #[must_use = "a builder returns the changed options"]
    pub const fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }

    /// The Moesif application id. Default: the `MOESIF_APPLICATION_ID` environment variable, which is
    /// where it belongs (keep it out of source code).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().application_id("eyJhcHAi...");
    /// ```
    #[doc(alias = "APPLICATION_ID")]
    #[must_use = "a builder returns the changed options"]
    pub const fn application_id(mut self, application_id: &'static str) -> Self {
        self.application_id.set(application_id);
        self
    }

    /// [`Options::application_id`] from a value read at run time (a secret store, say).
    ///
    /// ```
    /// let id = std::env::var("MY_MOESIF_ID").unwrap_or_default();
    /// let options = moesif_lambda::Options::new().application_id_owned(id);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn application_id_owned(mut self, application_id: impl Into<String>) -> Self {
        self.application_id.set_owned(Arc::from(application_id.into()));
        self
    }

    /// The collector's base URI. Default: `MOESIF_BASE_URI` if set, else `https://api.moesif.net`.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().base_uri("http://127.0.0.1:8080");
    /// ```
    #[doc(alias = "BASE_URI")]
    #[must_use = "a builder returns the changed options"]
    pub const fn base_uri(mut self, base_uri: &'static str) -> Self {
        self.base_uri.set(base_uri);
        self
    }

    /// [`Options::base_uri`] from a value read at run time.
    ///
    /// ```
    /// let options = moesif_lambda::Options::new().base_uri_owned(format!("http://127.0.0.1:{}", 8080));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn base_uri_owned(mut self, base_uri: impl Into<String>) -> Self {
        self.base_uri.set_owned(Arc::from(base_uri.into()));
        self
    }

    /// The largest request or response body captured, in bytes (default 512 KiB). A larger body is
    /// replaced by a marker that gives its size; it is never cut into invalid JSON.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().max_body_bytes(100 * 1024);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }

    /// Extra names whose values are replaced by `"[REDACTED]"`, matched without regard to case as header
    /// names, query parameter names and JSON body field names (at any depth), on top of the defaults
    /// (the credential-name pattern and the default lists). A name listed here is redacted even if it is
    /// also kept ([`Options::keep`]).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().redact(&["x-internal-id", "ssn"]);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn redact(mut self, names: &'static [&'static str]) -> Self {
        self.redact_names = names;
        self
    }

    /// Names (matched without regard to case) whose values are sent as they are: exempt from the
    /// credential-name pattern, the default lists and redaction by value. They are header, query
    /// parameter, form and JSON body field names, and cookie names. An object under a kept JSON field
    /// is still searched: its own fields are judged by their own names.
    ///
    /// Keep `Authorization` so that Moesif can identify users from the JWT server-side:
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().keep(&["authorization"]);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn keep(mut self, names: &'static [&'static str]) -> Self {
        self.keep_names = names;
        self
    }

    /// Redaction by value (default on): whatever the name, in every string of the request and the
    /// response (headers, URI, cookies, JSON bodies at any depth, text and form bodies, of incoming and
    /// outgoing calls), secrets recognised by their shape are replaced by `[REDACTED]`, the text around
    /// them kept: JWTs, `Bearer <token>` and `Basic <user:password>` credentials, AWS access key ids
    /// (`AKIA…`/`ASIA…`), `-----BEGIN … PRIVATE KEY-----` blocks, GitHub (`ghp_…`, `github_pat_…`),
    /// Stripe (`sk_live_…`, `rk_live_…`) and Slack (`xoxb-…`, `xoxp-…`) tokens, and the values of
    /// credential-named pairs of query, form or JSON text inside a value (`page=2&access_token=…`).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().redact_by_value(false);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn redact_by_value(mut self, on: bool) -> Self {
        self.redact_by_value = on;
        self
    }

    /// Turn the default redaction of credential headers on or off (default on): header names that are
    /// credential names by pattern ([`crate::redact::is_credential_name`]: `Authorization`,
    /// `X-Auth-Token`, `X-CSRF-Token`, `x-session-id`, …) and those of
    /// [`crate::redact::DEFAULT_REDACTED_HEADERS`]. It covers request and response headers, and header
    /// maps inside JSON bodies. To send one of them (`Authorization`, so Moesif can identify users from
    /// a JWT server-side), [`Options::keep`] it instead.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().redact_default_headers(false);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn redact_default_headers(mut self, on: bool) -> Self {
        self.redact_default_headers = on;
        self
    }

    /// Turn the default redaction of credential query parameters on or off (default on): names that
    /// are credential names by pattern and those of [`crate::redact::DEFAULT_REDACTED_QUERY_PARAMS`]
    /// (`access_token`, `token`, `api_key`, `X-Amz-Signature`, …), in the logged URI and in form bodies.
    /// The name stays, the value becomes `[REDACTED]`.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().redact_default_query_params(false);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn redact_default_query_params(mut self, on: bool) -> Self {
        self.redact_default_query_params = on;
        self
    }

    /// Turn the default redaction of credential JSON body fields on or off (default on): field names
    /// that are credential names by pattern (`accessToken`, `client_secret`, `password`, …) and those of
    /// [`crate::redact::DEFAULT_REDACTED_BODY_FIELDS`], at any depth of request and response bodies.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().redact_default_body_fields(false);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn redact_default_body_fields(mut self, on: bool) -> Self {
        self.redact_default_body_fields = on;
        self
    }

    /// Turn the redaction of cookies on or off (default on): `Cookie` and `Set-Cookie` headers and
    /// `cookies` arrays (API Gateway v2 and Function URL) inside JSON bodies keep each cookie's name
    /// and `Set-Cookie` attributes, each value redacted: `sid=[REDACTED]; theme=[REDACTED]`,
    /// `a=[REDACTED]; Path=/; HttpOnly`. Off, `Cookie` and `Set-Cookie` headers are still credential
    /// headers (redacted whole unless [`Options::redact_default_headers`] is off too).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().redact_cookies(false);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn redact_cookies(mut self, on: bool) -> Self {
        self.redact_cookies = on;
        self
    }

    /// Take the client IP only from the platform's `requestContext` source IP, never from forwarded
    /// headers a client can set (`X-Forwarded-For`, …). Default `false` (the reference's rules).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().trusted_source_ip_only(true);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn trusted_source_ip_only(mut self, on: bool) -> Self {
        self.trusted_source_ip_only = on;
        self
    }

    /// Options for the outgoing calls the function makes (the Python `*_OUTGOING` keys). It replaces
    /// every outgoing setting, hooks set by the `outgoing_*_with` builders before it included.
    ///
    /// ```
    /// use moesif_lambda::{Options, OutgoingOptions};
    /// const O: Options = Options::new().outgoing(OutgoingOptions::new());
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn outgoing(mut self, outgoing: OutgoingOptions) -> Self {
        self.outgoing.replace_with(outgoing);
        self
    }

    /// `SKIP_OUTGOING` with a closure that captures values: replaces the `skip` hook of the
    /// [`OutgoingOptions`] given to [`Options::outgoing`] (call it after that).
    ///
    /// ```
    /// let internal = String::from("internal.example");
    /// let options = moesif_lambda::Options::new().outgoing_skip_with(move |call| call.uri.contains(&internal));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn outgoing_skip_with(mut self, hook: impl Fn(&OutgoingCall<'_>) -> bool + Send + Sync + 'static) -> Self {
        self.outgoing.skip.set_owned(Arc::new(hook));
        self
    }

    /// `IDENTIFY_USER_OUTGOING` with a closure that captures values (replaces
    /// [`OutgoingOptions::identify_user`]; call it after [`Options::outgoing`]).
    ///
    /// ```
    /// let header = String::from("x-user");
    /// let options = moesif_lambda::Options::new()
    ///     .outgoing_identify_user_with(move |call| call.request_headers[header.as_str()].as_str().map(String::from));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn outgoing_identify_user_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.outgoing.identify_user.set_owned(Arc::new(hook));
        self
    }

    /// `IDENTIFY_COMPANY_OUTGOING` with a closure that captures values (replaces
    /// [`OutgoingOptions::identify_company`]; call it after [`Options::outgoing`]).
    ///
    /// ```
    /// let tenant = String::from("acme");
    /// let options = moesif_lambda::Options::new().outgoing_identify_company_with(move |_| Some(tenant.clone()));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn outgoing_identify_company_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.outgoing.identify_company.set_owned(Arc::new(hook));
        self
    }

    /// `GET_SESSION_TOKEN_OUTGOING` with a closure that captures values (replaces
    /// [`OutgoingOptions::session_token`]; call it after [`Options::outgoing`]).
    ///
    /// ```
    /// let token = String::from("session-1");
    /// let options = moesif_lambda::Options::new().outgoing_session_token_with(move |_| Some(token.clone()));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn outgoing_session_token_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.outgoing.session_token.set_owned(Arc::new(hook));
        self
    }

    /// `GET_METADATA_OUTGOING` with a closure that captures values (replaces
    /// [`OutgoingOptions::metadata`]; call it after [`Options::outgoing`]).
    ///
    /// ```
    /// let service = String::from("orders");
    /// let options = moesif_lambda::Options::new()
    ///     .outgoing_metadata_with(move |call| Some(serde_json::json!({ "service": service, "status": call.status })));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub fn outgoing_metadata_with(
        mut self,
        hook: impl Fn(&OutgoingCall<'_>) -> Option<Value> + Send + Sync + 'static,
    ) -> Self {
        self.outgoing.metadata.set_owned(Arc::new(hook));
        self
    }

    /// Time to open a connection to the collector (default 1 s).
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().connect_timeout(std::time::Duration::from_millis(300));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time for one request to the collector, connection included (default 5 s). In synchronous mode
    /// (plain `lambda_runtime::run`) this bounds what a slow collector can add to a response.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().request_timeout(std::time::Duration::from_secs(1));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Time a flush after the response may take (default 2 s); never past the invocation's deadline.
    /// What is not sent by then stays queued for the next flush.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().flush_budget(std::time::Duration::from_millis(500));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn flush_budget(mut self, budget: Duration) -> Self {
        self.flush_budget = budget;
        self
    }

    /// Bounds of the after-response queue: at most `events` events and about `bytes` bytes (defaults
    /// 1000 and 4 MiB; under [`run_concurrent`](crate::run_concurrent) with Lambda Managed Instances, left
    /// at the defaults, 10 000 and 40 MiB, since many invocations queue at once). When full, the newest
    /// event is dropped and counted; one warning per cold start.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().queue_capacity(200, 1024 * 1024);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn queue_capacity(mut self, events: usize, bytes: usize) -> Self {
        self.queue_capacity = events;
        self.queue_bytes = bytes;
        self
    }

    /// When the after-response flush sends: once the queue holds `events` events or about `bytes` bytes
    /// (defaults 50 and 512 KiB). Until then an invocation ends without waiting on the collector; see
    /// also [`Options::max_batch_delay`] and [`Options::idle_threshold`].
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().batch_size(20, 256 * 1024);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn batch_size(mut self, events: usize, bytes: usize) -> Self {
        self.batch_events = events;
        self.batch_bytes = bytes;
        self
    }

    /// The longest an event waits in the queue for its batch to fill (default 10 s): at the end of an
    /// invocation the queue is flushed if its oldest event is older.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().max_batch_delay(std::time::Duration::from_secs(2));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn max_batch_delay(mut self, delay: Duration) -> Self {
        self.max_batch_delay = delay;
        self
    }

    /// Sparse traffic: when the sandbox was idle at least this long before an invocation (default
    /// 500 ms), the next one may be far away, so the queue is flushed right after the response and each
    /// event reaches Moesif within moments. The first invocation of a sandbox counts as sparse.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().idle_threshold(std::time::Duration::from_secs(1));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn idle_threshold(mut self, idle: Duration) -> Self {
        self.idle_threshold = idle;
        self
    }

    /// The circuit breaker's waits (defaults 1 s, then doubling with jitter up to 5 min): after a failed
    /// send (network, timeout, 5xx, 429) no invocation waits on the collector until the wait has passed
    /// (or the collector's `Retry-After`, if longer); events stay queued and go in batches once it
    /// answers again.
    ///
    /// ```
    /// use std::time::Duration;
    /// const O: moesif_lambda::Options =
    ///     moesif_lambda::Options::new().collector_backoff(Duration::from_millis(500), Duration::from_secs(60));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn collector_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff_first = first;
        self.backoff_max = max;
        self
    }

    /// Whether the app's governance rules in Moesif are enforced: a request a rule blocks gets the
    /// rule's answer without the handler being called, and the headers of the rules that apply are
    /// added to the handler's answer (see the guide's *Governance* section). Default: on, as in Moesif's
    /// SDKs; off, the rules are never fetched.
    ///
    /// ```
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().governance(false);
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn governance(mut self, on: bool) -> Self {
        self.governance = on;
        self
    }

    /// How long the sandbox's first invocation may wait for the governance rules. Default: zero: the
    /// rules are fetched with the sandbox's first send, after its first response, and until then
    /// nothing is blocked (as in Moesif's SDKs). With a wait, they are fetched in the background as
    /// soon as the handler's connection to the collector is made, and the first invocation waits at
    /// most `wait` for them (never more: a collector that is slow or down costs that wait once).
    ///
    /// ```
    /// use std::time::Duration;
    /// const O: moesif_lambda::Options = moesif_lambda::Options::new().wait_for_governance(Duration::from_millis(300));
    /// ```
    #[must_use = "a builder returns the changed options"]
    pub const fn wait_for_governance(mut self, wait: Duration) -> Self {
        self.wait_for_governance = wait;
        self
    }

    /// Whether bodies are captured.
    ///
    /// ```
    /// assert!(moesif_lambda::Options::new().log_body_enabled());
    /// ```
    pub const fn log_body_enabled(&self) -> bool {
        self.log_body
    }
}

impl std::fmt::Debug for Options {
    /// Every setting but the application id, which is shown only as set or not.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hook = |set: bool| if set { "set" } else { "none" };
        f.debug_struct("Options")
            .field("application_id", &self.application_id.is_set().then_some("[set]"))
            .field("base_uri", &self.base_uri.get())
            .field("log_body", &self.log_body)
            .field("debug", &self.debug)
            .field("identify_user", &hook(self.identify_user.is_set()))
            .field("identify_company", &hook(self.identify_company.is_set()))
            .field("session_token", &hook(self.session_token.is_set()))
            .field("api_version", &hook(self.api_version.is_set()))
            .field("api_version_str", &self.api_version_str)
            .field("metadata", &hook(self.metadata.is_set()))
            .field("skip", &hook(self.skip.is_set()))
            .field("mask_event_model", &hook(self.mask_event_model.is_set()))
            .field("max_body_bytes", &self.max_body_bytes)
            .field("redact", &self.redact_names)
            .field("keep", &self.keep_names)
            .field("redact_by_value", &self.redact_by_value)
            .field("redact_default_headers", &self.redact_default_headers)
            .field("redact_default_query_params", &self.redact_default_query_params)
            .field("redact_default_body_fields", &self.redact_default_body_fields)
            .field("redact_cookies", &self.redact_cookies)
            .field("trusted_source_ip_only", &self.trusted_source_ip_only)
            .field("outgoing", &self.outgoing)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("flush_budget", &self.flush_budget)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
            .field("batch_events", &self.batch_events)
            .field("batch_bytes", &self.batch_bytes)
            .field("max_batch_delay", &self.max_batch_delay)
            .field("idle_threshold", &self.idle_threshold)
            .field("backoff_first", &self.backoff_first)
            .field("backoff_max", &self.backoff_max)
            .field("governance", &self.governance)
            .field("wait_for_governance", &self.wait_for_governance)
            .finish()
    }
}

/// Where `#[moesif_logger(options = X)]` gets its [`Options`]: an `Options` value (a `const` or `static`)
/// or a function returning one. The macro calls [`OptionsSource::options`] once per cold start.
///
/// ```
/// use moesif_lambda::{Options, OptionsSource};
/// const CONST_OPTIONS: Options = Options::new().log_body(false);
/// fn fn_options() -> Options { Options::new().debug(true) }
/// assert!(!CONST_OPTIONS.options().log_body_enabled());
/// assert!(fn_options.options().log_body_enabled());
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `moesif_lambda::Options` or a `fn() -> moesif_lambda::Options`",
    label = "expected an `Options` const or a `fn() -> Options`",
    note = "write `options = MY_OPTIONS` (a `const MY_OPTIONS: Options`) or `options = my_options` (a `fn my_options() -> Options`)"
)]
pub trait OptionsSource {
    /// The options to use.
    fn options(&self) -> Options;
}

impl OptionsSource for Options {
    fn options(&self) -> Options {
        self.clone()
    }
}

impl<F: Fn() -> Options> OptionsSource for F {
    fn options(&self) -> Options {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `identify_user` hook in force says.
    fn user_of(options: &Options) -> Option<String> {
        let hook = options.identify_user.get()?;
        hook(&Value::Null, &Context::default())
    }

    #[test]
    fn the_last_builder_wins_and_a_replaced_closure_is_dropped_with_the_options() {
        let witness = Arc::new(());
        let held = witness.clone();
        let closure_then_fn = Options::new()
            .identify_user_with(move |_, _| Some(format!("closure-{}", Arc::strong_count(&held))))
            .identify_user(|_, _| Some("fn".into()));
        assert_eq!(user_of(&closure_then_fn).as_deref(), Some("fn"));
        assert_eq!(
            Arc::strong_count(&witness),
            2,
            "the replaced closure is kept by the options"
        );
        let copy = closure_then_fn.clone();
        drop(closure_then_fn);
        drop(copy);
        assert_eq!(Arc::strong_count(&witness), 1, "and dropped with them: nothing leaked");

        let fn_then_closure = Options::new()
            .identify_user(|_, _| Some("fn".into()))
            .identify_user_with(|_, _| Some("closure".into()));
        assert_eq!(user_of(&fn_then_closure).as_deref(), Some("closure"));
    }

    #[test]
    fn owned_and_static_strings() {
        const STATIC: Options = Options::new()
            .application_id("static-id")
            .base_uri("http://127.0.0.1:1");
        assert_eq!(STATIC.application_id.get(), Some("static-id"));
        let owned = STATIC.clone().application_id_owned(String::from("owned-id"));
        assert_eq!(owned.application_id.get(), Some("owned-id"));
        assert_eq!(
            owned.clone().application_id("again").application_id.get(),
            Some("again")
        );
        assert_eq!(owned.base_uri.get(), Some("http://127.0.0.1:1"));
        let debug = format!("{owned:?}");
        assert!(debug.contains("[set]") && !debug.contains("owned-id"), "{debug}");
    }
}
