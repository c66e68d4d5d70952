package analysis

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/stats"
)

// window is one analysis window of one rate metric.
type window struct {
	n, x, m, y int64
}

func obsOf(metric string, w window) Observation {
	o := Observation{Metric: metric}
	if w.n > 0 {
		o.Canary = Observed(float64(w.x)/float64(w.n), w.n)
	} else {
		o.Canary = Observed(0, 0)
	}
	if w.m > 0 {
		o.Stable = Observed(float64(w.y)/float64(w.m), w.m)
	} else {
		o.Stable = Observed(0, 0)
	}
	return o
}

// feed runs a over the windows at the given steps, threading the memory,
// and returns every verdict.
func feed(t *testing.T, a Analyzer, metric string, steps []int, ws []window) []Verdict {
	t.Helper()
	var mem json.RawMessage
	var out []Verdict
	for i, w := range ws {
		v, err := a.Analyze(context.Background(), Input{Stage: steps[i], Memory: mem, Observations: []Observation{obsOf(metric, w)}})
		if err != nil {
			t.Fatal(err)
		}
		mem = v.Memory
		out = append(out, v)
	}
	return out
}

func poissonT(r *rand.Rand, mean float64) int64 {
	if mean > 50 {
		return max(0, int64(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), int64(0), 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// gen draws k windows at canary weight w of rps requests a minute, stable
// rate q and canary rate ratio rho, each minute's rates multiplied by a
// shock shared by both versions (sigma 0 for none).
func gen(r *rand.Rand, k int, perMin, w, q, rho, sigma float64) []window {
	ws := make([]window, k)
	for i := range ws {
		s := math.Exp(sigma*r.NormFloat64() - sigma*sigma/2)
		n, m := poissonT(r, perMin*w), poissonT(r, perMin*(1-w))
		ws[i] = window{n: n, x: min(n, poissonT(r, float64(n)*q*rho*s)), m: m, y: min(m, poissonT(r, float64(m)*q*s))}
	}
	return ws
}

func zeros(k int) []int { return make([]int, k) }

// TestRatesFalseFailBound: canaries exactly as good as stable, with and
// without bursts that multiply both versions' rates (σ = 1.5, heavier than
// the suite's), are failed in at most α of 200 rollouts of 120 windows.
func TestRatesFalseFailBound(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	for _, sigma := range []float64{0, 1.5} {
		r := rand.New(rand.NewPCG(7, uint64(sigma*10)))
		fails := 0
		const runs = 200
		for i := 0; i < runs; i++ {
			for _, v := range feed(t, a, "e", zeros(120), gen(r, 120, 3000, 0.2, 0.01, 1, sigma)) {
				if v.Outcome == Fail {
					fails++
					break
				}
			}
		}
		// Ville: P(ever fail) ≤ 1 %; 2 of 200 is the bound, allow the
		// binomial noise of 200 draws (mean ≤ 2, sd 1.4).
		if fails > 6 {
			t.Errorf("σ %v: %d of %d good canaries failed", sigma, fails, runs)
		}
	}
}

// TestRatesFalsePassBound: canaries at the regression boundary (2 × a
// stable rate of 1 %, so +1 point) are passed in at most β of the runs.
func TestRatesFalsePassBound(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	r := rand.New(rand.NewPCG(9, 9))
	passes := 0
	const runs = 200
	for i := 0; i < runs; i++ {
		for _, v := range feed(t, a, "e", zeros(120), gen(r, 120, 3000, 0.2, 0.01, 2, 0.5)) {
			if v.Outcome == Pass {
				passes++
				break
			}
		}
	}
	if passes > 6 {
		t.Errorf("%d of %d regressions at the boundary passed", passes, runs)
	}
}

// TestRatesDecides: a 5 × canary fails and a good one passes, both within
// an hour at 50 requests/s, 20 % weight, 1 % errors.
func TestRatesDecides(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		rho  float64
		want Outcome
	}{{5, Fail}, {1, Pass}} {
		vs := feed(t, a, "e", zeros(60), gen(r, 60, 3000, 0.2, 0.01, c.rho, 0))
		last := vs[len(vs)-1]
		if last.Outcome != c.want {
			t.Errorf("ratio %v: %v after 60 windows, want %v: %s", c.rho, last.Outcome, c.want, last.Reason)
		}
		if e := last.Evidence[0]; e.More != 0 || e.Requests <= 0 {
			t.Errorf("ratio %v: evidence %+v", c.rho, e)
		}
	}
}

// TestRatesIncidentCancels: three windows in which both versions fail 30 %
// of requests do not fail a good canary, where a comparison with a fixed
// bound would.
func TestRatesIncidentCancels(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	ws := []window{{600, 3, 5400, 27}, {600, 180, 5400, 1620}, {600, 185, 5400, 1610}, {600, 178, 5400, 1630}, {600, 4, 5400, 26}}
	for i, v := range feed(t, a, "e", zeros(len(ws)), ws) {
		if v.Outcome == Fail {
			t.Fatalf("window %d: failed during an incident on both versions: %s", i, v.Reason)
		}
	}
}

// TestRatesLateRegression: evidence from earlier steps does not carry a
// canary through a later step at which it is 5 × worse: the step needs its
// own evidence, and the Fail side catches it.
func TestRatesLateRegression(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	r := rand.New(rand.NewPCG(5, 6))
	ws := gen(r, 60, 3000, 0.1, 0.01, 1, 0)
	steps := zeros(60)
	vs := feed(t, a, "e", steps, ws)
	if vs[59].Outcome != Pass {
		t.Fatalf("good canary not passed after an hour: %s", vs[59].Reason)
	}
	// The same rollout goes on to step 1, where the canary is 2.5 × worse
	// (a regression, barely): the hour of good evidence would carry it
	// through (the whole-rollout Pass stays far above 1/β), but the step
	// has no evidence of its own.
	step := func(rho float64, k int) []Verdict {
		mem := vs[59].Memory
		var out []Verdict
		for _, w := range gen(r, k, 3000, 0.2, 0.01, rho, 0) {
			v, err := a.Analyze(context.Background(), Input{Stage: 1, Memory: mem, Observations: []Observation{obsOf("e", w)}})
			if err != nil {
				t.Fatal(err)
			}
			mem = v.Memory
			out = append(out, v)
		}
		return out
	}
	for i, v := range step(2.5, 5) {
		if v.Outcome == Pass {
			t.Fatalf("window %d of the bad step passed on earlier evidence: %s", i, v.Reason)
		}
	}
	if got := step(5, 5); got[4].Outcome != Fail {
		t.Errorf("5 minutes at 5 × not failed: %s", got[4].Reason)
	}
}

// TestRatesZeroErrors: a stable version with no errors at all gives the
// relative test nothing; the absolute test passes a canary with none
// either, and a canary failing 5 % fails.
func TestRatesZeroErrors(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	good := make([]window, 30)
	bad := make([]window, 30)
	for i := range good {
		good[i] = window{200, 0, 1800, 0}
		bad[i] = window{200, 10, 1800, 0}
	}
	if v := feed(t, a, "e", zeros(30), good); v[29].Outcome != Pass {
		t.Errorf("no errors anywhere: %v, %s", v[29].Outcome, v[29].Reason)
	}
	if v := feed(t, a, "e", zeros(30), bad); v[29].Outcome != Fail {
		t.Errorf("canary at 5 %%, stable at 0: %v, %s", v[29].Outcome, v[29].Reason)
	}
}

// TestRatesBadInput: negative, NaN, infinite counts and rates above 1 are
// never used: the verdict is Inconclusive with a reason, and every number
// in it is finite (it marshals to JSON).
func TestRatesBadInput(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	for _, m := range []Measurement{
		{Observed: true, Value: 0.5, Count: -5},
		{Observed: true, Value: math.NaN(), Count: 100},
		{Observed: true, Value: math.Inf(1), Count: 100},
		{Observed: true, Value: 1.5, Count: 100},
		{},
	} {
		v, err := a.Analyze(context.Background(), Input{Observations: []Observation{{Metric: "e", Canary: m, Stable: Observed(0.01, 1000)}}})
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != Inconclusive || !strings.Contains(v.Reason, "not used") {
			t.Errorf("%+v: %v, %s", m, v.Outcome, v.Reason)
		}
		if _, err := json.Marshal(v); err != nil {
			t.Errorf("%+v: verdict does not marshal: %v", m, err)
		}
	}
}

// TestRatesMemory: a verdict's memory restores the evidence; a corrupt or
// foreign memory starts afresh (and says so) rather than being trusted.
func TestRatesMemory(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	w := window{1000, 2, 9000, 90}
	v1, _ := a.Analyze(context.Background(), Input{Observations: []Observation{obsOf("e", w)}})
	v2, _ := a.Analyze(context.Background(), Input{Memory: v1.Memory, Observations: []Observation{obsOf("e", w)}})
	if v2.Evidence[0].Requests != 2000 {
		t.Errorf("requests after two windows = %d, want 2000", v2.Evidence[0].Requests)
	}
	for _, bad := range []string{`{`, `{"v":1,"metrics":[{"metric":"other"}]}`, `{"v":1,"metrics":[{"metric":"e","n":-1}]}`, `{"v":2,"metrics":[]}`} {
		v, _ := a.Analyze(context.Background(), Input{Memory: json.RawMessage(bad), Observations: []Observation{obsOf("e", w)}})
		if v.Evidence[0].Requests != 1000 || !strings.Contains(v.Reason, "afresh") {
			t.Errorf("memory %s: requests %d, reason %s", bad, v.Evidence[0].Requests, v.Reason)
		}
	}
	if len(v2.Memory) > 1024 {
		t.Errorf("memory of one metric is %d bytes", len(v2.Memory))
	}
}

// TestComposeCarriesMemory: All hands each part its own memory, so Rates
// inside All accumulates as it does alone.
func TestComposeCarriesMemory(t *testing.T) {
	r := Rates{Metrics: []Rate{{Metric: "e"}}}
	th := Threshold{Limits: []Limit{AtMost("e", 0.5)}}
	for _, a := range []Analyzer{All(th, r), Any(r, th), Scorecard{Parts: []Part{{th, 0.5}, {r, 0.5}}}} {
		var mem json.RawMessage
		var v Verdict
		for i := 0; i < 3; i++ {
			var err error
			v, err = a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{obsOf("e", window{1000, 2, 9000, 90})}})
			if err != nil {
				t.Fatal(err)
			}
			mem = v.Memory
		}
		if len(v.Evidence) != 1 || v.Evidence[0].Requests != 3000 {
			t.Errorf("%T: evidence %+v", a, v.Evidence)
		}
	}
}

