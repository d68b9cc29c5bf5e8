//! HTTP to the Moesif collector: ureq over rustls, gzipped JSON, one reused agent (keep-alive).

use super::breaker::{Backoff, Breaker};
use super::config::{digest, AppConfig, ConfigCache};
use super::gzip::Gzip;
use super::queue::{Policy, Queue};
use super::resolver::CachingResolver;
use super::written::{Watching, Written};
use crate::error::Error;
use crate::governance::Rules;
use crate::hooks::warn_once;
use crate::options::Options;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ureq::unversioned::transport::{Connector as _, DefaultConnector};
use ureq::Agent;

/// The collector used when neither [`Options::base_uri`] nor `MOESIF_BASE_URI` says otherwise.
pub(crate) const DEFAULT_BASE_URI: &str = "https://api.moesif.net";

const USER_AGENT: &str = concat!("moesif-lambda-rust/", env!("CARGO_PKG_VERSION"));

/// How a POST to the collector went.
pub(crate) enum Sent {
    /// 2xx; the `X-Moesif-Config-ETag` and `X-Moesif-Rules-Tag` the collector answered with, if any.
    Accepted {
        config_etag: Option<String>,
        rules_tag: Option<String>,
    },
    /// The collector answered with this non-2xx status (and a `Retry-After`, if it gave one).
    Status { status: u16, retry_after: Option<Duration> },
    /// No answer: connection refused, reset, or timed out (the error says which). Kept as the concrete
    /// `ureq::Error`: only a profile call turns it into an [`Error::Network`] cause (a `dyn Error`, whose
    /// vtable brings the error's `Debug` into the binary), so a function that logs events only pays
    /// for its `Display`.
    Failed { error: ureq::Error, timed_out: bool },
    /// No answer because this process was stopped while it waited (Lambda froze the sandbox once the
    /// runtime asked for its next event): it timed out over [`FROZEN_SLACK`] past its timeout. It says
    /// nothing of the collector, which may have answered meanwhile.
    Frozen { error: ureq::Error },
}

/// How much longer than its timeout a request must have taken to have been frozen rather than slow.
const FROZEN_SLACK: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Sent {
    /// The error of `Failed` by its message: the derived `Debug` of `ureq::Error` (and of everything it
    /// may hold) would add kilobytes to the binary for one debug log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sent::Accepted { config_etag, rules_tag } => f
                .debug_struct("Accepted")
                .field("config_etag", config_etag)
                .field("rules_tag", rules_tag)
                .finish(),
            Sent::Status { status, retry_after } => f
                .debug_struct("Status")
                .field("status", status)
                .field("retry_after", retry_after)
                .finish(),
            Sent::Failed { error, timed_out } => f
                .debug_struct("Failed")
                .field("error", &format_args!("{error}"))
                .field("timed_out", timed_out)
                .finish(),
            Sent::Frozen { error } => f
                .debug_struct("Frozen")
                .field("error", &format_args!("{error}"))
                .finish(),
        }
    }
}

impl Sent {
    /// Whether this says the collector is out of service for now (network, timeout, 5xx, 429), rather
    /// than refusing what was sent.
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            Sent::Accepted { .. } => false,
            Sent::Status { status, .. } => *status == 429 || *status >= 500,
            Sent::Failed { .. } => true,
            Sent::Frozen { .. } => false,
        }
    }
}

/// What a GET to the collector gave.
enum Got {
    /// 2xx: the body, and the version its tag header names.
    Body(Vec<u8>, Option<String>),
    /// An answer, but not the document (non-2xx, a body that could not be read).
    Refused,
    /// No answer (network error, timeout).
    Unreachable,
}

