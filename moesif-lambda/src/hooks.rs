//! Calls user hooks so that a panicking hook costs only its own field, never the invocation.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `hook`; a panic becomes `None` and one warning per hook name for the life of the process.
pub(crate) fn call<T>(name: &'static str, hook: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(hook)) {
        Ok(value) => Some(value),
        Err(payload) => {
            warn_once(name, || {
                tracing::warn!(
                    hook = name,
                    panic = %panic_message(payload.as_ref()),
                    "moesif: the `{name}` hook panicked; the event is sent without what it provides \
                     (further panics of this hook are logged at debug level)"
                )
            });
            tracing::debug!(hook = name, panic = %panic_message(payload.as_ref()), "moesif: hook panicked");
            None
        }
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs `log` the first time `key` is seen in this process, and never again.
pub(crate) fn warn_once(key: &'static str, log: impl FnOnce()) {
    let mut seen = crate::process::PROCESS.warned();
    if !seen.contains(&key) {
        seen.push(key);
        drop(seen);
        log();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panicking_hook_gives_none() {
        assert_eq!(call("test-hook", || -> u8 { panic!("boom") }), None);
        assert_eq!(call("test-hook", || 7), Some(7));
    }

    #[test]
    fn warn_once_runs_once() {
        let mut count = 0;
        warn_once("warn-once-test", || count += 1);
        warn_once("warn-once-test", || count += 1);
        assert_eq!(count, 1);
    }
}
