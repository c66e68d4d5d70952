#!/usr/bin/env bash
# Prepares what the integration tests need, idempotently, caching builds
# outside the clone under ${MESHCANARY_CACHE:-$HOME/.cache/meshcanary}:
#   - etcd (Debian etcd-server) and Prometheus (Debian prometheus);
#   - kube-apiserver, built once from k8s.io/kubernetes through the Go module
#     proxy by the tool module in internal/tools/kube-apiserver (≈11 min cold
#     on 2 cores, then cached).
# It prints the environment the tests read (MESHCANARY_*) as export lines;
# scripts/test.sh evaluates them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${MESHCANARY_CACHE:-$HOME/.cache/meshcanary}
mkdir -p "$cache/bin"

log() { echo "testenv: $*" >&2; }

need_apt=()
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} from Debian"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq >&2
  # policy-rc.d keeps the packages' init scripts from starting services.
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  # Debian starts these as services where it can; the tests start their own.
  pkill -x etcd 2>/dev/null || true
  pkill -x prometheus 2>/dev/null || true
fi

kver=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$root/internal/tools/kube-apiserver/go.mod")
kas="$cache/bin/kube-apiserver-$kver"
if [ ! -x "$kas" ]; then
  log "building kube-apiserver $kver (about 11 minutes the first time; cached in $cache)"
  start=$(date +%s)
  minor=$(echo "$kver" | cut -d. -f2)
  ldflags="-X k8s.io/component-base/version.gitVersion=$kver -X k8s.io/component-base/version.gitMajor=1"
  ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$root/internal/tools/kube-apiserver" && go build -ldflags "$ldflags" -o "$kas.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$kas.tmp" "$kas"
  log "built kube-apiserver in $(( $(date +%s) - start ))s"
fi

echo "export MESHCANARY_ETCD=$(command -v etcd)"
echo "export MESHCANARY_PROMETHEUS=$(command -v prometheus)"
echo "export MESHCANARY_KUBE_APISERVER=$kas"