func TestRatesValidate(t *testing.T) {
	for _, r := range []Rates{
		{},
		{Metrics: []Rate{{}}},
		{Metrics: []Rate{{Metric: "e"}, {Metric: "e"}}},
		{Metrics: []Rate{{Metric: "e", Ratio: 1}}},
		{Metrics: []Rate{{Metric: "e", Margin: 1}}},
		{Metrics: []Rate{{Metric: "e", Limit: -0.1}}},
		{Metrics: []Rate{{Metric: "e"}}, Alpha: 1},
		{Metrics: []Rate{{Metric: "e"}}, Beta: math.NaN()},
		{Metrics: []Rate{{Metric: "e"}}, StageBeta: 2},
	} {
		_, err := r.Analyze(context.Background(), Input{})
		var fe *canary.FieldError
		if !errorsAs(err, &fe) {
			t.Errorf("%+v: %v, want a *canary.FieldError", r, err)
		}
	}
}

// TestRatesGuard: the absolute guard fails a canary shown above the limit
// and its baseline, and not one above the limit but within its history.
func TestRatesGuard(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e", Limit: 0.02, Ratio: 1000, Margin: 0.9}}}
	twice := func(base Measurement) Verdict { // two windows: one never decides alone
		var v Verdict
		for i := 0; i < 2; i++ {
			v, _ = a.Analyze(context.Background(), Input{Memory: v.Memory, Observations: []Observation{{Metric: "e",
				Canary: Observed(0.06, 1000), Stable: Observed(0.06, 9000), Baseline: base}}})
		}
		return v
	}
	if v := twice(Observed(0.005, 30000)); v.Outcome != Fail {
		t.Errorf("6 %% over 2 × 1,000 requests against a 2 %% limit and a 0.5 %% history: %v, %s", v.Outcome, v.Reason)
	}
	if v := twice(Observed(0.07, 30000)); v.Outcome == Fail {
		t.Errorf("6 %% against a history of 7 %% failed: %s", v.Reason)
	}
}

