#!/usr/bin/env bash
# The test command of the README: compile, lint, run every tap suite, end with "N passed, N failed".
# --fast: the fast tier, every suite but the slow ones below (FUSE mounts by the dozen, the
# soak test), in a few minutes; .ci/run runs it again on the newest supported Node.
set -uo pipefail
cd "$(dirname "$0")/.."
SLOW='adapter|backup-loop|cli-table|config|exclude|faults|filter-mount|forward-mount|fuzz-reads|hostile-lookups|mount-gocryptfs|mount-vectors|non-utf8-names|seal-pool-cli|secrets|soak|source-mutation|symlink-race'
# --unit: `npm test`, the suites that mount nothing (vectors, round trips, parsers, the lint).
UNIT='aes-siv|args|busy-poll|byte-string|content|detect|eme|filter|forward-view|goregexp|harden|inomap|keys|layers|masterkey|names|native-seal|pathiv|plural|restore-progress|self-contained|sizes|source|source-io|source-tree|speed|stat|submounts|symlink|vector-names|wipe'
tier=all
case "${1:-}" in --fast | --unit) tier=${1#--}; shift ;; esac
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rm -rf dist && npx tsc -p tsconfig.json || { echo "0 passed, 1 failed"; exit 1; }
# The lint (eslint.config.js) and the format check (.prettierrc.json) count as one more test: a
# finding fails the run, after the suites. `npx prettier --write` fixes the format.
lint=0
npx eslint . || lint=1
npx prettier --check --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'native-bench/**/*.ts' || lint=1
files=(dist/test/*.test.js)
if [ "$tier" = fast ]; then mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -vE "/($SLOW)\.test\.js$"); fi
if [ "$tier" = unit ]; then mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -E "/($UNIT)\.test\.js$"); fi
npx tap "$@" "${files[@]}" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# tap ends with a line like "# { total: 120, pass: 118, fail: 2, skip: 1 }".
summary=$(grep -E '^# \{ total: ' "$out" | tail -n 1)
num() { sed -nE "s/.*[{ ]$1: ([0-9]+).*/\1/p" <<<"$summary"; }
pass=$(num pass); fail=$(num fail); skip=$(num skip)
pass=${pass:-0}; fail=${fail:-0}
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
if [ "$lint" -ne 0 ]; then fail=$((fail + 1)); rc=1; else pass=$((pass + 1)); fi
# CI reads the last line, so skips go on the line before it.
[ -n "$skip" ] && echo "$skip skipped"
echo "$pass passed, $fail failed"
exit "$rc"
