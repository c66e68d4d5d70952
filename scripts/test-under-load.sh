#!/usr/bin/env bash
# Runs the README's test command (scripts/test.sh, arguments passed on)
# while CPU hogs keep every core busy, as on a shared CI machine: by default
# three busy loops per core (load average well above the core count).
#
# The hogs are bash loops this script starts; each ends by itself after
# $MESHCANARY_HOG_SECONDS (default 5400), and the script stops them by their
# PIDs when the tests end, whatever the outcome. It stops no other process.
set -euo pipefail
cd "$(dirname "$0")/.."
cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
hogs=${MESHCANARY_HOGS:-$((cores * 3))}
limit=${MESHCANARY_HOG_SECONDS:-5400}
pids=()
stop_hogs() {
  [ ${#pids[@]} -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "test-under-load: stopped the $hogs CPU hogs (PIDs ${pids[*]})"
}
trap stop_hogs EXIT
for _ in $(seq "$hogs"); do
  bash -c "end=\$((SECONDS + $limit)); while [ \$SECONDS -lt \$end ]; do :; done" &
  pids+=($!)
done
echo "test-under-load: $hogs CPU hogs on $cores cores (PIDs ${pids[*]}), each ends by itself after ${limit}s"
bash scripts/test.sh "$@"
