#!/usr/bin/env bash
# The whole test suite, over every module of the repository (the README's
# test command; .ci/run runs it too):
#   1. prepares the integration environment (etcd, kube-apiserver,
#      Prometheus; see scripts/testenv.sh);
#   2. checks that go.work uses every published module (scripts/modules.sh);
#   3. gofmt, go vet and staticcheck on every module, the development tools'
#      modules included;
#   4. go test -race on every package of every module, through go.work
#      (the packages of all modules in one go test run: `./...` at the root
#      covers only the root module, so each module's `./dir/...` is named);
#   5. scripts/modcheck.sh: each module tidy, none with replace, and each
#      usable on its own from a scratch module through a local module proxy;
#   6. scripts/fuzz.sh: every fuzz target for $MESHCANARY_FUZZTIME (15s).
# Set MESHCANARY_SKIP_FUZZ=1 or MESHCANARY_SKIP_MODCHECK=1 to leave a step out.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/modules.sh
start=$(date +%s)
eval "$(bash scripts/testenv.sh)"

check_workspace
mods=$(published_modules)
tools=$(tool_modules)
pats=$(for m in $mods; do if [ "$m" = . ]; then echo ./...; else echo "./$m/..."; fi; done)
echo "== modules: $(echo "$mods" | wc -l) published ($(echo $mods | tr ' ' ' ')), $(echo "$tools" | grep -c . || true) tools"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi

echo "== go vet"
go vet $pats
for t in $tools; do (cd "$t" && GOWORK=off go vet ./...); done

echo "== staticcheck"
staticcheck="honnef.co/go/tools/cmd/staticcheck@v0.8.2"
# One module at a time: all modules at once need over 6 GB of memory (the
# Datadog client is large); staticcheck caches what it learns about the
# dependencies the modules share.
for p in $pats; do go run "$staticcheck" "$p"; done
for t in $tools; do (cd "$t" && GOWORK=off go run "$staticcheck" ./...); done

echo "== go test -race"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
go test -race -count=1 -timeout 40m $pats 2>&1 | tee "$log" || status=$?
ok=$(grep -c '^ok ' "$log" || true)
failed=$(grep -c '^FAIL[[:space:]]' "$log" || true)
notests=$(grep -c '^?.*\[no test files\]' "$log" || true)
echo "go test -race: $ok packages ok, $failed failed, $notests without tests"
[ "$status" -eq 0 ] || exit "$status"

echo "== crash harness (1,000 SIGKILLs of a driver; -race above runs 100)"
crash=$(go test -count=1 -timeout 20m -run '^TestCrashHarness$' -v ./rollback/ 2>&1) || { echo "$crash"; exit 1; }
echo "$crash" | grep -E '^crash harness:|^ok|^--- (PASS|FAIL)'

if [ "${MESHCANARY_SKIP_MODCHECK:-}" != 1 ]; then
  echo "== modules on their own (scripts/modcheck.sh)"
  bash scripts/modcheck.sh
fi
if [ "${MESHCANARY_SKIP_FUZZ:-}" != 1 ]; then
  echo "== fuzz (scripts/fuzz.sh)"
  bash scripts/fuzz.sh
fi
echo "== all passed in $(($(date +%s) - start))s"
