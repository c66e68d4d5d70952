#!/usr/bin/env bash
# Prepares what the integration tests need, idempotently, and prints the
# environment the tests read as export lines (scripts/test.sh evaluates
# them):
#   - etcd and Prometheus: $MESHCANARY_ETCD and $MESHCANARY_PROMETHEUS if
#     set, else etcd and prometheus on PATH, else Debian's etcd-server and
#     prometheus packages, installed with apt-get; promtool
#     ($MESHCANARY_PROMTOOL, else next to prometheus, else on PATH);
#   - Alertmanager: $MESHCANARY_ALERTMANAGER if set, else
#     prometheus-alertmanager on PATH, else Debian's prometheus-alertmanager
#     package (the trigger package's end-to-end test fires a real alert);
#   - tmux and chromium (Debian packages) for canaryctl's terminal and
#     browser tests, when they are not on PATH;
#   - kube-apiserver: $MESHCANARY_KUBE_APISERVER if set, else
#     ${MESHCANARY_CACHE:-$HOME/.cache/meshcanary}/bin/kube-apiserver-<version>,
#     built once from k8s.io/kubernetes through the Go module proxy by the
#     tool module internal/tools/kube-apiserver (about 11 minutes cold on
#     2 cores, then cached; <version> is the one that module requires).
#
# Set MESHCANARY_NO_INSTALL=1 to never install system packages: the script
# then fails, saying what is missing, instead.
#
# It never stops or kills a process it did not start, and it does not leave
# services running or enabled: the tests start their own etcd and Prometheus
# on loopback ports and stop them by PID. While it installs the packages
# it keeps their services from starting: it creates /usr/sbin/policy-rc.d
# (exit 101, which invoke-rc.d and deb-systemd-invoke obey) only if there is
# none, and removes it afterwards. On a host booted with systemd
# (/run/systemd/system exists), Debian's maintainer scripts still enable the
# units for the next boot, so it then runs `systemctl disable --now` on the
# units of the packages this run installed, and on no other.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${MESHCANARY_CACHE:-$HOME/.cache/meshcanary}
mkdir -p "$cache/bin"

