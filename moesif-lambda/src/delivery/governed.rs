//! The governance rules of a collector connection as the hot path reads them: the compiled rules and
//! the config's cohorts, both as last fetched ([`Transport::governance`]), never fetched on the
//! caller's path but for the one bounded wait `wait_for_governance` asks for.

use super::config::AppConfig;
use super::transport::Transport;
use crate::governance::{Cohorts, Decision, Request, Rules};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The rules in force for one request and the cohorts they refer to.
#[derive(Debug, Clone)]
pub(crate) struct Governed {
    pub rules: Arc<Rules>,
    config: Option<Arc<AppConfig>>,
}

impl Governed {
    /// The rules (with no cohorts), as [`Transport::governance`] gives them: `None` when there is none.
    #[cfg(feature = "bench-internals")]
    pub(crate) fn of(rules: Arc<Rules>) -> Option<Governed> {
        (!rules.is_empty()).then_some(Governed { rules, config: None })
    }

    /// What the rules decide for `request` (`None`: no rule applies).
    pub(crate) fn evaluate(&self, request: &Request<'_>) -> Option<Decision> {
        match &self.config {
            Some(config) => self.rules.evaluate(&config.cohorts, request),
            None => self.rules.evaluate(&Cohorts::default(), request),
        }
    }
}

impl Transport {
    /// The rules in force, when governance is on and there is at least one rule. With `wait` (the
    /// `wait_for_governance` option), the connection's first call waits at most that long for rules
    /// never fetched yet.
    pub(crate) fn governance(self: &Arc<Self>, wait: Duration) -> Option<Governed> {
        if !self.governs() {
            return None;
        }
        if !wait.is_zero() && !self.rules.fetched() && !self.waited_for_rules.swap(true, Ordering::Relaxed) {
            self.prefetch_governance();
            wait_until(Instant::now() + wait, || self.rules.fetched());
        }
        let rules = self.rules.current().filter(|rules| !rules.is_empty())?;
        Some(Governed {
            rules,
            config: self.config.current(),
        })
    }

    /// Starts fetching the config and rules in the background (on the delivery thread), if they are due.
    pub(crate) fn prefetch_governance(self: &Arc<Self>) {
        let transport = self.clone();
        super::worker::spawn(move || {
            transport.refresh_config(transport.request_timeout());
        });
    }
}

/// Starts fetching the governance rules (and the app config) of `options`' collector and application
/// now, in the background, for every handler and layer logging there. Call it in `main`, before
/// [`run`](crate::run), so that an annotated handler's rules are fetched during init rather than with
/// the sandbox's first send: its first invocation is then governed, and `wait_for_governance` waits
/// less, or not at all. (A [`MoesifLayer`](crate::MoesifLayer) built with `wait_for_governance` does
/// this itself.) Nothing happens with governance off, or when no collector can be had (said once).
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use moesif_lambda::{moesif_logger, Options};
/// use serde_json::{json, Value};
/// use std::time::Duration;
///
/// const OPTIONS: Options = Options::new().wait_for_governance(Duration::from_millis(300));
///
/// #[moesif_logger(options = OPTIONS)]
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(json!({ "statusCode": 200 }))
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     moesif_lambda::prefetch_governance(&OPTIONS);
///     moesif_lambda::run(service_fn(handler)).await
/// }
/// ```
pub fn prefetch_governance(options: &crate::Options) {
    if !options.governance {
        return;
    }
    if let Some(transport) = Transport::shared(options) {
        transport.prefetch_governance();
    }
}

/// Waits (blocking, without holding up other tasks of a multi-thread runtime) until `done` or `deadline`.
fn wait_until(deadline: Instant, done: impl Fn() -> bool) {
    let wait = || {
        while !done() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            std::thread::sleep(left.min(Duration::from_millis(2)));
        }
    };
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}
