//! Throughput under Lambda Managed Instances: `moesif_lambda::run_concurrent` with 64 invocations in
//! flight against plain `lambda_runtime::run_concurrent`, same handler (with and without
//! `#[moesif_logger]`), through the real concurrent loop against the testkit's emulator in concurrent mode
//! and the stand-in collector (127.0.0.1 only, no AWS). Method and figures: DEVELOPMENT.md, "Managed
//! Instances throughput".
//!
//! ```sh
//! cargo run --release --example throughput                        # 4 rounds, 5000 invocations per configuration and round
//! cargo run --release --example throughput -- 2000 --rounds 6 --delay-ms 20 --threads 2 --order plain,bigqueue
//! ```
//!
//! Configurations (`--order`, default all three): `plain`; `moesif` (`#[moesif_logger]`, default
//! options); `bigqueue` (the same with `queue_capacity(20_000, 64 MiB)` and its own application id, so
//! its own queue: the default queue of 1000 events overflows at these rates).
//!
//! One process: the emulator (`RuntimeApi::start_concurrent(64)`) and the collector (answering every
//! POST after `--delay-ms`, default 20 ms) run on a 2-thread "harness" runtime; each round starts a
//! fresh emulator and a fresh `FunctionRuntime` per configuration (`--threads` worker threads, default
//! 2: the function runs on a runtime of its own, and dropping it stops the `/next` loops
//! `run_concurrent` spawned). One collector serves the whole run (a handler's options and transport are
//! set up once per process, as on a warm instance). Each round runs every configuration once, starting
//! one further along the order each round. Per configuration and round: 256 untimed warm-up
//! invocations (logging ones: until their events arrived), then N invocations queued at once
//! (`invoke_many`), of which 64 are in flight at any time. It measures:
//!
//! - inv/s: N / (first queued → last answered);
//! - latency mean / p50 / p99: hand-out → answer, per invocation, as the emulator saw it (with 64 in
//!   flight on 2 cores this is mostly waiting for a CPU);
//! - CPU µs/inv: CPU time (`/proc/self/task/*/schedstat`) of the function's threads (the function
//!   runtime's workers, and the `moesif-delivery` thread) from the first queued invocation until the
//!   last answer (plain) or the round's last event reached the collector (logging), per invocation;
//!   "delivery" is the part of it on the delivery thread; "CPU wait" is the time those threads were
//!   ready to run and waited for a CPU; "harness CPU" is the emulator's and collector's;
//! - events/s (logging): events of the round / (first queued → the round's last event received by the
//!   collector); every round waits until all its events arrived (or none came for 3 s, at most 60 s)
//!   before the next starts, and counts the ones that never came; the run ends with
//!   `moesif_lambda::flush` and a check, by request id, of one event per logging invocation (warm-ups
//!   included). It fails if an event came twice or one of the big-queue configuration never came.
//!
//! On a machine shared with other work (2 cores when this was written), where the emulator and
//! collector share the cores with the function, figures are noisy: read the ratios to plain of rounds
//! run side by side (medians of the per-round ratios are printed), the CPU one first.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use moesif_lambda_testkit::{Behaviour, Collector, FunctionRuntime, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Invocations in flight at once (`AWS_LAMBDA_MAX_CONCURRENCY`).
const CONCURRENCY: usize = 64;
/// Untimed invocations at the start of every round.
const WARM_UP: usize = 256;
/// The longest a round waits for its answers or its events.
const WAIT: Duration = Duration::from_secs(60);

fn answer() -> Value {
    json!({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"ok\":true}"})
}

async fn plain(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

/// Default options: what a user gets.
#[moesif_logger]
async fn logged(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

/// The queue bound of [`logged_big_queue`]: room for what 64 concurrent invocations produce between
/// two looks of the background sender.
const BIG_QUEUE: usize = 20_000;

/// The same with a queue of [`BIG_QUEUE`] events (and 64 MiB), under its own application id (so its
/// own queue).
fn big_queue() -> Options {
    Options::new()
        .application_id("throughput-big-queue")
        .queue_capacity(BIG_QUEUE, 64 * 1024 * 1024)
}

#[moesif_logger(options = big_queue)]
async fn logged_big_queue(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Moesif,
    BigQueue,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Plain, Kind::Moesif, Kind::BigQueue];

    fn name(self) -> &'static str {
        match self {
            Kind::Plain => "plain `lambda_runtime::run_concurrent`",
            Kind::Moesif => "moesif, default options",
            Kind::BigQueue => "moesif, `queue_capacity(20_000, 64 MiB)`",
        }
    }

    /// Short name, also the prefix of its request ids.
    fn tag(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Moesif => "moesif",
            Kind::BigQueue => "bigqueue",
        }
    }

    fn logs(self) -> bool {
        self != Kind::Plain
    }
}

