#!/usr/bin/env bash
# The test command of the README: compile, run every tap suite, end with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rm -rf dist && npx tsc -p tsconfig.json || { echo "0 passed, 1 failed"; exit 1; }
npx tap "$@" dist/test/*.test.js 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# tap ends with a line like "# { total: 120, pass: 118, fail: 2, skip: 1 }".
summary=$(grep -E '^# \{ total: ' "$out" | tail -n 1)
num() { sed -nE "s/.*[{ ]$1: ([0-9]+).*/\1/p" <<<"$summary"; }
pass=$(num pass); fail=$(num fail); skip=$(num skip)
pass=${pass:-0}; fail=${fail:-0}
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
# CI reads the last line, so skips go on the line before it.
[ -n "$skip" ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
exit "$rc"
