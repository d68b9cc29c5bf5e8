//! State behind a lock, with a way to wait (bounded) until it satisfies a condition.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// A value that tasks can change and wait on.
pub(crate) struct Watched<T> {
    state: Mutex<T>,
    changed: Notify,
}

impl<T> Watched<T> {
    pub(crate) fn new(state: T) -> Self {
        Self {
            state: Mutex::new(state),
            changed: Notify::new(),
        }
    }

    /// The state (a panic elsewhere does not poison it for the tests).
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes every waiter to look again.
    pub(crate) fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Waits until `ready` returns `Some`, or `timeout` passes (`None`).
    pub(crate) async fn wait_for<R>(&self, timeout: Duration, mut ready: impl FnMut(&mut T) -> Option<R>) -> Option<R> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = ready(&mut self.lock()) {
                return Some(value);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}
