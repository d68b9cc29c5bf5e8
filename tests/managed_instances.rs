//! Lambda Managed Instances (`moesif_lambda::run_concurrent`, `AWS_LAMBDA_MAX_CONCURRENCY`) through the
//! real concurrent loop against the emulator's concurrent mode: many invocations at once in one
//! process, each answered as without the middleware; the events reach the collector from the
//! background sender (no flush is called, no invocation waits); and each outgoing call made from a
//! handler's body, or off its task with `InvocationHandle`, is tied to its own invocation although
//! several are in flight.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, InvocationHandle, MoesifMiddleware, Options};
use moesif_lambda_testkit::{Collector, FunctionRuntime, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

const MAX_CONCURRENCY: usize = 4;
const INVOCATIONS: usize = 8;

/// The downstream API the handler calls.
static DOWNSTREAM: OnceLock<String> = OnceLock::new();

fn options() -> Options {
    Options::new().application_id("managed-app")
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .middleware(MoesifMiddleware::new(options()))
            .build()
            .into()
    })
}

#[moesif_logger(options = options)]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    // Overlap with the other invocations, then call downstream from the body itself.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let downstream = DOWNSTREAM.get().cloned().unwrap_or_default();
    let status = agent()
        .get(format!("{downstream}/v1/config"))
        .call()
        .map(|response| response.status().as_u16())?;
    // And off the handler's task, the invocation carried there.
    let invocation = InvocationHandle::current();
    let off_task = tokio::task::spawn_blocking(move || {
        InvocationHandle::run_in(invocation, || {
            agent()
                .get(format!("{downstream}/v1/config?off_task=1"))
                .call()
                .map(|response| response.status().as_u16())
        })
    })
    .await??;
    let body = json!({"id": event.context.request_id, "downstream": status, "off_task": off_task});
    Ok(json!({"statusCode": 200, "body": body.to_string()}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_are_each_logged_with_their_own_outgoing_calls() {
    let collector = Collector::start().await;
    let downstream = Collector::start().await;
    let _ = DOWNSTREAM.set(downstream.base_url());
    let api = RuntimeApi::start_concurrent(MAX_CONCURRENCY).await;
    let _env = LambdaEnv::acquire(&api, &[("MOESIF_BASE_URI", Some(&collector.base_url()))]).await;
    let _function = FunctionRuntime::start(MAX_CONCURRENCY, moesif_lambda::run_concurrent(service_fn(handler)));

    let calls: Vec<(Value, InvokeOptions)> = (0..INVOCATIONS)
        .map(|n| {
            let options = InvokeOptions {
                request_id: Some(format!("mi-{n}")),
                timeout: Duration::from_secs(30),
                ..InvokeOptions::default()
            };
            let event = json!({"httpMethod": "GET", "path": format!("/items/{n}"), "headers": {"Host": "fn"}, "requestContext": {}});
            (event, options)
        })
        .collect();
    let results = api.invoke_many(calls).await;
    for (n, result) in results.iter().enumerate() {
        let answer = result.as_ref().ok().and_then(|invocation| invocation.response_json());
        let body = json!({"id": format!("mi-{n}"), "downstream": 200, "off_task": 200}).to_string();
        assert_eq!(answer, Some(json!({"statusCode": 200, "body": body})), "mi-{n}");
    }
    assert!(
        api.max_in_flight() >= 2,
        "invocations overlapped: {}",
        api.max_in_flight()
    );

    // Nobody flushes: the background sender delivers within about a second.
    let events = collector
        .wait_for_events(3 * INVOCATIONS, Duration::from_secs(15))
        .await;
    assert_eq!(
        events.len(),
        3 * INVOCATIONS,
        "every incoming and outgoing event arrived"
    );
    // The cheap count (what examples/throughput.rs polls) agrees with the events themselves.
    assert_eq!(collector.event_count(), events.len());
    assert_eq!(
        collector
            .wait_for_event_count(3 * INVOCATIONS, Duration::from_secs(1))
            .await,
        events.len()
    );
    let expected: BTreeSet<String> = (0..INVOCATIONS).map(|n| format!("mi-{n}")).collect();
    let incoming: BTreeSet<String> = events
        .iter()
        .filter(|e| e["direction"] == "Incoming")
        .filter_map(|e| {
            e.pointer("/metadata/trace_id")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect();
    assert_eq!(incoming, expected);
    let outgoing: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["direction"] == "Outgoing")
        .map(|e| {
            let id = e
                .pointer("/metadata/request_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (
                id.to_owned(),
                e["request"]["uri"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(outgoing.len(), 2 * INVOCATIONS);
    // Each invocation's two calls, in its body and off its task (`InvocationHandle`), carry its id.
    for off_task in [false, true] {
        let ids: BTreeSet<String> = outgoing
            .iter()
            .filter(|(_, uri)| uri.ends_with("off_task=1") == off_task)
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(
            ids, expected,
            "each outgoing call carries its own invocation's request id (off task: {off_task}): {outgoing:?}"
        );
    }
}
