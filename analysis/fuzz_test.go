package analysis

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/meshcanary/canary/stats"
)

func floatsFrom(b []byte, max int) []float64 {
	var out []float64
	for len(b) >= 8 && len(out) < max {
		out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		b = b[8:]
	}
	return out
}

func bytesOf(v ...float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// FuzzSequential: any rates and counts give an error or a verdict, never a
// panic, and never a Fail on fewer requests than MinCount.
func FuzzSequential(f *testing.F) {
	f.Add(0.025, int64(600), 0.005, int64(5400), 0.0, 0.0)
	f.Add(math.NaN(), int64(-1), 2.0, int64(0), -1.0, math.Inf(1))
	f.Add(0.0, int64(100), 0.0, int64(100), 0.5, 0.001)
	f.Fuzz(func(t *testing.T, pc float64, nc int64, ps float64, ns int64, tol, tau float64) {
		s := Sequential{Metric: "e", Tolerance: tol, Tau: tau, ConfirmAlpha: 1}
		in := Input{Observations: []Observation{{Metric: "e", CanaryTotal: Observed(pc, nc), StableTotal: Observed(ps, ns)}}}
		v, err := s.Analyze(context.Background(), in)
		if err != nil {
			return
		}
		if v.Outcome == Fail && nc < 100 {
			t.Fatalf("failed on %d requests", nc)
		}
		if _, _, err := stats.MSPRT(pc, nc, ps, ns, tol, 0, tau); err == nil && v.Outcome == Inconclusive && nc >= 100 && ns > 0 {
			t.Fatalf("valid input judged inconclusive: %v", v)
		}
	})
}

// FuzzMannWhitney: samples with NaN, infinities or nothing never pass by
// accident and never panic.
func FuzzMannWhitney(f *testing.F) {
	f.Add(bytesOf(1, 2, 3, 4), bytesOf(1, 2, 3, 4), true)
	f.Add(bytesOf(math.NaN(), math.NaN()), bytesOf(1, 2, 3), false)
	f.Add([]byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, cb, sb []byte, outliers bool) {
		c, s := floatsFrom(cb, 60), floatsFrom(sb, 60)
		m := MannWhitney{Metrics: []Judged{{Metric: "m", Direction: Either, RemoveOutliers: outliers}}}
		in := Input{Observations: []Observation{{Metric: "m",
			Canary: Measurement{Observed: true, Samples: c}, Stable: Measurement{Observed: true, Samples: s}}}}
		v, err := m.Analyze(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		j := Judged{Metric: "m", RemoveOutliers: outliers}
		if (len(j.clean(c)) < 3 || len(j.clean(s)) < 3) && v.Outcome != Inconclusive {
			t.Fatalf("verdict %v on too few samples", v.Outcome)
		}
	})
}

// FuzzRates: any measurements, steps and memory give an error or a verdict
// whose every number is finite (it marshals to JSON), whose evidence is in
// [0, 1], and which never fails or passes on a window it could not use.
func FuzzRates(f *testing.F) {
	f.Add(0.05, int64(1000), 0.01, int64(9000), 0, []byte(nil), 2.0, 0.005)
	f.Add(math.NaN(), int64(-1), 2.0, int64(0), -1, []byte(`{"v":1}`), 0.0, 0.0)
	f.Add(1.0, int64(1<<40), 0.0, int64(1<<40), 3, []byte(`[`), 1000.0, 0.5)
	f.Add(0.0, int64(0), 0.0, int64(0), 0, []byte(`{"v":1,"metrics":[{"metric":"e","pass":[1e308,0]}]}`), 3.0, 0.1)
	f.Fuzz(func(t *testing.T, pc float64, nc int64, ps float64, ns int64, step int, mem []byte, ratio, margin float64) {
		a := Rates{Metrics: []Rate{{Metric: "e", Ratio: ratio, Margin: margin}}}
		in := Input{Stage: step, Memory: mem, Observations: []Observation{{Metric: "e", Canary: Observed(pc, nc), Stable: Observed(ps, ns)}}}
		var v Verdict
		var err error
		for i := 0; i < 3; i++ { // three looks, threading the memory
			v, err = a.Analyze(context.Background(), in)
			if err != nil {
				return
			}
			in.Memory = v.Memory
			if _, err := json.Marshal(v); err != nil {
				t.Fatalf("verdict does not marshal: %v", err)
			}
			for _, e := range v.Evidence {
				if !(e.Fail >= 0 && e.Fail <= 1 && e.Pass >= 0 && e.Pass <= 1) {
					t.Fatalf("evidence out of [0, 1]: %+v", e)
				}
			}
			for _, d := range v.Details {
				for _, p := range []*float64{d.Value, d.Stable, d.Statistic, d.PValue} {
					if p != nil && !finite(*p) {
						t.Fatalf("non-finite number in %+v", d)
					}
				}
			}
		}
		_, _, why1 := countsOf(Observed(pc, nc))
		_, _, why2 := countsOf(Observed(ps, ns))
		if (why1 != "" || why2 != "") && v.Outcome != Inconclusive {
			t.Fatalf("%v on unusable input (%s %s)", v.Outcome, why1, why2)
		}
	})
}

// FuzzThreshold: negative counts, NaN and infinities are Inconclusive,
// never a verdict, and nothing panics.
func FuzzThreshold(f *testing.F) {
	f.Add(0.5, int64(-5), 0.02, int64(0))
	f.Add(math.NaN(), int64(10), 0.02, int64(5))
	f.Add(0.01, int64(100), 0.02, int64(50))
	f.Fuzz(func(t *testing.T, v float64, n int64, max float64, minCount int64) {
		th := Threshold{Limits: []Limit{AtMost("e", max)}, MinCount: minCount}
		got, err := th.Analyze(context.Background(), Input{Observations: []Observation{{Metric: "e", Canary: Observed(v, n)}}})
		if err != nil {
			return
		}
		if (n < 0 || !finite(v)) && got.Outcome != Inconclusive {
			t.Fatalf("%v on value %v over %d requests", got.Outcome, v, n)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatal(err)
		}
	})
}
