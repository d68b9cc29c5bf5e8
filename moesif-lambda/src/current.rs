//! The invocation in progress, for code that runs inside the handler but outside the macro's reach
//! (outgoing-call capture ties its events to the invocation through the request id).
//!
//! Per invocation, not per process: Lambda Managed Instances run many invocations at once in one
//! process. The handler's future runs inside a `tokio::task_local!` scope holding its invocation
//! (set by [`crate::MoesifRuntimeLayer`] around the whole invocation, with the raw event, and by the
//! attribute around the body), so any code awaited in it finds its own invocation. Work moved off
//! the task (`tokio::spawn`, `spawn_blocking`, a thread) finds the invocation in flight when there is
//! only one, as on classic Lambda; with several, carry it there with [`InvocationHandle`].

use bytes::Bytes;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

tokio::task_local! {
    /// The invocation whose handler this task runs.
    static RUNNING: RunningInvocation;
}

/// Request ids of the invocations started and not yet finished (kept with the process's state), for
/// work off their tasks: what an outgoing call made from a spawned thread is tied to.
fn in_flight() -> std::sync::MutexGuard<'static, Vec<Arc<str>>> {
    crate::process::PROCESS.in_flight()
}

/// What a task knows of the invocation it runs.
#[derive(Clone, Debug)]
pub(crate) struct RunningInvocation {
    request_id: Arc<str>,
    /// The event as Lambda sent it (set by the runtime layer), so a capture need not copy the
    /// deserialised one.
    raw_event: Option<Bytes>,
    /// Set when something (the attribute, the layer) captured the invocation.
    captured: Arc<AtomicBool>,
}

/// The scope [`crate::MoesifRuntimeLayer`] puts around an invocation: its id and raw event, and the
/// flag that tells, once the response is posted, whether anything logged it. `call` makes the future
/// (services often do their first work there, in `call`, not when polled): both run in the scope.
pub(crate) fn scope_invocation<F: Future>(
    request_id: Arc<str>,
    raw_event: Bytes,
    captured: Arc<AtomicBool>,
    call: impl FnOnce() -> F,
) -> tokio::task::futures::TaskLocalFuture<RunningInvocation, F> {
    let running = RunningInvocation {
        request_id,
        raw_event: Some(raw_event),
        captured,
    };
    let future = RUNNING.sync_scope(running.clone(), call);
    RUNNING.scope(running, future)
}

/// An invocation started by the attribute or the layer: in flight until dropped.
#[derive(Debug)]
pub(crate) struct Started {
    request_id: Arc<str>,
}

/// Marks the start of the invocation `request_id` (a capture began): in flight until the returned
/// value is dropped.
pub(crate) fn start(request_id: &str) -> Started {
    let request_id = RUNNING
        .try_with(|running| {
            running.captured.store(true, Ordering::Relaxed);
            (*running.request_id == *request_id).then(|| running.request_id.clone())
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::from(request_id));
    in_flight().push(request_id.clone());
    Started { request_id }
}

impl Started {
    /// The raw event of this invocation, if the runtime layer gave it.
    pub(crate) fn raw_event(&self) -> Option<Bytes> {
        RUNNING
            .try_with(|running| {
                (running.request_id == self.request_id)
                    .then(|| running.raw_event.clone())
                    .flatten()
            })
            .ok()
            .flatten()
    }

    /// Runs `future` (the handler's body) with this invocation current.
    pub(crate) fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        let running = self.running();
        RUNNING.scope(running, future)
    }

    /// Runs `body` (a sync handler's body) with this invocation current.
    pub(crate) fn sync_scope<R>(&self, body: impl FnOnce() -> R) -> R {
        RUNNING.sync_scope(self.running(), body)
    }

    fn running(&self) -> RunningInvocation {
        RUNNING
            .try_with(|running| running.clone())
            .ok()
            .filter(|running| running.request_id == self.request_id)
            .unwrap_or_else(|| RunningInvocation {
                request_id: self.request_id.clone(),
                raw_event: None,
                captured: Arc::default(),
            })
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let mut in_flight = in_flight();
        if let Some(index) = in_flight.iter().position(|id| Arc::ptr_eq(id, &self.request_id)) {
            in_flight.swap_remove(index);
        }
    }
}

