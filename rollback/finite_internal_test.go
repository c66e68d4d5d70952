package rollback

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/meshcanary/canary/analysis"
)

// TestFiniteAgreesWithScrub: finiteVerdict skips scrub (and its copies)
// when finite says there is nothing to replace, so finite must find
// every value scrub replaces, wherever it is, and nothing else.
func TestFiniteAgreesWithScrub(t *testing.T) {
	one, nan, inf := 1.0, math.NaN(), math.Inf(-1)
	clean := func() analysis.Verdict {
		return analysis.Verdict{Outcome: analysis.Pass, Score: &one, Reason: "ok",
			Details:  []analysis.Detail{{Metric: "a", Value: &one}, {Metric: "b", Value: &one, Statistic: &one, PValue: &one}},
			Evidence: []analysis.Evidence{{Metric: "a", Fail: 1, Pass: -2, Requests: 10}},
			Memory:   json.RawMessage(`{"n":1}`)}
	}
	for name, spoil := range map[string]func(v *analysis.Verdict){
		"nothing":              func(*analysis.Verdict) {},
		"Score":                func(v *analysis.Verdict) { v.Score = &nan },
		"Details[1].Value":     func(v *analysis.Verdict) { v.Details[1].Value = &inf },
		"Details[1].PValue":    func(v *analysis.Verdict) { v.Details[1].PValue = &nan },
		"Evidence[0].Fail":     func(v *analysis.Verdict) { v.Evidence[0].Fail = nan },
		"Evidence[0].Pass":     func(v *analysis.Verdict) { v.Evidence[0].Pass = inf },
		"Memory (not JSON)":    func(v *analysis.Verdict) { v.Memory = json.RawMessage(`{"n":`) },
		"Details[0].Baseline":  func(v *analysis.Verdict) { v.Details[0].Baseline = &inf },
		"Details[0].Statistic": func(v *analysis.Verdict) { v.Details[0].Statistic = &nan },
	} {
		v := clean()
		spoil(&v)
		var bad []string
		c := cloneVerdict(v)
		scrub(reflect.ValueOf(&c).Elem(), "verdict", &bad)
		if got, want := finite(reflect.ValueOf(&v).Elem()), len(bad) == 0; got != want {
			t.Errorf("%s: finite = %v, but scrub replaced %q", name, got, bad)
		}
		_, fbad := finiteVerdict(v)
		if (name == "nothing") != (len(fbad) == 0) {
			t.Errorf("%s: finiteVerdict left out %q", name, fbad)
		}
	}
	// A State holds numbers too (scrub repairs one at the save).
	s := State{CanaryRate: 3, Totals: []Total{{Metric: "a"}}}
	if !finite(reflect.ValueOf(&s).Elem()) {
		t.Error("a finite State is not finite")
	}
	s.CanaryRate = math.Inf(1)
	if finite(reflect.ValueOf(&s).Elem()) {
		t.Error("a State with CanaryRate +Inf is finite")
	}
}