log() { echo "testenv: $*" >&2; }
die() { echo "testenv: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# binary VAR NAME: the value of $VAR (which must be executable) or NAME on
# PATH; empty if neither.
binary() {
  local var=$1 name=$2 val=${!1:-}
  if [ -n "$val" ]; then
    [ -x "$val" ] || die "\$$var=$val is not an executable file"
    echo "$val"
    return
  fi
  command -v "$name" 2>/dev/null || true
}

etcd_bin=$(binary MESHCANARY_ETCD etcd)
prom_bin=$(binary MESHCANARY_PROMETHEUS prometheus)
am_bin=$(binary MESHCANARY_ALERTMANAGER prometheus-alertmanager)

need=()     # Debian packages to install
units=()    # their systemd units
[ -n "$etcd_bin" ] || { need+=(etcd-server); units+=(etcd.service); }
[ -n "$prom_bin" ] || { need+=(prometheus); units+=(prometheus.service); }
[ -n "$am_bin" ] || { need+=(prometheus-alertmanager); units+=(prometheus-alertmanager.service); }
# canaryctl's tests: a real terminal (tmux) and a real browser (Debian's
# chromium, headless) for its report.
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v chromium >/dev/null 2>&1 || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  if [ "${MESHCANARY_NO_INSTALL:-}" = 1 ]; then
    die "missing ${need[*]} and MESHCANARY_NO_INSTALL=1: install them, or point MESHCANARY_ETCD / MESHCANARY_PROMETHEUS at your own binaries"
  fi
  command -v apt-get >/dev/null 2>&1 ||
    die "missing ${need[*]}: this script installs them only with apt-get (Debian, Ubuntu); install etcd and prometheus yourself and set MESHCANARY_ETCD and MESHCANARY_PROMETHEUS"
  log "installing ${need[*]} from Debian (set MESHCANARY_NO_INSTALL=1 to refuse)"
  systemd=0
  [ -d /run/systemd/system ] && systemd=1
  # Units already enabled or running before this install are the user's
  # business: remember them, never touch them.
  mine=()
  if [ $systemd = 1 ]; then
    for u in "${units[@]}"; do
      if ! systemctl is-enabled --quiet "$u" 2>/dev/null && ! systemctl is-active --quiet "$u" 2>/dev/null; then
        mine+=("$u")
      fi
    done
  fi
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\n# created by meshcanary scripts/testenv.sh while it installs packages\nexit 101\n' >$policy && chmod 755 $policy"
    made_policy=1
    trap 'as_root rm -f "$policy"' EXIT
  else
    log "$policy exists and is left as it is"
  fi
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >&2
  as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  if [ $made_policy = 1 ]; then
    as_root rm -f "$policy"
    trap - EXIT
  fi
  if [ $systemd = 1 ]; then
    # Booted with systemd: the packages' postinst enabled their units for
    # the next boot (and started them if no policy forbade it).
    for u in "${mine[@]}"; do
      if systemctl is-enabled --quiet "$u" 2>/dev/null || systemctl is-active --quiet "$u" 2>/dev/null; then
        log "systemctl disable --now $u (enabled by this install; the tests start their own)"
        as_root systemctl disable --now "$u" >&2 || log "could not disable $u"
      fi
    done
  fi
  etcd_bin=$(binary MESHCANARY_ETCD etcd)
  prom_bin=$(binary MESHCANARY_PROMETHEUS prometheus)
  [ -n "$etcd_bin" ] || die "etcd still not on PATH after installing etcd-server"
  am_bin=$(binary MESHCANARY_ALERTMANAGER prometheus-alertmanager)
  [ -n "$prom_bin" ] || die "prometheus still not on PATH after installing prometheus"
  [ -n "$am_bin" ] || die "prometheus-alertmanager still not on PATH after installing prometheus-alertmanager"
fi

# promtool (it loads the Prometheus tests' history) comes with Prometheus:
# $MESHCANARY_PROMTOOL, else next to the prometheus binary, else on PATH.
promtool_bin=${MESHCANARY_PROMTOOL:-}
if [ -n "$promtool_bin" ]; then
  [ -x "$promtool_bin" ] || die "\$MESHCANARY_PROMTOOL=$promtool_bin is not an executable file"
else
  if [ -x "$(dirname "$prom_bin")/promtool" ]; then
    promtool_bin="$(dirname "$prom_bin")/promtool"
  else
    promtool_bin=$(command -v promtool 2>/dev/null || true)
  fi
fi
[ -n "$promtool_bin" ] && [ -x "$promtool_bin" ] ||
  die "no promtool next to $prom_bin nor on PATH: set MESHCANARY_PROMTOOL (it ships with Prometheus)"

# The kube-apiserver version: the k8s.io/kubernetes requirement of the tool
# module, read with the go command's own parser.
kube_version() {
  (cd "$root/internal/tools/kube-apiserver" && GOWORK=off go mod edit -json) |
    tr -d ' \t\n' | grep -o '"Path":"k8s.io/kubernetes","Version":"v[^"]*"' | head -1 |
    sed 's/.*"Version":"//; s/"$//'
}

kas=${MESHCANARY_KUBE_APISERVER:-}
if [ -n "$kas" ]; then
  [ -x "$kas" ] || die "\$MESHCANARY_KUBE_APISERVER=$kas is not an executable file"
else
  kver=$(kube_version)
  [[ "$kver" =~ ^v1\.([0-9]+)\.[0-9]+$ ]] ||
    die "cannot read the k8s.io/kubernetes version from internal/tools/kube-apiserver/go.mod (got '$kver')"
  minor=${BASH_REMATCH[1]}
  kas="$cache/bin/kube-apiserver-$kver"
  if [ ! -x "$kas" ]; then
    # One build at a time; a second run waits and then finds the binary.
    if command -v flock >/dev/null 2>&1; then
      exec 8>"$cache/bin/.kube-apiserver.lock"
      flock 8
    fi
    if [ ! -x "$kas" ]; then
      log "building kube-apiserver $kver (about 11 minutes the first time; cached in $cache)"
      start=$(date +%s)
      ldflags="-X k8s.io/component-base/version.gitVersion=$kver -X k8s.io/component-base/version.gitMajor=1"
      ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
      tmp="$kas.tmp.$$"
      # GOWORK=off: the tool module is not in go.work (its k8s.io/kubernetes
      # requirements must not join the library's build list).
      (cd "$root/internal/tools/kube-apiserver" && GOWORK=off go build -ldflags "$ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kube-apiserver) >&2 ||
        { rm -f "$tmp"; die "building kube-apiserver failed"; }
      mv "$tmp" "$kas"
      log "built kube-apiserver in $(($(date +%s) - start))s"
    fi
  fi
fi

printf 'export MESHCANARY_ETCD=%q\n' "$etcd_bin"
printf 'export MESHCANARY_PROMETHEUS=%q\n' "$prom_bin"
printf 'export MESHCANARY_PROMTOOL=%q\n' "$promtool_bin"
printf 'export MESHCANARY_ALERTMANAGER=%q\n' "$am_bin"
printf 'export MESHCANARY_KUBE_APISERVER=%q\n' "$kas"