func errorsAs(err error, fe **canary.FieldError) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*canary.FieldError)
	if ok {
		*fe = e
	}
	return ok
}

// TestThresholdNegativeCount: 0.5 over −5 requests is no evidence (issue
// 9): Inconclusive, not Fail.
func TestThresholdNegativeCount(t *testing.T) {
	th := Threshold{Limits: []Limit{AtMost("e", 0.02)}}
	v, err := th.Analyze(context.Background(), Input{Observations: []Observation{{Metric: "e", Canary: Observed(0.5, -5)}}})
	if err != nil || v.Outcome != Inconclusive {
		t.Errorf("%v, %v", v.Outcome, err)
	}
}

// TestSequentialNoOverflow: a clearly bad canary at 1,000 requests/s for an
// hour made Λ overflow to +Inf, which JSON refuses; it is now capped.
func TestSequentialNoOverflow(t *testing.T) {
	s := Sequential{Metric: "e", ConfirmAlpha: 1}
	in := Input{Observations: []Observation{{Metric: "e", CanaryTotal: Observed(0.2, 360000), StableTotal: Observed(0.001, 3240000)}}}
	v, err := s.Analyze(context.Background(), in)
	if err != nil || v.Outcome != Fail {
		t.Fatalf("%v, %v", v, err)
	}
	if st := *v.Details[0].Statistic; !finite(st) {
		t.Errorf("Λ = %v", st)
	}
	if _, err := json.Marshal(v); err != nil {
		t.Errorf("verdict does not marshal: %v", err)
	}
}

// TestRatesOverdispersion: errors that come in clusters of 20 within each
// version (one client retrying, say) are overdispersed beyond what the
// conditioning removes. Before the dispersion can be measured, the cap on
// what one window adds keeps a single cluster from deciding; afterwards the
// measured dispersion tempers the evidence. Measured: 7 of 100 good
// canaries failed (39 of 100 without the cap): approximate robustness, not
// the binomial guarantee.
func TestRatesOverdispersion(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	r := rand.New(rand.NewPCG(11, 12))
	fails := 0
	const runs = 100
	for i := 0; i < runs; i++ {
		ws := gen(r, 120, 3000, 0.2, 0.01/20, 1, 0)
		for k := range ws {
			ws[k].x, ws[k].y = min(ws[k].n, 20*ws[k].x), min(ws[k].m, 20*ws[k].y)
		}
		for _, v := range feed(t, a, "e", zeros(len(ws)), ws) {
			if v.Outcome == Fail {
				fails++
				break
			}
		}
	}
	if fails > 10 {
		t.Errorf("%d of %d good canaries with clustered errors failed", fails, runs)
	}
}

// TestRatesStepCostsAboutOneWindow: once the whole rollout's evidence
// passes, a good canary at the next step passes as soon as that step's own
// windows favour "no regression" — with a window whose canary has exactly
// its expected errors, the first window of the step. (At the former
// default StageBeta = β^⅓ the same window was not enough.)
func TestRatesStepCostsAboutOneWindow(t *testing.T) {
	for _, c := range []struct {
		stepBeta float64
		pass     bool
	}{{0, true}, {math.Cbrt(0.01), false}} {
		a := Rates{Metrics: []Rate{{Metric: "e"}}, StageBeta: c.stepBeta}
		good := window{n: 600, x: 3, m: 2400, y: 12} // 0.5 % both, weight 20 %
		ws := make([]window, 40)
		steps := make([]int, 41)
		for i := range ws {
			ws[i] = good
		}
		vs := feed(t, a, "e", steps[:40], ws)
		if vs[39].Outcome != Pass {
			t.Fatalf("StageBeta %g: good canary not passed after 40 windows: %s", c.stepBeta, vs[39].Reason)
		}
		v, err := a.Analyze(context.Background(), Input{Stage: 1, Memory: vs[39].Memory, Observations: []Observation{obsOf("e", good)}})
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Outcome == Pass; got != c.pass {
			t.Errorf("StageBeta %g: first window of the next step passed = %v, want %v: %s", c.stepBeta, got, c.pass, v.Reason)
		}
	}
}

// TestRatesAlphaShare: with two metrics, the first (the error rate in the
// presets) gets three quarters of α, so the same evidence is nearer a Fail
// on it than on the second.
func TestRatesAlphaShare(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "errors"}, {Metric: "slow"}}}
	w := window{n: 1000, x: 10, m: 9000, y: 45} // canary 1 %, stable 0.5 %: below the caps
	in := Input{Observations: []Observation{obsOf("errors", w), obsOf("slow", w)}}
	v, err := a.Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	e, s := v.Evidence[0].Fail, v.Evidence[1].Fail
	if !(e > 0 && s > 0) {
		t.Fatalf("no Fail progress: %v %v", e, s)
	}
	// log(4/3/α) against log(4/α) for the same log e-value.
	if want := math.Log(4/0.01) / math.Log(4.0/3/0.01); math.Abs(e/s-want) > 1e-9 {
		t.Errorf("Fail progress errors/slow = %v, want %v", e/s, want)
	}
}

