#!/usr/bin/env bash
# The whole test suite: prepares the integration environment (etcd,
# kube-apiserver, Prometheus; see scripts/testenv.sh), then vets and runs
# every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/testenv.sh)"
echo "== go vet ./..."
go vet ./...
echo "== go test -race ./..."
go test -race -count=1 -timeout 40m ./... 2>&1 | tee /tmp/meshcanary-test.log
