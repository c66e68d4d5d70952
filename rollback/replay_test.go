package rollback_test

import (
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

func TestReplayFindsWhenAPolicyWouldRollBack(t *testing.T) {
	fault := t0.Add(7 * time.Minute)
	rec := func(now time.Time, split traffic.Split) []analysis.Observation {
		rate := 0.004
		if !now.Before(fault) {
			rate = 0.06
		}
		return []analysis.Observation{{Metric: "error-rate", Canary: analysis.Observed(rate, int64(10*split.Canary+1))}}
	}
	cfg := rollback.Config{
		Name:     "replayed",
		Plan:     rollback.Plan{Stages: rollback.Weights(5, 10, 20, 50), Interval: time.Minute, Hold: 3 * time.Minute},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
	}
	for _, tc := range []struct {
		policy  rollback.Policy
		decided time.Time
		looks   int
	}{
		{rollback.Policy{FailureLimit: 1}, fault, 7},
		{rollback.Policy{}, fault.Add(time.Minute), 8},
		{rollback.Policy{FailureLimit: 5}, fault.Add(4 * time.Minute), 11},
	} {
		res, err := rollback.Replay(ctx, rollback.Config{Name: cfg.Name, Plan: cfg.Plan, Policy: tc.policy, Analyzer: cfg.Analyzer}, t0, t0.Add(time.Hour), rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Final.Phase != rollback.RolledBack || !res.Decided.Equal(tc.decided) || res.Looks != tc.looks {
			t.Errorf("limit %d: final %v decided %v after %d looks; want rolled-back at %v after %d",
				tc.policy.FailureLimit, res.Final.Phase, res.Decided, res.Looks, tc.decided, tc.looks)
		}
	}
	if _, err := rollback.Replay(ctx, cfg, t0, t0.Add(-time.Second), rec); err == nil {
		t.Error("Replay with until before start succeeded")
	}
}
