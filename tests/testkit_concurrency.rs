//! The emulator's Lambda Managed Instances mode under the real concurrent loop
//! (`lambda_runtime::run_concurrent` with `AWS_LAMBDA_MAX_CONCURRENCY`): several invocations in flight at
//! once, each caller getting its own answer; and the default mode still one at a time against that loop.
//! No timing assertion: concurrency is proven by what the emulator saw in flight.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda_testkit::{FunctionRuntime, Invocation, InvokeOptions, LambdaEnv, RuntimeApi, TestkitError};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

const MAX_CONCURRENCY: usize = 4;

/// Sleeps like a slow downstream call, then echoes its payload and request id.
async fn sleepy_echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(json!({"echo": event.payload, "request_id": event.context.request_id}))
}

/// Waits (at most 5 s) until `MAX_CONCURRENCY` invocations are inside the handler at once, then echoes:
/// it can only succeed when that many run together.
async fn rendezvous_echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    static BARRIER: OnceLock<Arc<Barrier>> = OnceLock::new();
    let barrier = BARRIER.get_or_init(|| Arc::new(Barrier::new(MAX_CONCURRENCY))).clone();
    tokio::time::timeout(Duration::from_secs(5), barrier.wait())
        .await
        .map_err(|_| "the other invocations never came: not concurrent")?;
    Ok(json!({"echo": event.payload, "request_id": event.context.request_id}))
}

fn calls(prefix: &str, count: usize) -> Vec<(Value, InvokeOptions)> {
    (0..count)
        .map(|n| {
            let options = InvokeOptions {
                request_id: Some(format!("{prefix}-{n}")),
                timeout: Duration::from_secs(30),
                ..InvokeOptions::default()
            };
            (json!({"n": n, "tag": format!("{prefix} call {n}")}), options)
        })
        .collect()
}

/// Every caller got its own payload and request id back.
fn assert_each_got_its_own(calls: &[(Value, InvokeOptions)], results: &[Result<Invocation, TestkitError>]) {
    assert_eq!(results.len(), calls.len());
    for ((event, options), result) in calls.iter().zip(results) {
        let invocation = result.as_ref().expect("every invocation is answered");
        let request_id = options.request_id.clone().unwrap_or_default();
        assert_eq!(invocation.request_id, request_id);
        assert_eq!(
            invocation.response_json(),
            Some(json!({"echo": event, "request_id": request_id})),
            "{request_id} gets its own answer"
        );
    }
}

/// The most invocations whose hand-out-to-answer intervals overlap, from what the callers saw.
fn most_overlapping(results: &[Result<Invocation, TestkitError>]) -> usize {
    let intervals: Vec<(Instant, Instant)> = results
        .iter()
        .flatten()
        .map(|i| (i.handed_out_at, i.answered_at))
        .collect();
    intervals
        .iter()
        .map(|(start, _)| intervals.iter().filter(|(s, e)| s <= start && start < e).count())
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_invocations_at_once_run_concurrently() {
    let api = RuntimeApi::start_concurrent(MAX_CONCURRENCY).await;
    assert_eq!(api.max_concurrency(), Some(MAX_CONCURRENCY));
    assert!(api
        .lambda_env()
        .contains(&("AWS_LAMBDA_MAX_CONCURRENCY", MAX_CONCURRENCY.to_string())));
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let _function = FunctionRuntime::start(2, lambda_runtime::run_concurrent(service_fn(sleepy_echo)));

    let calls = calls("sleepy", 8);
    let started = Instant::now();
    let results = api.invoke_many(calls.clone()).await;
    let wall = started.elapsed();

    assert_each_got_its_own(&calls, &results);
    let max_in_flight = api.max_in_flight();
    eprintln!("8 invocations of 200 ms, {MAX_CONCURRENCY} workers: {wall:?} in all, at most {max_in_flight} in flight");
    assert!(max_in_flight >= 2, "invocations overlapped, got {max_in_flight}");
    assert!(
        max_in_flight <= MAX_CONCURRENCY,
        "never more than AWS_LAMBDA_MAX_CONCURRENCY in flight, got {max_in_flight}"
    );
    assert!(
        most_overlapping(&results) >= 2,
        "the callers' own timestamps overlap too"
    );
    assert_eq!(api.invocations_handed_out(), 8);
    assert_eq!(api.invocations_in_flight(), 0);
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    for (_, options) in &calls {
        let request_id = options.request_id.as_deref().unwrap_or_default();
        assert!(
            api.invocation_finished_at(request_id).is_some(),
            "{request_id} finished"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_invoke_with_calls_meet_inside_the_handler() {
    let api = RuntimeApi::start_concurrent(MAX_CONCURRENCY).await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let _function = FunctionRuntime::start(2, lambda_runtime::run_concurrent(service_fn(rendezvous_echo)));

    // Two rounds of four: each round only completes if its four invocations are in flight together.
    let calls = calls("joined", 2 * MAX_CONCURRENCY);
    let mut results = Vec::new();
    for round in calls.chunks(MAX_CONCURRENCY) {
        let [a, b, c, d] = round else {
            panic!("rounds of {MAX_CONCURRENCY}")
        };
        let (a, b, c, d) = tokio::join!(
            api.invoke_with(a.0.clone(), a.1.clone()),
            api.invoke_with(b.0.clone(), b.1.clone()),
            api.invoke_with(c.0.clone(), c.1.clone()),
            api.invoke_with(d.0.clone(), d.1.clone()),
        );
        results.extend([a, b, c, d]);
    }

    assert_each_got_its_own(&calls, &results);
    assert_eq!(
        api.max_in_flight(),
        MAX_CONCURRENCY,
        "all four workers were busy at once"
    );
    assert_eq!(api.invocations_handed_out(), 2 * MAX_CONCURRENCY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_mode_hands_out_one_at_a_time_even_to_a_concurrent_runtime() {
    let api = RuntimeApi::start().await;
    assert_eq!(api.max_concurrency(), None);
    assert!(api
        .lambda_env()
        .iter()
        .all(|(name, _)| *name != "AWS_LAMBDA_MAX_CONCURRENCY"));
    let _env = LambdaEnv::acquire(&api, &[("AWS_LAMBDA_MAX_CONCURRENCY", Some("4"))]).await;
    let _function = FunctionRuntime::start(2, lambda_runtime::run_concurrent(service_fn(sleepy_echo)));

    let calls = calls("classic", 4);
    let results = api.invoke_many(calls.clone()).await;

    assert_each_got_its_own(&calls, &results);
    assert_eq!(api.max_in_flight(), 1, "Lambda (default) runs one invocation at a time");
    assert_eq!(most_overlapping(&results), 1);
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
}
