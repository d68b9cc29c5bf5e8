//! `benches/capture.rs` timed the way `benches/reference_python.py` times Moesif's Python middleware:
//! the median of single calls (capture + serialisation as the pipeline does it, default options, the same three
//! conformance cases, `Context::default()`), 3000 per event after 300 untimed ones.
//!
//! ```sh
//! cargo run --release --example capture_calls            # or: -- 10000 (calls per event)
//! cargo run --release --example capture_calls -- 3000 pt  # only the events whose name starts so
//! ```
//!
//! Why besides criterion: on a machine shared with other work, criterion's samples (means over
//! hundreds of iterations) take in every moment the process waited for a CPU, while a single call of
//! some 20 µs is rarely preempted, so the median of single calls is close to the CPU cost in both
//! languages. It writes the medians to `target/capture_calls.json`, where
//! `benches/reference_python.py` finds them.

use moesif_lambda::{preview_event, Options};
use moesif_lambda_testkit::conformance::{load_cases, BENCHMARK_CASES};
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

const WARM_UP: usize = 300;

fn main() -> Result<(), String> {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000)
        .max(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cases = load_cases(&root.join("tests/conformance/cases"))?;
    let context = lambda_runtime::Context::default();
    let options = Options::new();
    let mut medians = serde_json::Map::new();
    println!("median of {calls} single calls per event (wall clock)\n");
    println!("| event | capture + serialise | bytes |");
    println!("|---|---:|---:|");
    let only = std::env::args().nth(2).unwrap_or_default();
    for name in BENCHMARK_CASES.into_iter().filter(|name| name.starts_with(&only)) {
        let case = cases
            .iter()
            .find(|case| case.name == name)
            .ok_or_else(|| format!("no case {name}"))?;
        let call = || {
            let event = preview_event(
                &options,
                black_box(&case.event),
                &context,
                Some(black_box(&case.response)),
            );
            event.as_ref().map_or(0, moesif_lambda::bench::serialised_len)
        };
        let mut bytes = 0;
        for _ in 0..WARM_UP {
            bytes = black_box(call());
        }
        let mut samples: Vec<u64> = (0..calls)
            .map(|_| {
                let start = Instant::now();
                black_box(call());
                start.elapsed().as_nanos() as u64
            })
            .collect();
        samples.sort_unstable();
        let median = samples[samples.len() / 2];
        println!("| `{name}` | {:.2} µs | {bytes} |", median as f64 / 1000.0);
        medians.insert(
            name.to_owned(),
            serde_json::json!({"median_ns": median, "bytes": bytes}),
        );
    }
    if !only.is_empty() {
        return Ok(()); // a partial run leaves the figures benches/reference_python.py reads alone
    }
    let out = root.join("target/capture_calls.json");
    std::fs::write(&out, serde_json::Value::Object(medians).to_string())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    println!("\nwritten to {}", out.display());
    Ok(())
}