// TestRatesLargeRegressionTwoWindows: a canary failing 5 % where stable
// fails 0.1 % is failed at the second window — the most the cap on one
// window allows. Its first window must not be read as overdispersion (there
// is no prediction to measure it against yet), nor the fixed alternatives
// of the grid wait for the plug-in's lower bound to grow.
func TestRatesLargeRegressionTwoWindows(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "errors"}, {Metric: "slow"}}}
	bad := window{n: 300, x: 15, m: 2700, y: 3}
	good := window{n: 300, x: 3, m: 2700, y: 27}
	var mem json.RawMessage
	for i := 0; i < 2; i++ {
		v, err := a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{obsOf("errors", bad), obsOf("slow", good)}})
		if err != nil {
			t.Fatal(err)
		}
		mem = v.Memory
		if want := []Outcome{Inconclusive, Fail}[i]; v.Outcome != want {
			t.Fatalf("window %d: %v, want %v: %s", i+1, v.Outcome, want, v.Reason)
		}
	}
}

// TestRatesPassLatches: once a metric's Pass e-process has crossed 1/β
// (and its step's own one 1/StageBeta), a later window that pulls it back
// under the line does not undo the proof — Ville's inequality bounds the
// chance of ever crossing, so stopping at the crossing keeps the
// guarantee, as Wald's SPRT does — but while the latest windows point to a
// regression (the detector, issue 19 item 3) there is no Pass and no
// leaning; once they stop pointing there, the latched proof stands again.
func TestRatesPassLatches(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	good := window{n: 600, x: 0, m: 2400, y: 24}
	var ws []window
	for i := 0; i < 30; i++ {
		ws = append(ws, good)
	}
	vs := feed(t, a, "e", zeros(len(ws)), ws)
	first := -1
	for i, v := range vs {
		if v.Outcome == Pass {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatal("a canary with no errors against 1 % was never passed")
	}
	// Replay up to the first Pass, then two windows at the regression
	// ratio (not enough to fail), then good windows.
	bad := window{n: 600, x: 12, m: 2400, y: 24}
	ws = append(ws[:first+1:first+1], bad, bad, good, good)
	vs = feed(t, a, "e", zeros(len(ws)), ws)
	var mem ratesMemory
	if err := json.Unmarshal(vs[first+2].Memory, &mem); err != nil {
		t.Fatal(err)
	}
	if lp, _ := mem.Metrics[0].logPass(); lp >= math.Log(100) {
		t.Fatalf("the bad windows left the Pass e-process at %.3g, above the line: the test proves nothing", lp)
	}
	if got := vs[first+2]; got.Outcome != Inconclusive || got.Leaning || !strings.Contains(got.Reason, "point to a regression") {
		t.Errorf("after windows at the regression ratio: %v, leaning %v: %s", got.Outcome, got.Leaning, got.Reason)
	}
	if got := vs[len(vs)-1]; got.Outcome != Pass {
		t.Errorf("good windows after the detector quietened: %v: %s", got.Outcome, got.Reason)
	}
}

// TestRatesStepWithoutHopelessAbsolute: with stable at 1 %, twice the
// 0.5-point margin, the absolute test can only drift away from a Pass, so
// a step's own Pass e-process (whose weights are chosen when the step
// begins) is the relative test alone, held to log(1/StageBeta) = 0.105
// nats rather than the 0.33 its weight of 0.8 would ask. The window at the
// second step gives the relative test 0.18 nats.
func TestRatesStepWithoutHopelessAbsolute(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	var ws []window
	var steps []int
	for i := 0; i < 40; i++ {
		ws = append(ws, window{n: 600, x: 6, m: 2400, y: 24})
		steps = append(steps, 0)
	}
	ws = append(ws, window{n: 1000, x: 10, m: 2000, y: 13})
	steps = append(steps, 1)
	vs := feed(t, a, "e", steps, ws)
	if vs[39].Outcome != Pass {
		t.Fatalf("the first step did not pass: %s", vs[39].Reason)
	}
	if got := vs[40]; got.Outcome != Pass {
		t.Errorf("second step: %v (%s), want Pass", got.Outcome, got.Reason)
	}
}

// TestRatesPassAfterIncident: good canaries at 10 % of 5 requests/s, with
// stable failing 0.1 % of requests, go through a 3-minute platform
// incident that fails 10 % more of both versions' requests. The absolute
// test sits out the incident's windows (absoluteUsable), so nearly all
// pass within four hours, as they do without an incident; when it bet on
// those windows, they cost it more evidence than hours of clean windows
// bring back, and inflated the dispersion it is tempered by: 20 of 40
// were still undecided at four hours.
func TestRatesPassAfterIncident(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	undecided := 0
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 11))
		ws := gen(r, 240, 300, 0.1, 0.001, 1, 0)
		for i := 3; i < 6; i++ {
			ws[i].x = min(ws[i].n, poissonT(r, float64(ws[i].n)*0.101))
			ws[i].y = min(ws[i].m, poissonT(r, float64(ws[i].m)*0.101))
		}
		passed := false
		for i, v := range feed(t, a, "e", zeros(len(ws)), ws) {
			if v.Outcome == Fail {
				t.Fatalf("seed %d: failed at window %d: %s", seed, i, v.Reason)
			}
			if v.Outcome == Pass {
				passed = true
				break
			}
		}
		if !passed {
			undecided++
		}
	}
	if undecided > 2 {
		t.Errorf("%d of 40 good canaries still undecided after 240 windows following an incident on both versions; want at most 2", undecided)
	}
}

