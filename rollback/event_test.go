package rollback_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // a test binary is a main: Europe/London resolves anywhere

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// An event marshals with its time in UTC and phase names, and round-trips
// (the audit package writes the trail; display renders it for people, see
// display.Event).
func TestEventJSONAndString(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	v := 0.05
	e := rollback.Event{Seq: 7, Time: time.Date(2026, 7, 1, 14, 0, 0, 0, london), Rollout: "checkout",
		Kind: rollback.KindAnalysis, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10,
		Verdict: &analysis.Verdict{Outcome: analysis.Fail, Details: []analysis.Detail{{Metric: "error-rate", Outcome: analysis.Fail, Value: &v, Bound: "<= 0.02", Reason: "0.05 is above the maximum 0.02"}}}}
	e.Time = e.Time.UTC()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	line := string(b)
	if !strings.Contains(line, `"time":"2026-07-01T13:00:00Z"`) || !strings.Contains(line, `"from":"progressing"`) || !strings.Contains(line, `"kind":"analysis"`) {
		t.Errorf("line %s: want UTC time, phase and kind names", line)
	}
	var back rollback.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Verdict == nil || back.Verdict.Outcome != analysis.Fail || *back.Verdict.Details[0].Value != 0.05 {
		t.Errorf("round trip lost the verdict: %+v", back.Verdict)
	}
}
