#!/usr/bin/env bash
# Binary size and cold start of a minimal function with and without moesif-lambda.
#
#   benches/size.sh                 # sizes, then the cold start (12 runs each)
#   benches/size.sh --runs 40       # more cold-start runs
#   benches/size.sh --collector-delay-ms 20  # the stand-in collector answers 20 ms late (round trips show)
#   benches/size.sh --no-cold-start # sizes only
#   benches/size.sh --bloat         # also `cargo bloat --crates` of the logged function (needs cargo-bloat)
#   benches/size.sh --check         # exit 1 when the logged function is more than 3 MiB over the bare one
#
# Builds the two functions of benches/size/ (their own workspace: a user's dependencies, none of the
# suite's) with `cargo build --release`, one package at a time so that neither gets the other's
# features, strips copies (`strip`, as `cargo lambda build --release` leaves symbols in), prints their
# sizes and the difference; then runs benches/size/cold_start against both. Target dir: target/size
# (or $CARGO_TARGET_DIR).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
workspace="$repo/benches/size"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/size}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
budget=$((3 * 1024 * 1024))

runs=12
collector_delay=0
cold_start=1
bloat=0
check=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --collector-delay-ms) collector_delay="$2"; shift 2 ;;
        --no-cold-start) cold_start=0; shift ;;
        --bloat) bloat=1; shift ;;
        --check) check=1; shift ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

out="$CARGO_TARGET_DIR/stripped"
mkdir -p "$out"
for function in minimal_bare minimal_moesif; do
    echo "== cargo build --release -p $function" >&2
    cargo build --quiet --release --manifest-path "$workspace/Cargo.toml" -p "$function"
    strip -o "$out/$function" "$CARGO_TARGET_DIR/release/$function"
done

bytes() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }
bare=$(bytes "$out/minimal_bare")
moesif=$(bytes "$out/minimal_moesif")
difference=$((moesif - bare))

echo
echo "binary size (release, stripped)"
printf '  %-16s %10d bytes  %s\n' "bare" "$bare" "$(mib "$bare")"
printf '  %-16s %10d bytes  %s\n' "moesif" "$moesif" "$(mib "$moesif")"
printf '  %-16s %+10d bytes  %s (budget: +3 MiB)\n' "difference" "$difference" "$(mib "$difference")"
over=0
if [ "$difference" -gt "$budget" ]; then
    over=1
    echo "  OVER BUDGET by $((difference - budget)) bytes"
fi

if [ "$bloat" = 1 ]; then
    echo
    (cd "$workspace" && cargo bloat --release -p minimal_moesif --crates -n 30)
fi

if [ "$cold_start" = 1 ]; then
    echo "== cargo build --release -p cold_start" >&2
    cargo build --quiet --release --manifest-path "$workspace/Cargo.toml" -p cold_start
    echo
    "$CARGO_TARGET_DIR/release/cold_start" --runs "$runs" --collector-delay-ms "$collector_delay" "$out/minimal_bare" "$out/minimal_moesif"
fi

if [ "$check" = 1 ] && [ "$over" = 1 ]; then
    exit 1
fi
