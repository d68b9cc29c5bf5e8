//! The last flush at `SIGTERM`, and the one log line that accounts for every event queued then: sent,
//! refused, skipped, unsent (still queued or held by a send that did not finish: a hanging collector)
//! and dropped since start (the queue was full).
//!
//! Whoever finishes first writes that line: the flush started at `SIGTERM` when its budget is over, or
//! a [`flush`](super::flush) the function calls during shutdown (in lambda_runtime's graceful-shutdown
//! hook, which ends the process as soon as the hook returns, often before the budget is over).

use super::pipeline::{flush_blocking, Breaker, FlushReport};
use super::worker;
use crate::delivery;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// What the last flush may use of the shutdown phase.
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(300);
/// The shutdown phase Lambda gives a function with internal extensions (500 ms); the process ends a
/// little before, if nothing else ended it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(480);

const RUNNING: u8 = 0;
const SHUTTING_DOWN: u8 = 1;
const REPORTED: u8 = 2;

/// Where this process is in its shutdown: a documented one-time state (`SIGTERM` comes once).
static PHASE: AtomicU8 = AtomicU8::new(RUNNING);

/// Sends what is queued within `deadline`, once whatever the breaker says; `None` when the delivery
/// thread did not finish by then (a send hanging on the collector).
pub(crate) async fn flush_until(deadline: Instant) -> Option<FlushReport> {
    let flushing = worker::run(move || flush_blocking(deadline, Breaker::Ignore));
    tokio::time::timeout_at(deadline.into(), flushing).await.ok().flatten()
}

/// After a flush the function asked for: during shutdown, this was the last chance, so say what
/// became of the queue (once).
pub(crate) fn after_flush(report: Option<&FlushReport>) {
    if PHASE.load(Ordering::Acquire) == SHUTTING_DOWN {
        report_once(report);
    }
}

/// Listens for `SIGTERM` (once per process): then sends what is queued within the shutdown budget —
/// after a send already in flight, once even if the breaker is open — writes the accounting line, and
/// ends the process when the shutdown phase is over if nothing else ended it by then.
pub(crate) fn listen_for_sigterm() {
    use tokio::signal::unix::{signal, SignalKind};
    if PHASE.load(Ordering::Acquire) != RUNNING {
        return;
    }
    static LISTENING: std::sync::Once = std::sync::Once::new();
    LISTENING.call_once(|| {
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            tracing::warn!("moesif: cannot listen for SIGTERM; events queued at shutdown may be lost");
            return;
        };
        tokio::spawn(async move {
            term.recv().await;
            PHASE.store(SHUTTING_DOWN, Ordering::Release);
            let started = Instant::now();
            let report = flush_until(started + SHUTDOWN_BUDGET).await;
            report_once(report.as_ref());
            tokio::time::sleep_until((started + SHUTDOWN_GRACE).into()).await;
            std::process::exit(0);
        });
    });
}

/// Writes the accounting line unless it was written already.
fn report_once(report: Option<&FlushReport>) {
    if PHASE.swap(REPORTED, Ordering::AcqRel) == REPORTED {
        return;
    }
    let (queued, in_flight, dropped) = delivery::queue_counts();
    let unsent = queued + in_flight;
    let (sent, rejected, skipped) = report.map_or((0, 0, 0), |r| (r.sent, r.rejected, r.skipped));
    if unsent == 0 && report.is_some() {
        tracing::info!(
            sent,
            rejected,
            skipped,
            unsent,
            dropped,
            "moesif: shutdown: every queued event accounted for"
        );
    } else {
        tracing::warn!(
            sent,
            rejected,
            skipped,
            unsent,
            dropped,
            "moesif: shutdown: events left unsent (the collector did not answer in time)"
        );
    }
}
