package analysis_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
)

var ctx = context.Background()

func obs(o ...analysis.Observation) analysis.Input { return analysis.Input{Observations: o} }

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var fe *canary.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
		t.Fatalf("err = %v, want a *canary.FieldError for %s", err, field)
	}
	if fe.Field != field {
		t.Errorf("Field = %q, want %q", fe.Field, field)
	}
}

func TestDualWindow(t *testing.T) {
	m := analysis.Observed
	tests := []struct {
		name string
		w    analysis.DualWindow
		o    analysis.Observation
		want analysis.Outcome
	}{
		{"within bound", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "e", Canary: m(0.01, 500)}, analysis.Pass},
		{"blip above bound, history as bad", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "e", Canary: m(0.03, 500), Baseline: m(0.035, 9000)}, analysis.Pass},
		{"above bound and history", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "e", Canary: m(0.03, 500), Baseline: m(0.01, 9000)}, analysis.Fail},
		{"above bound, no history", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "e", Canary: m(0.03, 500)}, analysis.Inconclusive},
		{"both: within both", analysis.DualWindow{Metric: "e", Bound: 0.02, RequireBoth: true}, analysis.Observation{Metric: "e", Canary: m(0.01, 500), Baseline: m(0.01, 9000)}, analysis.Pass},
		{"both: above history", analysis.DualWindow{Metric: "e", Bound: 0.02, RequireBoth: true}, analysis.Observation{Metric: "e", Canary: m(0.015, 500), Baseline: m(0.01, 9000)}, analysis.Fail},
		{"both: tolerance", analysis.DualWindow{Metric: "e", Bound: 0.02, RequireBoth: true, Tolerance: 0.6}, analysis.Observation{Metric: "e", Canary: m(0.015, 500), Baseline: m(0.01, 9000)}, analysis.Pass},
		{"both: no history", analysis.DualWindow{Metric: "e", Bound: 0.02, RequireBoth: true}, analysis.Observation{Metric: "e", Canary: m(0.01, 500)}, analysis.Inconclusive},
		{"decrease: success rate", analysis.DualWindow{Metric: "s", Direction: analysis.Decrease, Bound: 0.99}, analysis.Observation{Metric: "s", Canary: m(0.95, 500), Baseline: m(0.999, 9000)}, analysis.Fail},
		{"too few requests", analysis.DualWindow{Metric: "e", Bound: 0.02, MinCount: 100}, analysis.Observation{Metric: "e", Canary: m(0.5, 10), Baseline: m(0.01, 9000)}, analysis.Inconclusive},
		{"NaN", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "e", Canary: m(math.NaN(), 0)}, analysis.Inconclusive},
		{"negative count", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "e", Canary: m(0.001, -5)}, analysis.Inconclusive},
		{"missing metric", analysis.DualWindow{Metric: "e", Bound: 0.02}, analysis.Observation{Metric: "other", Canary: m(0.001, 5)}, analysis.Inconclusive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.w.Analyze(ctx, obs(tc.o))
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tc.want || len(v.Details) != 1 || v.Details[0].Reason == "" {
				t.Errorf("got %v, want %v", v, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		w     analysis.DualWindow
		field string
	}{
		{analysis.DualWindow{}, "DualWindow.Metric"},
		{analysis.DualWindow{Metric: "e", Bound: math.NaN()}, "DualWindow.Bound"},
		{analysis.DualWindow{Metric: "e", Tolerance: -1}, "DualWindow.Tolerance"},
		{analysis.DualWindow{Metric: "e", Direction: analysis.Either}, "DualWindow.Direction"},
		{analysis.DualWindow{Metric: "e", MinCount: -1}, "DualWindow.MinCount"},
	} {
		_, err := bad.w.Analyze(ctx, obs())
		wantField(t, err, bad.field)
	}
}

func TestCompare(t *testing.T) {
	m := analysis.Observed
	c := analysis.Compare{Metrics: []analysis.Relative{{Metric: "e", Tolerance: 0.1, Margin: 0.005}}, MinCount: 100}
	tests := []struct {
		name string
		c    analysis.Compare
		o    analysis.Observation
		want analysis.Outcome
		cls  string
	}{
		{"same as stable", c, analysis.Observation{Metric: "e", Canary: m(0.01, 500), Stable: m(0.01, 5000)}, analysis.Pass, "pass"},
		{"incident on both", c, analysis.Observation{Metric: "e", Canary: m(0.2, 500), Stable: m(0.19, 5000)}, analysis.Pass, "pass"},
		{"at the bound", c, analysis.Observation{Metric: "e", Canary: m(0.016, 500), Stable: m(0.01, 5000)}, analysis.Pass, "pass"},
		{"above the bound", c, analysis.Observation{Metric: "e", Canary: m(0.0161, 500), Stable: m(0.01, 5000)}, analysis.Fail, "high"},
		{"margin covers zero stable", c, analysis.Observation{Metric: "e", Canary: m(0.004, 500), Stable: m(0, 5000)}, analysis.Pass, "pass"},
		{"few canary requests", c, analysis.Observation{Metric: "e", Canary: m(0.5, 50), Stable: m(0.01, 5000)}, analysis.Inconclusive, "nodata"},
		{"no stable", c, analysis.Observation{Metric: "e", Canary: m(0.5, 500)}, analysis.Inconclusive, "nodata"},
		{"decrease", analysis.Compare{Metrics: []analysis.Relative{{Metric: "s", Direction: analysis.Decrease, Tolerance: 0.01}}},
			analysis.Observation{Metric: "s", Canary: m(0.9, 500), Stable: m(0.99, 5000)}, analysis.Fail, "low"},
		{"either, up", analysis.Compare{Metrics: []analysis.Relative{{Metric: "x", Direction: analysis.Either, Tolerance: 0.1}}},
			analysis.Observation{Metric: "x", Canary: m(12, 500), Stable: m(10, 5000)}, analysis.Fail, "high"},
		{"cumulative", analysis.Compare{Metrics: []analysis.Relative{{Metric: "e", Cumulative: true}}},
			analysis.Observation{Metric: "e", Canary: m(0.5, 500), Stable: m(0.01, 5000), CanaryTotal: m(0.01, 5000), StableTotal: m(0.01, 50000)}, analysis.Pass, "pass"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.c.Analyze(ctx, obs(tc.o))
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tc.want || v.Details[0].Class != tc.cls {
				t.Errorf("got %v, want %v/%s", v, tc.want, tc.cls)
			}
		})
	}
	for _, bad := range []struct {
		c     analysis.Compare
		field string
	}{
		{analysis.Compare{}, "Compare.Metrics"},
		{analysis.Compare{Metrics: []analysis.Relative{{}}}, "Compare.Metrics[0].Metric"},
		{analysis.Compare{Metrics: []analysis.Relative{{Metric: "e", Tolerance: -0.1}}}, "Compare.Metrics[0].Tolerance"},
		{analysis.Compare{Metrics: []analysis.Relative{{Metric: "e", Margin: math.Inf(1)}}}, "Compare.Metrics[0].Margin"},
		{analysis.Compare{Metrics: []analysis.Relative{{Metric: "e"}}, MinCount: -1}, "Compare.MinCount"},
	} {
		_, err := bad.c.Analyze(ctx, obs())
		wantField(t, err, bad.field)
	}
}

