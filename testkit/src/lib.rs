//! Loopback stand-ins for testing `moesif-lambda` for real: an emulator of the AWS Lambda Runtime API
//! and Extensions API ([`RuntimeApi`]), a stand-in Moesif collector ([`Collector`]), the lock that lets
//! tests share the Lambda environment variables ([`LambdaEnv`]), and the conformance cases
//! ([`conformance`]). Everything binds 127.0.0.1 and stops when dropped.

mod collector;
pub mod conformance;
mod env;
mod runtime_api;
mod serve;
mod watched;

pub use collector::{Behaviour, Collector, Recorded};
pub use env::LambdaEnv;
pub use runtime_api::{Invocation, InvokeOptions, Outcome, RuntimeApi, TestkitError};
pub use serve::Received;

/// Runs a function's loop on its own thread and current-thread runtime (`lambda_http::run`'s future is
/// not `Send`, so it cannot be spawned on the test's runtime); the loop ends when the emulator goes
/// away.
pub fn spawn_function<F, Fut>(make: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future,
{
    std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            let _ = runtime.block_on(make());
        }
    });
}
