//! Cold start of the two minimal functions: each run starts a fresh function process against a fresh
//! loopback Runtime API emulator and stand-in collector (`moesif-lambda-testkit`), as Lambda starts a
//! new sandbox, with one invocation (an API Gateway HTTP API event) already queued. Runs alternate
//! between the two functions (which goes first alternates too), so a slow phase of the machine hits both.
//!
//! ```sh
//! cold_start [--runs 12] [--collector-delay-ms 20] BARE_BINARY MOESIF_BINARY
//! ```
//!
//! `--collector-delay-ms`: the stand-in collector answers every request (the config's too) that much
//! later (default 0), as a collector some way off does: the sandbox's first send then shows its round
//! trips.
//!
//! Per function, medians over the runs (this process takes every timestamp; the emulator shares its
//! clock):
//!
//! - **init**: process spawn → the runtime's first `GET /runtime/invocation/next` (the moment the emulator
//!   hands out the queued invocation): what Lambda reports as `Init Duration`;
//! - **first response**: that invocation handed out → its response posted;
//! - **first billed**: handed out → the runtime asked for the next one after it (the moment Lambda stops
//!   billing): with `moesif_lambda::run` it includes the sandbox's first send until its events are
//!   written (the config's and the rules' round trips, then the events' write; here to the loopback
//!   collector over plain HTTP: no DNS, no TLS).
//!
//! The last line checks that the logged function's first invocation reached the collector.

use moesif_lambda_testkit::{http_api_event, Collector, InvokeOptions, RuntimeApi};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::process::{Command, Stdio};
use std::task::Poll;
use std::time::{Duration, Instant};

/// The longest any one run may take (start, invoke, go idle).
const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Samples {
    init: Vec<Duration>,
    response: Vec<Duration>,
    billed: Vec<Duration>,
    /// Runs whose first invocation's event reached the collector.
    logged: usize,
    /// The first send, step by step: response posted → `GET /v1/config` received → events `POST`
    /// received → the runtime's next `/next`.
    to_config: Vec<Duration>,
    to_events: Vec<Duration>,
    to_next: Vec<Duration>,
}

struct Run {
    init: Duration,
    response: Duration,
    billed: Duration,
    logged: bool,
    /// `(to_config, to_events, to_next)` when the collector got both requests.
    send: Option<(Duration, Duration, Duration)>,
}

/// One cold start of `binary`; `logs`: whether it sends the invocation's event (waited for).
async fn one_run(binary: &str, collector_delay: Duration, logs: bool) -> Result<Run, String> {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    collector.set_round_trip(collector_delay);
    let options = InvokeOptions {
        request_id: Some("cold-1".to_owned()),
        deadline: Duration::from_secs(3),
        timeout: WAIT,
    };
    // Queued before the process exists (the first poll queues it): handed out the moment the runtime
    // first asks.
    let mut invocation = pin!(api.invoke_with(http_api_event("GET", "/cold", None), options));
    let queued = poll_fn(|cx| Poll::Ready(invocation.as_mut().poll(cx))).await;
    let spawned_at = Instant::now();
    let mut child = Command::new(binary)
        .envs(api.lambda_env())
        .env("MOESIF_APPLICATION_ID", "cold-start-app")
        .env("MOESIF_BASE_URI", collector.base_url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot start {binary}: {error}"))?;
    let result = async {
        let answered = match queued {
            Poll::Ready(answered) => answered,
            Poll::Pending => invocation.await,
        };
        let invocation = answered.map_err(|error| format!("{binary}: {error}"))?;
        if !api.wait_until_idle(WAIT).await {
            return Err(format!("{binary}: the first invocation did not end"));
        }
        let finished = api
            .invocation_finished_at("cold-1")
            .ok_or_else(|| format!("{binary}: no end recorded"))?;
        // The events' answer may come after the loop went on (it waited for their write only).
        let logged = logs && !collector.wait_for_events_of("cold-1", WAIT).await.is_empty();
        let requests = collector.requests();
        let at = |path: &str| requests.iter().find(|r| r.path == path).map(|r| r.received_at);
        let send = at("/v1/config").zip(at("/v1/events/batch")).map(|(config, events)| {
            (
                config.saturating_duration_since(invocation.answered_at),
                events.saturating_duration_since(config),
                finished.saturating_duration_since(events),
            )
        });
        Ok(Run {
            send,
            init: invocation.handed_out_at.duration_since(spawned_at),
            response: invocation.latency(),
            billed: finished.duration_since(invocation.handed_out_at),
            logged,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 12;
    if let Some(at) = args.iter().position(|arg| arg == "--runs") {
        runs = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .ok_or("--runs takes a number")?;
        args.drain(at..at + 2);
    }
    let mut collector_delay = Duration::ZERO;
    if let Some(at) = args.iter().position(|arg| arg == "--collector-delay-ms") {
        collector_delay = args
            .get(at + 1)
            .and_then(|n| n.parse().ok())
            .map(Duration::from_millis)
            .ok_or("--collector-delay-ms takes a number")?;
        args.drain(at..at + 2);
    }
    let [bare, moesif] = <[String; 2]>::try_from(args)
        .map_err(|_| "usage: cold_start [--runs N] [--collector-delay-ms MS] BARE MOESIF")?;
    let binaries = [bare, moesif];
    let mut samples = [Samples::default(), Samples::default()];
    // One unmeasured run of each first: the binaries into the page cache.
    for (index, binary) in binaries.iter().enumerate() {
        one_run(binary, collector_delay, index == 1).await?;
    }
    for round in 0..runs {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let run = one_run(&binaries[index], collector_delay, index == 1).await?;
            let sample = &mut samples[index];
            sample.init.push(run.init);
            sample.response.push(run.response);
            sample.billed.push(run.billed);
            sample.logged += usize::from(run.logged);
            if let Some((config, events, next)) = run.send {
                sample.to_config.push(config);
                sample.to_events.push(events);
                sample.to_next.push(next);
            }
        }
    }
    let [mut bare, mut moesif] = samples;
    let rows = [
        ("init", median(&mut bare.init), median(&mut moesif.init)),
        (
            "first response",
            median(&mut bare.response),
            median(&mut moesif.response),
        ),
        ("first billed", median(&mut bare.billed), median(&mut moesif.billed)),
    ];
    println!(
        "cold start, median of {runs} runs each (alternating), collector answering after {} ms: bare | moesif | difference",
        collector_delay.as_millis()
    );
    for (name, bare, moesif) in rows {
        let difference = moesif.as_secs_f64() - bare.as_secs_f64();
        println!(
            "  {name:<15} {:>10} | {:>10} | {:+.2} ms",
            ms(bare),
            ms(moesif),
            difference * 1000.0
        );
    }
    println!(
        "  the first invocation's event reached the collector in {} of {runs} moesif runs",
        moesif.logged
    );
    if !moesif.to_config.is_empty() {
        println!(
            "  moesif's first send (medians): response posted -> GET /v1/config {} -> POST events {} -> next /next {}",
            ms(median(&mut moesif.to_config)),
            ms(median(&mut moesif.to_events)),
            ms(median(&mut moesif.to_next)),
        );
    }
    Ok(())
}
