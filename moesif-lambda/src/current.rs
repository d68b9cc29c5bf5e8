//! The invocation in progress, for code that runs inside the handler but outside the macro's reach
//! (outgoing-call capture ties its events to the invocation through the request id).
//!
//! Per invocation, not per process: Lambda Managed Instances run many invocations at once in one
//! process. While the handler's body is being polled (or run, for a sync handler) its request id is
//! the current one on that thread, so a call made from the body finds its own invocation. A call made
//! on another thread (`spawn_blocking`, rayon …) finds the invocation in flight when there is only one,
//! as on classic Lambda, and none when several run at once.

use std::cell::RefCell;
use std::sync::Mutex;

/// Request ids of the invocations started and not yet finished.
static IN_FLIGHT: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    /// The invocation whose body is running on this thread.
    static RUNNING: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The invocation [`enter`]ed last on this thread, until its body starts ([`take_entered`]).
    static ENTERED: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn in_flight() -> std::sync::MutexGuard<'static, Vec<String>> {
    IN_FLIGHT.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The request id of the invocation [`enter`]ed last, to tell an invocation nothing logged.
static LAST_ENTERED: Mutex<String> = Mutex::new(String::new());

/// Whether the invocation `request_id` was [`enter`]ed: something (the attribute, the layer) captured it.
pub(crate) fn seen(request_id: &str) -> bool {
    let last = LAST_ENTERED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    *last == request_id || in_flight().iter().any(|id| id == request_id)
}

/// Marks the start of an invocation (on the thread that will start its body).
pub(crate) fn enter(request_id: &str) {
    request_id.clone_into(&mut LAST_ENTERED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    in_flight().push(request_id.to_owned());
    ENTERED.with(|entered| *entered.borrow_mut() = Some(request_id.to_owned()));
}

/// Marks its end.
pub(crate) fn leave(request_id: &str) {
    let mut in_flight = in_flight();
    if let Some(index) = in_flight.iter().position(|id| id == request_id) {
        in_flight.swap_remove(index);
    }
}

/// The invocation just [`enter`]ed on this thread, whose body starts now.
pub(crate) fn take_entered() -> Option<String> {
    ENTERED.with(|entered| entered.borrow_mut().take())
}

/// Runs `body` (a poll of the handler's body, or all of a sync body) with `request_id` current on this
/// thread, restoring what was current before.
pub(crate) fn running<R>(request_id: Option<&str>, body: impl FnOnce() -> R) -> R {
    let Some(request_id) = request_id else {
        return body();
    };
    let previous = RUNNING.with(|running| running.borrow_mut().replace(request_id.to_owned()));
    struct Restore(Option<String>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            RUNNING.with(|running| *running.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    body()
}

/// The request id of the invocation this code runs for, if it can be known.
pub(crate) fn request_id() -> Option<String> {
    if let Some(running) = RUNNING.with(|running| running.borrow().clone()) {
        return Some(running);
    }
    match in_flight().as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_invocation_wins_then_the_only_one_in_flight() {
        enter("current-test-a");
        assert_eq!(take_entered().as_deref(), Some("current-test-a"));
        assert_eq!(take_entered(), None);
        enter("current-test-b");
        let seen = running(Some("current-test-a"), request_id);
        assert_eq!(seen.as_deref(), Some("current-test-a"));
        let nested = running(Some("current-test-a"), || running(Some("current-test-b"), request_id));
        assert_eq!(nested.as_deref(), Some("current-test-b"));
        assert_eq!(
            running(Some("current-test-a"), request_id).as_deref(),
            Some("current-test-a")
        );
        leave("current-test-a");
        leave("current-test-b");
        assert!(in_flight().iter().all(|id| !id.starts_with("current-test")));
    }
}
