//! Measurement harness: what `#[moesif_logger]` costs the API's caller, the Lambda bill, the collector
//! and memory, per configuration, against the real `lambda_runtime` loop, the loopback Runtime and
//! Extensions API emulator and the stand-in collector of `testkit/` (no AWS, 127.0.0.1 only).
//!
//! ```sh
//! cargo run --release --example latency             # 3 rounds; per round 500 warm invocations, 10 sparse, …
//! cargo run --release --example latency -- 2000     # 2000 warm invocations per configuration and round
//! cargo run --release --example latency -- 500 --rounds 1 --sparse 20 --memory 1000 --sync-hang 20 --only warm,sparse
//! cargo run --release --example latency -- 250 --rounds 12 --only plain,warm,down,hang  # the bar against plain
//! HARNESS_DUMP_DIR=/tmp/harness cargo run --release --example latency   # + a CSV per configuration and round
//! HARNESS_FUNCTION_WRAPPER="valgrind --tool=callgrind" cargo run --release --example latency -- 500 --rounds 1 --only plain
//! HARNESS_PIN=1 cargo run --release --example latency -- 250 --rounds 12 --only plain,paused,hang   # pinned
//! ```
//!
//! `paused` is a control with no library at all: plain `lambda_runtime::run` whose first invocation
//! takes 2 s, as the sandbox's first invocation waits its flush budget for a collector that hangs. On
//! a 2-core machine such a pause alone leaves the rest of the run slower (+57 to +72 µs billed against
//! plain in three runs), because of where the scheduler puts the two processes' threads afterwards.
//! `HARNESS_PIN=1` pins the function process to a CPU of its own (the last this process may use) and
//! this process to the others, as a sandbox has its vCPU while the Runtime API and the caller are
//! elsewhere; pinned, the same control measured +3 to +24 µs (DEVELOPMENT.md).
//!
//! Each configuration gets a fresh emulator and collector in this process and a fresh **function
//! process** (this binary with `--function KIND`: the handler under `lambda_runtime::run` or
//! `moesif_lambda::run`, nothing else), as on Lambda, where the Runtime API lives outside the sandbox.
//! This process invokes it and takes every timestamp (emulator and collector share one clock). At the
//! end it writes `flush <ms>` to the function's stdin: the function runs `moesif_lambda::flush` (so
//! nothing stays queued when the collector answers), reports its peak RSS and exits. Rounds run every
//! configuration once in turn (every other round in reverse order), so slow phases of a shared
//! machine hit all of them and a drift within a round falls on plain as often as on the others;
//! samples are pooled over rounds. Per configuration:
//!
//! - caller p50/p99: `answered_at - handed_out_at` (the runtime got the event → it posted the answer);
//! - billed p50/p99: `invocation_finished_at(id) - handed_out_at`: until the runtime asked for its next
//!   event after answering AND every `INVOKE` extension did too, when Lambda stops billing the sandbox;
//! - POSTs/event: `POST /v1/events…` requests the collector received / events it accepted;
//! - peak RSS: `VmHWM` of the function process (`/proc/self/status`) after the final flush.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda::moesif_logger;
use moesif_lambda_testkit::{Behaviour, Collector, InvokeOptions, RuntimeApi};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Which function runs, and under which loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    /// No `#[moesif_logger]`, plain `lambda_runtime::run`: no extension at all.
    Plain,
    /// No `#[moesif_logger]`, `moesif_lambda::run`: the runtime layer and the shutdown extension (no
    /// events) are there, and never have an event to send (no handler logs): the cost of `run` alone.
    Baseline,
    /// `#[moesif_logger]` under `moesif_lambda::run`: events sent after the response, when due.
    AfterResponse,
    /// `#[moesif_logger]` under plain `lambda_runtime::run`: events sent before each answer.
    Synchronous,
    /// [`Function::Plain`] whose first invocation takes [`PAUSE`]: a control for what a pause of the
    /// sandbox does to the invocations after it, with no library at all (a hanging collector makes
    /// the sandbox's first invocation wait the flush budget, the same 2 s).
    PlainPaused,
}

