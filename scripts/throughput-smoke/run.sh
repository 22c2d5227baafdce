#!/usr/bin/env bash
# Throughput smoke: Hearth's gateway and a reference proxy (nginx, round robin with keep-alive) in front of the
# same fake engines, measured in the same run, alternating. Fails when Hearth's throughput relative to the
# reference falls more than SMOKE_TOLERANCE (default 30 %) below the ratio recorded in baseline.tsv, in JSON
# or SSE mode: a regression of the data path fails CI whatever the machine's speed.
#   scripts/throughput-smoke/run.sh            measure and check
#   scripts/throughput-smoke/run.sh --record   measure and write the ratios into baseline.tsv
# Hearth runs as shipped: `hearth up --engine openai` with an API key, tenant limits, usage, the mTLS tunnel.
# Knobs: HEARTH_BIN (default .build/release/hearth, built if missing), SMOKE_SECONDS (per round, 4),
# SMOKE_ROUNDS (3; the best round of each side counts), SMOKE_TOLERANCE (0.30), SMOKE_BASE_PORT (18600).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE/../.."
RECORD=0
[ "${1:-}" = "--record" ] && RECORD=1
SECONDS_PER_ROUND="${SMOKE_SECONDS:-4}"
ROUNDS="${SMOKE_ROUNDS:-3}"
TOLERANCE="${SMOKE_TOLERANCE:-0.30}"
BASE="${SMOKE_BASE_PORT:-18600}"
WORKERS=4
HEARTH_PORT=$((BASE + 300))
KEY="hearth-throughput-smoke-key"

say() { echo "[throughput-smoke] $*" >&2; }

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || { say "needs nginx and wrk (apt-get install nginx-light wrk), or root to install them"; exit 1; }
  say "installing nginx and wrk"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null 2>&1 \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX="$(command -v nginx)"

BIN="${HEARTH_BIN:-$(pwd)/.build/release/hearth}"
if [ ! -x "$BIN" ] || [ ! -x "$(dirname "$BIN")/hearth-engine-guard" ]; then
  say "building hearth in release mode"
  swift build -c release --product hearth
  swift build -c release --product hearth-engine-guard
fi

RUN="$(mktemp -d /tmp/hearth-throughput-smoke.XXXXXX)"
HEARTH_PID=""
cleanup() {
  [ -n "$HEARTH_PID" ] && kill "$HEARTH_PID" 2>/dev/null && wait "$HEARTH_PID" 2>/dev/null
  [ -f "$RUN/nginx.pid" ] && kill "$(cat "$RUN/nginx.pid")" 2>/dev/null
  rm -rf "$RUN"
}
trap cleanup EXIT

python3 "$HERE/fake-backend.py" "$RUN" "$BASE" "$WORKERS" >"$RUN/nginx.conf"
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf"

# Prints "rps failed socket_errors" for one wrk round against a URL.
measure() {
  local url="$1" body="$2" seconds="$3" line
  line="$(SMOKE_BODY="$body" SMOKE_API_KEY="$KEY" wrk -t2 -c64 -d"${seconds}s" --timeout 10s -s "$HERE/post.lua" "$url" 2>&1 | grep '^SMOKE ')" \
    || { say "wrk printed no result for $url"; return 1; }
  sed -E 's/.*rps=([0-9.]+).*failed=([0-9]+) socket_errors=([0-9]+).*/\1 \2 \3/' <<<"$line"
}

best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

declare -A RATIO HEARTH_RPS REFERENCE_RPS
FAILED=0
for mode in json sse; do
  if [ "$mode" = json ]; then
    body="$HERE/body.json"; first=$BASE; reference="http://127.0.0.1:$((BASE + 200))"
  else
    body="$HERE/body-stream.json"; first=$((BASE + 100)); reference="http://127.0.0.1:$((BASE + 201))"
  fi
  urls=""
  for ((i = 0; i < WORKERS; i++)); do urls+="${urls:+,}http://127.0.0.1:$((first + i))"; done
  "$BIN" up --engine openai --engine-urls "$urls" --port "$HEARTH_PORT" --data-dir "$RUN/hearth-$mode" \
    --api-key "$KEY" --no-demo --slots 64 --log-level error >"$RUN/hearth-$mode.log" 2>&1 &
  HEARTH_PID=$!
  hearth="http://127.0.0.1:$HEARTH_PORT"
  ready=0
  for _ in $(seq 1 240); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
      --data-binary "@$body" "$hearth/v1/chat/completions" 2>/dev/null; then ready=1; break; fi
    kill -0 "$HEARTH_PID" 2>/dev/null || break
    sleep 0.25
  done
  if [ "$ready" != 1 ]; then say "hearth did not answer in $mode mode; its log:"; cat "$RUN/hearth-$mode.log" >&2; exit 1; fi
  # Warm both sides up (connections, caches, the scheduler's profiles), then alternate rounds.
  measure "$reference" "$body" 2 >/dev/null
  measure "$hearth" "$body" 2 >/dev/null
  ref_best=0; hearth_best=0
  for ((round = 1; round <= ROUNDS; round++)); do
    read -r ref_rps _ _ < <(measure "$reference" "$body" "$SECONDS_PER_ROUND")
    ref_best="$(best "$ref_best" "$ref_rps")"
    read -r rps failed errors < <(measure "$hearth" "$body" "$SECONDS_PER_ROUND")
    hearth_best="$(best "$hearth_best" "$rps")"
    if [ "$failed" != 0 ] || [ "$errors" != 0 ]; then
      say "$mode: hearth answered $failed requests with a status other than 200 and had $errors socket errors"
      FAILED=1
    fi
    say "$mode round $round: reference $ref_rps req/s, hearth $rps req/s"
  done
  kill "$HEARTH_PID"; wait "$HEARTH_PID" 2>/dev/null || true; HEARTH_PID=""
  REFERENCE_RPS[$mode]="$ref_best"; HEARTH_RPS[$mode]="$hearth_best"
  RATIO[$mode]="$(awk -v h="$hearth_best" -v r="$ref_best" 'BEGIN { printf "%.3f", (r > 0 ? h / r : 0) }')"
done

BASELINE="$HERE/baseline.tsv"
printf '%-5s %14s %14s %8s %10s %8s\n' mode reference hearth ratio recorded floor
for mode in json sse; do
  recorded="$(awk -v m="$mode" '$1 == m { print $2 }' "$BASELINE" 2>/dev/null || true)"
  floor="-"
  verdict="ok"
  if [ -n "$recorded" ]; then
    floor="$(awk -v r="$recorded" -v t="$TOLERANCE" 'BEGIN { printf "%.3f", r * (1 - t) }')"
    if awk -v x="${RATIO[$mode]}" -v f="$floor" 'BEGIN { exit !(x < f) }'; then verdict="REGRESSION"; FAILED=1; fi
  fi
  printf '%-5s %10s r/s %10s r/s %8s %10s %8s  %s\n' "$mode" "${REFERENCE_RPS[$mode]}" "${HEARTH_RPS[$mode]}" \
    "${RATIO[$mode]}" "${recorded:--}" "$floor" "$verdict"
done

if [ "$RECORD" = 1 ]; then
  {
    echo "# mode  hearth/reference throughput ratio  (scripts/throughput-smoke/run.sh --record; $(date -u +%F), $(nproc) cores, $(uname -m))"
    for mode in json sse; do printf '%s\t%s\n' "$mode" "${RATIO[$mode]}"; done
  } >"$BASELINE"
  say "recorded in $BASELINE"
fi
exit "$FAILED"
