//! The function under test in a process of its own: this test binary run again with only its child
//! test selected, for what needs a real process (a signal, being stopped and resumed as Lambda freezes
//! a sandbox).
//!
//! ```no_run
//! # use moesif_lambda_testkit::{child_mode, FunctionChild, RuntimeApi};
//! const CHILD: &str = "MY_TEST_CHILD";
//!
//! #[test]
//! #[ignore = "runs only as the child process of the test below"]
//! fn my_child() {
//!     if !child_mode(CHILD) {
//!         return;
//!     }
//!     // run the function's loop here
//! }
//!
//! # async fn parent(api: RuntimeApi) {
//! let child = FunctionChild::start("my_child", CHILD, &api, &[("MOESIF_APPLICATION_ID", "app")]);
//! child.signal("TERM");
//! let (status, log) = child.wait(std::time::Duration::from_secs(10)).await;
//! # }
//! ```

use crate::RuntimeApi;
use std::io::Read as _;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Whether this process is the child that `flag` marks ([`FunctionChild::start`] sets it); a child logs
/// `moesif_lambda` at info level to its stdout, which the parent reads.
pub fn child_mode(flag: &str) -> bool {
    if std::env::var(flag).is_err() {
        return false;
    }
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .with_env_filter("moesif_lambda=info")
        .try_init();
    true
}

/// The child process, killed when dropped if it still runs.
pub struct FunctionChild(Child);

impl FunctionChild {
    /// Runs the test `test` of this test binary (an ignored test that runs the function when `flag` is
    /// set), with the Lambda environment of `api`, `flag` and `envs`; its stdout (the log) piped.
    pub fn start(test: &str, flag: &str, api: &RuntimeApi, envs: &[(&str, &str)]) -> FunctionChild {
        let child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([test, "--exact", "--ignored", "--nocapture"])
            .envs(api.lambda_env())
            .env(flag, "1")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the child");
        FunctionChild(child)
    }

    /// Sends it `signal` (`"TERM"`, `"STOP"`, `"CONT"`, …).
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.0.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "SIG{signal} sent");
    }

    /// Waits at most `timeout` for it to end (then kills it): its exit status, if it ended, and its log.
    pub async fn wait(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.0.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if Instant::now() > deadline => break None,
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        if status.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
        let mut log = String::new();
        if let Some(mut stdout) = self.0.stdout.take() {
            let _ = stdout.read_to_string(&mut log);
        }
        (status, log)
    }
}

impl Drop for FunctionChild {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(Some(_))) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