impl Function {
    const ALL: [Function; 5] = [
        Function::Plain,
        Function::Baseline,
        Function::AfterResponse,
        Function::Synchronous,
        Function::PlainPaused,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::Plain => "plain",
            Function::Baseline => "baseline",
            Function::AfterResponse => "after-response",
            Function::Synchronous => "synchronous",
            Function::PlainPaused => "plain-paused",
        }
    }

    fn logs(self) -> bool {
        matches!(self, Function::AfterResponse | Function::Synchronous)
    }
}

/// How the stand-in collector behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CollectorKind {
    /// Answers every POST after 20 ms (`HARNESS_COLLECTOR_DELAY_MS` to change).
    Answers,
    /// Nothing listens: connections are refused.
    Refused,
    /// Answers every POST 503 at once.
    Unavailable,
    /// Never answers a POST (`GET /v1/config` still answers).
    Hangs,
}

/// Which command-line count a configuration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Count {
    Warm,
    Sparse,
    Memory,
    SyncHang,
}

struct Configuration {
    name: &'static str,
    description: &'static str,
    function: Function,
    collector: CollectorKind,
    count: Count,
    /// From one invocation being queued to the next (zero: back to back, the next is queued the moment
    /// the previous one is answered and handed out as soon as the sandbox is free again).
    gap: Duration,
    /// The invocation's deadline, from the moment it is queued.
    deadline: Duration,
    /// Size of the request body (`0`: the sample API Gateway REST event as is).
    body_bytes: usize,
}

#[allow(clippy::too_many_arguments)]
const fn configuration(
    name: &'static str,
    description: &'static str,
    function: Function,
    collector: CollectorKind,
    count: Count,
    gap_ms: u64,
    deadline_ms: u64,
    body_bytes: usize,
) -> Configuration {
    Configuration {
        name,
        description,
        function,
        collector,
        count,
        gap: Duration::from_millis(gap_ms),
        deadline: Duration::from_millis(deadline_ms),
        body_bytes,
    }
}

use CollectorKind::{Answers, Hangs, Refused, Unavailable};
use Count::{Memory, Sparse, SyncHang, Warm};
use Function::{AfterResponse, Baseline, Plain, PlainPaused, Synchronous};

#[rustfmt::skip]
const CONFIGURATIONS: [Configuration; 13] = [
    //            name               description                                                                  function       collector    count     gap  deadline body
    configuration("plain",           "no macro, `lambda_runtime::run`, no extension (reference)",                 Plain,         Answers,     Warm,     0,   3000,    0),
    configuration("baseline",        "**baseline**: no macro, `moesif_lambda::run` (nothing to send), warm",       Baseline,      Answers,     Warm,     0,   3000,    0),
    configuration("warm",            "(a) warm: back to back, collector 20 ms",                                   AfterResponse, Answers,     Warm,     0,   3000,    0),
    configuration("baseline-sparse", "baseline, sparse: 600 ms apart",                                            Baseline,      Answers,     Sparse,   600, 3000,    0),
    configuration("sparse",          "(b) sparse: 600 ms apart, collector 20 ms",                                 AfterResponse, Answers,     Sparse,   600, 3000,    0),
    configuration("down",            "(c) collector down (connection refused), warm",                             AfterResponse, Refused,     Warm,     0,   3000,    0),
    configuration("503",             "(c) collector answers 503, warm",                                           AfterResponse, Unavailable, Warm,     0,   3000,    0),
    configuration("hang",            "(d) collector hangs, warm",                                                 AfterResponse, Hangs,       Warm,     0,   3000,    0),
    configuration("sync",            "synchronous (`lambda_runtime::run` + macro), warm, collector 20 ms",        Synchronous,   Answers,     Warm,     0,   3000,    0),
    configuration("sync-hang",       "synchronous, collector hangs, deadline 1.5 s, 250 ms apart",                Synchronous,   Hangs,       SyncHang, 250, 1500,    0),
    configuration("baseline-memory", "baseline, 200 KB request bodies, warm",                                     Baseline,      Refused,     Memory,   0,   3000,    200_000),
    configuration("memory",          "(e) 200 KB request bodies, collector down, warm",                           AfterResponse, Refused,     Memory,   0,   3000,    200_000),
    configuration("paused",          "control: no macro, `lambda_runtime::run`, its first invocation 2 s long",   PlainPaused,   Answers,     Warm,     0,   3000,    0),
];

