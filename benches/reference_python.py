"""Capture cost of Moesif's Python Lambda middleware, the reference this crate is measured against.

Times `MoesifLogger({'LOG_BODY': True})(handler)(event, context)` (PyPI `moesif_aws_lambda` 1.2.3, on
`moesifapi` 1.5.5) on the events `benches/capture.rs` uses (conformance cases
`edge-v1-cognito-apikey--json`, `rr-example-apigw-v2-request-iam--json`, `pt-albEvent--json`: REST v1
with Cognito identity and API key, HTTP API v2 with IAM, ALB), the handler answering the case's
`response.json`. Median of 3000 timed calls per event (after 300 untimed ones).

How to run (from the repository root; no network is used after the install)::

    python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install moesif_aws_lambda==1.2.3
    cargo bench --bench capture -- --warm-up-time 1 --measurement-time 3   # Rust, criterion
    cargo run --release --example capture_calls                            # Rust, timed like this script
    /tmp/refvenv/bin/python benches/reference_python.py                   # Python, and the ratios

Method and figures: DEVELOPMENT.md, "Capture against the Python reference".

Options: `--calls N` (default 3000), `--criterion DIR` (default `target/criterion`: where
`cargo bench --bench capture` left its estimates), `--per-call FILE` (default
`target/capture_calls.json`, what `examples/capture_calls.rs` wrote); the ratio columns are printed
for the figures that are there.

What is measured, per event, three ways:

- `noop`: the middleware with `api_client.create_event` replaced by a no-op: what it spends building
  the event model (request/response parsing, identity, sampling), without serialising or posting it;
- `serialise`: the same, the stub also doing what the real `create_event` does before posting,
  `APIHelper.json_serialize(body)` (the JSON text; the real one gzips it too): the like of the Rust
  bench, which measures capture *and* `serde_json::to_vec`;
- `bare`: the handler alone, unwrapped (the cost of the call itself, for scale).

Each is timed by the wall clock (`time.perf_counter_ns`, the figure compared) and, in a second
series, by the thread's CPU time (`time.thread_time_ns`): on a loaded machine a single call of ~50 µs
is rarely preempted, so the median of single calls stays near the CPU time, whereas criterion's
samples (means over many iterations) take every preemption in: compare with criterion on a quiet
machine, else with `examples/capture_calls.rs` (Rust timed the same way as here).

The context stub mirrors the Rust bench's `lambda_runtime::Context::default()`: empty request id,
function name and version, so neither middleware builds the default metadata (it needs a request id
and a function name) nor an `api_version`.

No network: `socket.socket.connect`/`connect_ex`, `socket.create_connection` and
`socket.getaddrinfo` are replaced by functions that record the attempt and raise *before* the package
is imported; the application id is a dummy; the config fetch the package runs at import
(`moesif_aws_lambda.global_variable` calls `AppConfig.get_config` on a `requests` client) is replaced
by a stub config answering `sample_rate: 100`. The script fails if any connection was attempted, if
the package started a thread, or if the middleware did not hand one event model per call to the stub.
"""

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

CASES = [
    "edge-v1-cognito-apikey--json",
    "rr-example-apigw-v2-request-iam--json",
    "pt-albEvent--json",
]
WARM_UP = 300

# --- No network, before anything of the package is imported. -------------------------------------

NETWORK_ATTEMPTS = []


def _refuse(name):
    def refuse(*args, **kwargs):
        NETWORK_ATTEMPTS.append((name, repr(args[1:] if name.startswith("socket.") else args)[:120]))
        raise OSError(f"benchmark: no network ({name})")

    return refuse


socket.socket.connect = _refuse("socket.connect")
socket.socket.connect_ex = _refuse("socket.connect_ex")
socket.create_connection = _refuse("create_connection")
socket.getaddrinfo = _refuse("getaddrinfo")

os.environ["MOESIF_APPLICATION_ID"] = "benchmark-dummy-application-id"


class StubConfig:
    """What `get_app_config` answers: the middleware reads `raw_body` (JSON) on every call."""

    def __init__(self):
        self.raw_body = json.dumps({"sample_rate": 100, "user_sample_rate": {}, "company_sample_rate": {}, "regex_config": []})
        self.headers = {"X-Moesif-Config-ETag": "etag-1"}
        self.status_code = 200


from moesifapi.app_config.app_config import AppConfig  # noqa: E402

AppConfig.get_config = lambda self, api_client, debug: StubConfig()

threads_before = set(threading.enumerate())
_stdout = sys.stdout
sys.stdout = sys.stderr  # the package prints "[moesif] start init - config" at import
try:
    from moesif_aws_lambda.middleware import MoesifLogger  # noqa: E402
    from moesif_aws_lambda import global_variable as gv  # noqa: E402
    from moesifapi.api_helper import APIHelper  # noqa: E402
