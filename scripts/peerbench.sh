#!/usr/bin/env bash
# Runs ../shared/peerbench with Hearth as an extra target: `hearth up --engine openai` puts a gateway
# and one node agent per fake worker in front of the same nginx backend the Rust routers get.
# Hearth's path is gateway → tunnel → node agent → worker: one hop more than the peers.
# Usage: scripts/peerbench.sh [MODE=json|sse] (other peerbench knobs pass through the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
PEERBENCH="${PEERBENCH:-$(cd .. && pwd)/shared/peerbench}"
[ -f "$PEERBENCH/run.sh" ] || { echo "peerbench not found at $PEERBENCH" >&2; exit 1; }
BIN="$(pwd)/.build/release/hearth"
[ -x "$BIN" ] || swift build -c release --product hearth
# hearth runs its engines under hearth-engine-guard, which it looks for beside itself.
[ -x "$(dirname "$BIN")/hearth-engine-guard" ] || swift build -c release --product hearth-engine-guard
DATA="$(mktemp -d /tmp/hearth-peerbench.XXXXXX)"
export PB_AUTH="${PB_AUTH:-hearth-peerbench-key}"
export EXTRA_TARGET_NAME="${EXTRA_TARGET_NAME:-hearth}"
export EXTRA_TARGET_URL="${EXTRA_TARGET_URL:-http://127.0.0.1:19010}"
export EXTRA_TARGET_CMD="$BIN up --engine openai --engine-urls \$PB_WORKERS_CSV --port \$PB_PORT --data-dir $DATA --api-key $PB_AUTH --no-demo --slots 64 --log-level error"
bash "$PEERBENCH/run.sh"
