//go:build race

package rollback_test

// raceEnabled: the race detector slows every child of the crash harness
// several times over, so under -race the harness makes fewer kills (the
// ≥ 1,000-kill run is the plain `go test ./rollback/`).
const raceEnabled = true
