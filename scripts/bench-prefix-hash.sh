#!/usr/bin/env bash
# The cost of the gateway's prompt prefix hashes (HearthCore's PromptPrefixHasher) per request, optimised build:
# a chat prompt of 2 KB, 32 KB and 256 KB (hashing stops at 128 KiB: 512 blocks of 64 tokens), beside Foundation's JSON parse of
# the same body. Builds HearthCore's sources with the benchmark into one binary (no package target needed).
# Usage: scripts/bench-prefix-hash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/bench-prefix-hash
mkdir -p .build
swiftc -O -wmo -parse-as-library -module-name PrefixHashBench -package-name hearth \
  -enable-upcoming-feature ExistentialAny -enable-upcoming-feature InternalImportsByDefault \
  $(find Sources/HearthCore -name '*.swift' | sort) scripts/bench-prefix-hash.swift -o "$out"
echo "$(uname -m), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
"$out"
