#!/usr/bin/env bash
# Checks every published module of the repository the way a user's go
# command will see it once it is tagged, without tagging anything:
#
#  1. builds a file-based module proxy from the working tree
#     (internal/tools/modproxy), serving every published module at the
#     version the modules require of each other (the next release);
#  2. with GOWORK=off, GOFLAGS=-mod=mod and GOPROXY pointing first at that
#     proxy (then the module cache's downloads, then the usual proxy), and a
#     private module cache under ~/.cache/meshcanary/modcheck (so that the
#     unreleased version never lands in the user's own module cache):
#     - the core: a scratch module importing every public core package
#       resolves to exactly two modules (itself and the core), so importing
#       the core adds no requirement; and a scratch module pinned to
#       k8s.io/client-go v0.36.2 keeps v0.36.2 after `go mod tidy`;
#     - every module, from its own zip (what users download): it holds a
#       LICENSE (its own, or the repository's, which the go command adds
#       to a module in a subdirectory; modproxy does the same); `go mod tidy`
#       changes neither go.mod nor go.sum (lines for this repository's own
#       modules aside: they are resolved through go.work during
#       development), and every package and test dependency resolves with
#       the module's own requirements (`go list -deps -test ./...`);
#     - every other module: a scratch module imports each of its public
#       packages after `go get module@version`, tidies, and resolves them;
#       a command (main package) resolves after `go get module@version`.
#   With MESHCANARY_MODCHECK_BUILD=1 it also compiles: `go vet ./...` in
#   each module alone (its own requirement versions, not the workspace's
#   combined build list), `go build` in each scratch module and
#   `go install pkg@version` of each command. That compiles every
#   dependency once more in the private module cache (minutes the first
#   time); the release checklist in CONTRIBUTING.md runs it.
#
# Usage: bash scripts/modcheck.sh          # check
#        bash scripts/modcheck.sh --tidy   # rewrite go.mod/go.sum as tidy would
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/modules.sh

tidy_only=0
build=${MESHCANARY_MODCHECK_BUILD:-0}
[ "${1:-}" = --tidy ] && tidy_only=1

cache=${MESHCANARY_CACHE:-$HOME/.cache/meshcanary}
modcache=$cache/modcheck/mod
mkdir -p "$modcache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/modcheck/lock"
  flock 9
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/modcheck.XXXXXX")
cleanup() { chmod -R u+w "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The repository's own modules at the unreleased version come from the
# working tree on every run, never from an earlier run's cache.
for d in "$modcache/github.com/meshcanary" "$modcache/cache/download/github.com/meshcanary"; do
  if [ -e "$d" ]; then chmod -R u+w "$d"; rm -rf "$d"; fi
done

shared=$(go env GOMODCACHE)
upstream=$(go env GOPROXY)
goflags="$(go env GOFLAGS) -mod=mod"
check_workspace
mods=$(published_modules)
version=$(cd internal/tools/modproxy && GOWORK=off go run . -out "$work/proxy" $(for m in $mods; do echo "$root/$m"; done))
echo "modcheck: serving $(echo "$mods" | wc -l) modules at $version from the working tree"

export GOWORK=off GOFLAGS="$goflags" GOMODCACHE="$modcache" GONOSUMDB=github.com/meshcanary/canary
# The go command indexes each module of the module cache once, by path and
# version (modules there are immutable); ours change under one version from
# run to run, so the index is turned off (else new packages go unseen).
export GODEBUG="${GODEBUG:+$GODEBUG,}goindex=0"
export GOPROXY="file://$work/proxy,file://$shared/cache/download,$upstream"

modpath() { sed -n 's/^module[[:space:]]*//p' "$root/$1/go.mod" | tr -d '"' | head -1; }
fail() { echo "modcheck: FAIL: $*" >&2; exit 1; }
# quiet runs a command and shows its output only if it fails.
quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [ $rc -eq 0 ] || printf '%s\n' "$out" >&2
  return $rc
}
own='^github\.com/meshcanary/canary[/ ]'
checked=0

# zipdir copies module $1's zip (as users download it) to a writable dir.
zipdir() {
  local dir dst
  dir=$(go mod download -json "$1@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$dir" ] || fail "go mod download $1@$version gave no directory"
  dst="$work/src/$(echo "$1" | tr / _)"
  mkdir -p "$(dirname "$dst")"
  cp -r "$dir" "$dst"
  chmod -R u+w "$dst"
  echo "$dst"
}

scratch() {
  local s="$work/scratch/$1"
  mkdir -p "$s"
  (cd "$s" && go mod init example.com/scratch >/dev/null 2>&1)
  echo "$s"
}

