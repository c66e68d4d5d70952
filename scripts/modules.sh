# Sourced by the scripts: the repository's modules.
#
# published_modules prints the directory of every published module (every
# go.mod outside internal/tools/ and testdata/), relative to the repository
# root, the root module "." first. tool_modules prints the development
# tools' modules (internal/tools/*): not published, not in go.work, built
# with GOWORK=off.

published_modules() {
  find . -name go.mod -not -path './.git/*' -not -path './internal/tools/*' -not -path '*/testdata/*' \
    -exec dirname {} \; | sed 's|^\./||' | LC_ALL=C sort
}

tool_modules() {
  find ./internal/tools -name go.mod -not -path '*/testdata/*' -exec dirname {} \; 2>/dev/null |
    sed 's|^\./||' | LC_ALL=C sort
}

module_path() { sed -n 's/^module[[:space:]]*//p' "$1/go.mod" | tr -d '"' | head -1; }

# release_version prints the version the modules require of each other
# (the next release), v0.1.0 if none does.
release_version() {
  local v
  v=$(for m in $(published_modules); do
        go mod edit -json "$m/go.mod" | tr -d ' \t' | tr '\n' ' ' |
          grep -o '"Path":"github.com/meshcanary/canary[^"]*","Version":"[^"]*"' | sed 's/.*"Version":"//; s/"$//'
      done | sort | uniq -c | sort -rn | awk 'NR==1{print $2}')
  echo "${v:-v0.1.0}"
}

# workspace_file prints the go.work the repository needs: every published
# module in use, and a replace of each at the release version by its
# directory. (A workspace module is a root of the build list but does not
# replace the versions others require of it, see
# https://github.com/golang/go/issues/66516; without these lines the go
# command would look for the unreleased version on the proxy. go.work is
# not published, so these replaces never reach a user.)
workspace_file() {
  local v m
  v=$(release_version)
  echo "go $(go mod edit -json go.mod | sed -n 's/^[[:space:]]*"Go": "\(.*\)",*$/\1/p')"
  echo
  echo "use ("
  for m in $(published_modules); do
    if [ "$m" = . ]; then echo "	."; else echo "	./$m"; fi
  done
  echo ")"
  echo
  echo "replace ("
  for m in $(published_modules); do
    if [ "$m" = . ]; then echo "	$(module_path .) $v => ./"; else echo "	$(module_path "$m") $v => ./$m"; fi
  done
  echo ")"
}

# check_workspace fails unless go.work is exactly what workspace_file prints.
check_workspace() {
  if ! diff -u go.work <(workspace_file) >&2; then
    echo "go.work does not match the modules (every go.mod outside internal/tools); fix: bash scripts/work.sh" >&2
    return 1
  fi
}
