//! Capture + serialise: what the middleware spends per invocation to turn an event and an answer into
//! the Moesif event JSON (hooks: the defaults). Run with `cargo bench --bench capture`.

use criterion::{criterion_group, criterion_main, Criterion};
use moesif_lambda::{preview_event, Options};
use moesif_lambda_testkit::conformance::{load_cases, BENCHMARK_CASES};
use std::hint::black_box;
use std::path::Path;

fn capture(c: &mut Criterion) {
    let cases = load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).unwrap_or_default();
    let context = lambda_runtime::Context::default();
    let options = Options::new();
    let mut group = c.benchmark_group("capture_and_serialise");
    for name in BENCHMARK_CASES {
        let Some(case) = cases.iter().find(|case| case.name == name) else {
            continue;
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let event = preview_event(
                    &options,
                    black_box(&case.event),
                    &context,
                    Some(black_box(&case.response)),
                );
                event.as_ref().map_or(0, moesif_lambda::bench::serialised_len)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, capture);
criterion_main!(benches);
