//! What `#[moesif_logger]` adds to a handler's own time, in after-response mode: the handler with and
//! without the attribute, on a typical API Gateway v1 event. The flush (build, serialise, send) happens
//! after the response and is measured by the `capture` bench. Run with `cargo bench --bench handler`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::conformance::load_cases;
use serde_json::{json, Value};
use std::path::Path;

const OPTIONS: Options = Options::new()
    .application_id("bench-app")
    .base_uri("http://127.0.0.1:9");

fn answer() -> Value {
    json!({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"msg\": \"hi\"}"})
}

async fn plain(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = &event.payload;
    Ok(answer())
}

#[moesif_logger(options = OPTIONS)]
async fn logged(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = &event.payload;
    Ok(answer())
}

fn handler_overhead(c: &mut Criterion) {
    let cases = load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")).unwrap_or_default();
    let Some(case) = cases.iter().find(|case| case.name == "edge-v1-cognito-apikey--json") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    moesif_lambda::__private::enable_after_response_queue();
    let context = lambda_runtime::Context::default();
    let event = || LambdaEvent::new(case.event.clone(), context.clone());
    let mut group = c.benchmark_group("handler_v1_event");
    group.bench_function("without_moesif_logger", |b| {
        b.iter_batched(event, |e| runtime.block_on(plain(e)), BatchSize::SmallInput)
    });
    group.bench_function("with_moesif_logger", |b| {
        b.iter_batched(
            || {
                moesif_lambda::__private::drain_queue();
                event()
            },
            |e| runtime.block_on(logged(e)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, handler_overhead);
criterion_main!(benches);