/// A configured connection to one collector with one application id.
pub(crate) struct Transport {
    agent: Agent,
    /// The collector's addresses, as the agent looked them up.
    addresses: CachingResolver,
    base_uri: String,
    application_id: String,
    request_timeout: Duration,
    /// The application's server-side config (sampling), as last fetched through this transport.
    pub(crate) config: ConfigCache,
    /// The application's governance rules (`GET /v1/rules`), as last fetched through this transport.
    pub(crate) rules: ConfigCache<Rules>,
    /// Whether sends may go now.
    pub(crate) breaker: Breaker,
    /// The events waiting for this collector.
    pub(crate) queue: Queue,
    /// Whether handlers and middleware naming the same collector share it (else a client's own).
    shared: bool,
    /// Whether a first call already waited for the governance rules (`wait_for_governance`).
    pub(crate) waited_for_rules: std::sync::atomic::AtomicBool,
    /// Sends handed to the delivery thread by the runtime's loop and not done yet (its answer awaited,
    /// or waiting behind one): see `pipeline::DueSends::send_in_background`.
    pub(crate) background_sends: std::sync::atomic::AtomicUsize,
    /// The delivery settings, resolved once from the options that made this connection.
    settings: Settings,
    /// Compresses request bodies (its state kept between sends).
    gzip: Gzip,
    /// Who is told when a request of this connection has been written.
    written: Arc<Written>,
}

/// What a connection takes from its options, once: the queue's bounds and when to send, the timeouts
/// and the breaker's backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    policy: Policy,
    connect_timeout: Duration,
    request_timeout: Duration,
    backoff: (Duration, Duration),
    governance: bool,
}

