#!/usr/bin/env bash
# Times NebulaGraph's "No schema found" window (BENCHMARKS.md, "From
# create-tag to the first accepted insert"): one meta server and one
# example graphstore (examples/graphstore.rs) on 127.0.0.1 (free ports),
# a space of 1 partition; then ROUNDS times, each after a random pause
# within one heartbeat interval: a new tag is created with
# `rollcall schema create-tag` and an insert of a vertex of that tag is
# sent again and again (curl) until the graphstore accepts it (201). Each
# round's time runs from just before create-tag starts to the 201.
#
#   cargo build --release --bin rollcall --example graphstore
#   scripts/bench-tag-to-insert.sh [INTERVAL] [ROUNDS]     # defaults: 1s 20
#
# Everything it starts is killed on exit; its data lives in a temporary
# directory that is removed. Fails (non-zero) if a round gets an answer
# other than 201 or "No schema found", or never gets a 201 within 30 s.
set -euo pipefail
HERE=$(dirname "$0")/..
B=${ROLLCALL:-$HERE/target/release/rollcall}
G=${GRAPHSTORE:-$HERE/target/release/examples/graphstore}
INTERVAL=${1:-1s}
ROUNDS=${2:-20}
for f in "$B" "$G"; do
  [ -x "$f" ] || { echo "missing $f: cargo build --release --bin rollcall --example graphstore" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

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
  --heartbeat-interval "$INTERVAL" >"$T/meta.log" 2>&1 &
PIDS+=($!)
poll "the meta server" test -s "$T/m/meta.addr"
META=$(head -n1 "$T/m/meta.addr")
"$G" --meta "$META" --listen 127.0.0.1:0 --data-dir "$T/gs" >"$T/gs.log" 2>&1 &
PIDS+=($!)
poll "the graphstore" test -s "$T/gs/graphstore.addr"
GS=$(head -n1 "$T/gs/graphstore.addr")
poll "the graphstore to serve" sh -c "curl -sf http://$GS/status | grep -q '\"ready\":true'"
"$B" spaces create s --partitions 1 --replicas 1 --meta "$META" >/dev/null

now_ns() { date +%s%N; }
case $INTERVAL in
  *ms) IMS=${INTERVAL%ms} ;;
  *s) IMS=$(( ${INTERVAL%s} * 1000 )) ;;
  *) echo "INTERVAL is like 1s or 200ms" >&2; exit 2 ;;
esac
times=()
for r in $(seq "$ROUNDS"); do
  # A random pause first, so create-tag lands at a random point of the
  # heartbeat period (back to back, rounds would lock onto the beat).
  sleep "$(awk -v ms="$IMS" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * (r / 32768) / 1000 }')"
  body="{\"space\":\"s\",\"tag\":\"t$r\",\"id\":\"v$r\",\"props\":{\"n\":$r}}"
  start=$(now_ns)
  "$B" schema create-tag s "t$r" n:int --meta "$META" >/dev/null
  refused=0
  while :; do
    code=$(curl -s -o "$T/answer" -w '%{http_code}' -H 'content-type: application/json' \
      -d "$body" "http://$GS/vertices")
    if [ "$code" = 201 ]; then break; fi
    if [ "$code" != 400 ] || ! grep -q 'No schema found' "$T/answer"; then
      echo "round $r: unexpected answer $code: $(cat "$T/answer")" >&2
      exit 1
    fi
    refused=$((refused + 1))
    if [ $(( ($(now_ns) - start) / 1000000 )) -gt 30000 ]; then
      echo "round $r: no 201 within 30 s" >&2
      exit 1
    fi
  done
  ms=$(( ($(now_ns) - start) / 1000000 ))
  times+=("$ms")
  echo "round $r: ${ms} ms ($refused x No schema found first)"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
n=${#times[@]}
min=$(echo "$sorted" | head -n1)
max=$(echo "$sorted" | tail -n1)
p50=$(echo "$sorted" | sed -n "$(( (n + 1) / 2 ))p")
echo "create-tag to first accepted insert, heartbeat interval $INTERVAL, $n rounds: min $min ms, median $p50 ms, max $max ms"