for m in $mods; do
  path=$(modpath "$m")
  src=$(zipdir "$path")
  [ -f "$src/LICENSE" ] || fail "$path: no LICENSE in its zip (pkg.go.dev shows no documentation without one)"
  (cd "$src" && quiet go mod tidy) || fail "$path: go mod tidy"
  sum_tree=$( { [ -f "$m/go.sum" ] && grep -Ev "$own" "$m/go.sum"; } || true)
  sum_tidy=$( { [ -f "$src/go.sum" ] && grep -Ev "$own" "$src/go.sum"; } || true)
  if [ $tidy_only = 1 ]; then
    cp "$src/go.mod" "$m/go.mod"
    if [ -n "$sum_tidy" ]; then printf '%s\n' "$sum_tidy" >"$m/go.sum"; else rm -f "$m/go.sum"; fi
    echo "tidied $path"
    continue
  fi
  if ! diff -u "$m/go.mod" "$src/go.mod"; then
    fail "$m/go.mod is not tidy (run: bash scripts/modcheck.sh --tidy)"
  fi
  if [ "$sum_tree" != "$sum_tidy" ]; then
    diff -u <(printf '%s\n' "$sum_tree") <(printf '%s\n' "$sum_tidy") | head -20 || true
    fail "$m/go.sum is not tidy (run: bash scripts/modcheck.sh --tidy)"
  fi
  (cd "$src" && GOFLAGS="${GOFLAGS/-mod=mod/-mod=readonly}" go list -deps -test ./... >/dev/null) ||
    fail "$path: its packages and tests do not resolve with its own go.mod and go.sum"
  if [ "$build" = 1 ]; then
    (cd "$src" && go vet ./...) || fail "$path: go vet ./... with the module's own requirements"
  fi

  # Its public packages, as a user imports them.
  pkgs=$(cd "$src" && go list -f '{{.Name}} {{.ImportPath}}' ./... | grep -v '/internal/\|/internal$' || true)
  libs=$(echo "$pkgs" | awk '$1 != "main" && NF {print $2}')
  mains=$(echo "$pkgs" | awk '$1 == "main" {print $2}')
  if [ "$m" = . ]; then
    # The core: no requirements at all.
    s=$(scratch core)
    { echo "package scratch"; echo; echo "import ("; for p in $libs; do echo "	_ \"$p\""; done; echo ")"; } >"$s/scratch.go"
    (cd "$s" && quiet go get "$path@$version" && quiet go mod tidy && go list -deps ./... >/dev/null && { [ "$build" != 1 ] || go build ./...; }) || fail "core: scratch module"
    n=$(cd "$s" && go list -m all | wc -l)
    if [ "$n" != 2 ]; then
      (cd "$s" && go list -m all) >&2
      fail "importing the core brings $((n - 2)) other modules into a scratch module's build list; the core must have no requirements"
    fi
    echo "ok  $path: a scratch module importing its $(echo "$libs" | wc -w) public packages has no other module in its build list"
    s=$(scratch pinned)
    printf 'package scratch\n\nimport (\n\t_ "github.com/meshcanary/canary/rollback"\n\t_ "k8s.io/client-go/kubernetes"\n)\n' >"$s/scratch.go"
    (cd "$s" && quiet go get k8s.io/client-go@v0.36.2 && quiet go get "$path@$version" && quiet go mod tidy && go list -deps ./... >/dev/null && { [ "$build" != 1 ] || go build ./...; }) ||
      fail "core: scratch module pinned to k8s.io/client-go v0.36.2"
    got=$(cd "$s" && go list -m -f '{{.Version}}' k8s.io/client-go)
    [ "$got" = v0.36.2 ] || fail "a module pinned to k8s.io/client-go v0.36.2 importing rollback moved to $got"
    echo "ok  $path: a module pinned to k8s.io/client-go v0.36.2 that imports rollback keeps v0.36.2"
  else
    if [ -n "$libs" ]; then
      s=$(scratch "$(echo "$path" | tr / _)")
      { echo "package scratch"; echo; echo "import ("; for p in $libs; do echo "	_ \"$p\""; done; echo ")"; } >"$s/scratch.go"
      (cd "$s" && quiet go get "$path@$version" && quiet go mod tidy && go list -deps ./... >/dev/null && { [ "$build" != 1 ] || go build ./...; }) || fail "$path: scratch module importing $libs"
    fi
    if [ -n "$mains" ]; then
      s=$(scratch "$(echo "$path" | tr / _)-cmd")
      (cd "$s" && quiet go get "$path@$version" && go list -deps $mains >/dev/null) || fail "$path: go get, then go list -deps $mains"
      if [ "$build" = 1 ]; then
        for p in $mains; do
          (cd "$work" && GOBIN="$work/bin" go install "$p@$version") || fail "go install $p@$version"
        done
      fi
    fi
  fi
  checked=$((checked + 1))
  what="tidy, resolves alone"
  [ "$build" = 1 ] && what="tidy, vet alone"
  if [ "$m" != . ] && [ -z "$libs$mains" ]; then
    what="$what (internal: no public package; users get it through the modules that import it)"
  elif [ "$m" != . ]; then
    what="$what, go get from a scratch module ($(echo "$libs" | wc -w) packages, $(echo "$mains" | wc -w) commands)"
  fi
  echo "ok  $path: $what"
done
if [ $tidy_only = 0 ]; then
  echo "modcheck: $checked modules checked at $version: all tidy, none with replace, each resolves on its own$( [ "$build" = 1 ] && echo " and builds")"
fi
