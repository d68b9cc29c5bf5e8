//! The 28 conformance cases through the real `lambda_runtime` loop, synchronous delivery (plain
//! `lambda_runtime::run`): a loopback Runtime API emulator serves each `event.json`, the annotated
//! handler answers `response.json`, a stand-in collector receives the Moesif event. Asserts on the bytes
//! the collector received and on what the caller got back.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use moesif_lambda_testkit::conformance::{compare, load_cases, Case};
use moesif_lambda_testkit::{Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).expect("cases")
    })
}

fn responses() -> &'static HashMap<String, Value> {
    static RESPONSES: OnceLock<HashMap<String, Value>> = OnceLock::new();
    RESPONSES.get_or_init(|| {
        cases()
            .iter()
            .map(|c| (format!("req-{}", c.name), c.response.clone()))
            .collect()
    })
}

/// Answers each case's `response.json`, chosen by the request id the emulator gave the case.
#[moesif_logger]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    responses()
        .get(&event.context.request_id)
        .cloned()
        .ok_or_else(|| "unknown case".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_cases_through_the_real_loop() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    collector.set_required_app_id(Some("conformance-app"));
    let url = collector.base_url();
    let _env = LambdaEnv::acquire(
        &api,
        &[
            ("MOESIF_APPLICATION_ID", Some("conformance-app")),
            ("MOESIF_BASE_URI", Some(url.as_str())),
        ],
    )
    .await;
    let runtime = tokio::spawn(lambda_runtime::run(service_fn(handler)));

    let mut failures = Vec::new();
    for case in cases() {
        let before = collector.events().len();
        let options = InvokeOptions {
            request_id: Some(format!("req-{}", case.name)),
            ..InvokeOptions::default()
        };
        let invocation = api
            .invoke_with(case.event.clone(), options)
            .await
            .expect("the function answers");
        if invocation.response_json().as_ref() != Some(&case.response) {
            failures.push(format!("{}: the caller got {:?}", case.name, invocation.outcome));
        }
        // Synchronous mode: the event is on the collector before the invocation finished.
        let sent: Vec<Value> = collector.events().into_iter().skip(before).collect();
        match (sent.as_slice(), case.expected.is_null()) {
            ([], true) => {}
            ([_], true) => {} // an event where none is required (VPC Lattice) is welcome
            ([], false) => failures.push(format!("{}: nothing reached the collector", case.name)),
            ([event], false) => {
                failures.extend(compare(case, event).into_iter().map(|d| format!("{}: {d}", case.name)))
            }
            (many, _) => failures.push(format!("{}: {} events sent", case.name, many.len())),
        }
    }
    runtime.abort();

    for request in collector.requests() {
        assert_eq!(request.header("x-moesif-application-id"), Some("conformance-app"));
        assert!(request
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("moesif-lambda-rust/")));
        if request.method == "POST" {
            assert_eq!(request.path, "/v1/events/batch");
            assert_eq!(request.header("content-encoding"), Some("gzip"));
            assert_eq!(request.header("content-type"), Some("application/json"));
        } else {
            assert!(
                matches!(
                    (request.method.as_str(), request.path.as_str()),
                    ("GET", "/v1/config" | "/v1/rules")
                ),
                "{} {}",
                request.method,
                request.path
            );
        }
    }
    let sent = collector.events().len();
    assert!(sent >= 26, "26 cases expect an event, {sent} were received");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
