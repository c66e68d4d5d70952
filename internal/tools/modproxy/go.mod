// Module modproxy builds a file-based Go module proxy from the working tree,
// so that scripts/modcheck.sh can check each published module the way a
// user's go command will see it. It is a development tool: not published,
// not in go.work (run it with GOWORK=off).
module github.com/meshcanary/canary/internal/tools/modproxy

go 1.26.0

require golang.org/x/mod v0.43.0
