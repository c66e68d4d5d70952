package rollback_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// TestAnalyzerGetsStepAndMemory: the rollout hands the analyzer the plan
// step and what it returned as Verdict.Memory the time before.
func TestAnalyzerGetsStepAndMemory(t *testing.T) {
	var steps []int
	var mems []string
	a := analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		steps = append(steps, in.Step)
		mems = append(mems, string(in.Memory))
		return analysis.Verdict{Outcome: analysis.Pass, Memory: json.RawMessage(`{"looks":` + string(rune('0'+len(steps))) + `}`)}, nil
	})
	rec := func(time.Time, traffic.Split) []analysis.Observation { return nil }
	cfg := rollback.Config{Name: "memory", Plan: rollback.Plan{Steps: rollback.Weights(10, 50), Interval: time.Minute}, Analyzer: a}
	res, err := rollback.Replay(ctx, cfg, t0, t0.Add(time.Hour), rec)
	if err != nil || res.Final.Phase != rollback.Succeeded {
		t.Fatalf("%v, %v", res.Final.Phase, err)
	}
	if len(steps) != 2 || steps[0] != 0 || steps[1] != 1 {
		t.Errorf("steps %v, want [0 1]", steps)
	}
	if mems[0] != "" || mems[1] != `{"looks":1}` {
		t.Errorf("memories %q", mems)
	}
}

// TestDeadlinePausesOnInconclusive: by default a step still inconclusive
// at its progress deadline pauses for a person, saying how many more
// canary requests a decision needs; RollBackAtDeadline rolls back.
func TestDeadlinePausesOnInconclusive(t *testing.T) {
	a := analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		return analysis.Verdict{Reason: "thin traffic", Evidence: []analysis.Evidence{{Metric: "e", Requests: 60 * int64(in.Looks+1), More: 1200}}}, nil
	})
	rec := func(time.Time, traffic.Split) []analysis.Observation { return nil }
	plan := rollback.Plan{Steps: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: 10 * time.Minute}
	res, err := rollback.Replay(ctx, rollback.Config{Name: "thin", Plan: plan, Analyzer: a}, t0, t0.Add(time.Hour), rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Final.Phase != rollback.Paused || !strings.Contains(res.Final.Reason, "about 1200 more canary requests needed, roughly 20m0s") {
		t.Errorf("%v: %s", res.Final.Phase, res.Final.Reason)
	}
	res, err = rollback.Replay(ctx, rollback.Config{Name: "thin", Plan: plan, Analyzer: a, Policy: rollback.Policy{AtDeadline: rollback.RollBackAtDeadline}}, t0, t0.Add(time.Hour), rec)
	if err != nil || res.Final.Phase != rollback.RolledBack {
		t.Errorf("RollBackAtDeadline: %v, %v", res.Final.Phase, err)
	}
}
