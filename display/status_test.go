package display_test

import (
	"testing"
	"time"

	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
)

// A reason saved before EvidenceAt existed (its time in the text), or one
// without the evidence clause, is written as it is.
func TestReasonWithoutItsInstant(t *testing.T) {
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	old := "progress deadline passed; the evidence has arrived since: a passing analysis at 05/01/2026 09:00:00 GMT, analysis 4; Resume to go on, or Promote or Abort"
	for _, st := range []rollback.Status{
		{Reason: old},
		{Reason: "paused by alice", EvidenceAt: at},
		{Reason: "progress deadline passed; the evidence has arrived since: soon", EvidenceAt: at},
	} {
		if got := display.Reason(st, time.UTC); got != st.Reason {
			t.Errorf("Reason(%+v) = %q, want it as it is", st, got)
		}
	}
	st := rollback.Status{EvidenceAt: at,
		Reason: "progress deadline passed; the evidence has arrived since: a passing analysis, analysis 4; Resume to go on, or Promote or Abort"}
	if got := display.Reason(st, nil); got != old {
		t.Errorf("Reason(st, nil) = %q, want %q", got, old)
	}
	if got := display.Shape(rollback.Status{Shape: "A/B test"}, time.UTC); got != "A/B test" {
		t.Errorf("Shape without WarmUntil = %q", got)
	}
	if display.Error(nil, time.UTC) != "" {
		t.Error("Error(nil) is not empty")
	}
}
