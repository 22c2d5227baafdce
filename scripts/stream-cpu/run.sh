#!/usr/bin/env bash
# Gateway CPU per streamed token: `hearth up --engine openai` (API key, tenant limits, usage rows, the mutual-TLS
# tunnel all on) in front of fake engines that stream one SSE event per chunk (token-backend.py), so every token
# crosses the tunnel as its own frame. Measures the hearth process's CPU time (user + system, /proc) over a fixed
# window at a fixed concurrency, and prints CPU microseconds per request and per token. Compare builds in one sitting:
#   HEARTH_BIN=<build>/hearth scripts/stream-cpu/run.sh
# Env: HEARTH_BIN, STREAM_EVENTS (20), STREAM_GAP_MS (1), STREAM_CONNECTIONS (16), STREAM_SECONDS (10).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${HEARTH_BIN:-$HERE/../../.build/release/hearth}"
EVENTS="${STREAM_EVENTS:-20}"; GAP="${STREAM_GAP_MS:-1}"; CONNECTIONS="${STREAM_CONNECTIONS:-16}"
SECONDS_MEASURED="${STREAM_SECONDS:-10}"; BASE=18700; PORT=18990; KEY=hearth-stream-cpu-key
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
RUN="$(mktemp -d /tmp/hearth-stream-cpu.XXXXXX)"
PIDS=()
# Waits for them to exit: the next run binds the same ports.
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$RUN"
}
trap cleanup EXIT
urls=""
for i in 0 1 2 3; do
  python3 "$HERE/token-backend.py" $((BASE + i)) "$EVENTS" "$GAP" & PIDS+=($!)
  urls+="${urls:+,}http://127.0.0.1:$((BASE + i))"
done
"$BIN" up --engine openai --engine-urls "$urls" --port "$PORT" --data-dir "$RUN/hearth" --api-key "$KEY" --no-demo \
  --slots 64 --log-level error >"$RUN/hearth.log" 2>&1 & HEARTH=$!; PIDS+=($HEARTH)
BODY="$HERE/../throughput-smoke/body-stream.json"
for _ in $(seq 1 240); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "@$BODY" \
    "http://127.0.0.1:$PORT/v1/chat/completions" 2>/dev/null && break
  sleep 0.25
done
load() { SMOKE_BODY="$BODY" SMOKE_API_KEY="$KEY" wrk -t1 -c"$CONNECTIONS" -d"$1s" --timeout 10s -s "$HERE/../throughput-smoke/post.lua" "http://127.0.0.1:$PORT"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$HEARTH/stat"; }
load 3 >/dev/null
before="$(ticks)"
line="$(load "$SECONDS_MEASURED" | grep '^SMOKE ')"
after="$(ticks)"
requests="$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$line")"
failed="$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")"
hz="$(getconf CLK_TCK)"
awk -v t=$((after - before)) -v hz="$hz" -v n="$requests" -v e="$EVENTS" -v f="$failed" -v l="$line" 'BEGIN {
  us = t / hz * 1e6
  printf "%s\nhearth CPU %.2f s for %d requests (%d not 200): %.0f us per request, %.1f us per token (%d events)\n",
    l, us / 1e6, n, f, us / n, us / n / (e + 1), e + 1 }'
