package analysis

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// everyAnalyzer returns one of each analyzer of the package (and the
// combinations), configured from the fuzzer's numbers where a field takes
// one, judging the metric "e" (and "r", "q" for Resources).
func everyAnalyzer(a, b float64) []Analyzer {
	rates := Rates{Metrics: []Rate{{Metric: "e", Ratio: a, Margin: b, Limit: b}}}
	seq := Sequential{Metric: "e", Tolerance: a, Margin: b, ConfirmAlpha: 1}
	seqConfirm := Sequential{Metric: "e"}
	th := Threshold{Limits: []Limit{AtMost("e", a), Between("e", b, a)}}
	dual := DualWindow{Metric: "e", Bound: a, Tolerance: b}
	cmp := Compare{Metrics: []Relative{{Metric: "e", Tolerance: a, Margin: b}, {Metric: "e", Direction: Either, Cumulative: true}}}
	mw := MannWhitney{Metrics: []Judged{{Metric: "e", Direction: Either, AllowedIncrease: a}}}
	res := Resources{Usage: []ResourceUsage{{Metric: "e", Per: ResourcePerReplica}, {Metric: "q"}},
		Faults: []string{"f"}, Replicas: "r", Requests: "n", Tolerance: a, FailMargin: b}
	hist := HistoryRate{Metric: "e", Ratio: a, Margin: b}
	out := []Analyzer{rates, seq, seqConfirm, th, dual, cmp, mw, res, hist}
	out = append(out, All(rates, seq, th), Any(cmp, mw, res),
		Scorecard{Parts: []Part{{Analyzer: rates, Weight: 0.5}, {Analyzer: mw, Weight: 0.5}}})
	for _, p := range Presets(PresetMetrics{ErrorRate: "e", Slow: "q", Latency: "e"}) {
		out = append(out, p.Analyzer)
	}
	return out
}

// checkFinite fails t when v, or anything in it, cannot be encoded as
// JSON or holds a NaN or an infinity, or when its evidence is outside
// [0, 1].
func checkFinite(t *testing.T, what string, v Verdict) {
	t.Helper()
	if _, err := json.Marshal(v); err != nil {
		t.Fatalf("%s: verdict does not encode: %v (%+v)", what, err, v)
	}
	if len(v.Memory) > 0 && !json.Valid(v.Memory) {
		t.Fatalf("%s: memory is not JSON: %s", what, v.Memory)
	}
	var walk func(reflect.Value)
	walk = func(x reflect.Value) {
		switch x.Kind() {
		case reflect.Float64:
			if f := x.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				t.Fatalf("%s: non-finite number in %+v", what, v)
			}
		case reflect.Pointer:
			if !x.IsNil() {
				walk(x.Elem())
			}
		case reflect.Slice:
			if x.Type().Elem().Kind() == reflect.Uint8 {
				return
			}
			for i := 0; i < x.Len(); i++ {
				walk(x.Index(i))
			}
		case reflect.Struct:
			for i := 0; i < x.NumField(); i++ {
				walk(x.Field(i))
			}
		}
	}
	walk(reflect.ValueOf(v))
	for _, e := range v.Evidence {
		if !(e.Fail >= 0 && e.Fail <= 1 && e.Pass >= 0 && e.Pass <= 1) || e.More < -1 {
			t.Fatalf("%s: evidence out of range: %+v", what, e)
		}
	}
}

// FuzzEveryAnalyzerFinite (issue 19, item 1): whatever the measurements —
// NaN, infinities, negative or huge counts, every request failed on both
// versions — and whatever the memory handed back, every analyzer of the
// package gives an error or a verdict whose every number is finite, that
// encodes as JSON, and whose memory is JSON; over several looks.
func FuzzEveryAnalyzerFinite(f *testing.F) {
	f.Add(1.0, int64(1000), 1.0, int64(1000), 0.5, int64(10), 2.0, 0.005, 0, []byte(nil))
	f.Add(math.NaN(), int64(-1), math.Inf(1), int64(0), math.NaN(), int64(0), 0.0, 0.0, -1, []byte(`{"v":1}`))
	f.Add(0.0, int64(1<<40), 0.0, int64(1<<40), 1e308, int64(1<<62), 1e308, 1e-308, 3, []byte(`[null,null]`))
	f.Add(0.05, int64(300), 0.01, int64(2700), 0.02, int64(50000), 3.0, 0.01, 1, []byte(`{"v":2,"metrics":[]}`))
	f.Fuzz(func(t *testing.T, pc float64, nc int64, ps float64, ns int64, pb float64, nb int64, a, b float64, step int, mem []byte) {
		samples := []float64{pc, ps, pb, a, b, pc * 2, ps + 1}
		obs := func(name string) Observation {
			return Observation{Metric: name,
				Canary:   Measurement{Observed: true, Value: pc, Count: nc, Samples: samples},
				Stable:   Measurement{Observed: true, Value: ps, Count: ns, Samples: samples[1:]},
				Baseline: Observed(pb, nb), CanaryTotal: Observed(pc, nc), StableTotal: Observed(ps, ns)}
		}
		for _, an := range everyAnalyzer(a, b) {
			in := Input{Stage: step, Memory: mem, CanaryWeight: 10,
				Observations: []Observation{obs("e"), obs("q"), obs("r"), obs("n"), obs("f")}}
			for look := 0; look < 3; look++ {
				v, err := an.Analyze(context.Background(), in)
				if err != nil {
					break
				}
				checkFinite(t, reflect.TypeOf(an).String(), v)
				in.Memory, in.Looks = v.Memory, in.Looks+1
			}
		}
	})
}

// TestSequentialBothVersionsFailEverything (issue 19, item 1): an
// incident that fails every request of both versions gave Λ = NaN, which
// no state can save.
func TestSequentialBothVersionsFailEverything(t *testing.T) {
	for _, s := range []Sequential{{Metric: "e"}, {Metric: "e", ConfirmAlpha: 1}} {
		in := Input{Observations: []Observation{{Metric: "e", Canary: Observed(1, 500), Stable: Observed(1, 4500),
			CanaryTotal: Observed(1, 500), StableTotal: Observed(1, 4500)}}}
		v, err := s.Analyze(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		checkFinite(t, "Sequential", v)
		if v.Outcome == Fail {
			t.Errorf("failed a canary no worse than stable: %s", v.Reason)
		}
	}
}
