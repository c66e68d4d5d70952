package analysis_test

import (
	"context"
	"math"
	"testing"

	"github.com/meshcanary/canary/analysis"
)

func samples(vs ...float64) analysis.Measurement {
	return analysis.Measurement{Observed: true, Samples: vs}
}

func TestMannWhitney(t *testing.T) {
	lowS := samples(10, 11, 9, 10, 12, 11, 10, 9, 11, 10)
	highS := samples(15, 16, 14, 15, 17, 16, 15, 14, 16, 15)
	slightly := samples(10.5, 11.5, 9.5, 10.5, 12.5, 11.5, 10.5, 9.5, 11.5, 10.6)
	tests := []struct {
		name  string
		j     analysis.Judged
		c, s  analysis.Measurement
		class string
		crit  bool
		want  analysis.Outcome
	}{
		{"higher, increase bad", analysis.Judged{Metric: "m"}, highS, lowS, "high", false, analysis.Fail},
		{"lower, increase bad", analysis.Judged{Metric: "m"}, lowS, highS, "pass", false, analysis.Pass},
		{"lower, decrease bad", analysis.Judged{Metric: "m", Direction: analysis.Decrease}, lowS, highS, "low", false, analysis.Fail},
		{"lower, either", analysis.Judged{Metric: "m", Direction: analysis.Either}, lowS, highS, "low", false, analysis.Fail},
		{"same", analysis.Judged{Metric: "m", Direction: analysis.Either}, lowS, lowS, "pass", false, analysis.Pass},
		{"significant but small effect", analysis.Judged{Metric: "m", AllowedIncrease: 1.2}, slightly, lowS, "pass", false, analysis.Pass},
		{"critical increase", analysis.Judged{Metric: "m", CriticalIncrease: 1.3}, highS, lowS, "high", true, analysis.Fail},
		{"critical metric", analysis.Judged{Metric: "m", Critical: true}, highS, lowS, "high", true, analysis.Fail},
		{"NaN removed leaves too few", analysis.Judged{Metric: "m"}, samples(math.NaN(), math.NaN(), 1), lowS, "nodata", false, analysis.Inconclusive},
		{"NaN replaced by zero", analysis.Judged{Metric: "m", Direction: analysis.Decrease, NaN: analysis.ReplaceNaN},
			samples(math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()), lowS, "low", false, analysis.Fail},
		{"outlier removed", analysis.Judged{Metric: "m", RemoveOutliers: true}, samples(10, 11, 9, 10, 12, 11, 10, 9, 11, 1000), lowS, "pass", false, analysis.Pass},
		{"empty", analysis.Judged{Metric: "m"}, samples(), lowS, "nodata", false, analysis.Inconclusive},
		{"not observed", analysis.Judged{Metric: "m"}, analysis.Measurement{}, lowS, "nodata", false, analysis.Inconclusive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := analysis.MannWhitney{Metrics: []analysis.Judged{tc.j}}
			v, err := m.Analyze(ctx, obs(analysis.Observation{Metric: "m", Canary: tc.c, Stable: tc.s}))
			if err != nil {
				t.Fatal(err)
			}
			d := v.Details[0]
			if d.Class != tc.class || v.Outcome != tc.want {
				t.Fatalf("class %s, outcome %v (%s); want %s, %v", d.Class, v.Outcome, d.Reason, tc.class, tc.want)
			}
			if tc.crit && (v.Score == nil || *v.Score != 0) {
				t.Errorf("critical failure scored %v", v.Score)
			}
			if d.Class != "nodata" && (d.PValue == nil || d.Statistic == nil || d.Bound == "") {
				t.Errorf("detail lacks the statistics: %+v", d)
			}
		})
	}
}