// TestRatesUsesTheBaseline (issue 18, item 3): the stable version's
// history before the rollout (Observation.Baseline: 30 minutes at 0.1 %)
// tells its error rate before the first canary request, so a good canary
// at 5 requests/s, 10 % — whose windows alone say little about stable's
// rate — is passed in fewer windows than without it; a baseline that is
// no use (not observed) changes nothing.
func TestRatesUsesTheBaseline(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	firstPass := func(baseline Measurement, seed uint64) int {
		r := rand.New(rand.NewPCG(seed, 3))
		ws := gen(r, 240, 300, 0.1, 0.001, 1, 0)
		var mem json.RawMessage
		for i, w := range ws {
			o := obsOf("e", w)
			o.Baseline = baseline
			v, err := a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{o}})
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome == Pass {
				return i + 1
			}
			mem = v.Memory
		}
		return len(ws) + 1
	}
	with, without, none := 0, 0, 0
	for seed := uint64(0); seed < 20; seed++ {
		with += firstPass(Observed(0.001, 9000), seed)
		without += firstPass(Measurement{}, seed)
		none += firstPass(Observed(math.NaN(), 9000), seed)
	}
	if with >= without {
		t.Errorf("windows to a Pass over 20 canaries: %d with 30 minutes of stable history, %d without; want fewer with", with, without)
	}
	if none != without {
		t.Errorf("an unusable baseline changed the evidence: %d windows against %d", none, without)
	}
	t.Logf("windows to a Pass over 20 good canaries: %d with the baseline, %d without", with, without)
}

// TestRatesRegressionDuringAnIncident: an incident on both versions adds
// errors to both (10 % more of each version's requests for three
// windows) rather than multiplying their rates, so a canary twice as bad
// as stable looks like stable while it lasts. The relative Pass test sits
// out the windows after one in which stable showed the shock; before, the
// incident's windows passed a clear regression in many runs.
func TestRatesRegressionDuringAnIncident(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	passed := 0
	const runs = 40
	for seed := uint64(0); seed < runs; seed++ {
		r := rand.New(rand.NewPCG(seed, 21))
		var ws []window
		for i := 0; i < 30; i++ {
			qs, qc := 0.01, 0.02
			if i >= 3 && i < 6 {
				qs, qc = qs+0.1, qc+0.1
			}
			n, m := poissonT(r, 3000*0.3), poissonT(r, 3000*0.7)
			ws = append(ws, window{n: n, x: min(n, poissonT(r, float64(n)*qc)), m: m, y: min(m, poissonT(r, float64(m)*qs))})
		}
		for _, v := range feed(t, a, "e", zeros(len(ws)), ws) {
			if v.Outcome == Pass {
				passed++
				break
			}
		}
	}
	if passed > 1 {
		t.Errorf("%d of %d canaries twice as bad as stable passed around an incident on both versions", passed, runs)
	}
}

// TestRatesOneWindowDecidesWhenUnclustered: a canary that turns ten times
// worse after six good windows is failed in the window it turns when the
// stable version's errors have shown no clustering over those windows
// (its dispersion measured and that of independent events), and still
// needs a second window when they came in clusters (the same mean, every
// other window's errors at once): what one window adds is capped only
// while clustering cannot be ruled out.
func TestRatesOneWindowDecidesWhenUnclustered(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	for _, c := range []struct {
		name      string
		clustered bool
		want      Outcome
	}{{"unclustered", false, Fail}, {"clustered", true, Inconclusive}} {
		var ws []window
		for i := 0; i < 6; i++ {
			y := int64(27)
			if c.clustered {
				y = 54 * int64(i%2)
			}
			ws = append(ws, window{n: 300, x: 3, m: 2700, y: y})
		}
		ws = append(ws, window{n: 300, x: 30, m: 2700, y: 27})
		vs := feed(t, a, "e", zeros(len(ws)), ws)
		for i, v := range vs[:6] {
			if v.Outcome == Fail {
				t.Fatalf("%s: good window %d failed: %s", c.name, i+1, v.Reason)
			}
		}
		if v := vs[6]; v.Outcome != c.want {
			t.Errorf("%s: the window the canary turned bad: %v, want %v: %s", c.name, v.Outcome, c.want, v.Reason)
		}
	}
}

// TestRatesIncidentDoesNotSetTheScale: a platform incident that fails 10 %
// more of both versions' requests for three windows says nothing of
// stable's usual rate, so it must not set the scale of the alternatives
// afterwards. At 0.1 % errors it lowered the regression ratio the relative
// tests are set at, 1 + Margin / (stable's rate), from about 6 to 2 for
// the rest of the rollout, and in the decision-quality suite a good canary
// at 50 requests/s took a median 14 minutes to promote through such an
// incident, the oracle 8 (10 once the incident's windows were left out).
func TestRatesIncidentDoesNotSetTheScale(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	rho := func(incident bool) float64 {
		var mem json.RawMessage
		for i := 0; i < 10; i++ {
			w := window{n: 900, x: 1, m: 2100, y: 2}
			if incident && i >= 3 && i < 6 {
				w.x, w.y = 91, 212
			}
			o := obsOf("e", w)
			o.Baseline = Observed(0.001, 180000)
			v, err := a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{o}})
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome == Fail {
				t.Fatalf("good window %d failed: %s", i+1, v.Reason)
			}
			mem = v.Memory
		}
		got, _ := decodeRatesMemory(mem, a.Metrics)
		return got.Metrics[0].rhoBad(2, 0.005)
	}
	with, without := rho(true), rho(false)
	if with < 0.9*without {
		t.Errorf("regression ratio after an incident %.3g, without one %.3g: the incident's windows set the scale", with, without)
	}
}

// rateStep analyzes one observation with a over mem and returns the new
// memory and the first metric's state decoded from it.
func rateStep(t *testing.T, a Rates, mem json.RawMessage, o Observation) (json.RawMessage, rateState) {
	t.Helper()
	v, err := a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{o}})
	if err != nil {
		t.Fatal(err)
	}
	m, why := decodeRatesMemory(v.Memory, a.Metrics)
	if why != "" {
		t.Fatal(why)
	}
	return v.Memory, m.Metrics[0]
}

