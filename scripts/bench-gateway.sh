#!/usr/bin/env bash
# Gateway benchmark, real engine: time to first token and tokens/s through gateway → tunnel → node
# agent → llama-server, as ratios to the same llama-server called directly, in the same run.
# (The router comparison against vllm-router/sglang-router on a fast fake backend is scripts/peerbench.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_CACHE="${HEARTH_CACHE:-$HOME/.cache/hearth}"
scripts/install-engine.sh
BIN=.build/release/hearth
[ -x "$BIN" ] || swift build -c release --product hearth
# hearth runs its engines under hearth-engine-guard, which it looks for beside itself.
[ -x "$(dirname "$BIN")/hearth-engine-guard" ] || swift build -c release --product hearth-engine-guard
ENGINE_PORT="${ENGINE_PORT:-18600}"
GATEWAY_PORT="${GATEWAY_PORT:-18601}"
DATA="$(mktemp -d /tmp/hearth-bench.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT

"$HEARTH_CACHE/bin/llama-server" -m "$HEARTH_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf" --host 127.0.0.1 \
  --port "$ENGINE_PORT" -t 1 -np 1 -c 2048 --no-webui --alias smollm2 --log-disable >/dev/null 2>&1 &
pids+=($!)
"$BIN" up --engine openai --engine-urls "http://127.0.0.1:$ENGINE_PORT" --port "$GATEWAY_PORT" --data-dir "$DATA" \
  --api-key bench-key --no-demo --log-level error >"$DATA/up.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 200); do
  curl -s "http://127.0.0.1:$GATEWAY_PORT/readyz" 2>/dev/null | grep -q '^ready: [1-9]' && break
  sleep 0.1
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 scripts/bench_ttft.py "http://127.0.0.1:$ENGINE_PORT" "http://127.0.0.1:$GATEWAY_PORT" bench-key smollm2 "${REPS:-10}"
