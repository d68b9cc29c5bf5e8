//! Synchronous delivery (plain `lambda_runtime::run`, no extension): the queue is sent before the
//! invocation ends, as the sandbox may be frozen right after. Bounded by the invocation's deadline
//! (less a margin) and the request timeout; while the collector's breaker is open nothing is sent and
//! the events wait, bounded, for the next invocation.

use super::pipeline::{flush_blocking, Breaker};
use crate::capture::Call;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Kept free before the invocation's deadline, so sending never makes an invocation time out.
pub(super) const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

/// When sending for `call` must be over: its request timeout from now, or its invocation's deadline
/// less a margin if that comes first (a deadline of 0 or in the past is unknown, as `cargo lambda
/// watch` sends).
pub(super) fn deadline(call: &Call) -> Instant {
    let timeout = Instant::now() + call.invocation.options.request_timeout;
    let deadline_ms = call.invocation.context.deadline;
    invocation_deadline(deadline_ms).map_or(timeout, |deadline| deadline.min(timeout))
}

/// The instant `deadline_ms` (milliseconds since the epoch) stands for, less [`DEADLINE_MARGIN`]; `None`
/// when it is 0 or already past (unknown).
pub(super) fn invocation_deadline(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_millis();
    let left = u128::from(deadline_ms).checked_sub(now_ms).filter(|left| *left > 0)?;
    let left = Duration::from_millis(u64::try_from(left).ok()?);
    Some(Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// Sends what is queued (blocking, on the delivery thread).
pub(super) fn flush(deadline: Instant) {
    flush_blocking(deadline, Breaker::Respect);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_deadline_is_none_a_future_one_keeps_a_margin() {
        assert_eq!(invocation_deadline(0), None, "cargo lambda watch");
        assert_eq!(invocation_deadline(1_000), None, "in the past");
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let deadline = invocation_deadline(now_ms + 1_000);
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        assert!(left.is_some_and(|left| left <= Duration::from_millis(900) && left > Duration::from_millis(500)));
    }
}
