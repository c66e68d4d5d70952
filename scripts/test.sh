#!/usr/bin/env bash
# The whole test suite: prepares the integration environment (etcd,
# kube-apiserver, Prometheus; see scripts/testenv.sh), then vets and runs
# every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/testenv.sh)"
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
echo "== go vet ./..."
go vet ./...
echo "== staticcheck ./..."
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
echo "== go test -race ./..."
go test -race -count=1 -timeout 40m ./...
