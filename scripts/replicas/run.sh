#!/usr/bin/env bash
# Many gateways, one fleet, under faults (issue 14): PostgreSQL, three `hearth gateway` replicas, HAProxy
# (deploy/haproxy/haproxy.cfg) and node agents on two replicas each, a steady load through HAProxy with the official
# openai client, then SIGKILL of the power coordinator's replica, SIGTERM of another, a PostgreSQL restart and a node
# revocation. See driver.py; prints the figures docs/BENCHMARKS.md records, exits 1 when a target is missed.
#
#   scripts/replicas/run.sh [--phase-seconds 6] [--nodes 4] [--workers 6] [--json out.json] [--keep]
#
# Env: HEARTH_BIN (default .build/debug/hearth), HEARTH_PYTHON (a Python with the openai package).
set -euo pipefail
cd "$(dirname "$0")/../.."
hearth=$(realpath "${HEARTH_BIN:-.build/debug/hearth}")
python=${HEARTH_PYTHON:-python3}
[ -x "$hearth" ] || { echo "replicas: no hearth binary at $hearth: swift build --product hearth" >&2; exit 1; }
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { echo "replicas: PostgreSQL is not installed (scripts/bootstrap.sh installs it)" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "replicas: HAProxy is not installed (scripts/bootstrap.sh installs it)" >&2; exit 1; }
"$python" -c 'import openai' 2>/dev/null || { echo "replicas: $python has no openai package (scripts/test.sh installs it)" >&2; exit 1; }
exec "$python" scripts/replicas/driver.py --hearth "$hearth" --haproxy-config deploy/haproxy/haproxy.cfg "$@"