finally:
    sys.stdout = _stdout


class Sink:
    """Replaces `api_client.create_event`; counts what it is handed."""

    def __init__(self):
        self.events = 0
        self.serialise = False
        self.last = None

    def create_event(self, body):
        self.events += 1
        if self.serialise:
            self.last = APIHelper.json_serialize(body)
        return None


SINK = Sink()
gv.api_client.create_event = SINK.create_event  # the one client the middleware module holds


class Context:
    """`lambda_runtime::Context::default()` as Python's Lambda context."""

    aws_request_id = ""
    function_name = ""
    function_version = ""
    invoked_function_arn = ""
    memory_limit_in_mb = "128"
    log_group_name = ""
    log_stream_name = ""

    @staticmethod
    def get_remaining_time_in_millis():
        return 3000


def median_ns(call, event, context, calls, clock=time.perf_counter_ns):
    """Median of `calls` timed calls (after WARM_UP untimed ones), by `clock`."""
    for _ in range(WARM_UP):
        call(event, context)
    samples = []
    for _ in range(calls):
        start = clock()
        call(event, context)
        samples.append(clock() - start)
    return statistics.median(samples)


def criterion_median_ns(directory, name):
    path = Path(directory) / "capture_and_serialise" / name / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--criterion", default="target/criterion")
    parser.add_argument("--per-call", default="target/capture_calls.json")
    parser.add_argument("--cases", default="tests/conformance/cases")
    args = parser.parse_args()

    try:
        per_call = json.loads(Path(args.per_call).read_text())
    except (OSError, ValueError):
        per_call = {}
    context = Context()
    rows = []
    for name in CASES:
        folder = Path(args.cases) / name
        event = json.loads((folder / "event.json").read_text())
        answer = json.loads((folder / "response.json").read_text())

        def handler(event, context, answer=answer):
            return answer

        logged = MoesifLogger({"LOG_BODY": True})(handler)
        before = SINK.events
        if logged(event, context) != answer:
            sys.exit(f"{name}: the middleware changed the answer")
        if SINK.events != before + 1:
            sys.exit(f"{name}: the middleware did not build an event (check the case and the stubs)")

        SINK.serialise = False
        counted = SINK.events
        noop = median_ns(logged, event, context, args.calls)
        if SINK.events - counted != WARM_UP + args.calls:
            sys.exit(f"{name}: {SINK.events - counted} events for {WARM_UP + args.calls} calls")
        noop_cpu = median_ns(logged, event, context, args.calls, time.thread_time_ns)
        SINK.serialise = True
        serialise = median_ns(logged, event, context, args.calls)
        serialise_cpu = median_ns(logged, event, context, args.calls, time.thread_time_ns)
        SINK.serialise = False
        bare = median_ns(handler, event, context, args.calls)
        rust = criterion_median_ns(args.criterion, name)
        single = per_call.get(name, {})
        rows.append((name, noop, noop_cpu, serialise, serialise_cpu, bare, rust, single.get("median_ns"),
                     len(SINK.last), single.get("bytes")))

    if NETWORK_ATTEMPTS:
        sys.exit(f"network was attempted: {NETWORK_ATTEMPTS}")
    started = [t.name for t in set(threading.enumerate()) - threads_before]
    if started:
        sys.exit(f"the package started threads: {started}")

    print(f"Python {sys.version.split()[0]}, moesif_aws_lambda 1.2.3, median of {args.calls} calls per event "
          f"(wall clock; CPU: the thread's CPU time per call); no connection attempted, no thread started\n")
    print("| event | Python, create_event a no-op | (CPU) | Python, + json_serialize | (CPU) | bare handler "
          "| Rust capture + serialise: criterion median | median of single calls | Python no-op / Rust "
          "| Python + serialise / Rust | JSON bytes Python / Rust |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    us = lambda ns: f"{ns / 1000:.1f} µs" if ns else "(not run)"
    ratio = lambda a, b: f"{a / b:.2f}" if b else "–"
    for name, noop, noop_cpu, serialise, serialise_cpu, bare, rust, single, size, rust_size in rows:
        print(f"| `{name}` | {us(noop)} | {us(noop_cpu)} | {us(serialise)} | {us(serialise_cpu)} | {us(bare)} "
              f"| {us(rust)} | {us(single)} | {ratio(noop, rust)} / {ratio(noop, single)} "
              f"| {ratio(serialise, rust)} / {ratio(serialise, single)} | {size} / {rust_size or '–'} |")
    print("\nRatios: against criterion's median / against the median of single calls.")


if __name__ == "__main__":
    main()
