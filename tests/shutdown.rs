//! On `SIGTERM` (what Lambda sends at shutdown when an extension is registered), what is still queued is
//! flushed, then the process dies of the signal as it would without the library (a parent sees
//! `signal() == Some(15)`, not a clean exit); with the function's own graceful-shutdown hook
//! (lambda_runtime's `spawn_graceful_shutdown_handler`) the hook runs, and ends the process itself. The
//! function runs in a child process (this test binary, re-run in "child" mode) so that it can receive a
//! real signal.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::{child_mode, Behaviour, Collector, FunctionChild, InvokeOptions, RuntimeApi};
use serde_json::{json, Value};
use std::os::unix::process::ExitStatusExt as _;
use std::process::ExitStatus;
use std::time::Duration;

const CHILD_FLAG: &str = "MOESIF_SHUTDOWN_TEST_CHILD";
/// Where the child's shutdown hook writes that it ran; without it the child installs no hook.
const MARKER_FLAG: &str = "MOESIF_SHUTDOWN_TEST_MARKER";
/// The number of `SIGTERM`.
const SIGTERM: i32 = 15;

fn options() -> Options {
    Options::new().flush_budget(Duration::from_millis(200))
}

#[moesif_logger(options = options)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({"statusCode": 200, "body": event.context.request_id}))
}

/// The function, in the child process. Ignored unless the parent test starts it.
#[test]
#[ignore = "runs only as the child process of the tests below"]
fn shutdown_child() {
    if !child_mode(CHILD_FLAG) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let marker = std::env::var(MARKER_FLAG).ok();
    let _ = runtime.block_on(async move {
        if let Some(marker) = marker {
            // The user's own shutdown hook: it waits for what moesif-lambda sends, then does its own
            // work; lambda_runtime ends the process when it returns.
            lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
                let report = moesif_lambda::flush(Duration::from_millis(200)).await;
                let _ = std::fs::write(marker, format!("hook ran; flush after shutdown's: {report:?}"));
            })
            .await;
        }
        moesif_lambda::run(service_fn(handler)).await
    });
}

/// Starts the function in a child process (its log on a pipe); with a `marker`, with a graceful-shutdown
/// hook that writes it when it ran.
fn start_child(api: &RuntimeApi, collector: &Collector, marker: Option<&std::path::Path>) -> FunctionChild {
    let url = collector.base_url();
    let mut envs = vec![
        ("MOESIF_APPLICATION_ID", "shutdown-app"),
        ("MOESIF_BASE_URI", url.as_str()),
    ];
    let marker = marker.map(|marker| {
        let _ = std::fs::remove_file(marker);
        marker.to_string_lossy().into_owned()
    });
    if let Some(marker) = &marker {
        envs.push((MARKER_FLAG, marker));
    }
    FunctionChild::start("shutdown_child", CHILD_FLAG, api, &envs)
}

/// Two invocations, each answered as the handler answers.
async fn invoke_twice(api: &RuntimeApi) {
    for n in 0..2 {
        let options = InvokeOptions {
            request_id: Some(format!("term-{n}")),
            ..InvokeOptions::default()
        };
        let invocation = api
            .invoke_with(
                json!({"httpMethod": "GET", "path": "/t", "requestContext": {}}),
                options,
            )
            .await;
        assert!(invocation
            .is_ok_and(|i| i.response_json() == Some(json!({"statusCode": 200, "body": format!("term-{n}")}))));
    }
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
}

/// Sends SIGTERM and waits (at most 10 s) for the child to end; its exit status and its log.
async fn terminate(child: FunctionChild) -> (Option<ExitStatus>, String) {
    child.signal("TERM");
    child.wait(Duration::from_secs(10)).await
}