impl Settings {
    fn of(options: &Options) -> Settings {
        Settings {
            policy: Policy::of(options),
            connect_timeout: options.connect_timeout,
            request_timeout: options.request_timeout,
            backoff: (options.backoff_first, options.backoff_max),
            governance: options.governance,
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the application id.
        f.debug_struct("Transport")
            .field("base_uri", &self.base_uri)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// The process's connection to the collector and application of `options` (one per base URI and
    /// application id, shared by every handler and middleware that logs there, with one queue and one
    /// breaker), created on first use; `None`, said once, when it cannot be (see [`Self::from_options`]).
    pub(crate) fn shared(options: &Options) -> Option<Arc<Transport>> {
        let transport = Transport::from_options(options)?;
        Some(Transport::share(transport))
    }

    /// [`Self::shared`], saying why it cannot be as an error (for calls that return one).
    pub(crate) fn try_shared(options: &Options) -> Result<Arc<Transport>, Error> {
        Transport::try_from_options(options).map(Transport::share)
    }

    /// The shared connection `transport` would be: an existing one to the same collector and
    /// application (its settings, the first's, with one warning if these differ), else this one.
    fn share(transport: Transport) -> Arc<Transport> {
        let mut all = registry();
        let existing = all
            .iter()
            .find(|t| t.shared && t.base_uri == transport.base_uri && t.application_id == transport.application_id);
        if let Some(existing) = existing {
            if existing.settings != transport.settings {
                warn_once("shared-settings-differ", || {
                    tracing::warn!(
                        base_uri = %existing.base_uri,
                        "moesif: two Options name the same collector and application with different delivery \
                         settings (queue, batching, flush budget, timeouts or backoff); the first one's are used. \
                         Give each its own moesif_lambda::Client to keep them apart"
                    )
                });
            }
            return existing.clone();
        }
        let transport = Arc::new(Transport {
            shared: true,
            ..transport
        });
        all.push(transport.clone());
        transport
    }

    /// A connection of its own (a [`crate::Client`]'s): not shared with other handlers, still flushed
    /// with every other by the runtime loop and [`crate::flush`].
    pub(crate) fn isolated(options: &Options) -> Result<Arc<Transport>, Error> {
        let transport = Arc::new(Transport::try_from_options(options)?);
        registry().push(transport.clone());
        Ok(transport)
    }

    /// The queue's bounds and when to send, as this connection's options said (larger default bounds
    /// when many invocations run at once, [`Policy::in_mode`]).
    pub(crate) fn policy(&self) -> Policy {
        let concurrent = crate::process::PROCESS
            .concurrent
            .load(std::sync::atomic::Ordering::Relaxed);
        self.settings.policy.in_mode(concurrent)
    }

    /// Every shared connection made in this process.
    pub(crate) fn all() -> Vec<Arc<Transport>> {
        registry().clone()
    }

    /// Builds the transport from the options and environment, or says once why it cannot
    /// (no application id, a base URI that is not an http(s) URL) and returns `None`.
    pub(crate) fn from_options(options: &Options) -> Option<Transport> {
        match Transport::try_from_options(options) {
            Ok(transport) => Some(transport),
            Err(Error::MissingApplicationId) => {
                warn_once("no-application-id", || {
                    tracing::warn!(
                        "moesif: no application id (set MOESIF_APPLICATION_ID or Options::application_id); \
                         API calls are not logged, the function serves on"
                    )
                });
                None
            }
            Err(error) => {
                warn_once(
                    "bad-base-uri",
                    || tracing::warn!(%error, "moesif: API calls are not logged, the function serves on"),
                );
                None
            }
        }
    }

    /// Builds the transport from the options and environment: application id from
    /// [`Options::application_id`] or `MOESIF_APPLICATION_ID`; base URI from [`Options::base_uri`],
    /// `MOESIF_BASE_URI` or [`DEFAULT_BASE_URI`].
    pub(crate) fn try_from_options(options: &Options) -> Result<Transport, Error> {
        let application_id = options
            .application_id
            .get()
            .map(str::to_owned)
            .or_else(|| std::env::var("MOESIF_APPLICATION_ID").ok())
            .filter(|id| !id.trim().is_empty())
            .ok_or(Error::MissingApplicationId)?;
        let base_uri = options
            .base_uri
            .get()
            .map(str::to_owned)
            .or_else(|| std::env::var("MOESIF_BASE_URI").ok().filter(|b| !b.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_BASE_URI.to_owned());
        let base_uri = base_uri.trim().trim_end_matches('/').to_owned();
        if !is_http_url(&base_uri) {
            return Err(Error::InvalidBaseUri(base_uri));
        }
        let addresses = CachingResolver::default();
        let written = Arc::new(Written::default());
        Ok(Transport {
            agent: agent(
                options.connect_timeout,
                options.request_timeout,
                addresses.clone(),
                written.clone(),
            ),
            addresses,
            base_uri,
            application_id,
            request_timeout: options.request_timeout,
            config: ConfigCache::default(),
            rules: ConfigCache::default(),
            breaker: Breaker::new(Backoff {
                first: options.backoff_first,
                max: options.backoff_max,
            }),
            queue: Queue::default(),
            shared: false,
            waited_for_rules: Default::default(),
            background_sends: Default::default(),
            settings: Settings::of(options),
            gzip: Gzip::default(),
            written,
        })
    }

    /// Runs `send` (requests to this collector from this thread), calling `then` once the first of
    /// them has been written, before its answer is read.
    pub(crate) fn when_written<R>(&self, then: Box<dyn FnOnce() + Send>, send: impl FnOnce() -> R) -> R {
        self.written.calling(then, send)
    }

    /// POSTs `json` (already serialised) gzipped to `path` (e.g. `/v1/events`). Blocking; bounded by
    /// the request timeout, or by `within` if that is shorter.
    pub(crate) fn post_json(&self, path: &str, json: &[u8], within: Option<Duration>) -> Sent {
        match self.compress(json) {
            Ok(body) => self.post_gzipped(path, &body, within),
            Err(error) => Sent::Failed {
                error: ureq::Error::Io(error),
                timed_out: false,
            },
        }
    }

    /// `json` gzipped, for [`Self::post_gzipped`].
    pub(crate) fn compress(&self, json: &[u8]) -> std::io::Result<Vec<u8>> {
        self.gzip.compress(json)
    }

    /// POSTs `body` (gzipped JSON) to `path`, as [`Self::post_json`] does.
    pub(crate) fn post_gzipped(&self, path: &str, body: &[u8], within: Option<Duration>) -> Sent {
        let timeout = within.map_or(self.request_timeout, |within| within.min(self.request_timeout));
        let started = Instant::now();
        let result = self
            .agent
            .post(format!("{}{path}", self.base_uri))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("X-Moesif-Application-Id", &self.application_id)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .send(body);
        match result {
            Ok(response) if response.status().is_success() => Sent::Accepted {
                config_etag: header_text(response.headers(), "x-moesif-config-etag").map(str::to_owned),
                rules_tag: header_text(response.headers(), "x-moesif-rules-tag").map(str::to_owned),
            },
            Ok(response) => Sent::Status {
                status: response.status().as_u16(),
                retry_after: header_text(response.headers(), "retry-after").and_then(retry_after),
            },
            Err(error) => {
                let timed_out = matches!(error, ureq::Error::Timeout(_));
                if timed_out && started.elapsed() > timeout + FROZEN_SLACK {
                    return Sent::Frozen { error };
                }
                // The collector may have moved: its addresses are looked up again on the next send.
                self.addresses.forget();
                Sent::Failed { timed_out, error }
            }
        }
    }

    /// Fetches `GET /v1/config`, and the governance rules when they are enforced, if due and no other
    /// fetch of them runs. Blocking, bounded by `within` each. `false` when the collector could not be
    /// reached (network error, timeout).
    pub(crate) fn refresh_config(&self, within: Duration) -> bool {
        (!self.config.claim_fetch() || self.fetch_config(within))
            && (!self.governs() || !self.rules.claim_fetch() || self.fetch_rules(within))
    }

    /// How long one request to the collector may take.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Whether the governance rules are fetched through this connection.
    pub(crate) fn governs(&self) -> bool {
        self.settings.governance
    }

    /// Fetches `GET /v1/config` for a fetch already claimed ([`ConfigCache::claim_fetch`]). Blocking,
    /// bounded by `within`; `false` when the collector could not be reached.
    pub(crate) fn fetch_config(&self, within: Duration) -> bool {
        self.fetch("/v1/config", "x-moesif-config-etag", &self.config, within, |bytes| {
            AppConfig::from_slice(bytes).map_err(|error| error.to_string())
        })
    }

    /// Fetches `GET /v1/rules` for a fetch already claimed; as [`Self::fetch_config`]. A body that
    /// cannot be read keeps the rules known.
    pub(crate) fn fetch_rules(&self, within: Duration) -> bool {
        self.fetch("/v1/rules", "x-moesif-rules-tag", &self.rules, within, |bytes| {
            let body = serde_json::from_slice(bytes).map_err(|error| error.to_string())?;
            Rules::parse(&body).map_err(str::to_owned)
        })
    }

    /// GETs `path` into `cache` (read by `read`, unless it is the body read last), with the version
    /// the `tag` header names.
    fn fetch<T>(
        &self,
        path: &str,
        tag: &str,
        cache: &ConfigCache<T>,
        within: Duration,
        read: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> bool {
        let (bytes, tag) = match self.get(path, tag, within) {
            Got::Body(bytes, tag) => (bytes, tag),
            Got::Refused => {
                cache.finish_fetch(None);
                return true;
            }
            Got::Unreachable => {
                cache.finish_fetch(None);
                return false;
            }
        };
        let digest = digest(&bytes);
        let fetched = match cache.is_unchanged(digest) {
            true => Some((None, tag, Some(digest))),
            false => match read(&bytes) {
                Ok(document) => Some((Some(document), tag, Some(digest))),
                Err(error) => {
                    not_fetched(path, &error);
                    None
                }
            },
        };
        cache.finish_fetch(fetched);
        true
    }

    /// GETs `path`: its body and the value of its `tag` header.
    fn get(&self, path: &str, tag: &str, within: Duration) -> Got {
        let result = self
            .agent
            .get(format!("{}{path}", self.base_uri))
            .config()
            .timeout_global(Some(within.min(self.request_timeout)))
            .build()
            .header("X-Moesif-Application-Id", &self.application_id)
            .call();
        match result {
            Ok(mut response) if response.status().is_success() => {
                let tag = header_text(response.headers(), tag).map(str::to_owned);
                match response.body_mut().read_to_vec() {
                    Ok(bytes) => Got::Body(bytes, tag),
                    Err(error) => {
                        not_fetched(path, &error);
                        Got::Refused
                    }
                }
            }
            Ok(response) => {
                not_fetched(path, &response.status());
                Got::Refused
            }
            Err(error) => {
                not_fetched(path, &error);
                self.addresses.forget();
                Got::Unreachable
            }
        }
    }

    /// The collector's base URI (no application id in it).
    pub(crate) fn base_uri(&self) -> &str {
        &self.base_uri
    }
}

/// Logs (debug) why `path` could not be fetched; what is known stays.
fn not_fetched(path: &str, why: &dyn std::fmt::Display) {
    tracing::debug!(path, %why, "moesif: not fetched; keeping what is known");
}

/// The process's collector connections: what the runtime loop, `SIGTERM` and [`crate::flush`] send
/// (the registry; the rest of the process-wide state is in [`crate::process`]).
fn registry() -> std::sync::MutexGuard<'static, Vec<Arc<Transport>>> {
    static TRANSPORTS: Mutex<Vec<Arc<Transport>>> = Mutex::new(Vec::new());
    crate::sync::lock(&TRANSPORTS)
}

fn header_text<'a>(headers: &'a ureq::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// A `Retry-After` in seconds (the form Moesif and most APIs use; an HTTP date is ignored).
fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn agent(
    connect_timeout: Duration,
    request_timeout: Duration,
    addresses: CachingResolver,
    written: Arc<Written>,
) -> Agent {
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect_timeout))
        .timeout_global(Some(request_timeout))
        .user_agent(USER_AGENT)
        .build();
    Agent::with_parts(config, DefaultConnector::default().chain(Watching(written)), addresses)
}

fn is_http_url(uri: &str) -> bool {
    match uri.parse::<ureq::http::Uri>() {
        Ok(parsed) => {
            matches!(parsed.scheme_str(), Some("http" | "https"))
                && parsed.authority().is_some_and(|a| !a.host().is_empty())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(is_http_url("https://api.moesif.net"));
        assert!(is_http_url("http://127.0.0.1:9000"));
        assert!(!is_http_url("api.moesif.net"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("not a url"));
    }

    #[test]
    fn one_shared_connection_per_collector_and_application() {
        let options = Options::new()
            .application_id("shared-app")
            .base_uri("http://127.0.0.1:7");
        let (first, second) = (
            Transport::shared(&options),
            Transport::shared(&options.clone().debug(true)),
        );
        assert!(first.zip(second).is_some_and(|(a, b)| Arc::ptr_eq(&a, &b)));
        let other = Transport::shared(&options.clone().application_id("other-app"));
        assert!(other.is_some_and(|o| Transport::all().iter().any(|t| Arc::ptr_eq(t, &o))));
    }

    #[test]
    fn debug_hides_the_application_id() {
        let options = Options::new()
            .application_id("secret-app-id")
            .base_uri("http://127.0.0.1:1");
        let transport = Transport::from_options(&options).map(|t| format!("{t:?}"));
        assert!(transport.is_some_and(|text| !text.contains("secret-app-id")));
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn outages_are_network_timeouts_5xx_and_429() {
        let status = |status| Sent::Status {
            status,
            retry_after: None,
        };
        assert!(status(503).is_outage() && status(429).is_outage());
        assert!(!status(400).is_outage() && !status(401).is_outage());
        assert!(Sent::Failed {
            error: ureq::Error::ConnectionFailed,
            timed_out: true
        }
        .is_outage());
        assert!(!Sent::Frozen {
            error: ureq::Error::ConnectionFailed
        }
        .is_outage());
    }
}
