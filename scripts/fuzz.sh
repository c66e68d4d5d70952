#!/usr/bin/env bash
# Runs every fuzz target of every module for a bounded time each.
#
# It finds the targets itself (func FuzzXxx(f *testing.F) in the _test.go
# files of each package) and runs each one alone:
#   go test -run='^$' -fuzz='^FuzzXxx$' -fuzztime=$MESHCANARY_FUZZTIME ./pkg
# (default 15s; go test can fuzz one target of one package at a time). The
# seed corpus (f.Add and testdata/fuzz/FuzzXxx/*) also runs in the ordinary
# `go test` of the package. When fuzzing finds a failure, go test writes the
# input to testdata/fuzz/FuzzXxx/ in the package: fix the bug and commit
# that file with the fix, so that every later `go test` runs it.
#
# A new find is printed (FOUND, with the input and the command to re-run
# it) but does not fail the run unless MESHCANARY_FUZZ_STRICT=1: which
# inputs a time-bounded fuzz run reaches is luck, and the test command must
# not turn red by luck. Every committed input, and every earlier find once
# committed, fails the ordinary `go test` run above until it is fixed.
#
# A failure that writes no input is not a find: Go 1.26's fuzz coordinator
# can report "context deadline exceeded" at the -fuzztime boundary when a
# worker is still mid-call (a shutdown race, go.dev/issue/75804, fixed in
# Go 1.27), which a loaded machine makes likely. Such a run is printed as
# HARNESS and counted apart; with MESHCANARY_FUZZ_STRICT=1 it fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${MESHCANARY_FUZZTIME:-15s}

targets=$(find . -name '*_test.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './internal/tools/*' -print0 |
  xargs -0 grep -H -o '^func Fuzz[A-Za-z0-9_]*(' 2>/dev/null |
  sed 's|^\(.*\)/[^/]*_test\.go:func \(Fuzz[A-Za-z0-9_]*\)($|\1 \2|' | LC_ALL=C sort -u || true)
n=$(printf '%s\n' "$targets" | grep -c . || true)
echo "fuzz: $n targets, $fuzztime each"
total=0
failed=0
harness=0
while read -r dir name; do
  [ -n "$dir" ] || continue
  log=$(mktemp)
  corpus="$dir/testdata/fuzz/$name"
  before=$(ls "$corpus" 2>/dev/null | LC_ALL=C sort || true)
  if go test -run='^$' -fuzz="^$name\$" -fuzztime="$fuzztime" "$dir" >"$log" 2>&1; then
    execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
    total=$((total + execs))
    echo "ok    $dir $name: $execs execs"
  else
    cat "$log"
    after=$(ls "$corpus" 2>/dev/null | LC_ALL=C sort || true)
    if [ "$before" = "$after" ]; then
      harness=$((harness + 1))
      echo "HARNESS $dir $name: go test failed but wrote no failing input (with \"context deadline exceeded\" this is Go's fuzz shutdown race, go.dev/issue/75804): not a find"
    else
      failed=$((failed + 1))
      echo "FOUND $dir $name (a failing input found by fuzzing is written under $corpus/: fix the bug and commit the input with the fix)"
    fi
  fi
  rm -f "$log"
done <<<"$targets"
echo "fuzz: $n targets, $failed with a new failing input, $harness stopped by the harness without one, $total execs in all"
if [ $((failed + harness)) -gt 0 ] && [ "${MESHCANARY_FUZZ_STRICT:-}" = 1 ]; then
  exit 1
fi
