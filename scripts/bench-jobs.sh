#!/usr/bin/env bash
# Times the two replica-moving jobs of BENCHMARKS.md ("Executing a job"):
# one meta server and 5 simulated storage servers at a 1 s interval on
# 127.0.0.1 (free ports), a space of 100 partitions x 3, then one server
# killed (SIGKILL) and judged OFFLINE; `balance data --wait` moves its
# replicas off and evens out. Then a 6th server starts and
# `hosts drain --wait` empties another live one.
#
#   cargo build --release && scripts/bench-jobs.sh
#
# Everything it starts is killed on exit; its data lives in a temporary
# directory that is removed.
set -euo pipefail
B=${ROLLCALL:-$(dirname "$0")/../target/release/rollcall}
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

# Waits up to 60 s for a command to succeed.
poll() {
  local what=$1; shift
  for _ in $(seq 600); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $what" >&2
  exit 1
}

"$B" meta --data-dir "$T/m" --listen 127.0.0.1:0 --thrift-listen off \
  --heartbeat-interval 1s >"$T/meta.log" 2>&1 &
PIDS+=($!)
poll "the meta server" test -s "$T/m/meta.addr"
META=$(head -n1 "$T/m/meta.addr")

node() { # node NAME: starts a storage server, prints its pid
  "$B" node --meta "$META" --role storage --listen 127.0.0.1:0 \
    --data-dir "$T/$1" >"$T/$1.log" 2>&1 &
  PIDS+=($!)
}
online() { # online N: exactly N storage hosts ONLINE
  [ "$("$B" hosts --meta "$META" --role storage --json |
    python3 -c 'import json,sys; print(sum(h["status"]=="ONLINE" for h in json.load(sys.stdin)))')" = "$1" ]
}

for i in 1 2 3 4 5; do node "s$i"; done
poll "5 storage servers ONLINE" online 5
"$B" spaces create s1 --partitions 100 --replicas 3 --meta "$META"

# Kill one (the last started) and wait until it is judged OFFLINE.
VICTIM=${PIDS[-1]}
kill -9 "$VICTIM"
poll "the killed server to be OFFLINE" online 4
echo "balance data (off the dead host, then even out):"
time "$B" balance data --wait --meta "$META"

node s6
poll "the 6th server ONLINE" online 5
DRAIN=$("$B" hosts --meta "$META" --role storage --json |
  python3 -c 'import json,sys; h=[h for h in json.load(sys.stdin) if h["status"]=="ONLINE"][0]; print(h["host"] + ":" + str(h["port"]))')
echo "hosts drain $DRAIN (onto the 6th host and the rest):"
time "$B" hosts drain "$DRAIN" --wait --meta "$META"
"$B" jobs --meta "$META"
