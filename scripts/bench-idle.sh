#!/usr/bin/env bash
# The idle cost of `hearth up` (gateway + 2 llama-server nodes): the hearth process's own CPU over 30 s once it is
# ready, engines not included. Usage: scripts/bench-idle.sh [path/to/hearth [hearth up options...]]
# (default .build/release/hearth). Issue 13's fleet case: scripts/bench-idle.sh BIN --nodes 100 --engine sim (the
# gateway and 100 simulated node agents in the one process, so the figure bounds the gateway's from above).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-.build/release/hearth}"
shift $(( $# > 0 ? 1 : 0 ))
data="$(mktemp -d /tmp/hearth-idle.XXXXXX)"
port="${PORT:-18555}"
"$bin" up --port "$port" --data-dir "$data" --no-demo --log-level error "$@" >"$data/log" 2>&1 &
pid=$!
# SIGTERM, not SIGINT: a background job of a non-interactive shell starts with SIGINT ignored, so hearth never saw it.
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  # Ready and a node connected: /readyz counts the nodes.
  curl -s "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q '^ready: [1-9]' && break
  sleep 1
done
sleep 5
t0=$(awk '{print $14+$15}' "/proc/$pid/stat"); sleep 30; t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
tck=$(getconf CLK_TCK)
echo "$bin $*: hearth process CPU over 30 s idle: $(( (t1 - t0) * 1000 / tck )) ms ($(( (t1 - t0) * 10000 / tck / 30 )) basis points of a core)"
