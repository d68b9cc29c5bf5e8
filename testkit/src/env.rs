//! `lambda_runtime` reads its endpoint and function settings from process environment variables. Tests
//! that run the real loop hold a [`LambdaEnv`] so that, within one test binary, they run one at a time
//! with the variables pointing at their own emulator.

use crate::runtime_api::RuntimeApi;
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, OwnedMutexGuard};

fn lock() -> Arc<Mutex<()>> {
    static LOCK: OnceLock<Arc<Mutex<()>>> = OnceLock::new();
    LOCK.get_or_init(|| Arc::new(Mutex::new(()))).clone()
}

/// Exclusive use of the Lambda environment variables; released when dropped. A `tokio` lock, so it may
/// be held across `.await`s.
pub struct LambdaEnv {
    _guard: OwnedMutexGuard<()>,
}

impl LambdaEnv {
    /// Waits for the other tests of this binary to finish with the environment, then points it at `api`
    /// ([`RuntimeApi::lambda_env`]; `AWS_LAMBDA_MAX_CONCURRENCY` is removed first, so only an emulator in
    /// concurrent mode sets it). `extra` sets more variables (`MOESIF_APPLICATION_ID`, …); `None` removes
    /// one.
    pub async fn acquire(api: &RuntimeApi, extra: &[(&str, Option<&str>)]) -> LambdaEnv {
        let guard = lock().lock_owned().await;
        std::env::remove_var("AWS_LAMBDA_MAX_CONCURRENCY");
        for (name, value) in api.lambda_env() {
            std::env::set_var(name, value);
        }
        for (name, value) in extra {
            match value {
                Some(value) => std::env::set_var(name, value),
                None => std::env::remove_var(name),
            }
        }
        LambdaEnv { _guard: guard }
    }
}
