#!/usr/bin/env bash
# Prints, in at most ~24 lines, why a `swift test` log failed: failed tests and their first issues, the test that
# was running when the process crashed, the fatal error and the crashed thread's frames in Hearth's own code.
# CI keeps only the end of a log; this is what should be there.
set -uo pipefail
log="${1:?usage: test-digest.sh LOG}"
plain() { sed -e 's/\x1b\[[0-9;]*m//g' "$log"; }
echo "==== test digest ($log) ===="
plain | grep -E "recorded an issue|✘ Test .* failed" | sort -u | head -8
if plain | grep -qE "Program crashed|Fatal error|Backtracing"; then
  # With --no-parallel, the last test that started and never finished is the one that crashed.
  plain | awk '/ started\.$/ { last = $0 } / (passed|failed) after / { last = "" } END { if (last != "") print "running when it crashed: " last }'
  plain | grep -E "Fatal error|Program crashed|Precondition failed|Assertion failed" | head -3
  plain | awk '/ crashed:$/ { on = 1; print; next } on && / at \// { print; n++ } n >= 10 { exit }'
fi
echo "==== end of digest ===="