// TestRatesHistoryChoosesThePassWeights: when stable's history shows errors
// near or above the margin, the absolute Pass test cannot help, so the
// whole rollout's Pass e-process is the relative test alone from the first
// window (its weight of 0.2 would raise the bar by 0.22 nats); without a
// history, or with one that arrives after canary requests were judged, the
// weights stay 0.8 and 0.2.
func TestRatesHistoryChoosesThePassWeights(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	w := window{n: 300, x: 3, m: 2700, y: 27} // 1 % both
	state := func(baselines ...Measurement) rateState {
		var mem json.RawMessage
		var st rateState
		for _, b := range baselines {
			o := obsOf("e", w)
			o.Baseline = b
			mem, st = rateStep(t, a, mem, o)
		}
		return st
	}
	hist := Observed(0.01, 180000)
	for _, c := range []struct {
		name      string
		baselines []Measurement
		relOnly   bool
	}{
		{"history at 1 %", []Measurement{hist, hist, hist}, true},
		{"no history", []Measurement{{}, {}, {}}, false},
		{"history after the first window", []Measurement{{}, hist, hist}, false},
		{"history at 0.1 %", []Measurement{Observed(0.001, 180000), hist, hist}, false},
	} {
		s := state(c.baselines...)
		whole, _ := s.logPass()
		want := stats.LogMix(s.Pass[:], passWeights)
		if c.relOnly {
			want = s.Pass[0]
		}
		if math.Abs(whole-want) > 1e-12 {
			t.Errorf("%s: whole-rollout Pass log e %v, want %v (relative %v, absolute %v)", c.name, whole, want, s.Pass[0], s.Pass[1])
		}
	}
}

// TestRatesReasonSaysWhetherItLeans: a window whose evidence favours the
// regression without proving it (two canary errors in 300 requests against
// three in 2,700) is not leaning, and its reason must not say it leans (it
// said "leaning to no regression" whatever the evidence favoured).
func TestRatesReasonSaysWhetherItLeans(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	for _, c := range []struct {
		w     window
		leans bool
	}{{window{n: 300, x: 2, m: 2700, y: 3}, false}, {window{n: 300, x: 0, m: 2700, y: 3}, true}} {
		v := feed(t, a, "e", zeros(1), []window{c.w})[0]
		if v.Outcome != Inconclusive || v.Regressing {
			t.Fatalf("%+v: %v (regressing %v), want an undecided window: %s", c.w, v.Outcome, v.Regressing, v.Reason)
		}
		says := strings.Contains(v.Reason, "leaning to no regression") && !strings.Contains(v.Reason, "not leaning")
		if v.Leaning != c.leans || says != c.leans {
			t.Errorf("%+v: Leaning %v, reason says it leans %v; want %v: %s", c.w, v.Leaning, says, c.leans, v.Reason)
		}
	}
}

// TestRatesIncidentKeepsTheAbsoluteTest: a stage that begins during a
// platform incident on both versions, at a stable error rate far below
// the margin, keeps the absolute test in its own Pass e-process. Judged on
// the incident's windows, the absolute test looked hopeless, the stage's
// Pass was the relative test alone, and in the window after the incident,
// which the relative test sits out, nothing could pass (in the
// decision-quality suite a good canary at 50 requests/s and 0.1 % took a
// median 11 minutes to promote through the incident, the oracle 7; now 7).
func TestRatesIncidentKeepsTheAbsoluteTest(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	clean := window{n: 900, x: 1, m: 2100, y: 2}
	incident := window{n: 900, x: 91, m: 2100, y: 212}
	ws := []window{clean, clean, clean, incident, incident}
	stages := []int{0, 0, 0, 0, 1}
	vs := feed(t, a, "e", stages, ws)
	m, why := decodeRatesMemory(vs[len(vs)-1].Memory, a.Metrics)
	if why != "" {
		t.Fatal(why)
	}
	if m.Metrics[0].StepRelOnly {
		t.Errorf("a stage begun during an incident at 0.1 %% errors left the absolute test out of its Pass")
	}
	// At 1 % errors the absolute test cannot help, incident or not.
	hi := window{n: 900, x: 9, m: 2100, y: 21}
	vs = feed(t, a, "e", stages, []window{hi, hi, hi, incident, incident})
	if m, _ = decodeRatesMemory(vs[len(vs)-1].Memory, a.Metrics); !m.Metrics[0].StepRelOnly {
		t.Errorf("at 1 %% errors the stage's Pass kept the absolute test")
	}
}

// TestRatesMoreAfterAStrayError: after a window with a few stray canary
// errors, a canary exactly like stable (1 % errors, 300 canary requests a
// window) still needs a predictable number of requests to a Pass, and
// Evidence.More says so within a factor of two at every window until then.
// It extrapolated the drift seen so far, which the stray errors had made
// negative or small: no estimate at all for two windows, then 4.75 × the
// truth (the rollout's budget paused good canaries on such estimates).
func TestRatesMoreAfterAStrayError(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	ws := []window{{n: 300, x: 8, m: 2700, y: 27}}
	for i := 0; i < 80; i++ {
		ws = append(ws, window{n: 300, x: 3, m: 2700, y: 27})
	}
	vs := feed(t, a, "e", zeros(len(ws)), ws)
	passAt := -1
	for i, v := range vs {
		if v.Outcome == Pass {
			passAt = i
			break
		}
	}
	if passAt < 0 {
		t.Fatal("no Pass")
	}
	for i := 1; i < passAt-1; i++ {
		more, left := vs[i].Evidence[0].More, int64(300*(passAt-i))
		if more < left/2 || more > 2*left {
			t.Errorf("window %d: about %d more canary requests estimated, %d were needed", i+1, more, left)
		}
	}
}