/// The request id of the invocation this code runs for, if it can be known.
pub(crate) fn request_id() -> Option<Arc<str>> {
    if let Ok(id) = RUNNING.try_with(|running| running.request_id.clone()) {
        return Some(id);
    }
    match in_flight().as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

/// The invocation some work belongs to: take it where the handler runs, and carry it into a spawned
/// task or thread, so the outgoing calls made there are logged as that invocation's (needed only when
/// several invocations run at once, under Lambda Managed Instances; with one in flight, work off the
/// handler's task finds it anyway).
///
/// ```no_run
/// use moesif_lambda::InvocationHandle;
///
/// # async fn example() {
/// // Inside a handler:
/// let invocation = InvocationHandle::current();
/// let work = tokio::task::spawn_blocking(move || {
///     InvocationHandle::run_in(invocation, || {
///         // outgoing calls made here are tied to the handler's invocation
///     })
/// });
/// # let _ = work.await;
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InvocationHandle {
    request_id: Arc<str>,
}

impl InvocationHandle {
    /// The invocation this code runs for: the one whose handler runs in this task, else the only one in
    /// flight; `None` outside any (or with several in flight and none here).
    pub fn current() -> Option<InvocationHandle> {
        request_id().map(|request_id| InvocationHandle { request_id })
    }

    /// Its Lambda request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// `future` run with this invocation current (for `tokio::spawn`).
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        RUNNING.scope(self.running(), future)
    }

    /// `body` run with `invocation` current when there is one (for `spawn_blocking` and threads).
    pub fn run_in<R>(invocation: Option<InvocationHandle>, body: impl FnOnce() -> R) -> R {
        match invocation {
            Some(invocation) => RUNNING.sync_scope(invocation.running(), body),
            None => body(),
        }
    }

    fn running(self) -> RunningInvocation {
        RunningInvocation {
            request_id: self.request_id,
            raw_event: None,
            captured: Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_running_invocation_wins_then_the_only_one_in_flight() {
        let a = start("current-test-a");
        let seen = a.sync_scope(request_id);
        assert_eq!(seen.as_deref(), Some("current-test-a"));
        let b = start("current-test-b");
        let nested = a.sync_scope(|| b.sync_scope(request_id));
        assert_eq!(nested.as_deref(), Some("current-test-b"));
        let scoped = a.scope(async { request_id() }).await;
        assert_eq!(scoped.as_deref(), Some("current-test-a"));
        let carried = InvocationHandle::current();
        let handle = a.sync_scope(InvocationHandle::current);
        let off_task = std::thread::spawn(move || InvocationHandle::run_in(handle, request_id)).join();
        assert_eq!(off_task.ok().flatten().as_deref(), Some("current-test-a"));
        drop((a, b, carried));
        assert!(in_flight().iter().all(|id| !id.starts_with("current-test")));
    }

    #[tokio::test]
    async fn the_runtime_layer_scope_gives_the_raw_event_and_learns_it_was_captured() {
        let captured = Arc::new(AtomicBool::new(false));
        let raw = Bytes::from_static(br#"{"httpMethod":"GET"}"#);
        let flag = captured.clone();
        let seen = scope_invocation(Arc::from("current-test-raw"), raw.clone(), flag, || async {
            let started = start("current-test-raw");
            let other = Started {
                request_id: Arc::from("current-test-other"),
            };
            (started.raw_event(), other.raw_event())
        })
        .await;
        assert_eq!(seen, (Some(raw), None));
        assert!(captured.load(Ordering::Relaxed));
    }
}
