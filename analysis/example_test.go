package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/meshcanary/canary/analysis"
)

func ExampleDualWindow() {
	rule := analysis.DualWindow{Metric: "error-rate", Bound: 0.02}
	in := analysis.Input{Observations: []analysis.Observation{{
		Metric:   "error-rate",
		Canary:   analysis.Observed(0.025, 800),  // the last 2 minutes
		Baseline: analysis.Observed(0.031, 9000), // the 30 minutes before
	}}}
	v, _ := rule.Analyze(context.Background(), in)
	fmt.Println(v.Outcome, "-", v.Reason)
	// Output: pass - 0.025 is beyond the bound 0.02 but no worse than the baseline 0.031
}

func ExampleCompare() {
	rule := analysis.Compare{Metrics: []analysis.Relative{{Metric: "error-rate", Tolerance: 0.1, Margin: 0.005}}}
	in := analysis.Input{Observations: []analysis.Observation{{
		Metric: "error-rate",
		Canary: analysis.Observed(0.04, 1000),
		Stable: analysis.Observed(0.01, 9000),
	}}}
	v, _ := rule.Analyze(context.Background(), in)
	fmt.Println(v.Outcome, "-", v.Details[0].Reason)
	// Output: fail - canary 0.04 is above stable 0.01 × 1.1 + 0.005 = 0.016
}

func ExampleSequential() {
	test := analysis.Sequential{Metric: "error-rate", Alpha: 0.01}
	in := analysis.Input{Observations: []analysis.Observation{{
		Metric:      "error-rate",
		Canary:      analysis.Observed(0.025, 600),
		Stable:      analysis.Observed(0.005, 5400),
		CanaryTotal: analysis.Observed(0.025, 600),
		StableTotal: analysis.Observed(0.005, 5400),
	}}}
	v, _ := test.Analyze(context.Background(), in)
	fmt.Printf("%v, always-valid p = %.2g\n", v.Outcome, *v.Details[0].PValue)
	// Output: fail, always-valid p = 6e-05
}

func ExampleMannWhitney() {
	judge := analysis.MannWhitney{Metrics: []analysis.Judged{
		{Metric: "latency", AllowedIncrease: 1.1, CriticalIncrease: 2},
		{Metric: "cpu", Direction: analysis.Either},
	}}
	in := analysis.Input{Observations: []analysis.Observation{
		{Metric: "latency",
			Canary: analysis.Measurement{Observed: true, Samples: []float64{0.31, 0.29, 0.35, 0.33, 0.30, 0.34, 0.32}},
			Stable: analysis.Measurement{Observed: true, Samples: []float64{0.21, 0.20, 0.22, 0.19, 0.23, 0.21, 0.20}}},
		{Metric: "cpu",
			Canary: analysis.Measurement{Observed: true, Samples: []float64{0.5, 0.52, 0.49, 0.51, 0.5}},
			Stable: analysis.Measurement{Observed: true, Samples: []float64{0.5, 0.51, 0.5, 0.49, 0.52}}},
	}}
	v, _ := judge.Analyze(context.Background(), in)
	fmt.Println(v.Outcome, *v.Score)
	for _, d := range v.Details {
		fmt.Println(d.Metric, d.Class)
	}
	// Output:
	// fail 50
	// latency high
	// cpu pass
}

func ExampleAll() {
	a := analysis.All(
		analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		analysis.Compare{Metrics: []analysis.Relative{{Metric: "latency-p99", Tolerance: 0.2}}},
	)
	in := analysis.Input{Observations: []analysis.Observation{
		{Metric: "error-rate", Canary: analysis.Observed(0.004, 900)},
		{Metric: "latency-p99", Canary: analysis.Observed(0.2, 900), Stable: analysis.Observed(0.21, 8000)},
	}}
	v, _ := a.Analyze(context.Background(), in)
	fmt.Println(v.Outcome, len(v.Details))
	// Output: pass 2
}

func ExampleScorecard() {
	pass := analysis.AnalyzerFunc(func(context.Context, analysis.Input) (analysis.Verdict, error) {
		return analysis.Verdict{Outcome: analysis.Pass}, nil
	})
	unknown := analysis.AnalyzerFunc(func(context.Context, analysis.Input) (analysis.Verdict, error) {
		return analysis.Verdict{}, nil
	})
	w := analysis.Scorecard{Parts: []analysis.Part{{Analyzer: pass, Weight: 0.6}, {Analyzer: unknown, Weight: 0.4}}}
	v, _ := w.Analyze(context.Background(), analysis.Input{})
	fmt.Println(v.Outcome) // 60 if the unknown part failed, 100 if it passed: not yet a pass
	// Output: inconclusive
}

func ExampleDefaultPreset() {
	// Errors, and latency as the share of requests slower than a bound
	// (both rate metrics, judged the same way).
	p := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate", Slow: "slower-than-250ms"})
	r := p.Analyzer.(analysis.Rates)
	fmt.Println(p.Name, p.FailureLimit, p.NoData, len(r.Metrics), r.Metrics[1].Ratio, r.Metrics[1].Margin)
	// Output: default 1 hold 2 2 0.005
}

func ExampleRates() {
	// Errors judged in both directions: a regression is at least 2 × the
	// stable version's rate and 0.5 points above it.
	a := analysis.Rates{Metrics: []analysis.Rate{{Metric: "error-rate"}}}
	var memory json.RawMessage // what the rollout keeps between analyses
	for minute := 1; minute <= 20; minute++ {
		in := analysis.Input{Stage: 0, Memory: memory, Observations: []analysis.Observation{{
			Metric: "error-rate",
			Canary: analysis.Observed(0.01, 600),  // 6 errors in 600 requests
			Stable: analysis.Observed(0.01, 5400), // 54 in 5,400
		}}}
		v, err := a.Analyze(context.Background(), in)
		if err != nil {
			panic(err)
		}
		memory = v.Memory
		if v.Outcome != analysis.Inconclusive {
			e := v.Evidence[0]
			fmt.Printf("minute %d: %v on %d canary requests\n", minute, v.Outcome, e.Requests)
			break
		}
	}
	// Output: minute 4: pass on 2400 canary requests
}

func ExampleHistoryRate() {
	// After a blue/green switch the new version serves every request,
	// about 30 a minute; the service's history is its hour before.
	post := analysis.HistoryRate{Metric: "error-rate"}
	var mem json.RawMessage
	for minute := 1; minute <= 30; minute++ { // the post-promotion window
		v, err := post.Analyze(context.Background(), analysis.Input{Memory: mem, Observations: []analysis.Observation{{
			Metric:   "error-rate",
			Canary:   analysis.Observed(0.1, 30),    // 3 errors in 30 requests this minute
			Baseline: analysis.Observed(0.01, 1800), // 18 in 1,800 before the switch
		}}})
		if err != nil {
			fmt.Println(err)
			return
		}
		if v.Outcome != analysis.Inconclusive {
			fmt.Printf("minute %d: %v - %s\n", minute, v.Outcome, v.Reason)
			return
		}
		mem = v.Memory
	}
	fmt.Println("no decision within the window")
	// Output: minute 3: fail - worse than the history: 0.1 over 90 requests against 0.01 (upper bound 0.0196522; log e = 6.05 ≥ 5.3)
}