func TestMannWhitneyScore(t *testing.T) {
	lowS := samples(10, 11, 9, 10, 12, 11, 10, 9, 11, 10)
	highS := samples(15, 16, 14, 15, 17, 16, 15, 14, 16, 15)
	in := obs(
		analysis.Observation{Metric: "a", Canary: highS, Stable: lowS},
		analysis.Observation{Metric: "b", Canary: lowS, Stable: lowS},
		analysis.Observation{Metric: "c", Canary: lowS, Stable: lowS},
		analysis.Observation{Metric: "d", Canary: lowS, Stable: lowS},
	)
	m := analysis.MannWhitney{
		Metrics: []analysis.Judged{
			{Metric: "a", Group: "latency"}, {Metric: "b", Group: "latency"},
			{Metric: "c", Group: "errors"}, {Metric: "d", Group: "errors"},
		},
		GroupWeights: map[string]float64{"latency": 60, "errors": 40},
	}
	v, err := m.Analyze(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// latency 50 % × 60 + errors 100 % × 40 = 70 < marginal 75
	if v.Score == nil || math.Abs(*v.Score-70) > 1e-9 || v.Outcome != analysis.Fail {
		t.Fatalf("score %v outcome %v", v.Score, v.Outcome)
	}
	m.MarginalScore = 60
	if v, _ = m.Analyze(ctx, in); v.Outcome != analysis.Inconclusive {
		t.Errorf("marginal score: outcome %v", v.Outcome)
	}
	m.PassScore, m.MarginalScore = 70, 50
	if v, _ = m.Analyze(ctx, in); v.Outcome != analysis.Pass {
		t.Errorf("score at pass: outcome %v", v.Outcome)
	}

	for _, bad := range []struct {
		m     analysis.MannWhitney
		field string
	}{
		{analysis.MannWhitney{}, "MannWhitney.Metrics"},
		{analysis.MannWhitney{Metrics: []analysis.Judged{{Metric: "a"}}, ConfLevel: 1.5}, "MannWhitney.ConfLevel"},
		{analysis.MannWhitney{Metrics: []analysis.Judged{{Metric: "a"}}, GroupWeights: map[string]float64{"default": 90}}, "MannWhitney.GroupWeights"},
		{analysis.MannWhitney{Metrics: []analysis.Judged{{Metric: "a", Group: "x"}}, GroupWeights: map[string]float64{"default": 100}}, "MannWhitney.GroupWeights"},
		{analysis.MannWhitney{Metrics: []analysis.Judged{{Metric: "a", AllowedIncrease: 0.5}}}, "MannWhitney.Metrics[0].AllowedIncrease"},
		{analysis.MannWhitney{Metrics: []analysis.Judged{{Metric: "a", NaN: 9}}}, "MannWhitney.Metrics[0].NaN"},
		{analysis.MannWhitney{Metrics: []analysis.Judged{{Metric: "a"}}, PassScore: 50, MarginalScore: 80}, "MannWhitney.MarginalScore"},
	} {
		_, err := bad.m.Analyze(ctx, in)
		wantField(t, err, bad.field)
	}
}

func TestComposition(t *testing.T) {
	fixed := func(o analysis.Outcome) analysis.Analyzer {
		return analysis.AnalyzerFunc(func(_ context.Context, _ analysis.Input) (analysis.Verdict, error) {
			return analysis.Verdict{Outcome: o, Details: []analysis.Detail{{Metric: o.String(), Outcome: o}}}, nil
		})
	}
	P, F, I := fixed(analysis.Pass), fixed(analysis.Fail), fixed(analysis.Inconclusive)
	tests := []struct {
		name string
		a    analysis.Analyzer
		want analysis.Outcome
	}{
		{"all pass", analysis.All(P, P), analysis.Pass},
		{"all with a fail", analysis.All(P, I, F), analysis.Fail},
		{"all with unknown", analysis.All(P, I), analysis.Inconclusive},
		{"any pass", analysis.Any(F, P), analysis.Pass},
		{"any all fail", analysis.Any(F, F), analysis.Fail},
		{"any unknown", analysis.Any(F, I), analysis.Inconclusive},
		{"weighted pass", analysis.Scorecard{Parts: []analysis.Part{{P, 0.8}, {F, 0.2}}}, analysis.Pass},
		{"weighted fail", analysis.Scorecard{Parts: []analysis.Part{{P, 0.4}, {F, 0.6}}}, analysis.Fail},
		{"weighted unknown blocks pass", analysis.Scorecard{Parts: []analysis.Part{{P, 0.7}, {I, 0.3}}}, analysis.Inconclusive},
		{"weighted unknown cannot save", analysis.Scorecard{Parts: []analysis.Part{{F, 0.6}, {I, 0.4}}}, analysis.Fail},
	}
	for _, tc := range tests {
		v, err := tc.a.Analyze(ctx, analysis.Input{})
		if err != nil {
			t.Fatal(tc.name, err)
		}
		if v.Outcome != tc.want || len(v.Details) < 2 {
			t.Errorf("%s: %v, want %v with every detail", tc.name, v, tc.want)
		}
	}
	for _, bad := range []struct {
		a     analysis.Analyzer
		field string
	}{
		{analysis.All(), "all"},
		{analysis.Any(nil), "any[0]"},
		{analysis.Scorecard{}, "Scorecard.Parts"},
		{analysis.Scorecard{Parts: []analysis.Part{{P, 0.5}, {F, 0.4}}}, "Scorecard.Parts"},
		{analysis.Scorecard{Parts: []analysis.Part{{P, -1}, {F, 2}}}, "Scorecard.Parts[0].Weight"},
		{analysis.Scorecard{Parts: []analysis.Part{{nil, 1}}}, "Scorecard.Parts[0].Analyzer"},
	} {
		_, err := bad.a.Analyze(ctx, analysis.Input{})
		wantField(t, err, bad.field)
	}
}
