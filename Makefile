# Hearth: the two commands a fresh machine needs.
#   make up    installs the engine and model if missing, builds, and runs a gateway with local nodes
#   make test  installs what the tests need, builds, and runs the whole test suite (what CI runs)

HEARTH_CACHE ?= $(HOME)/.cache/hearth
export HEARTH_CACHE

.PHONY: up test test-core build release bench bench-tasks peerbench throughput-smoke stream-cpu format

up: release
	scripts/install-engine.sh
	.build/release/hearth up $(ARGS)

test:
	scripts/test.sh

# HearthCore and HearthSim only: no server packages, seconds to build.
test-core:
	HEARTH_CORE_ONLY=1 swift test --scratch-path .build-core

build:
	swift build

release:
	scripts/bootstrap.sh
	swift build -c release --product hearth
	# The node agent runs each engine under this guard, which it looks for beside the hearth binary.
	swift build -c release --product hearth-engine-guard

bench: release
	scripts/bench-gateway.sh

# Chat, document Q&A and code at once: two nodes through Hearth vs one llama-server with its prompt cache.
bench-tasks: release
	scripts/bench-tasks.sh $(ARGS)

peerbench: release
	scripts/peerbench.sh

# Hearth against nginx as a reference proxy, same run; fails on a data-path regression (part of make test).
throughput-smoke: release
	scripts/throughput-smoke/run.sh

# Gateway CPU per streamed token, engines that stream one event per chunk (docs/BENCHMARKS.md).
stream-cpu: release
	scripts/stream-cpu/run.sh

format:
	swift format --in-place --recursive Sources Tests Package.swift
