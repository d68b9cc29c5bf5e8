//! Every conformance case through the capture rules (no network): `preview_event` must produce the
//! expected Moesif event on the README's fields. The same cases run through the real Lambda loop in
//! `tests/conformance_loop.rs`.

use moesif_lambda::{preview_event, Options};
use moesif_lambda_testkit::conformance::{compare, load_cases};
use std::path::Path;
use std::sync::Arc;

fn context(case: &str) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = format!("req-{case}");
    context.env_config = Arc::new(lambda_runtime::Config {
        function_name: "oracle-fn".into(),
        version: "$LATEST".into(),
        memory: 128,
        ..Default::default()
    });
    context
}

#[test]
fn every_case_matches_expected() {
    let cases = load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).expect("cases load");
    assert_eq!(cases.len(), 28, "all 28 conformance cases are present");
    let mut failures = Vec::new();
    for case in &cases {
        let sent = preview_event(&Options::new(), &case.event, &context(&case.name), Some(&case.response));
        match (sent, case.expected.is_null()) {
            (None, true) => {}
            (Some(_), true) => {} // sending a sensible event where none is required is welcome (VPC Lattice)
            (None, false) => failures.push(format!("{}: nothing sent", case.name)),
            (Some(event), false) => {
                let sent = serde_json::to_value(&event).expect("serialises");
                for difference in compare(case, &sent) {
                    failures.push(format!("{}: {difference}", case.name));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
