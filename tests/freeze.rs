//! A sandbox frozen while a send's answer is on its way, as Lambda freezes it once the runtime asks for
//! the next event: the sandbox's first invocation goes on once its request is written, the function is
//! then stopped (`SIGSTOP`) for longer than the request timeout, and resumed (`SIGCONT`) for the next
//! invocation. The function runs in a child process (this test binary, re-run in "child" mode) so that
//! it can be stopped for real.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::{child_mode, Behaviour, Collector, FunctionChild, InvokeOptions, RuntimeApi};
use serde_json::{json, Value};
use std::time::Duration;

const CHILD_FLAG: &str = "MOESIF_FREEZE_TEST_CHILD";
const WAIT: Duration = Duration::from_secs(10);
/// The request timeout of the child's sends; the freeze lasts longer.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);
const FREEZE: Duration = Duration::from_millis(2500);

fn options() -> Options {
    Options::new().request_timeout(REQUEST_TIMEOUT)
}

#[moesif_logger(options = options)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({"statusCode": 200, "body": event.context.request_id}))
}

/// The function, in the child process. Ignored unless the parent test starts it.
#[test]
#[ignore = "runs only as the child process of the test below"]
fn freeze_child() {
    if !child_mode(CHILD_FLAG) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let _ = runtime.block_on(moesif_lambda::run(service_fn(handler)));
}

async fn invoke(api: &RuntimeApi, id: &str) {
    let options = InvokeOptions {
        request_id: Some(id.to_owned()),
        ..InvokeOptions::default()
    };
    let event = json!({"httpMethod": "GET", "path": "/f", "requestContext": {}});
    let invocation = api.invoke_with(event, options).await.expect("the function answers");
    assert_eq!(invocation.response_json(), Some(json!({"statusCode": 200, "body": id})));
    assert!(api.wait_until_idle(WAIT).await);
}

/// The `transaction_id` of each of `events`.
fn transactions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| event["transaction_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_frozen_before_its_answer_delivers_its_event_and_keeps_the_collector_in_use() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    // The answer comes while the sandbox is frozen.
    collector.set_default_behaviour(Some(Behaviour::Delay(Duration::from_millis(100))));
    let url = collector.base_url();
    let child = FunctionChild::start(
        "freeze_child",
        CHILD_FLAG,
        &api,
        &[("MOESIF_APPLICATION_ID", "freeze-app"), ("MOESIF_BASE_URI", &url)],
    );

    invoke(&api, "freeze-0").await;
    // Frozen as soon as the runtime asked for its next event, for longer than the request timeout.
    child.signal("STOP");
    tokio::time::sleep(FREEZE).await;
    child.signal("CONT");
    // The next invocation, after a pause: sent at once.
    invoke(&api, "freeze-1").await;
    collector.wait_for_events_of("freeze-1", WAIT).await;
    child.signal("TERM");
    let (_, log) = child.wait(WAIT).await;

    let first = transactions(&collector.wait_for_events_of("freeze-0", WAIT).await);
    assert!(!first.is_empty(), "the frozen send's event arrived");
    assert!(
        first.iter().all(|id| *id == first[0]),
        "a copy sent again has the same transaction_id (the collector keeps one): {first:?}"
    );
    assert_eq!(
        collector.wait_for_events_of("freeze-1", WAIT).await.len(),
        1,
        "the next event went after the thaw"
    );
    assert!(
        !log.contains("could not reach the collector") && !log.contains("not accepting events"),
        "a freeze is no outage of the collector: {log}"
    );
}
