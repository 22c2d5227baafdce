#!/usr/bin/env bash
# Mixed-task benchmark (issue 12): multi-turn chat with a shared system prompt, document Q&A and code generation at
# once, through `hearth up` (a gateway and two llama-server nodes) and straight to one llama-server with its prompt
# cache on. `make bench-tasks`; add `--json` (ARGS=--json) for the raw report. HEARTH_BIN picks another build.
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_CACHE="${HEARTH_CACHE:-$HOME/.cache/hearth}"
scripts/install-engine.sh
BIN="${HEARTH_BIN:-.build/release/hearth}"
[ -x "$BIN" ] || swift build -c release --product hearth
# hearth runs its engines under hearth-engine-guard, which it looks for beside itself.
[ -x "$(dirname "$BIN")/hearth-engine-guard" ] || swift build -c release --product hearth-engine-guard
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u +%FT%TZ); $BIN"
exec python3 scripts/bench_tasks.py --hearth "$BIN" --llama-server "$HEARTH_CACHE/bin/llama-server" \
  --model "$HEARTH_CACHE/models/SmolLM2-135M-Instruct.Q4_1.gguf" "$@"
