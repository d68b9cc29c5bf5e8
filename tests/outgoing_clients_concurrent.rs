//! Outgoing calls with reqwest and hyper-util from several invocations in flight at once under
//! `moesif_lambda::run_concurrent` (its own test binary: the concurrent loop switches the process to
//! sending after the response): calls joined in a handler's task and spawned with `InvocationHandle`
//! are each tied to their own invocation's request id.

#[path = "support/clients.rs"]
mod clients;

use clients::{handler, http_event};
use lambda_runtime::service_fn;
use moesif_lambda_testkit::{Collector, FunctionRuntime, InvokeOptions, LambdaEnv, RuntimeApi, Upstream};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_of_several_invocations_in_flight_are_each_tied_to_their_own() {
    const INVOCATIONS: usize = 4;
    let collector = Collector::start().await;
    let upstream = Upstream::start().await;
    let api = RuntimeApi::start_concurrent(INVOCATIONS).await;
    let _env = LambdaEnv::acquire(&api, &[("MOESIF_BASE_URI", Some(&collector.base_url()))]).await;
    let _function = FunctionRuntime::start(2, moesif_lambda::run_concurrent(service_fn(handler)));
    let calls: Vec<(Value, InvokeOptions)> = (0..INVOCATIONS)
        .map(|n| {
            let options = InvokeOptions {
                request_id: Some(format!("cc-{n}")),
                timeout: Duration::from_secs(30),
                ..InvokeOptions::default()
            };
            (http_event(&upstream, "concurrent"), options)
        })
        .collect();
    for (n, result) in api.invoke_many(calls).await.iter().enumerate() {
        let answer = result.as_ref().ok().and_then(|invocation| invocation.response_json());
        let statuses = answer
            .and_then(|a| serde_json::from_str::<Value>(a["body"].as_str().unwrap_or_default()).ok())
            .unwrap_or_default();
        assert_eq!(statuses, json!([200, 200, 200, 200]), "cc-{n}");
    }
    assert!(api.max_in_flight() >= 2, "invocations overlapped");
    let events = collector
        .wait_for_events(5 * INVOCATIONS, Duration::from_secs(15))
        .await;
    let outgoing: Vec<&Value> = events.iter().filter(|e| e["direction"] == "Outgoing").collect();
    assert_eq!(outgoing.len(), 4 * INVOCATIONS, "{events:#?}");
    // Each call's URI carries the request id of the invocation that made it (as its query's name).
    let mut tied = BTreeSet::new();
    for event in outgoing {
        let uri = event["request"]["uri"].as_str().unwrap_or_default();
        let id = event["metadata"]["request_id"].as_str().unwrap_or_default();
        assert!(uri.contains(&format!("?{id}=")), "{uri} logged as {id}'s");
        tied.insert(uri.rsplit('=').next().unwrap_or_default().to_owned() + "@" + id);
    }
    assert_eq!(
        tied.len(),
        4 * INVOCATIONS,
        "joined and spawned calls of every invocation: {tied:?}"
    );
}
