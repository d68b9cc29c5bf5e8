//! Governance on the caller's path: what reading an event and evaluating the app's rules costs a
//! request, with 50 rules none of which matches (the goal: at most 2 µs), and with no rule (the
//! library skips governance entirely then: nothing to measure but the check). Run with
//! `cargo bench --bench governance`.

use criterion::{criterion_group, criterion_main, Criterion};
use moesif_lambda::bench::GovernanceBench;
use moesif_lambda_testkit::conformance::{load_cases, BENCHMARK_CASES};
use serde_json::{json, Value};
use std::hint::black_box;
use std::path::Path;

/// 50 rules of the kinds Moesif apps define, none of which matches the benchmark's requests: routes,
/// verbs, IP ranges, headers (plain text and regexes), and user and company rules (no user or company
/// id is identified here, and they do not apply to the unidentified).
fn fifty_rules() -> Value {
    let rules: Vec<Value> = (0..50)
        .map(|i| {
            let (kind, path, value) = match i % 5 {
                0 => ("regex", "request.route", json!(format!("^/internal/v{i}/"))),
                1 => (
                    "regex",
                    "request.headers.user-agent",
                    json!(format!("(?i)bot-{i}|crawler{i}")),
                ),
                2 => (
                    "regex",
                    "request.ip_address",
                    json!(format!("^10\\.{i}\\.\\d+\\.\\d+$")),
                ),
                3 => ("user", "request.verb", json!("^(DELETE|PATCH)$")),
                _ => ("company", "request.route", json!(format!("/billing/{i}"))),
            };
            json!({"_id": format!("rule-{i}"), "type": kind, "block": i % 2 == 0,
                   "regex_config": [{"conditions": [{"path": path, "value": value}]}],
                   "response": {"status": 429, "headers": {"X-Rule": format!("rule-{i}")},
                                "body": {"error": "{{message|blocked}}"}}})
        })
        .collect();
    Value::Array(rules)
}

fn governance(c: &mut Criterion) {
    let cases = load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).unwrap_or_default();
    let Some(fifty) = GovernanceBench::new(&fifty_rules()) else {
        return;
    };
    let Some(none) = GovernanceBench::new(&json!([])) else {
        return;
    };
    let mut group = c.benchmark_group("governance");
    for name in BENCHMARK_CASES {
        let Some(case) = cases.iter().find(|case| case.name == name) else {
            continue;
        };
        assert!(!fifty.applies(&case.event), "no rule matches {name}");
        group.bench_function(format!("50_rules_no_match/{name}"), |b| {
            b.iter(|| fifty.applies(black_box(&case.event)))
        });
        group.bench_function(format!("no_rules/{name}"), |b| {
            b.iter(|| none.applies(black_box(&case.event)))
        });
    }
    group.finish();
}

criterion_group!(benches, governance);
criterion_main!(benches);
