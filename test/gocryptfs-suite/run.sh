#!/bin/bash
# Runs gocryptfs' own reverse-mode tests against tsreverse (see README.md here): the tests of
# tests/reverse, the reverse tests of tests/cli and of tests/example_filesystems, built offline
# from the gocryptfs source tree in $GOCRYPTFS_SRC. Each test runs on its own, so one failure
# does not hide the others (gocryptfs' TestMain stops at the first failing configuration).
# Prints one line per test, "PASS|FAIL|SKIP PACKAGE TEST", then a summary; exits 1 if any failed.
set -euo pipefail

: "${GOCRYPTFS_SRC:?set GOCRYPTFS_SRC to a gocryptfs v2.3 source tree}"
here=$(cd "$(dirname "$0")" && pwd)
tsreverse=$(realpath "${TSREVERSE:-$here/../../bin/tsreverse}")
# Debian's Go libraries (the golang-*-dev packages).
gocode=${GOCODE:-/usr/share/gocode}
# A single test's run (three configurations in tests/reverse) may take this long.
timeout=${TEST_TIMEOUT:-10m}

# Short: the tests bind unix sockets below it, and sun_path holds 107 bytes.
work=$(mktemp -d "${TMPDIR:-/tmp}/gs.XXXXXX")
# A failing gocryptfs test exits without unmounting: detach whatever is left below $work.
unmount_all() {
  local m
  for m in $(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
    fusermount -u -z "$m" 2>/dev/null || umount -l "$m"
  done
}
trap 'unmount_all; rm -rf "$work"' EXIT
src=$work/src/github.com/rfjakob/gocryptfs/v2
mkdir -p "$(dirname "$src")" "$work/src/github.com/hanwen/go-fuse"
cp -a "$GOCRYPTFS_SRC/." "$src"
# GOPATH mode has no module versions: the v2 import path has to exist as a directory.
ln -s "$gocode/src/github.com/hanwen/go-fuse" "$work/src/github.com/hanwen/go-fuse/v2"

# The tests make their directories in os.TempDir(), so those are ours to clean up too.
mkdir "$work/t"
export TMPDIR=$work/t
export GO111MODULE=off GOPATH="$work:$gocode" GOPROXY=off GOFLAGS=-tags=without_openssl
(cd "$src" && go build -o gocryptfs.real .)

# The binary the tests run (../../gocryptfs from each test package): reverse mounts go to
# tsreverse with their arguments unchanged, everything else (forward mounts, -init, -passwd,
# -info, -fsck, ...) to the gocryptfs just built.
cat >"$src/gocryptfs" <<WRAPPER
#!/bin/bash
reverse=0 mount=1
for a in "\$@"; do
  case \$a in
    -reverse|--reverse|-reverse=true|--reverse=true) reverse=1 ;;
    -init|--init|-info|--info|-passwd|--passwd|-fsck|--fsck|-version|--version|-dumpmasterkey|--dumpmasterkey|-speed|--speed|-h|-help|--help|-hh) mount=0 ;;
  esac
done
if [ \$reverse = 1 ] && [ \$mount = 1 ]; then exec "$tsreverse" "\$@"; fi
exec "$src/gocryptfs.real" "\$@"
WRAPPER
chmod +x "$src/gocryptfs"

# package, then the regular expression of the tests to run in it
suites=(
  "tests/reverse" "."
  "tests/cli" "[Rr]everse"
  "tests/example_filesystems" "[Rr]everse"
)
failed=0 passed=0 skipped=0
for ((i = 0; i < ${#suites[@]}; i += 2)); do
  pkg=${suites[i]} filter=${suites[i + 1]}
  bin=$work/$(basename "$pkg").test
  (cd "$src" && go test -c -o "$bin" "./$pkg")
  # Read off the source: -test.list would run TestMain, which mounts.
  for t in $(cd "$src/$pkg" && sed -n 's/^func \(Test[A-Za-z0-9_]*\)(t \*testing\.T).*/\1/p' ./*_test.go | grep -E "$filter"); do
    log=$work/$(basename "$pkg")-$t.log
    # The helpers give a mount 2 s to report ready; on a loaded machine a slow start is retried.
    for try in 1 2 3 4 5; do
      [ $try = 1 ] || sleep 5
      status=PASS
      (cd "$src/$pkg" && "$bin" -test.run "^$t\$" -test.v -test.count=1 -test.timeout "$timeout") >"$log" 2>&1 || status=FAIL
      unmount_all
      [ $status = FAIL ] && grep -q 'Timeout waiting for process' "$log" || break
    done
    if [ $status = PASS ] && grep -q "^--- SKIP: $t " "$log" && ! grep -q "^--- PASS: $t " "$log"; then
      status=SKIP
    fi
    echo "$status $pkg $t"
    case $status in
      PASS) passed=$((passed + 1)) ;;
      SKIP) skipped=$((skipped + 1)) ;;
      FAIL) failed=$((failed + 1)); sed 's/^/    /' "$log" | tail -n 40 ;;
    esac
  done
done
echo "summary: $passed passed, $failed failed, $skipped skipped"
[ $failed = 0 ]
