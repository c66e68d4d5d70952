package rollback_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// issue 18's blue/green blind spot, through a rollout: after the switch
// the new version serves 30 requests a minute with 2 errors each (6.7 %)
// against a history of 1 %. analysis.HistoryRate, as
// Config.PostPromotionAnalyzer, adds the minutes after the switch up and
// switches back; a DualWindow that needs 100 requests a window never
// does. The mirror before the switch was much worse (10 %, which the
// pre-promotion analyzer here lets through), and the post-promotion
// analysis must judge the requests after the switch only: its memory
// starts empty at the switch, while Observation.CanaryTotal runs on.
func TestPostPromotionHistoryRateAtLowTraffic(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	rec := func(now time.Time, s traffic.Split) []analysis.Observation {
		o := analysis.Observation{Metric: "error-rate", Baseline: analysis.Observed(0.01, 1800)}
		switch {
		case s.Canary == 100: // after the switch: the new version alone
			o.Canary = analysis.Observed(2.0/30, 30)
		case s.Mirror > 0: // the mirror: copies of 10 % of production
			o.Canary = analysis.Observed(0.1, 600)
			o.Stable = analysis.Observed(0.01, 6000)
		}
		return []analysis.Observation{o}
	}
	// Before the switch: the same analyzer on the mirror, its evidence
	// kept in its memory, but its verdict forced to Pass (the test lets
	// the mirror through).
	passAll := analysis.AnalyzerFunc(func(ctx context.Context, in analysis.Input) (analysis.Verdict, error) {
		v, err := analysis.HistoryRate{Metric: "error-rate"}.Analyze(ctx, in)
		v.Outcome, v.Details, v.Evidence, v.Reason = analysis.Pass, nil, nil, "the test lets the mirror through"
		return v, err
	})
	plan := rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyBlueGreen,
		BlueGreen: &rollback.BlueGreen{Mirror: 10, PrePromotion: 5 * time.Minute, PostPromotion: 30 * time.Minute}}
	run := func(post analysis.Analyzer) (rollback.ReplayResult, time.Time) {
		t.Helper()
		cfg := rollback.Config{Name: "bg", Plan: plan, Policy: rollback.Policy{FailureLimit: 1}, Analyzer: passAll,
			PostPromotionAnalyzer: post, Metrics: []rollback.Metric{{Name: "error-rate"}}}
		res, err := rollback.Replay(context.Background(), cfg, t0, t0.Add(2*time.Hour), rec)
		if err != nil {
			t.Fatal(err)
		}
		var switched time.Time
		for _, e := range res.Events {
			if e.Kind == rollback.KindAction && strings.HasPrefix(e.Reason, "switch:") {
				switched = e.Time
			}
		}
		if switched.IsZero() {
			t.Fatalf("never switched: %v", res.Final)
		}
		return res, switched
	}

	res, switched := run(analysis.HistoryRate{Metric: "error-rate"})
	if res.Final.Phase != rollback.RolledBack {
		t.Fatalf("HistoryRate: final phase %v, want switched back (rolled back): %s", res.Final.Phase, res.Final.Reason)
	}
	first := true
	for _, e := range res.Events {
		if e.Kind != rollback.KindAnalysis || !e.Time.After(switched) || e.Verdict == nil || len(e.Verdict.Details) == 0 {
			continue
		}
		if first {
			// The first analysis after the switch: one window of 30
			// requests, not the mirror's as well.
			if n := e.Verdict.Details[0].Count; n != 30 {
				t.Errorf("first post-promotion analysis rests on %d requests, want 30 (the mirror's left out)", n)
			}
			if tot := e.Observations[0].CanaryTotal.Count; tot <= 30 {
				t.Errorf("CanaryTotal %d: the test means to show that it runs on across the switch", tot)
			}
			first = false
		}
	}
	if first {
		t.Fatal("no analysis after the switch")
	}
	if d := res.Decided.Sub(switched); d > 30*time.Minute {
		t.Errorf("switched back %v after the switch, beyond the post-promotion window", d)
	}
	t.Logf("HistoryRate switched back %v after the switch", res.Decided.Sub(switched))

	res, _ = run(analysis.DualWindow{Metric: "error-rate", Bound: 0.02, MinCount: 100})
	if res.Final.Phase == rollback.RolledBack {
		t.Errorf("DualWindow with MinCount 100 switched back on 30 requests a window: the test no longer shows the blind spot")
	}
}
