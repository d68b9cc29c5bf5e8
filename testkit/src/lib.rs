//! Loopback stand-ins for testing `moesif-lambda` for real: an emulator of the AWS Lambda Runtime API
//! and Extensions API ([`RuntimeApi`], one invocation at a time as on Lambda, or several at once as on
//! Lambda Managed Instances with [`RuntimeApi::start_concurrent`]), a stand-in Moesif collector
//! ([`Collector`]), a loopback upstream API for outgoing-call tests ([`Upstream`]), the lock that lets tests share the Lambda environment variables ([`LambdaEnv`]), and
//! the conformance cases ([`conformance`]). Everything binds 127.0.0.1 and stops when dropped.

mod child;
mod collector;
pub mod conformance;
pub mod encode;
mod env;
mod runtime_api;
mod serve;
mod upstream;
mod watched;

pub use child::{child_mode, FunctionChild};
pub use collector::{event_for, event_request_id, Behaviour, Collector, Recorded};
pub use env::LambdaEnv;
pub use runtime_api::{
    answer_header, Invocation, InvokeOptions, Outcome, RuntimeApi, StreamError, Streamed, TestkitError,
    HTTP_INTEGRATION_RESPONSE,
};
pub use serve::Received;
pub use upstream::{Upstream, UPSTREAM_BINARY, UPSTREAM_CHUNKS, UPSTREAM_GZIP_JSON, UPSTREAM_JSON, UPSTREAM_TEXT};

/// A log sink for tests: clone it into a `tracing_subscriber` writer (`.with_writer(move || logs.clone())`)
/// and read what was written with [`LogBuffer::text`].
#[derive(Clone, Default)]
pub struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A minimal API Gateway HTTP API (payload 2.0) event for `method path` (host `api.example`, JSON
/// content type, `authorization: Bearer secret`), with `body` if given: what `lambda_http` accepts.
pub fn http_api_event(method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
    let mut event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "api.example", "content-type": "application/json", "authorization": "Bearer secret"},
        "requestContext": {"domainName": "api.example", "timeEpoch": 1583348638390_i64,
                           "http": {"method": method, "path": path, "sourceIp": "198.51.100.7"}},
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = serde_json::json!(body);
    }
    event
}

/// Runs a function's loop on its own thread and current-thread runtime (`lambda_http::run`'s future is
/// not `Send`, so it cannot be spawned on the test's runtime); the loop ends when the emulator goes
/// away. Not for `lambda_runtime::run_concurrent`: use [`FunctionRuntime`].
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

/// A function's loop on its own multi-thread Tokio runtime, stopped when this is dropped. Made for
/// `lambda_runtime::run_concurrent`: its `/next` loops are `tokio::spawn`ed onto the runtime it runs on,
/// aborting the `run_concurrent` task does not stop them, and they retry a failed `/next` at once and
/// forever, so once the emulator is gone they would keep every core busy until that runtime ends.
/// Declare it after the [`RuntimeApi`] so that it is dropped first, also when the test panics.
pub struct FunctionRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl FunctionRuntime {
    /// Starts `function` (e.g. `lambda_runtime::run_concurrent(service_fn(handler))`) on a new runtime
    /// with `worker_threads` threads. Hold the [`LambdaEnv`] first: the runtime reads the environment when
    /// the function starts.
    ///
    /// # Panics
    /// If the runtime cannot be built (no threads left on the test machine).
    pub fn start<Fut>(worker_threads: usize, function: Fut) -> FunctionRuntime
    where
        Fut: std::future::Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("function-runtime")
            .enable_all()
            .build()
            .expect("build the function's runtime");
        runtime.spawn(function);
        FunctionRuntime { runtime: Some(runtime) }
    }
}

impl Drop for FunctionRuntime {
    /// Cancels every task of the function's runtime and waits (at most 5 s) until its threads are gone.
    /// The wait happens on a helper thread: a runtime cannot be shut down and waited for from async code.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            let stopping = std::thread::spawn(move || runtime.shutdown_timeout(std::time::Duration::from_secs(5)));
            let _ = stopping.join();
        }
    }
}
