//! What `#[moesif_logger]` adds to a handler's own time, in after-response mode: the handler with and
//! without the attribute, on a typical API Gateway v1 event. The flush (build, serialise, send) happens
//! after the response and is measured by the `capture` bench; here it runs between batches, untimed,
//! to the testkit's loopback collector. Run with `cargo bench --bench handler`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::{moesif_logger, MoesifRuntimeLayer, Options};
use moesif_lambda_testkit::conformance::load_cases;
use moesif_lambda_testkit::Collector;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The application id; the collector comes from `MOESIF_BASE_URI`, set to the loopback one.
const OPTIONS: Options = Options::new().application_id("bench-app");

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
    // The collector serves from its own runtime; the handler runs on a current-thread one, as on Lambda.
    let server = tokio::runtime::Runtime::new().expect("runtime");
    let collector = server.block_on(Collector::start());
    std::env::set_var("MOESIF_BASE_URI", collector.base_url());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // After-response delivery, as under `moesif_lambda::run` (outside Lambda no shutdown extension
    // registers: one warning).
    let _layer = runtime.block_on(MoesifRuntimeLayer::start());
    let context = lambda_runtime::Context::default();
    let event = || LambdaEvent::new(case.event.clone(), context.clone());
    let mut group = c.benchmark_group("handler_v1_event");
    group.bench_function("without_moesif_logger", |b| {
        b.iter_batched(event, |e| runtime.block_on(plain(e)), BatchSize::SmallInput)
    });
    group.bench_function("with_moesif_logger", |b| {
        b.iter_batched(
            || {
                runtime.block_on(moesif_lambda::flush(Duration::from_secs(5)));
                collector.forget_requests();
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