func TestSequential(t *testing.T) {
	m := analysis.Observed
	s := analysis.Sequential{Metric: "e"}
	tests := []struct {
		name string
		s    analysis.Sequential
		o    analysis.Observation
		want analysis.Outcome
	}{
		{"5× on 600 requests", s, analysis.Observation{Metric: "e", Canary: m(0.025, 600), Stable: m(0.005, 5400), CanaryTotal: m(0.025, 600), StableTotal: m(0.005, 5400)}, analysis.Fail},
		{"same rate", s, analysis.Observation{Metric: "e", Canary: m(0.005, 600), Stable: m(0.005, 5400), CanaryTotal: m(0.005, 600), StableTotal: m(0.005, 5400)}, analysis.Pass},
		{"better than stable", s, analysis.Observation{Metric: "e", Canary: m(0, 600), Stable: m(0.01, 5400), CanaryTotal: m(0, 600), StableTotal: m(0.01, 5400)}, analysis.Pass},
		{"zero errors both", s, analysis.Observation{Metric: "e", Canary: m(0, 600), Stable: m(0, 5400), CanaryTotal: m(0, 600), StableTotal: m(0, 5400)}, analysis.Pass},
		{"too few requests", s, analysis.Observation{Metric: "e", CanaryTotal: m(1, 20), StableTotal: m(0.005, 5400)}, analysis.Inconclusive},
		{"no stable", s, analysis.Observation{Metric: "e", CanaryTotal: m(0.5, 2000)}, analysis.Inconclusive},
		{"not a rate", s, analysis.Observation{Metric: "e", CanaryTotal: m(3, 2000), StableTotal: m(0.1, 2000)}, analysis.Inconclusive},
		{"short window does not confirm", s, analysis.Observation{Metric: "e", Canary: m(0.005, 600), Stable: m(0.005, 5400), CanaryTotal: m(0.025, 1200), StableTotal: m(0.005, 10800)}, analysis.Inconclusive},
		{"confirmation off", analysis.Sequential{Metric: "e", ConfirmAlpha: 1}, analysis.Observation{Metric: "e", Canary: m(0.005, 600), Stable: m(0.005, 5400), CanaryTotal: m(0.025, 1200), StableTotal: m(0.005, 10800)}, analysis.Fail},
		{"tolerance", analysis.Sequential{Metric: "e", Tolerance: 5}, analysis.Observation{Metric: "e", Canary: m(0.025, 600), Stable: m(0.005, 5400), CanaryTotal: m(0.025, 600), StableTotal: m(0.005, 5400)}, analysis.Pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.s.Analyze(ctx, obs(tc.o))
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tc.want {
				t.Errorf("got %v, want %v", v, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		s     analysis.Sequential
		field string
	}{
		{analysis.Sequential{}, "Sequential.Metric"},
		{analysis.Sequential{Metric: "e", Alpha: 1}, "Sequential.Alpha"},
		{analysis.Sequential{Metric: "e", Alpha: -0.1}, "Sequential.Alpha"},
		{analysis.Sequential{Metric: "e", Tau: math.NaN()}, "Sequential.Tau"},
		{analysis.Sequential{Metric: "e", MinCount: -1}, "Sequential.MinCount"},
		{analysis.Sequential{Metric: "e", ConfirmAlpha: 2}, "Sequential.ConfirmAlpha"},
	} {
		_, err := bad.s.Analyze(ctx, obs())
		wantField(t, err, bad.field)
	}
}

// TestSequentialFalseAlarmsStayUnderAlpha draws good canaries (same rate as
// stable) and looks after every interval for 30 intervals: the share ever
// failed must stay under α, while a fixed per-look z-test at the same level
// fails far more often.
func TestSequentialFalseAlarmsStayUnderAlpha(t *testing.T) {
	runs := 2000
	if testing.Short() {
		runs = 300
	}
	s := analysis.Sequential{Metric: "e", Alpha: 0.05, ConfirmAlpha: 1}
	r := newRand(7)
	seqFails, naiveFails := 0, 0
	for i := 0; i < runs; i++ {
		var ec, es, nc, ns int64
		seqFailed, naiveFailed := false, false
		for look := 0; look < 30; look++ {
			nc += 300
			ns += 2700
			ec += r.binomial(300, 0.01)
			es += r.binomial(2700, 0.01)
			pc, ps := float64(ec)/float64(nc), float64(es)/float64(ns)
			o := analysis.Observation{Metric: "e", CanaryTotal: analysis.Observed(pc, nc), StableTotal: analysis.Observed(ps, ns)}
			v, err := s.Analyze(ctx, obs(o))
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome == analysis.Fail {
				seqFailed = true
			}
			p := (pc*float64(nc) + ps*float64(ns)) / float64(nc+ns)
			z := (pc - ps) / math.Sqrt(p*(1-p)*(1/float64(nc)+1/float64(ns)))
			if z > 1.645 {
				naiveFailed = true
			}
		}
		if seqFailed {
			seqFails++
		}
		if naiveFailed {
			naiveFails++
		}
	}
	seq, naive := float64(seqFails)/float64(runs), float64(naiveFails)/float64(runs)
	t.Logf("false failures over 30 looks: sequential %.3f, fixed z-test %.3f", seq, naive)
	if seq > 0.05 {
		t.Errorf("sequential false-failure rate %.3f above α = 0.05", seq)
	}
	if naive < 2*seq || naive < 0.1 {
		t.Errorf("fixed z-test false-failure rate %.3f: expected it well above the sequential %.3f", naive, seq)
	}
}
