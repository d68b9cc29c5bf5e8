//! Bad input never breaks capture: property tests over arbitrary JSON, mutated real events, huge headers,
//! binary and invalid base64 bodies, deep nesting and non-object events. Each property runs thousands of
//! cases (more than 10 000 inputs in all); every one must produce either no event or an event that
//! serialises to valid JSON, without a panic; through the annotated handler, the answer is unchanged.

use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::{moesif_logger, preview_event, Options};
use moesif_lambda_testkit::conformance::load_cases;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::Path;

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("GET"),
            Just("POST"),
            Just("2.0"),
            Just("1.0"),
            Just("/a b?c"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("httpMethod".to_owned()),
                        Just("headers".to_owned()),
                        Just("multiValueHeaders".to_owned()),
                        Just("body".to_owned()),
                        Just("isBase64Encoded".to_owned()),
                        Just("requestContext".to_owned()),
                        Just("version".to_owned()),
                        Just("statusCode".to_owned()),
                        Just("http".to_owned()),
                        Just("method".to_owned()),
                        Just("elb".to_owned()),
                        ".{0,12}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn check(options: &Options, event: &Value, answer: &Value) -> Result<(), TestCaseError> {
    let context = lambda_runtime::Context::default();
    if let Some(sent) = preview_event(options, event, &context, Some(answer)) {
        let bytes = serde_json::to_vec(&sent).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
        prop_assert!(parsed.is_ok(), "sent event is valid JSON");
    }
    Ok(())
}

fn real_events() -> &'static [Value] {
    static EVENTS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    EVENTS.get_or_init(|| {
        load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases"))
            .map(|cases| cases.into_iter().map(|case| case.event).collect())
            .unwrap_or_default()
    })
}

/// Replaces the value at one of the event's JSON paths (chosen by `pick`) with `replacement`.
fn mutate(event: &mut Value, pick: usize, replacement: Value) {
    let mut paths = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(path) = stack.pop() {
        if let Some(Value::Object(map)) = event.pointer(&path) {
            stack.extend(
                map.keys()
                    .map(|k| format!("{path}/{}", k.replace('~', "~0").replace('/', "~1"))),
            );
        }
        paths.push(path);
    }
    let path = &paths[pick % paths.len()];
    if let Some(slot) = event.pointer_mut(path) {
        *slot = replacement;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_events_and_answers(event in arbitrary_json(), answer in arbitrary_json()) {
        check(&Options::new(), &event, &answer)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_events(index in 0usize..64, pick in 0usize..10_000, replacement in arbitrary_json(), cut in 0usize..4000) {
        let events = real_events();
        let mut event = events[index % events.len()].clone();
        mutate(&mut event, pick, replacement);
        check(&Options::new(), &event, &json!({"statusCode": 200, "body": "ok"}))?;
        // Truncated JSON text of a real event: if it still parses, it must not break capture either.
        let text = events[index % events.len()].to_string();
        let cut = cut.min(text.len());
        if let Ok(truncated) = serde_json::from_str::<Value>(text.get(..cut).unwrap_or_default()) {
            check(&Options::new(), &truncated, &Value::Null)?;
        }
    }

    #[test]
    fn binary_and_invalid_base64_bodies(bytes in prop::collection::vec(any::<u8>(), 0..512), flag in any::<bool>(), text in ".{0,64}") {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
        for body in [encoded, text.clone(), format!("{text}===")] {
            let event = json!({"httpMethod": "POST", "path": "/", "headers": {"host": "h"}, "body": body, "isBase64Encoded": flag, "requestContext": {}});
            check(&Options::new(), &event, &json!({"statusCode": 200, "body": body, "isBase64Encoded": flag}))?;
        }
    }
}

const HANDLER_OPTIONS: Options = Options::new().application_id("fuzz-app").base_uri("http://127.0.0.1:9");

/// Echoes the event inside a fixed answer: what the caller gets must not depend on the middleware.
#[moesif_logger(options = HANDLER_OPTIONS)]
async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({"statusCode": 200, "echo": event.payload}))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Through the annotated handler (after-response delivery as under `run`, and nothing sends in
    /// this test, so no network; the bounded queue drops what overflows): never a panic, the answer
    /// unchanged, whatever the event.
    #[test]
    fn the_handler_answer_is_unchanged_for_any_event(event in arbitrary_json()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let _layer = runtime.block_on(moesif_lambda::MoesifRuntimeLayer::start());
        let answer = runtime.block_on(echo(LambdaEvent::new(event.clone(), lambda_runtime::Context::default())));
        prop_assert_eq!(answer.ok(), Some(json!({"statusCode": 200, "echo": event})));
    }
}

#[test]
fn huge_headers_and_deep_nesting() {
    let options = Options::new();
    let many: serde_json::Map<String, Value> = (0..5000).map(|i| (format!("h{i}"), json!("x".repeat(100)))).collect();
    let event = json!({"httpMethod": "GET", "path": "/", "headers": many, "requestContext": {}});
    let sent = preview_event(&options, &event, &lambda_runtime::Context::default(), None).expect("logged");
    assert!(
        sent.request.headers.as_object().is_some_and(|h| h.len() <= 101),
        "headers capped"
    );

    // As deep as serde_json lets a Lambda event arrive (its parser stops at 128 levels).
    let deep_text = format!("{}1{}", "[".repeat(120), "]".repeat(120));
    let event = json!({"httpMethod": "POST", "path": "/", "body": deep_text, "requestContext": {}});
    let sent = preview_event(
        &options,
        &event,
        &lambda_runtime::Context::default(),
        Some(&json!({"body": deep_text})),
    );
    assert!(sent.is_some_and(|e| serde_json::to_vec(&e).is_ok()));

    for not_an_object in [json!(null), json!(42), json!("GET /"), json!([1, 2]), json!(true)] {
        assert!(preview_event(&options, &not_an_object, &lambda_runtime::Context::default(), None).is_none());
    }
}
