#!/usr/bin/env bash
# Runs every figure of BENCHMARKS.md once, each command as written there
# with --json, and keeps each report in OUT (default target/bench-runs/
# <date>-<commit>): NAME.json for `rollcall bench`, NAME.txt for the
# scripts and criterion. Run it twice and give both directories to
# scripts/bench-tables.py to get the tables with "run 1 / run 2" cells.
#
#   cargo build --release --bin rollcall --example graphstore
#   scripts/bench-all.sh            # about 20 minutes on 2 cores
#
# A bench that fails stops the run (set -e): a figure that cannot be read
# is never written as 0.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=$(git rev-parse --short=7 HEAD)
out=${1:-target/bench-runs/$(date -u +%Y%m%dT%H%M%SZ)-$commit}
mkdir -p "$out"
bin=./target/release/rollcall
[ -x "$bin" ] || { echo "build first: cargo build --release --bin rollcall --example graphstore" >&2; exit 2; }
echo "$commit" > "$out/commit"

run() { # NAME ARGS...
  local name=$1; shift
  echo "== $name: rollcall bench $* --json" >&2
  "$bin" bench "$@" --json > "$out/$name.json.tmp"
  mv "$out/$name.json.tmp" "$out/$name.json"
}

run metrics-scrape   --metrics-scrape --closed-loop --hosts 1000 --concurrency 64 --duration 15s
run watch-1k         --metadata-change --metadata-fetch watch --hosts 1000 --interval 1s
run push-1k          --hosts 1000  --interval 1s --duration 30s
run push-10k         --hosts 10000 --interval 1s --duration 30s
run closed-1k        --hosts 1000  --closed-loop --concurrency 64  --duration 15s
run closed-10k       --hosts 10000 --closed-loop --concurrency 256 --duration 15s
run tls-closed-1k    --tls --hosts 1000  --closed-loop --concurrency 64 --duration 15s
run tls-10k          --tls --hosts 10000 --interval 1s --duration 30s
run failover         --failover --hosts 1000 --interval 1s --rounds 5
run writes-1-1       --writes 2000 --concurrency 1  --meta-servers 1
run writes-3-1       --writes 2000 --concurrency 1  --meta-servers 3
run writes-1-64      --writes 5000 --concurrency 64 --meta-servers 1
run writes-3-64      --writes 5000 --concurrency 64 --meta-servers 3
run push-10k-3meta   --hosts 10000 --interval 1s --duration 30s --meta-servers 3
run leaders-1k       --hosts 1000 --interval 1s --duration 30s --leaders-per-host 100
run leaders-closed   --hosts 1000 --closed-loop --concurrency 64 --duration 15s --leaders-per-host 100
run pull-1k          --pull --hosts 1000 --interval 1s --duration 30s
run pull-5k          --pull --hosts 5000 --interval 1s --duration 30s
run change-1k-stream --metadata-change --hosts 1000  --interval 1s
run change-1k-grpc   --metadata-change --hosts 1000  --interval 1s --metadata-fetch grpc
run change-10k-stream --metadata-change --hosts 10000 --interval 1s
run change-10k-grpc  --metadata-change --hosts 10000 --interval 1s --metadata-fetch grpc

echo "== tag to insert" >&2
scripts/bench-tag-to-insert.sh 1s 20 > "$out/tag-1s.txt"
scripts/bench-tag-to-insert.sh 200ms 20 > "$out/tag-200ms.txt"
echo "== jobs" >&2
scripts/bench-jobs.sh > "$out/jobs.txt" 2>&1
echo "== criterion" >&2
cargo bench -p rollcall-core 2>/dev/null > "$out/criterion.txt"
echo "done: $out" >&2
