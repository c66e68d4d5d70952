package analysis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/meshcanary/canary/analysis"
)

// BenchmarkVerdict10Metrics is a full verdict of the default kind of
// composition over 10 scalar metrics (target ≤ 1 ms).
func BenchmarkVerdict10Metrics(b *testing.B) {
	var parts []analysis.Analyzer
	var in analysis.Input
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("m%d", i)
		switch i % 3 {
		case 0:
			parts = append(parts, analysis.Sequential{Metric: name})
		case 1:
			parts = append(parts, analysis.Compare{Metrics: []analysis.Relative{{Metric: name, Tolerance: 0.2, Cumulative: true}}})
		default:
			parts = append(parts, analysis.DualWindow{Metric: name, Bound: 0.02})
		}
		m := analysis.Observed(0.01, 1000)
		in.Observations = append(in.Observations, analysis.Observation{Metric: name, Canary: m, Stable: m, Baseline: m, CanaryTotal: m, StableTotal: analysis.Observed(0.01, 9000)})
	}
	a := analysis.All(parts...)
	b.ReportAllocs()
	for b.Loop() {
		v, err := a.Analyze(context.Background(), in)
		if err != nil || v.Outcome != analysis.Pass {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkMannWhitneyJudge judges 10 metrics of 30 samples each (exact
// distribution, ties included).
func BenchmarkMannWhitneyJudge(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var m analysis.MannWhitney
	var in analysis.Input
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("m%d", i)
		m.Metrics = append(m.Metrics, analysis.Judged{Metric: name, Direction: analysis.Either})
		c, s := make([]float64, 30), make([]float64, 30)
		for k := range c {
			c[k], s[k] = float64(int(100+10*r.NormFloat64())), float64(int(100+10*r.NormFloat64()))
		}
		in.Observations = append(in.Observations, analysis.Observation{Metric: name,
			Canary: analysis.Measurement{Observed: true, Samples: c}, Stable: analysis.Measurement{Observed: true, Samples: s}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Analyze(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRates10Metrics is a Rates verdict over 10 rate metrics with its
// memory from the previous look (target ≤ 1 ms).
func BenchmarkRates10Metrics(b *testing.B) {
	var a analysis.Rates
	var in analysis.Input
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("m%d", i)
		a.Metrics = append(a.Metrics, analysis.Rate{Metric: name})
		in.Observations = append(in.Observations, analysis.Observation{Metric: name,
			Canary: analysis.Observed(0.01, 1000), Stable: analysis.Observed(0.01, 9000)})
	}
	v, err := a.Analyze(context.Background(), in)
	if err != nil {
		b.Fatal(err)
	}
	in.Memory = v.Memory
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Analyze(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