// historyBuckets returns k minutes of the stable version's history at
// perMin requests a minute and rate q, as Observation.Baseline with its
// buckets; with cluster > 1 the bad events come in clusters of that size
// (the same mean).
func historyBuckets(r *rand.Rand, k int, perMin, q float64, cluster int64) Measurement {
	var n, x int64
	bs := make([]Measurement, k)
	for i := range bs {
		m := poissonT(r, perMin)
		y := min(m, cluster*poissonT(r, float64(m)*q/float64(cluster)))
		bs[i] = Observed(float64(y)/float64(m), m)
		n, x = n+m, x+y
	}
	b := Observed(float64(x)/float64(n), n)
	b.Buckets = bs
	return b
}

// TestRatesHistoryBucketsLetOneWindowDecide (issue 18, harm): a canary 5
// points worse than stable at 1 %, at 10 % of 50 requests/s, is failed by
// its first window when the stable version's history came per minute and
// showed no clustering, as by the suite's oracle; with a history that
// shows clusters, or one given as a single count (no buckets), what one
// window adds stays capped and the first window cannot decide (the second
// does, as before).
func TestRatesHistoryBucketsLetOneWindowDecide(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	r := rand.New(rand.NewPCG(3, 4))
	poisson := historyBuckets(r, 60, 3000, 0.01, 1)
	clustered := historyBuckets(r, 60, 3000, 0.01, 20)
	single := poisson
	single.Buckets = nil
	bad := window{n: 300, x: 18, m: 2700, y: 27}
	for _, c := range []struct {
		name string
		base Measurement
		want Outcome
	}{
		{"history per minute, no clusters", poisson, Fail},
		{"history per minute, clusters of 20", clustered, Inconclusive},
		{"history as one count", single, Inconclusive},
		{"no history", Measurement{}, Inconclusive},
	} {
		o := obsOf("e", bad)
		o.Baseline = c.base
		v, err := a.Analyze(context.Background(), Input{Observations: []Observation{o}})
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != c.want {
			t.Errorf("%s: first window %v, want %v: %s", c.name, v.Outcome, c.want, v.Reason)
		}
		if c.want == Fail {
			continue
		}
		o.Baseline = Measurement{}
		v2, err := a.Analyze(context.Background(), Input{Memory: v.Memory, Observations: []Observation{o}})
		if err != nil {
			t.Fatal(err)
		}
		if v2.Outcome != Fail {
			t.Errorf("%s: second window %v, want Fail: %s", c.name, v2.Outcome, v2.Reason)
		}
	}
}

// TestRatesOverdispersionWithHistory: good canaries whose errors come in
// clusters of 20 (TestRatesOverdispersion's), with the stable version's
// history per minute before the rollout showing the same clusters, are
// failed no more often than without a history: the history keeps one
// window from deciding. (Clusters that show only once the rollout has
// begun are outside what the history can tell; see Rates.)
func TestRatesOverdispersionWithHistory(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	r := rand.New(rand.NewPCG(11, 12))
	fails, opened := 0, 0
	const runs = 100
	for i := 0; i < runs; i++ {
		base := historyBuckets(r, 60, 3000, 0.01, 20)
		if s, k := historyDispersion(base.Buckets); k >= unclusteredBuckets && s <= k+math.Sqrt(2*k) {
			opened++
		}
		ws := gen(r, 120, 3000, 0.2, 0.01/20, 1, 0)
		for k := range ws {
			ws[k].x, ws[k].y = min(ws[k].n, 20*ws[k].x), min(ws[k].m, 20*ws[k].y)
		}
		var mem json.RawMessage
		for k, w := range ws {
			o := obsOf("e", w)
			o.Baseline = base
			if k > 0 {
				o.Baseline = Measurement{}
			}
			v, err := a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{o}})
			if err != nil {
				t.Fatal(err)
			}
			mem = v.Memory
			if v.Outcome == Fail {
				fails++
				break
			}
		}
	}
	if opened > 0 {
		t.Errorf("%d of %d clustered histories read as unclustered", opened, runs)
	}
	if fails > 10 {
		t.Errorf("%d of %d good canaries with clustered errors failed", fails, runs)
	}
}

// TestHistoryDispersion: the history's Pearson statistic is about its
// number of buckets for independent events and about 20 times that for
// events in clusters of 20; a bucket that cannot be a count makes the
// history unusable, and buckets without data are skipped.
func TestHistoryDispersion(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s, k := historyDispersion(historyBuckets(r, 60, 3000, 0.01, 1).Buckets)
	if k < 50 || s > k+3*math.Sqrt(2*k) || s < k-3*math.Sqrt(2*k) {
		t.Errorf("independent events: statistic %.3g over %v buckets", s, k)
	}
	s, k = historyDispersion(historyBuckets(r, 60, 3000, 0.01, 20).Buckets)
	if k < 3 || s < 5*k {
		t.Errorf("clusters of 20: statistic %.3g over %v buckets", s, k)
	}
	// 0.5 requests/s at 0.1 %: under two events expected in the hour, no
	// bucket.
	if _, k := historyDispersion(historyBuckets(r, 60, 30, 0.001, 1).Buckets); k != 0 {
		t.Errorf("a history with about 2 events: %v buckets, want 0", k)
	}
	good := historyBuckets(r, 10, 3000, 0.01, 1).Buckets
	for _, bad := range []Measurement{{Observed: true, Value: math.NaN(), Count: 10}, {Observed: true, Value: 2, Count: 10}, {Observed: true, Value: 0.1, Count: -1}} {
		if s, k := historyDispersion(append(slices.Clone(good), bad)); s != 0 || k != 0 {
			t.Errorf("bucket %+v: %v, %v; want no buckets", bad, s, k)
		}
	}
	_, k1 := historyDispersion(good)
	if _, k2 := historyDispersion(append(slices.Clone(good), Measurement{}, Measurement{})); k2 != k1 {
		t.Errorf("buckets without data changed the count: %v, want %v", k2, k1)
	}
}

