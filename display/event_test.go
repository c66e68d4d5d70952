package display_test

import (
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

var t0 = time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC)

// Each kind of event on one line, in the default location (what the
// Event.String of rollback wrote before rendering moved here).
func TestEventLines(t *testing.T) {
	v := 0.05
	for _, tc := range []struct {
		e    rollback.Event
		want string
	}{
		{rollback.Event{Time: t0, Kind: rollback.KindAnalysis, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10, Failures: 1,
			Verdict: &analysis.Verdict{Outcome: analysis.Fail, Details: []analysis.Detail{{Metric: "error-rate", Outcome: analysis.Fail, Value: &v, Bound: "<= 0.02", Reason: "0.05 is above the maximum 0.02"}}},
			Reason:  "not shown on an analysis"},
			"01/07/2026 14:00:00 BST  progressing       analysis at canary 10 %: fail; error-rate 0.05 (<= 0.02) 0.05 is above the maximum 0.02; failures 1"},
		{rollback.Event{Time: t0, Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.RollingBack, WeightFrom: 10, WeightTo: 0, Actor: "alice", Reason: "bad"},
			"01/07/2026 14:00:00 BST  rolling-back      progressing → rolling-back, canary 10 % → 0 % by alice — bad"},
		{rollback.Event{Time: t0, Kind: rollback.KindAction, To: rollback.Progressing, Action: "set-split", Split: &traffic.Split{Stable: 90, Canary: 10}},
			"01/07/2026 14:00:00 BST  progressing       set-split stable 90% / canary 10%"},
		{rollback.Event{Time: t0, Kind: rollback.KindManual, To: rollback.Paused, Action: "pause", Actor: "bob"},
			"01/07/2026 14:00:00 BST  paused            pause by bob"},
		{rollback.Event{Time: t0, Kind: rollback.KindFailure, To: rollback.Progressing, Action: "query error-rate", Error: "timeout", Repeats: 3},
			"01/07/2026 14:00:00 BST  progressing       query error-rate failed: timeout (3 times)"},
		{rollback.Event{Time: t0, Kind: rollback.KindAlert, To: rollback.Paused, Action: "analyze", Reason: "failing while paused"},
			"01/07/2026 14:00:00 BST  paused            alert analyze — failing while paused"},
	} {
		if got := display.Event(tc.e, nil); got != tc.want {
			t.Errorf("Event(%s) =\n%q, want\n%q", tc.e.Kind, got, tc.want)
		}
	}
}

// The location is the caller's: the same event in another zone changes
// only the time.
func TestEventInLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	e := rollback.Event{Time: t0, Kind: rollback.KindManual, To: rollback.Paused, Action: "pause", Actor: "bob"}
	london, _ := display.DefaultLocation()
	if a, b := display.Event(e, nil), display.Event(e, london); a != b {
		t.Errorf("nil location %q, Europe/London %q: want the same", a, b)
	}
	if got, want := display.Event(e, tokyo), "01/07/2026 22:00:00 JST  paused            pause by bob"; got != want {
		t.Errorf("Event in Tokyo = %q, want %q", got, want)
	}
	if got, want := display.Event(e, time.UTC), "01/07/2026 13:00:00 UTC  paused            pause by bob"; got != want {
		t.Errorf("Event in UTC = %q, want %q", got, want)
	}
}

// TestEventEscapes: back-end error text was written verbatim, so a
// metrics server could forge timeline lines or send terminal escapes.
func TestEventEscapes(t *testing.T) {
	e := rollback.Event{Time: t0, Kind: rollback.KindFailure, Action: "query error-rate",
		Error: "boom\n24/11/2026 09:00:00 GMT  succeeded  promoted\x1b[2J\u202e"}
	s := display.Event(e, nil)
	if strings.ContainsAny(s, "\n\x1b\u202e") {
		t.Errorf("Event() = %q keeps control characters", s)
	}
	if !strings.Contains(s, `\n24/11/2026`) || !strings.Contains(s, `\x1b[2J`) {
		t.Errorf("Event() = %q, want the escapes visible", s)
	}
}