/// CPU time and run-queue wait (ns) per thread, from `/proc/self/task/<tid>/schedstat`.
#[derive(Default)]
struct ThreadTimes(HashMap<u32, (String, u64, u64)>);

fn thread_times() -> ThreadTimes {
    let mut times = ThreadTimes::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return times;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0));
        let (cpu, wait) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
        times.0.insert(tid, (comm.trim().to_owned(), cpu, wait));
    }
    times
}

/// What threads spent between two snapshots.
#[derive(Default)]
struct Spent {
    /// CPU time of the function's threads (its runtime's workers and the delivery thread).
    cpu: Duration,
    /// Of it, on the `moesif-delivery` thread.
    delivery: Duration,
    /// Time the function's threads were ready to run and waited for a CPU.
    wait: Duration,
    /// CPU time of the harness (emulator and collector).
    harness: Duration,
}

fn spent(start: &ThreadTimes, end: &ThreadTimes) -> Spent {
    let (mut cpu, mut delivery, mut wait, mut harness) = (0, 0, 0, 0);
    for (tid, (comm, end_cpu, end_wait)) in &end.0 {
        let (start_cpu, start_wait) = start.0.get(tid).map_or((0, 0), |(_, c, w)| (*c, *w));
        let used = end_cpu.saturating_sub(start_cpu);
        // `comm` is cut at 15 bytes: "function-runtime" reads "function-runtim".
        let is_delivery = comm == "moesif-delivery";
        if comm.starts_with("harness") {
            harness += used;
        } else if comm.starts_with("function-run") || is_delivery {
            cpu += used;
            wait += end_wait.saturating_sub(start_wait);
            if is_delivery {
                delivery += used;
            }
        }
    }
    Spent {
        cpu: Duration::from_nanos(cpu),
        delivery: Duration::from_nanos(delivery),
        wait: Duration::from_nanos(wait),
        harness: Duration::from_nanos(harness),
    }
}

/// One round of one configuration.
struct Round {
    kind: Kind,
    invocations: usize,
    /// First queued → last answered.
    wall: Duration,
    /// Hand-out → answer, sorted.
    latencies: Vec<Duration>,
    spent: Spent,
    /// Logging configurations: the round's events the collector accepted, and first queued → the last
    /// one received.
    delivered: Option<(usize, Duration)>,
    /// Logging configurations: last answered → the round's last event received.
    lag: Option<Duration>,
    /// Logging configurations: the round's events (warm-up included) that never arrived.
    lost: Option<usize>,
}

impl Round {
    fn per_second(&self) -> f64 {
        self.invocations as f64 / self.wall.as_secs_f64()
    }
    fn mean(&self) -> Duration {
        self.latencies.iter().sum::<Duration>() / self.latencies.len().max(1) as u32
    }
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(index).copied().unwrap_or_default()
    }
    fn per_invocation(&self, total: Duration) -> f64 {
        total.as_secs_f64() * 1e6 / self.invocations.max(1) as f64
    }
    /// CPU µs of the function's threads per invocation.
    fn cpu(&self) -> f64 {
        self.per_invocation(self.spent.cpu)
    }
    fn events_per_second(&self) -> Option<f64> {
        self.delivered.map(|(events, span)| events as f64 / span.as_secs_f64())
    }
}

fn calls(prefix: &str, count: usize, event: &Value) -> Vec<(Value, InvokeOptions)> {
    (0..count)
        .map(|n| {
            let options = InvokeOptions {
                request_id: Some(format!("{prefix}-{n}")),
                deadline: Duration::from_secs(120),
                timeout: WAIT,
            };
            (event.clone(), options)
        })
        .collect()
}

/// Events accepted from `POST /v1/events…` requests received at or after `since`, and when the last
/// of those arrived.
fn events_since(collector: &Collector, since: Instant) -> (usize, Option<Instant>) {
    let mut events = 0;
    let mut last = None;
    for request in collector.requests() {
        let accepted = request.status.is_some_and(|s| (200..300).contains(&s));
        if request.method != "POST" || !accepted || request.received_at < since {
            continue;
        }
        let count = match (request.path.as_str(), &request.json) {
            ("/v1/events", Some(_)) => 1,
            ("/v1/events/batch", Some(Value::Array(batch))) => batch.len(),
            _ => continue,
        };
        events += count;
        last = last.max(Some(request.received_at));
    }
    (events, last)
}

