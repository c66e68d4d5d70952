#!/usr/bin/env bash
# Rewrites go.work from the modules found in the tree (see scripts/modules.sh):
# run it after adding or removing a module.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/modules.sh
workspace_file >go.work.new
mv go.work.new go.work
go work edit -fmt
check_workspace
echo "go.work: $(published_modules | wc -l) modules at $(release_version)"
