//! The last flush at `SIGTERM`, and the one log line that accounts for every event queued then: sent,
//! refused, skipped, unsent (still queued or held by a send that did not finish: a hanging collector)
//! and dropped since start (the queue was full).
//!
//! Whoever finishes first writes that line: the flush started at `SIGTERM` when its budget is over, or
//! a [`flush`](super::flush) the function calls during shutdown (in lambda_runtime's graceful-shutdown
//! hook, which ends the process as soon as the hook returns, often before the budget is over).
//!
//! If nothing else ended the process by the end of the shutdown phase, the listener ends it as `SIGTERM`
//! would have without it ([`die_by_sigterm`]): a supervisor sees a death by that signal, not a clean exit.

use super::pipeline::{flush_blocking, Breaker, FlushReport};
use super::worker;
use crate::delivery;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What the last flush may use of the shutdown phase.
const SHUTDOWN_BUDGET: Duration = Duration::from_millis(300);
/// The shutdown phase Lambda gives a function with internal extensions (500 ms); the process ends a
/// little before, if nothing else ended it.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(480);

use crate::process::phase::{REPORTED, RUNNING, SHUTTING_DOWN};
use crate::process::PROCESS;

/// Sends what is queued within `deadline`, once whatever the breaker says; `None` when the delivery
/// thread did not finish by then (a send hanging on the collector).
///
/// During shutdown the accounting line is written on the delivery thread as soon as the flush is over:
/// the two flushes of a shutdown (the `SIGTERM` listener's, a graceful-shutdown hook's) take turns on
/// that thread, so the one that sent the events writes it, not the empty one after it whose task
/// happened to be scheduled first.
pub(crate) async fn flush_until(deadline: Instant) -> Option<FlushReport> {
    let flushing = worker::run(move || {
        let report = flush_blocking(deadline, Breaker::Ignore);
        after_flush(Some(&report));
        report
    });
    tokio::time::timeout_at(deadline.into(), flushing).await.ok().flatten()
}

/// After a flush (the listener's, or one the function asked for): during shutdown, this was the last
/// chance, so say what became of the queue (once).
pub(crate) fn after_flush(report: Option<&FlushReport>) {
    if PROCESS.shutdown_phase.load(Ordering::Acquire) == SHUTTING_DOWN {
        report_once(report);
    }
}

/// Listens for `SIGTERM` (once per process): then sends what is queued within the shutdown budget —
/// after a send already in flight, once even if the breaker is open — writes the accounting line, and
/// when the shutdown phase is over, if nothing else ended the process by then, ends it as the signal's
/// default action would have (only here: the library installed this handler, so it owes the signal
/// its effect).
pub(crate) fn listen_for_sigterm() {
    use tokio::signal::unix::{signal, SignalKind};
    if PROCESS.shutdown_phase.load(Ordering::Acquire) != RUNNING {
        return;
    }
    PROCESS.sigterm_listener.call_once(|| {
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            tracing::warn!("moesif: cannot listen for SIGTERM; events queued at shutdown may be lost");
            return;
        };
        tokio::spawn(async move {
            term.recv().await;
            PROCESS.shutdown_phase.store(SHUTTING_DOWN, Ordering::Release);
            let started = Instant::now();
            let report = flush_until(started + SHUTDOWN_BUDGET).await;
            report_once(report.as_ref());
            tokio::time::sleep_until((started + SHUTDOWN_GRACE).into()).await;
            die_by_sigterm();
        });
    });
}

/// Ends the process as `SIGTERM`'s default action does (what `signal-hook`'s `emulate_default_handler`
/// does, with the `libc` already linked in through tokio): the disposition back to the default, the
/// signal unblocked on this thread, and raised. A parent then sees a death by `SIGTERM`
/// (`ExitStatusExt::signal() == Some(15)`), as without the library; no destructor or `atexit` runs,
/// as with that default action (the accounting line is written by then, and `tracing` writes as it goes).
fn die_by_sigterm() -> ! {
    // SAFETY: `signal`, `sigemptyset`, `sigaddset`, `pthread_sigmask` and `raise` are plain libc calls
    // on a local, initialised `sigset_t` and constant arguments; none keeps a pointer past the call.
    // Resetting the disposition only replaces tokio's handler, which is no longer needed: the one
    // `SIGTERM` Lambda sends has been received.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        // Unblocked, the signal is delivered before `raise` returns, and its default action ends the
        // process.
        libc::raise(libc::SIGTERM);
    }
    // Not reached; should the signal not have ended the process, exit with the status a shell gives
    // a death by SIGTERM.
    std::process::exit(128 + libc::SIGTERM)
}

/// Writes the accounting line unless it was written already.
fn report_once(report: Option<&FlushReport>) {
    if PROCESS.shutdown_phase.swap(REPORTED, Ordering::AcqRel) == REPORTED {
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