/// Waits until the collector holds `expected` events, or until no new one came for [`QUIET`] (the
/// background sender sends within about a second: what has not come by then was dropped), at most
/// [`WAIT`]. How many it holds.
async fn settle(collector: &Collector, expected: usize) -> usize {
    let start = Instant::now();
    let (mut seen, mut since) = (usize::MAX, Instant::now());
    loop {
        let got = collector
            .wait_for_event_count(expected, Duration::from_millis(250))
            .await;
        if got >= expected || start.elapsed() >= WAIT {
            return got;
        }
        if got != seen {
            (seen, since) = (got, Instant::now());
        } else if since.elapsed() >= QUIET {
            return got;
        }
    }
}

/// How long no new event may come before [`settle`] stops waiting.
const QUIET: Duration = Duration::from_secs(3);

struct Setup<'a> {
    collector: &'a Collector,
    event: &'a Value,
    invocations: usize,
    threads: usize,
}

/// One round: a fresh emulator and function runtime, warm-up, then the measured invocations.
async fn round(setup: &Setup<'_>, kind: Kind, index: usize) -> Result<Round, String> {
    let collector = setup.collector;
    let api = RuntimeApi::start_concurrent(CONCURRENCY).await;
    let url = collector.base_url();
    let env = LambdaEnv::acquire(
        &api,
        &[
            ("MOESIF_BASE_URI", Some(&url)),
            ("MOESIF_APPLICATION_ID", Some("throughput-app")),
        ],
    )
    .await;
    let threads = setup.threads;
    let function = match kind {
        Kind::Plain => FunctionRuntime::start(threads, lambda_runtime::run_concurrent(service_fn(plain))),
        Kind::Moesif => FunctionRuntime::start(threads, moesif_lambda::run_concurrent(service_fn(logged))),
        Kind::BigQueue => FunctionRuntime::start(threads, moesif_lambda::run_concurrent(service_fn(logged_big_queue))),
    };
    let tag = kind.tag();

    let start_count = collector.event_count();
    let warm = api
        .invoke_many(calls(&format!("{tag}{index}-warm"), WARM_UP, setup.event))
        .await;
    if warm.iter().any(Result::is_err) {
        return Err(format!("round {index} {tag}: a warm-up invocation was not answered"));
    }
    if kind.logs() {
        settle(collector, start_count + WARM_UP).await;
    }

    let batch = calls(&format!("{tag}{index}"), setup.invocations, setup.event);
    let before = thread_times();
    let warm_count = collector.event_count();
    let queued = Instant::now();
    let results = api.invoke_many(batch).await;
    let mut after = thread_times();
    let mut latencies = Vec::with_capacity(results.len());
    let mut last_answer = queued;
    for result in &results {
        let invocation = result.as_ref().map_err(|e| format!("round {index} {tag}: {e}"))?;
        if invocation.response_json() != Some(answer()) {
            return Err(format!(
                "round {index} {tag}: {} got another answer",
                invocation.request_id
            ));
        }
        latencies.push(invocation.latency());
        last_answer = last_answer.max(invocation.answered_at);
    }
    latencies.sort();

    let (mut delivered, mut lag, mut lost) = (None, None, None);
    if kind.logs() {
        let got = settle(collector, warm_count + setup.invocations).await;
        after = thread_times();
        let (events, last) = events_since(collector, queued);
        lost = Some((start_count + WARM_UP + setup.invocations).saturating_sub(got));
        if let Some(last) = last {
            delivered = Some((events, last.saturating_duration_since(queued)));
            lag = Some(last.saturating_duration_since(last_answer));
        }
    }
    let spent = spent(&before, &after);
    drop(function);
    drop(env);
    drop(api);
    Ok(Round {
        kind,
        invocations: setup.invocations,
        wall: last_answer.saturating_duration_since(queued),
        latencies,
        spent,
        delivered,
        lag,
        lost,
    })
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_rounds(rounds: &[(usize, Round)]) {
    println!(
        "| round | configuration | inv/s | wall | latency mean | p50 | p99 | CPU µs/inv (of it delivery) | CPU wait µs/inv | harness CPU µs/inv | events/s delivered | last event after last answer | events lost |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (index, r) in rounds {
        println!(
            "| {index} | {} | {:.0} | {:.0} ms | {} | {} | {} | {:.1} ({:.1}) | {:.1} | {:.1} | {} | {} | {} |",
            r.kind.name(),
            r.per_second(),
            r.wall.as_secs_f64() * 1e3,
            us(r.mean()),
            us(r.percentile(0.5)),
            us(r.percentile(0.99)),
            r.cpu(),
            r.per_invocation(r.spent.delivery),
            r.per_invocation(r.spent.wait),
            r.per_invocation(r.spent.harness),
            r.events_per_second().map_or("–".to_owned(), |e| format!("{e:.0}")),
            r.lag
                .map_or("–".to_owned(), |l| format!("{:.0} ms", l.as_secs_f64() * 1e3)),
            r.lost.map_or("–".to_owned(), |l| l.to_string()),
        );
    }
}

type Metric<'a> = &'a dyn Fn(&Round) -> f64;

fn print_summary(rounds: &[(usize, Round)]) {
    let of = |kind: Kind, value: Metric| -> f64 {
        median(
            rounds
                .iter()
                .filter(|(_, r)| r.kind == kind)
                .map(|(_, r)| value(r))
                .collect(),
        )
    };
    // Per round, `kind` / plain; then the median of those ratios.
    let ratio = |kind: Kind, value: Metric| -> f64 {
        let mut by_index: BTreeMap<usize, (Option<f64>, Option<f64>)> = BTreeMap::new();
        for (index, r) in rounds {
            let entry = by_index.entry(*index).or_default();
            if r.kind == Kind::Plain {
                entry.0 = Some(value(r));
            } else if r.kind == kind {
                entry.1 = Some(value(r));
            }
        }
        median(
            by_index
                .values()
                .filter_map(|(plain, logged)| Some(logged.as_ref()? / plain.as_ref()?))
                .collect(),
        )
    };
    let metrics: [(&str, Metric, &str); 6] = [
        ("invocations/s", &|r| r.per_second(), ""),
        ("wall per invocation (1 / inv/s)", &|r| 1e6 / r.per_second(), " µs"),
        ("latency mean", &|r| r.mean().as_secs_f64() * 1e6, " µs"),
        ("latency p50", &|r| r.percentile(0.5).as_secs_f64() * 1e6, " µs"),
        ("CPU per invocation (function's threads)", &|r| r.cpu(), " µs"),
        (
            "harness CPU per invocation (emulator, collector)",
            &|r| r.per_invocation(r.spent.harness),
            " µs",
        ),
    ];
    println!(
        "| median over rounds | {} | {} | {} | {} / plain | {} / plain |",
        Kind::Plain.name(),
        Kind::Moesif.name(),
        Kind::BigQueue.name(),
        Kind::Moesif.tag(),
        Kind::BigQueue.tag()
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, value, unit) in metrics {
        println!(
            "| {name} | {:.1}{unit} | {:.1}{unit} | {:.1}{unit} | {:.3} | {:.3} |",
            of(Kind::Plain, value),
            of(Kind::Moesif, value),
            of(Kind::BigQueue, value),
            ratio(Kind::Moesif, value),
            ratio(Kind::BigQueue, value)
        );
    }
    let events: Metric = &|r| r.events_per_second().unwrap_or(f64::NAN);
    let delivery: Metric = &|r| r.per_invocation(r.spent.delivery);
    let lost: Metric = &|r| r.lost.unwrap_or(0) as f64;
    println!(
        "| events delivered/s | – | {:.0} | {:.0} | | |",
        of(Kind::Moesif, events),
        of(Kind::BigQueue, events)
    );
    println!(
        "| of the CPU: delivery thread | – | {:.1} µs | {:.1} µs | | |",
        of(Kind::Moesif, delivery),
        of(Kind::BigQueue, delivery)
    );
    println!(
        "| events lost per round | – | {:.0} | {:.0} | | |",
        of(Kind::Moesif, lost),
        of(Kind::BigQueue, lost)
    );
}

/// Per logging configuration: the events the collector got, how many of its invocations have none,
/// and how many request ids came more than once.
fn check_events(collector: &Collector, kind: Kind, rounds: usize, invocations: usize) -> (usize, usize, usize) {
    let tag = kind.tag();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for id in collector.event_request_ids() {
        // "moesif3-17", "moesif3-warm-17": the tag, then the round number.
        let ours = id
            .strip_prefix(tag)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
        if ours {
            *seen.entry(id).or_default() += 1;
        }
    }
    let mut missing = 0;
    for index in 1..=rounds {
        let warm = (0..WARM_UP).map(|n| format!("{tag}{index}-warm-{n}"));
        let timed = (0..invocations).map(|n| format!("{tag}{index}-{n}"));
        missing += warm.chain(timed).filter(|id| !seen.contains_key(id)).count();
    }
    let duplicated = seen.values().filter(|n| **n > 1).count();
    (seen.values().sum(), missing, duplicated)
}

async fn harness(
    invocations: usize,
    rounds: usize,
    delay: Duration,
    threads: usize,
    order: Vec<Kind>,
) -> Result<(), Error> {
    let collector = Collector::start().await;
    collector.set_default_behaviour(Some(Behaviour::Delay(delay)));
    let event: Value = serde_json::from_str(include_str!("events/apigw-rest.json"))?;
    let setup = Setup {
        collector: &collector,
        event: &event,
        invocations,
        threads,
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "{rounds} rounds of {} (each round starting one further along), {invocations} invocations each after \
         {WARM_UP} warm-up ones, {CONCURRENCY} in flight, function runtime {threads} threads, collector delay {} \
         ms, {cores} cores, load average at start {}\n",
        order.iter().map(|kind| kind.tag()).collect::<Vec<_>>().join(", "),
        delay.as_millis(),
        load_average()
    );
    let mut measured = Vec::new();
    for index in 1..=rounds {
        // Each round starts one further along the order, so no configuration always comes first.
        let mut turn = order.clone();
        turn.rotate_left((index - 1) % order.len());
        for kind in turn {
            let r = round(&setup, kind, index).await?;
            eprintln!(
                "round {index} {}: {:.0} inv/s, p50 {}, CPU {:.1} µs/inv, lost {:?}",
                r.kind.name(),
                r.per_second(),
                us(r.percentile(0.5)),
                r.cpu(),
                r.lost
            );
            measured.push((index, r));
        }
    }

    let report = moesif_lambda::flush(Duration::from_secs(5)).await;
    let (mut json_bytes, mut gzip_bytes, mut posted) = (0, 0, 0);
    for request in collector.requests() {
        if request.method == "POST" && request.path.starts_with("/v1/events") {
            json_bytes += request.body.len();
            gzip_bytes += request.raw_body.len();
            posted += 1;
        }
    }
    let total = collector.event_count().max(1);

    print_rounds(&measured);
    println!();
    print_summary(&measured);
    println!(
        "\nfinal `moesif_lambda::flush`: sent {}, requeued {}; the collector got {total} events in {posted} POSTs, \
         {} bytes of JSON ({} gzipped) per event; load average at end {}",
        report.sent,
        report.requeued,
        json_bytes / total,
        gzip_bytes / total,
        load_average()
    );
    let mut complete = true;
    for kind in order.iter().copied().filter(|kind| kind.logs()) {
        let (got, missing, duplicated) = check_events(&collector, kind, rounds, invocations);
        let expected = rounds * (WARM_UP + invocations);
        println!(
            "- {}: {got} events for {expected} invocations: {missing} missing, {duplicated} request ids more than once",
            kind.name()
        );
        complete &= duplicated == 0 && (kind != Kind::BigQueue || missing == 0);
    }
    if !complete {
        return Err("an event came twice, or one of the big-queue configuration never came".into());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut invocations = 5000;
    let mut rounds = 4;
    let mut delay_ms = 20;
    let mut threads = 2;
    let mut order = Kind::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<usize>().ok());
        match arg.as_str() {
            "--rounds" => rounds = value().unwrap_or(rounds).max(1),
            "--delay-ms" => delay_ms = value().unwrap_or(delay_ms),
            "--threads" => threads = value().unwrap_or(threads).max(1),
            "--order" => {
                let names = args.next().unwrap_or_default();
                order = names
                    .split(',')
                    .filter_map(|name| Kind::ALL.into_iter().find(|kind| kind.tag() == name))
                    .collect();
                if order.is_empty() {
                    return Err(format!("--order {names}: a list of plain, moesif, bigqueue").into());
                }
            }
            count => invocations = count.parse().unwrap_or(invocations).max(1),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("harness")
        .enable_all()
        .build()?;
    runtime.block_on(harness(
        invocations,
        rounds,
        Duration::from_millis(delay_ms as u64),
        threads,
        order,
    ))
}