/// The shutdown accounting lines of a child's log.
fn shutdown_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|line| line.contains("moesif: shutdown:")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_what_is_queued_then_the_process_dies_of_it() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    let child = start_child(&api, &collector, None);
    invoke_twice(&api).await;
    // The loop went on once the first POST was written: refused (503) when it arrives.
    collector.wait_for_posts(1, Duration::from_secs(10)).await;
    assert!(
        collector.events().is_empty(),
        "the collector refused everything so far (503)"
    );

    collector.set_default_behaviour(None);
    let (status, log) = terminate(child).await;
    let ids = collector.event_request_ids();
    assert_eq!(ids, ["term-0", "term-1"], "both queued events were flushed on SIGTERM");
    assert_eq!(
        status.and_then(|s| s.signal()),
        Some(SIGTERM),
        "after its flush the child died of SIGTERM, as without the library (not a clean exit): {status:?}"
    );
    let lines = shutdown_lines(&log);
    assert_eq!(lines.len(), 1, "one accounting line, written before the end: {log}");
    assert!(
        lines[0].contains("sent=2") && lines[0].contains("unsent=0"),
        "{}",
        lines[0]
    );
}

/// With lambda_runtime's graceful-shutdown hook calling `moesif_lambda::flush`: the hook waits for what
/// is being sent, runs, and ends the process (lambda_runtime exits with 0 when it returns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_graceful_shutdown_hook_the_hook_runs_after_the_flush_and_ends_the_process() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    let marker = std::env::temp_dir().join(format!("moesif-shutdown-hook-{}", std::process::id()));
    let child = start_child(&api, &collector, Some(&marker));
    invoke_twice(&api).await;
    collector.wait_for_posts(1, Duration::from_secs(10)).await;

    collector.set_default_behaviour(None);
    let (status, log) = terminate(child).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "the hook's return ended the child (lambda_runtime exits with 0): {status:?}"
    );
    let ids = collector.event_request_ids();
    assert_eq!(ids, ["term-0", "term-1"], "both queued events were flushed on SIGTERM");
    let hook = std::fs::read_to_string(&marker).unwrap_or_default();
    let _ = std::fs::remove_file(&marker);
    assert!(
        hook.starts_with("hook ran"),
        "the function's own shutdown hook ran: {hook:?}"
    );
    let lines = shutdown_lines(&log);
    assert_eq!(lines.len(), 1, "one accounting line: {log}");
    assert!(
        lines[0].contains("sent=2") && lines[0].contains("unsent=0"),
        "{}",
        lines[0]
    );
}

/// With a collector that never answers, the events queued at SIGTERM cannot be sent; the log says so
/// in one line, although the function's own hook (whose flush gives up after its budget) ends the
/// process before the shutdown flush's budget is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_collector_accounts_for_every_event() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    let marker = std::env::temp_dir().join(format!("moesif-shutdown-hang-{}", std::process::id()));
    let child = start_child(&api, &collector, Some(&marker));
    invoke_twice(&api).await;
    collector.wait_for_posts(1, Duration::from_secs(10)).await;

    collector.set_default_behaviour(Some(Behaviour::Hang));
    let (status, log) = terminate(child).await;
    assert!(status.is_some(), "the child ended by itself");
    assert!(collector.events().is_empty(), "nothing could be sent");
    let lines = shutdown_lines(&log);
    assert_eq!(lines.len(), 1, "one accounting line: {log}");
    assert!(
        lines[0].contains("sent=0") && lines[0].contains("unsent=2"),
        "both events accounted for as unsent: {}",
        lines[0]
    );
    let _ = std::fs::remove_file(&marker);
}

/// Without a hook, a collector that never answers does not keep the process alive: the flush gives up
/// at its budget, the line says what was left, and the process dies of the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_collector_and_no_hook_still_dies_of_the_signal() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    collector.set_default_behaviour(Some(Behaviour::Status(503)));
    let child = start_child(&api, &collector, None);
    invoke_twice(&api).await;

    collector.set_default_behaviour(Some(Behaviour::Hang));
    let (status, log) = terminate(child).await;
    assert_eq!(status.and_then(|s| s.signal()), Some(SIGTERM), "{status:?}");
    assert!(collector.events().is_empty(), "nothing could be sent");
    let lines = shutdown_lines(&log);
    assert_eq!(lines.len(), 1, "one accounting line: {log}");
    assert!(
        lines[0].contains("sent=0") && lines[0].contains("unsent=2"),
        "{}",
        lines[0]
    );
}