// TestRatesLeansWhileTheFailEvidenceIsBelowOne (issue 18, item 1: "the
// Fail e-process is below 1, or ... favours no regression"): a first
// window with a canary error or two more than stable's rate predicts
// favours the regression over "no regression" a little (the Pass
// e-process below 1), but its Fail e-process stays below 1 and the
// detector quiet, so the evidence still leans and the canary may advance;
// a few errors more take the Fail e-process above 1 and the canary is
// held. (Leaning on the Pass e-process alone held a good canary at 5
// requests/s whose stray errors came early, and one of the 2,684 good
// canaries the decision-quality suite's oracle promotes within an hour
// was paused for a person.)
func TestRatesLeansWhileTheFailEvidenceIsBelowOne(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	for _, c := range []struct {
		x    int64
		lean bool
	}{{3, true}, {5, true}, {8, false}} {
		o := obsOf("e", window{n: 300, x: c.x, m: 2700, y: 27})
		o.Baseline = Observed(0.01, 180000)
		v, err := a.Analyze(context.Background(), Input{Observations: []Observation{o}})
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != Inconclusive || v.Regressing {
			t.Fatalf("%d canary errors: %v, regressing %v: %s", c.x, v.Outcome, v.Regressing, v.Reason)
		}
		if v.Leaning != c.lean {
			t.Errorf("%d canary errors: leaning %v, want %v: %s", c.x, v.Leaning, c.lean, v.Reason)
		}
	}
}

// TestRatesIncidentAtLowTrafficKeepsTheAbsoluteTest: at 0.5 requests/s
// (15 requests a minute each at 50 %) and 0.1 % errors, with an hour of
// stable history, a platform incident that fails 10 % more of both
// versions' requests shows 2 stable errors a minute where 0.02 are
// expected — under absoluteUsable's three standard deviations plus 3, so
// the absolute Pass test bet on the canary's incident errors and lost
// about an hour of evidence to each. The stable count is improbable at
// the stable version's usual rate (stableLoud), so the test sits out the
// incident's windows and the one after them, and bets again on the next.
// Statistically: good canaries through such an incident are passed within
// 360 windows about as often as without it.
func TestRatesIncidentAtLowTrafficKeepsTheAbsoluteTest(t *testing.T) {
	a := Rates{Metrics: []Rate{{Metric: "e"}}}
	history := Observed(2.0/1800, 1800)
	absPass := func(ws []window) []float64 {
		var mem json.RawMessage
		var out []float64
		for _, w := range ws {
			o := obsOf("e", w)
			o.Baseline = history
			var st rateState
			mem, st = rateStep(t, a, mem, o)
			out = append(out, st.Pass[1])
		}
		return out
	}
	clean := window{n: 15, x: 0, m: 15, y: 0}
	incident := window{n: 15, x: 2, m: 15, y: 2}
	ws := []window{clean, clean, clean, clean, clean, incident, incident, incident, clean, clean}
	p := absPass(ws)
	for i := 5; i <= 8; i++ {
		if p[i] != p[4] {
			t.Errorf("window %d (incident, or the one after it): absolute Pass evidence %.3g → %.3g; want it sat out", i+1, p[i-1], p[i])
		}
	}
	if !(p[9] > p[8]) {
		t.Errorf("the second clean window after the incident was not bet on: %.3g → %.3g", p[8], p[9])
	}
	// A single stray stable error at this rate is not a shock: the window
	// is bet on.
	stray := absPass([]window{clean, clean, {n: 15, x: 0, m: 15, y: 1}})
	if !(stray[2] > stray[1]) {
		t.Errorf("a window with one stable error was sat out: %.3g → %.3g", stray[1], stray[2])
	}

	undecided := func(incident bool) int {
		n := 0
		for seed := range uint64(40) {
			r := rand.New(rand.NewPCG(seed, 17))
			ws := gen(r, 360, 30, 0.5, 0.001, 1, 0)
			if incident {
				for i := 3; i < 6; i++ {
					ws[i].x = min(ws[i].n, poissonT(r, float64(ws[i].n)*0.101))
					ws[i].y = min(ws[i].m, poissonT(r, float64(ws[i].m)*0.101))
				}
			}
			var mem json.RawMessage
			passed := false
			for _, w := range ws {
				o := obsOf("e", w)
				o.Baseline = history
				v, err := a.Analyze(context.Background(), Input{Memory: mem, Observations: []Observation{o}})
				if err != nil {
					t.Fatal(err)
				}
				mem = v.Memory
				if v.Outcome == Fail {
					t.Fatalf("seed %d: a good canary failed: %s", seed, v.Reason)
				}
				if v.Outcome == Pass {
					passed = true
					break
				}
			}
			if !passed {
				n++
			}
		}
		return n
	}
	with, without := undecided(true), undecided(false)
	t.Logf("good canaries undecided after 360 windows: %d of 40 through the incident, %d without it", with, without)
	if with > without+4 {
		t.Errorf("good canaries undecided after 360 windows: %d of 40 through the incident, %d without it; want at most 4 more", with, without)
	}
}

// TestPoissonUpper: P(Y ≥ k) for Poisson Y, exact at small means and
// normal beyond 50.
func TestPoissonUpper(t *testing.T) {
	for _, c := range []struct{ k, l, want, tol float64 }{
		{0, 3, 1, 0},
		{1, 0.03, 1 - math.Exp(-0.03), 1e-12},
		{2, 1, 1 - 2/math.E, 1e-12},
		{3, 0.03, 1 - math.Exp(-0.03)*(1+0.03+0.03*0.03/2), 1e-12},
		{5, 0, 0, 0},
		{120, 100, 0.0256, 0.0005}, // normal with continuity correction (exact: 0.0282)
	} {
		if got := poissonUpper(c.k, c.l); math.Abs(got-c.want) > c.tol || got < 0 || got > 1 {
			t.Errorf("poissonUpper(%g, %g) = %.6g, want %.6g", c.k, c.l, got, c.want)
		}
	}
}
