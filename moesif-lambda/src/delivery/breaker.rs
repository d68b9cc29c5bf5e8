//! The circuit breaker in front of one collector: after a failed send (network, timeout, 5xx, 429) no
//! invocation waits on the collector until a backoff has passed — exponential with jitter, or the
//! collector's `Retry-After` when it is longer. Then one probe may go; success closes the breaker,
//! failure opens it again for longer. An outage at Moesif so costs the function one bounded attempt
//! per backoff period, not every invocation.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a `Retry-After` is honoured for (a collector asking for more is asked again then).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// Breaker settings: the first backoff and the longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Failed sends in a row.
    failures: u32,
    /// No send before this instant.
    open_until: Option<Instant>,
}

/// One collector's breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    backoff: Backoff,
    state: Mutex<State>,
}

impl Breaker {
    pub(crate) fn new(backoff: Backoff) -> Self {
        Breaker {
            backoff,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// Whether a send may go now (closed, or the backoff has passed: a probe).
    pub(crate) fn allows(&self) -> bool {
        self.lock().open_until.is_none_or(|until| Instant::now() >= until)
    }

    /// A send went through: closed again.
    pub(crate) fn record_success(&self) {
        let mut state = self.lock();
        state.failures = 0;
        state.open_until = None;
    }

    /// A send failed: open for the next backoff (or `retry_after`, when longer). Returns how long.
    pub(crate) fn record_failure(&self, retry_after: Option<Duration>) -> Duration {
        let mut state = self.lock();
        state.failures = state.failures.saturating_add(1);
        let wait = self.wait_after(state.failures, retry_after);
        state.open_until = Some(Instant::now() + wait);
        wait
    }

    /// The wait after `failures` failures in a row: `first · 2^(failures-1)`, capped at `max`, with
    /// jitter (between half and all of it, so many sandboxes do not probe in step), never shorter than
    /// `retry_after` (itself capped).
    fn wait_after(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let full = self.backoff.first.saturating_mul(1 << exponent).min(self.backoff.max);
        let jittered = full.mul_f64(0.5 + fastrand::f64() / 2.0);
        jittered.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
        })
    }

    #[test]
    fn a_failure_opens_and_a_success_closes() {
        let breaker = breaker();
        assert!(breaker.allows());
        let wait = breaker.record_failure(None);
        assert!(wait >= Duration::from_millis(50) && wait <= Duration::from_millis(100));
        assert!(!breaker.allows());
        breaker.record_success();
        assert!(breaker.allows());
    }

    #[test]
    fn backoff_grows_with_jitter_up_to_the_max_and_honours_retry_after() {
        let breaker = breaker();
        for failures in 1..40 {
            let wait = breaker.wait_after(failures, None);
            let full = Duration::from_millis(100 * (1u64 << (failures - 1).min(20))).min(Duration::from_secs(1));
            assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
        }
        assert_eq!(
            breaker.wait_after(1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert_eq!(
            breaker.wait_after(1, Some(Duration::from_secs(86_400))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn it_reopens_after_the_backoff_passed() {
        let breaker = Breaker::new(Backoff {
            first: Duration::from_millis(1),
            max: Duration::from_millis(1),
        });
        breaker.record_failure(None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(breaker.allows(), "the probe may go");
    }
}
