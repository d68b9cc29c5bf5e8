//! Locks that outlive a panic: a thread that panicked while holding one (a bug in a user's hook, run
//! under the lock's caller) must not stop every later send or capture.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// `mutex` locked, whether or not a thread panicked while holding it (what it guards stays usable:
/// every value kept behind these locks is whole between statements).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
