#!/usr/bin/env bash
# The idle cost of a gateway alone with N connected node agents (issue 13's "100 simulated nodes" check): `hearth
# gateway` in one process, N `hearth node --engine sim` agents each in its own process (enrolled with one-time
# tokens, mutual TLS on every tunnel, heartbeats at the default pace), then the gateway process's own CPU over 30 s
# of idling. Usage: scripts/bench-idle-fleet.sh [path/to/hearth] [N] (defaults: .build/release/hearth, 100).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-.build/release/hearth}")"
count="${2:-100}"
data="$(mktemp -d /tmp/hearth-idle-fleet.XXXXXX)"
api="${PORT:-18557}"
tunnel=$((api + 1))
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
"$bin" gateway --port "$api" --tunnel-port "$tunnel" --data-dir "$data/gateway" --log-level error >"$data/gateway.log" 2>&1 &
gateway=$!
pids+=("$gateway")
for _ in $(seq 1 120); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$api/healthz" || true)" = 200 ] && break
  sleep 0.5
done
for i in $(seq 1 "$count"); do
  id="idle-$i"
  token="$("$bin" nodes enroll-token --gateway "http://127.0.0.1:$api" --data-dir "$data/gateway" --node "$id")"
  "$bin" node --gateway "127.0.0.1:$tunnel" --gateway-url "http://127.0.0.1:$api" --node-id "$id" \
    --data-dir "$data/$id" --enroll-token "$token" --engine sim --log-level error >"$data/$id.log" 2>&1 &
  pids+=("$!")
done
# Every node connected: /readyz counts them.
for _ in $(seq 1 300); do
  connected="$(curl -s "http://127.0.0.1:$api/readyz" | awk '/^ready:/ {print $2}' || true)"
  [ "$connected" = "$count" ] && break
  sleep 1
done
echo "connected nodes: ${connected:-?} of $count"
sleep 10
t0=$(awk '{print $14+$15}' "/proc/$gateway/stat"); sleep 30; t1=$(awk '{print $14+$15}' "/proc/$gateway/stat")
tck=$(getconf CLK_TCK)
echo "$bin gateway with $count node agents (own processes): gateway CPU over 30 s idle: $(( (t1 - t0) * 1000 / tck )) ms ($(( (t1 - t0) * 10000 / tck / 30 )) basis points of a core)"