/// How long [`Function::PlainPaused`]'s first invocation takes: the default flush budget, what the
/// sandbox's first invocation waits for a collector that never answers.
const PAUSE: Duration = Duration::from_secs(2);

/// The longest any one wait may take: for the function process to start, for the emulator to go idle,
/// for the function's final report.
const WAIT: Duration = Duration::from_secs(10);
/// Invocations at the start of each run left out of the comparison with plain `lambda_runtime::run`
/// (the sandbox's first, connection set-up).
const WARM_UP: usize = 10;
/// What the function's final flush may take when the collector answers.
const FINAL_FLUSH: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------------
// The function process.

fn answer() -> Value {
    json!({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{\"ok\":true}"})
}

async fn plain(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

/// Default options: what a user gets (request timeout 5 s, flush budget 2 s, batches of 50, …).
#[moesif_logger]
async fn logged(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let _ = event.payload;
    Ok(answer())
}

/// `VmHWM` (peak resident set) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The function process: runs the handler's loop until its stdin says `flush <ms>` (or closes), then
/// flushes within that budget, prints `REPORT {json}` and exits.
fn function_process(function: Function) -> Result<(), Error> {
    if let Some(cpu) = std::env::var("HARNESS_FUNCTION_CPU")
        .ok()
        .and_then(|cpu| cpu.parse().ok())
    {
        cpus::pin_to(&[cpu]);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let _loop = match function {
            Plain => tokio::spawn(lambda_runtime::run(service_fn(plain))),
            Baseline => tokio::spawn(moesif_lambda::run(service_fn(plain))),
            AfterResponse => tokio::spawn(moesif_lambda::run(service_fn(logged))),
            Synchronous => tokio::spawn(lambda_runtime::run(service_fn(logged))),
            PlainPaused => {
                let first = std::sync::atomic::AtomicBool::new(true);
                tokio::spawn(lambda_runtime::run(service_fn(move |event| {
                    let pause = first.swap(false, std::sync::atomic::Ordering::Relaxed);
                    async move {
                        if pause {
                            // `HARNESS_PAUSE_MS=0`: no pause, the control is then plain against plain.
                            let pause = std::env::var("HARNESS_PAUSE_MS").ok().and_then(|ms| ms.parse().ok());
                            tokio::time::sleep(pause.map_or(PAUSE, Duration::from_millis)).await;
                        }
                        plain(event).await
                    }
                })))
            }
        };
        let (lines, mut commands) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        // One command at most; the parent's end of stdin closing ends the process too.
        let budget = commands
            .recv()
            .await
            .and_then(|line| line.strip_prefix("flush ")?.trim().parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis);
        let report = if budget.is_zero() {
            moesif_lambda::FlushReport::default()
        } else {
            moesif_lambda::flush(budget).await
        };
        println!(
            "REPORT {}",
            json!({"sent": report.sent, "requeued": report.requeued, "peak_rss_kib": peak_rss_kib()})
        );
        let _ = std::io::stdout().flush();
    });
    // Do not wait for the runtime's tasks (a send hung on the collector, the extension's long poll).
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------------------
// The harness.

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// The sample REST API event, with a `body_bytes` JSON body when asked.
fn event(body_bytes: usize) -> Result<Value, Error> {
    let mut event: Value = serde_json::from_str(include_str!("events/apigw-rest.json"))?;
    if body_bytes > 0 {
        let filler = "x".repeat(body_bytes.saturating_sub(12));
        event["body"] = Value::String(json!({ "data": filler }).to_string());
        event["httpMethod"] = json!("POST");
        event["headers"]["Content-Type"] = json!("application/json");
    }
    Ok(event)
}

/// The function process, killed when dropped (if it has not exited by then).
struct FunctionProcess {
    child: Child,
    /// Its stdout, line by line.
    lines: mpsc::UnboundedReceiver<String>,
    /// Its stderr, all of it once it ends.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl FunctionProcess {
    /// `cpu`: the one CPU the function runs on, if pinned.
    fn start(
        function: Function,
        api: &RuntimeApi,
        collector_url: &str,
        cpu: Option<usize>,
    ) -> Result<FunctionProcess, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        // `HARNESS_FUNCTION_WRAPPER="valgrind --tool=callgrind"` runs the function under a profiler.
        let wrapper = std::env::var("HARNESS_FUNCTION_WRAPPER").unwrap_or_default();
        let mut command = match wrapper.split_whitespace().collect::<Vec<_>>().split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        if let Some(cpu) = cpu {
            command.env("HARNESS_FUNCTION_CPU", cpu.to_string());
        }
        let mut child = command
            .args(["--function", function.name()])
            .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
            .envs(api.lambda_env())
            .env("MOESIF_APPLICATION_ID", "harness-app")
            .env("MOESIF_BASE_URI", collector_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the function: {e}"))?;
        // Both pipes are read on threads of their own, so the function never blocks on a full pipe.
        let (sender, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take();
        std::thread::spawn(move || {
            if let Some(stdout) = stdout {
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            }
        });
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
                text
            })
        });
        Ok(FunctionProcess { child, lines, stderr })
    }

    /// Asks for the final flush (within `budget`) and waits for the report.
    async fn finish(&mut self, budget: Duration) -> Result<Value, String> {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "flush {}", budget.as_millis());
            let _ = stdin.flush();
        }
        let report = tokio::time::timeout(budget + WAIT, async {
            while let Some(line) = self.lines.recv().await {
                if let Some(json) = line.strip_prefix("REPORT ") {
                    return serde_json::from_str::<Value>(json).ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        report.ok_or_else(|| {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let stderr = self.stderr.take().and_then(|t| t.join().ok()).unwrap_or_default();
            format!("no report from the function: {}", stderr.trim().replace('\n', " "))
        })
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One invocation as the harness saw it.
struct Run {
    request_id: String,
    queued_at: Instant,
    handed_out_at: Instant,
    answered_at: Instant,
}

/// What one or more runs of a configuration measured (raw samples, pooled over rounds).
#[derive(Default)]
struct Measured {
    rounds: usize,
    invocations: usize,
    failures: usize,
    unfinished: usize,
    /// `answered_at - handed_out_at`.
    caller: Vec<Duration>,
    /// `invocation_finished_at - handed_out_at`.
    billed: Vec<Duration>,
    /// Caller p50 of each round (to show the spread between processes).
    caller_p50_per_round: Vec<Duration>,
    /// Per round, the caller and billed p50 without the run's first [`WARM_UP`] invocations: what the
    /// comparison with plain `lambda_runtime::run` takes, round by round.
    warm_p50s: Vec<(Duration, Duration)>,
    /// `answered_at` → arrival at the collector of the first POST carrying the invocation's event.
    lag: Vec<Duration>,
    /// Every request the collector received (config fetches included).
    requests: usize,
    posts: usize,
    events: usize,
    deadline_misses: usize,
    /// Smallest `deadline - answered_at`.
    closest_to_deadline: Option<Duration>,
    extensions: usize,
    final_flush_sent: usize,
    final_flush_requeued: usize,
    peak_rss_kib: u64,
}

impl Measured {
    fn merge(&mut self, round: Measured) {
        self.rounds += round.rounds;
        self.invocations += round.invocations;
        self.failures += round.failures;
        self.unfinished += round.unfinished;
        self.caller.extend(round.caller);
        self.billed.extend(round.billed);
        self.caller_p50_per_round.extend(round.caller_p50_per_round);
        self.warm_p50s.extend(round.warm_p50s);
        self.lag.extend(round.lag);
        self.requests += round.requests;
        self.posts += round.posts;
        self.events += round.events;
        self.deadline_misses += round.deadline_misses;
        self.closest_to_deadline = match (self.closest_to_deadline, round.closest_to_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.extensions = self.extensions.max(round.extensions);
        self.final_flush_sent += round.final_flush_sent;
        self.final_flush_requeued += round.final_flush_requeued;
        self.peak_rss_kib = self.peak_rss_kib.max(round.peak_rss_kib);
    }
}

/// One round of one configuration: fresh emulator, collector and function process.
async fn measure(
    configuration: &Configuration,
    count: usize,
    round: usize,
    function_cpu: Option<usize>,
) -> Result<Measured, String> {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let delay = ms(std::env::var("HARNESS_COLLECTOR_DELAY_MS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(20));
    collector.set_default_behaviour(Some(match configuration.collector {
        Answers | Refused => Behaviour::Delay(delay),
        Unavailable => Behaviour::Status(503),
        Hangs => Behaviour::Hang,
    }));
    let url = match configuration.collector {
        Refused => Collector::closed_port_url(),
        _ => collector.base_url(),
    };
    let mut function = FunctionProcess::start(configuration.function, &api, &url, function_cpu)?;
    let event = event(configuration.body_bytes).map_err(|e| e.to_string())?;
    let options = InvokeOptions {
        deadline: configuration.deadline,
        ..InvokeOptions::default()
    };

    let mut runs = Vec::with_capacity(count);
    let mut failures = 0;
    for _ in 0..count {
        let queued_at = Instant::now();
        match api.invoke_with(event.clone(), options.clone()).await {
            Ok(invocation) => runs.push(Run {
                request_id: invocation.request_id,
                queued_at,
                handed_out_at: invocation.handed_out_at,
                answered_at: invocation.answered_at,
            }),
            Err(_) => failures += 1,
        }
        if !configuration.gap.is_zero() {
            api.wait_until_idle(WAIT).await;
            tokio::time::sleep_until((queued_at + configuration.gap).into()).await;
        }
    }
    api.wait_until_idle(WAIT).await;
    // Everything still queued goes now. A collector that does not answer gets no final flush: nothing
    // could arrive, and a hanging one would only hold the harness for the request timeout.
    let budget = if configuration.collector == Answers {
        FINAL_FLUSH
    } else {
        Duration::ZERO
    };
    let report = function.finish(budget).await?;
    drop(function);

    let caller_of = |runs: &[Run]| {
        let mut caller: Vec<Duration> = runs.iter().map(|r| r.answered_at - r.handed_out_at).collect();
        caller.sort();
        caller
    };
    let billed_of = |runs: &[Run]| {
        let mut billed: Vec<Duration> = runs
            .iter()
            .filter_map(|r| {
                Some(
                    api.invocation_finished_at(&r.request_id)?
                        .saturating_duration_since(r.handed_out_at),
                )
            })
            .collect();
        billed.sort();
        billed
    };
    let caller = caller_of(&runs);
    let billed = billed_of(&runs);
    let warm_runs = runs.get(WARM_UP.min(runs.len())..).unwrap_or_default();
    let warm_p50s = vec![(
        percentile(&caller_of(warm_runs), 0.5),
        percentile(&billed_of(warm_runs), 0.5),
    )];
    let finished: Vec<Option<Instant>> = runs.iter().map(|r| api.invocation_finished_at(&r.request_id)).collect();

    let requests = collector.requests();
    let posts: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.starts_with("/v1/events"))
        .collect();
    // When the first POST carrying each invocation's event arrived (`metadata.trace_id` is its request
    // id in the default metadata).
    let mut arrived: HashMap<&str, Instant> = HashMap::new();
    for post in &posts {
        let batch = match &post.json {
            Some(Value::Array(batch)) => batch.iter().collect(),
            Some(single) => vec![single],
            None => Vec::new(),
        };
        for event in batch {
            if let Some(id) = event.pointer("/metadata/trace_id").and_then(Value::as_str) {
                arrived.entry(id).or_insert(post.received_at);
            }
        }
    }
    let lag = runs
        .iter()
        .filter_map(|r| {
            Some(
                arrived
                    .get(r.request_id.as_str())?
                    .saturating_duration_since(r.answered_at),
            )
        })
        .collect();

    if let Ok(dir) = std::env::var("HARNESS_DUMP_DIR") {
        let origin = runs.first().map_or_else(Instant::now, |r| r.handed_out_at);
        let since = |at: Option<Instant>| {
            at.map_or(String::new(), |at| {
                micros(at.saturating_duration_since(origin)).to_string()
            })
        };
        let mut csv = String::from("request_id,handed_out_us,answered_us,finished_us,at_collector_us\n");
        for (run, finished) in runs.iter().zip(&finished) {
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                run.request_id,
                since(Some(run.handed_out_at)),
                since(Some(run.answered_at)),
                since(*finished),
                since(arrived.get(run.request_id.as_str()).copied()),
            ));
        }
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(format!("{dir}/{}-{round}.csv", configuration.name), csv);
    }

    Ok(Measured {
        rounds: 1,
        invocations: runs.len(),
        failures,
        unfinished: finished.iter().filter(|f| f.is_none()).count(),
        caller_p50_per_round: vec![percentile(&caller, 0.5)],
        warm_p50s,
        caller,
        billed,
        lag,
        requests: requests.len(),
        posts: posts.len(),
        events: collector.events().len(),
        // Answers against their deadline (less 1 ms: the emulator's deadline is in whole milliseconds).
        deadline_misses: runs
            .iter()
            .filter(|r| r.answered_at >= r.queued_at + configuration.deadline - ms(1))
            .count(),
        closest_to_deadline: runs
            .iter()
            .map(|r| (r.queued_at + configuration.deadline).saturating_duration_since(r.answered_at))
            .min(),
        extensions: api.registered_extensions().len(),
        final_flush_sent: number(&report, "sent") as usize,
        final_flush_requeued: number(&report, "requeued") as usize,
        peak_rss_kib: number(&report, "peak_rss_kib"),
    })
}

/// A duration in the unit that reads best.
fn show(d: Duration) -> String {
    let us = micros(d);
    if us < 10_000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} s", us as f64 / 1_000_000.0)
    }
}

fn number(value: &Value, key: &str) -> u64 {
    value[key].as_u64().unwrap_or(0)
}

/// The table row of one configuration.
fn row(configuration: &Configuration, measured: &mut Measured) -> String {
    measured.caller.sort();
    measured.billed.sort();
    measured.lag.sort();
    let (posts, events) = (measured.posts, measured.events);
    let per_event = match (events, configuration.collector) {
        (0, _) if !configuration.function.logs() => format!("– (no events; {} collector requests)", measured.requests),
        (0, Refused) => "– (nothing listening)".to_owned(),
        (0, _) => format!("– ({posts} POSTs, 0 events accepted)"),
        _ => format!("{:.3} ({posts}/{events})", posts as f64 / events as f64),
    };
    let mut notes = vec![format!(
        "n={} over {} round{} (caller p50 per round: {})",
        measured.invocations,
        measured.rounds,
        if measured.rounds == 1 { "" } else { "s" },
        measured
            .caller_p50_per_round
            .iter()
            .map(|d| micros(*d).to_string())
            .collect::<Vec<_>>()
            .join("/")
            + " µs"
    )];
    for (count, what) in [
        (measured.failures, "invocations failed"),
        (measured.unfinished, "never finished"),
    ] {
        if count > 0 {
            notes.push(format!("**{count} {what}**"));
        }
    }
    notes.push(match measured.extensions {
        0 => "no extension".to_owned(),
        n => format!("{n} extension"),
    });
    notes.push(format!(
        "billed > 1 ms: {}, max {}",
        measured.billed.iter().filter(|b| **b > ms(1)).count(),
        show(measured.billed.last().copied().unwrap_or_default())
    ));
    if configuration.count == Sparse && configuration.function.logs() {
        notes.push(format!(
            "answer → its POST at the collector: p50 {}, p99 {}, max {} ({} events)",
            show(percentile(&measured.lag, 0.5)),
            show(percentile(&measured.lag, 0.99)),
            show(measured.lag.last().copied().unwrap_or_default()),
            measured.lag.len(),
        ));
    }
    if configuration.function == Synchronous {
        notes.push(format!(
            "{} before the {} deadline (closest: {} before)",
            match measured.deadline_misses {
                0 => "every answer".to_owned(),
                misses => format!("**{misses} answers not**"),
            },
            show(configuration.deadline),
            show(measured.closest_to_deadline.unwrap_or_default()),
        ));
    }
    if configuration.collector == Answers && configuration.function.logs() {
        notes.push(format!(
            "final flush sent {}, left {}",
            measured.final_flush_sent, measured.final_flush_requeued
        ));
    }
    format!(
        "| {} | {} | {} | {} | {} | {} | {:.1} MB | {} |",
        configuration.description,
        show(percentile(&measured.caller, 0.5)),
        show(percentile(&measured.caller, 0.99)),
        show(percentile(&measured.billed, 0.5)),
        show(percentile(&measured.billed, 0.99)),
        per_event,
        measured.peak_rss_kib as f64 * 1024.0 / 1e6,
        notes.join("; "),
    )
}

/// Command-line counts.
struct Counts {
    rounds: usize,
    warm: usize,
    sparse: usize,
    memory: usize,
    sync_hang: usize,
}

impl Counts {
    fn of(&self, count: Count) -> usize {
        match count {
            Warm => self.warm,
            Sparse => self.sparse,
            Memory => self.memory,
            SyncHang => self.sync_hang,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Against plain `lambda_runtime::run` (the `plain` configuration), round by round: the difference of
/// the p50s (the first [`WARM_UP`] invocations of each run left out), and the median over the rounds.
fn print_versus_plain(selected: &[&Configuration], measured: &[Result<Measured, String>]) {
    let Some(plain) = selected
        .iter()
        .zip(measured)
        .find_map(|(c, m)| (c.function == Plain).then_some(m.as_ref().ok()).flatten())
    else {
        return;
    };
    println!("\nAgainst plain `lambda_runtime::run`, per round the difference of the p50s (first {WARM_UP} of each run left out), median over rounds:\n");
    println!("| configuration | caller p50 − plain | billed p50 − plain | per round (caller / billed, µs) |");
    println!("| --- | --- | --- | --- |");
    for (configuration, measured) in selected.iter().zip(measured) {
        let Ok(measured) = measured else { continue };
        if configuration.function == Plain || configuration.count != Warm {
            continue;
        }
        let differences: Vec<(f64, f64)> = measured
            .warm_p50s
            .iter()
            .zip(&plain.warm_p50s)
            .map(|((caller, billed), (plain_caller, plain_billed))| {
                let us = |d: &Duration| d.as_secs_f64() * 1e6;
                (us(caller) - us(plain_caller), us(billed) - us(plain_billed))
            })
            .collect();
        let mut callers: Vec<f64> = differences.iter().map(|d| d.0).collect();
        let mut billeds: Vec<f64> = differences.iter().map(|d| d.1).collect();
        let rounds = differences
            .iter()
            .map(|(c, b)| format!("{c:+.0}/{b:+.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {} | {:+.0} µs | {:+.0} µs | {rounds} |",
            configuration.description,
            median(&mut callers),
            median(&mut billeds)
        );
    }
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--function") {
        let name = args.get(1).map(String::as_str).unwrap_or_default();
        let Some(function) = Function::ALL.into_iter().find(|f| f.name() == name) else {
            return Err(format!("unknown function {name}").into());
        };
        return function_process(function);
    }

    let mut counts = Counts {
        rounds: 3,
        warm: 500,
        sparse: 10,
        memory: 1000,
        sync_hang: 10,
    };
    let mut only: Option<Vec<String>> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<usize>().ok());
        match arg.as_str() {
            "--rounds" => counts.rounds = value().unwrap_or(counts.rounds).max(1),
            "--sparse" => counts.sparse = value().unwrap_or(counts.sparse),
            "--memory" => counts.memory = value().unwrap_or(counts.memory),
            "--sync-hang" => counts.sync_hang = value().unwrap_or(counts.sync_hang),
            "--only" => only = args.next().map(|list| list.split(',').map(str::to_owned).collect()),
            warm => counts.warm = warm.parse().unwrap_or(counts.warm),
        }
    }
    let selected: Vec<&Configuration> = CONFIGURATIONS
        .iter()
        .filter(|c| only.as_ref().is_none_or(|only| only.iter().any(|o| o == c.name)))
        .collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "rounds: {} (every configuration once per round, in turn, every other round in reverse); per configuration and round: {} warm \
         invocations, {} sparse, {} memory, {} synchronous hanging; {cores} cores",
        counts.rounds, counts.warm, counts.sparse, counts.memory, counts.sync_hang
    );
    // `HARNESS_PIN=1`: the function on a CPU of its own, as a sandbox has its vCPU; this process
    // (emulator, collector, the caller's clock) on the others.
    let function_cpu = match std::env::var("HARNESS_PIN").as_deref() {
        Ok("1") => cpus::split(),
        _ => None,
    };
    match function_cpu {
        Some(cpu) => println!("the function pinned to CPU {cpu}, the harness to the other CPUs"),
        None => println!("not pinned: the function and the harness share the CPUs (HARNESS_PIN=1 to pin)"),
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = Instant::now();
    let mut measured: Vec<Result<Measured, String>> = selected.iter().map(|_| Ok(Measured::default())).collect();
    for round in 0..counts.rounds {
        // Every other round in reverse order: what drifts during a round (the machine, this process's
        // leftovers) then falls on plain as often as on the others.
        let mut order: Vec<_> = selected.iter().zip(measured.iter_mut()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for (configuration, total) in order {
            let Ok(sum) = total else { continue };
            match runtime.block_on(measure(
                configuration,
                counts.of(configuration.count),
                round,
                function_cpu,
            )) {
                Ok(one) => sum.merge(one),
                Err(why) => *total = Err(why),
            }
        }
    }
    println!("(took {:.0} s)\n", started.elapsed().as_secs_f64());
    println!("| configuration | caller p50 | caller p99 | billed p50 | billed p99 | POSTs/event | peak RSS | notes |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (configuration, total) in selected.iter().zip(measured.iter_mut()) {
        match total {
            Ok(total) => println!("{}", row(configuration, total)),
            Err(why) => println!("| {} | failed: {why} | | | | | | |", configuration.description),
        }
    }
    print_versus_plain(&selected, &measured);
    // The emulators' and collectors' tasks (a hanging collector's connections) are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// CPU affinity (Linux; elsewhere nothing is pinned).
mod cpus {
    /// Pins this process (the calling thread, and every thread it starts from now on) to `cpus`.
    #[cfg(target_os = "linux")]
    pub fn pin_to(cpus: &[usize]) -> bool {
        // SAFETY: `set` is a plain bit set, zeroed and filled by libc's own helpers, and
        // `sched_setaffinity` only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in cpus {
                libc::CPU_SET(cpu, &mut set);
            }
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn pin_to(_cpus: &[usize]) -> bool {
        false
    }

    /// The CPUs this process may run on.
    #[cfg(target_os = "linux")]
    fn allowed() -> Vec<usize> {
        // SAFETY: as in `pin_to`; `sched_getaffinity` writes into `set`.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn allowed() -> Vec<usize> {
        Vec::new()
    }

    /// With two CPUs or more: pins this process to all but the last, and gives the last to the function.
    pub fn split() -> Option<usize> {
        let mut cpus = allowed();
        let function = cpus.pop()?;
        (!cpus.is_empty() && pin_to(&cpus)).then_some(function)
    }
}
