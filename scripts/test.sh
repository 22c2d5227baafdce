#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (engine, model, the
# official Python `openai` package), builds, runs every test. CI runs exactly this via `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_CACHE="${HEARTH_CACHE:-$HOME/.cache/hearth}"

scripts/bootstrap.sh
scripts/install-engine.sh

VENV="$HEARTH_CACHE/venv"
# openai: the official client the API tests drive. openadr3: the independent OpenADR 3 library whose events the VEN
# tests read (its raw models build the VTN stand-in's payloads). span-panel-api: the Home Assistant integration's SPAN
# library, read side by side with Hearth's panel client. kubernetes-validate and dockerfile-parse: check-deploy.sh's
# checks of the Kubernetes manifests (Kubernetes' own schemas, offline) and the Containerfile. langchain-openai and llm:
# two clients built on OpenAI's API that the gateway is tested with too.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c \
  'import openai, openadr3, span_panel_api, kubernetes_validate, dockerfile_parse, langchain_openai, llm' 2>/dev/null; then
  echo "[test] installing the Python packages the tests drive into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.40' 'openadr3==0.5.0' 'span-panel-api==2.6.4' \
    'kubernetes-validate==1.37.0' 'dockerfile-parse==2.0.1' 'langchain-openai==1.8.1' 'llm==0.36'
fi
export HEARTH_PYTHON="$VENV/bin/python"
# A crash prints only the crashed thread, without registers or image lists, so that the end of a CI log still
# shows where it happened; test-digest.sh repeats the essentials as the last lines.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none,limit=40}"

if [ "${CI:-}" = "true" ] || [ "${HEARTH_CHECK_FORMAT:-}" = 1 ]; then
  echo "[test] checking formatting (swift format lint)" >&2
  swift format lint --strict --recursive Sources Tests Package.swift
fi

echo "[test] HearthCore, HearthSim and the panel client alone (no server packages)" >&2
CORE_LOG="$(mktemp -t hearth-core.XXXXXX.log)"
if ! HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core 2>&1 | tee "$CORE_LOG"; then
  scripts/test-digest.sh "$CORE_LOG" >&2
  exit 1
fi

# The end-to-end tests run real gateways, agents, engines and TLS side by side; on two cores, running them one
# at a time keeps their liveness limits and latency bounds meaningful. The pure suites above already ran.
echo "[test] the whole package: end-to-end and protocol tests, one at a time" >&2
swift build --build-tests
LOG="$(mktemp -t hearth-e2e.XXXXXX.log)"
if ! swift test --skip-build --no-parallel --skip HearthCoreTests --skip HearthSimTests --skip HearthPanelTests 2>&1 | tee "$LOG"; then
  scripts/test-digest.sh "$LOG" >&2
  exit 1
fi

# What deploy/ gives operators: the systemd units and the HAProxy configuration.
echo "[test] deploy/: systemd-analyze verify and haproxy -c" >&2
scripts/check-deploy.sh "$(swift build --show-bin-path)/hearth"

# The data path's speed against a reference proxy measured in the same run (scripts/throughput-smoke/run.sh): a
# regression of the shipped (release) gateway fails CI whatever this machine's speed.
echo "[test] replicas: PostgreSQL, three gateways behind HAProxy, nodes on two each; SIGKILL, SIGTERM, a database restart, a revocation (scripts/replicas)" >&2
HEARTH_BIN="$(swift build --show-bin-path)/hearth" scripts/replicas/run.sh --phase-seconds 3

echo "[test] throughput smoke: Hearth and nginx in front of the same fake engines (release build)" >&2
swift build -c release --product hearth
swift build -c release --product hearth-engine-guard
scripts/throughput-smoke/run.sh

# Gateway and node agents as separate hosts in network namespaces, under one round of every fault; fails on any
# failed, malformed or wrong-text stream for a single-node fault. Prints "chaos: skipped: ..." without root.
echo "[test] chaos: one round of every fault on network namespaces (scripts/chaos/README.md)" >&2
scripts/chaos/run.sh --rounds 1
