package rollback_test

// Issue 18 items 1 and 2, issue 19 items 3 and 12: advance on leaning
// evidence, promote on proof, never promote on evidence a late regression
// has overturned, and ask a person only when the budget cannot be met.

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

func poissonDraw(r *rand.Rand, mean float64) int64 {
	if mean <= 0 {
		return 0
	}
	if mean < 30 {
		l, k, p := math.Exp(-mean), int64(0), 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	return max(0, int64(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
}

// errorRecording is a service of perMinute requests a minute whose stable
// version fails stable of them and whose canary fails canary(minute).
func errorRecording(seed uint64, perMinute, stable float64, canary func(minute int) float64) rollback.Recording {
	r := rand.New(rand.NewPCG(seed, 7))
	return func(now time.Time, split traffic.Split) []analysis.Observation {
		minute := int(now.Sub(t0) / time.Minute)
		w := float64(split.Canary) / 100
		n, m := poissonDraw(r, perMinute*w), poissonDraw(r, perMinute*(1-w))
		x, y := min(n, poissonDraw(r, float64(n)*canary(minute))), min(m, poissonDraw(r, float64(m)*stable))
		o := analysis.Observation{Metric: "error-rate"}
		if n > 0 {
			o.Canary = analysis.Observed(float64(x)/float64(n), n)
		}
		if m > 0 {
			o.Stable = analysis.Observed(float64(y)/float64(m), m)
		}
		return []analysis.Observation{o}
	}
}

// TestLateRegressionInTheLastStageIsNotPromoted (issue 19, item 3): the
// lenient preset, stages 5/20/50 with 5-minute holds, 6,000 requests a
// minute, stable at 0.5 % and a canary that turns 3 % bad at minute 13 —
// in the last stage, after that stage's Pass — was promoted: the stage's
// Pass, once reached, was kept for the rest of the stage, and the Fail
// evidence restarted only at stage boundaries. No preset may promote while
// the latest evidence points to a regression.
func TestLateRegressionInTheLastStageIsNotPromoted(t *testing.T) {
	plan := rollback.Plan{Stages: []rollback.Stage{{Weight: 5}, {Weight: 20}, {Weight: 50}}, Hold: 5 * time.Minute, Interval: time.Minute}
	turns := func(minute int) float64 {
		if minute >= 13 {
			return 0.03
		}
		return 0.005
	}
	for _, p := range analysis.Presets(analysis.PresetMetrics{ErrorRate: "error-rate"}) {
		if p.Name == "fixed-threshold" {
			continue // the naive baseline weighs no evidence
		}
		for _, advance := range []rollback.Advance{rollback.AdvanceOnLeaning, rollback.AdvanceOnPass} {
			promoted := 0
			const runs = 20
			for seed := uint64(0); seed < runs; seed++ {
				pol := rollback.PresetPolicy(p)
				pol.Advance = advance
				cfg := rollback.Config{Name: "late", Plan: plan, Policy: pol, Analyzer: p.Analyzer}
				res, err := rollback.Replay(context.Background(), cfg, t0, t0.Add(2*time.Hour), errorRecording(seed, 6000, 0.005, turns))
				if err != nil {
					t.Fatal(err)
				}
				if ph := res.Final.Phase; ph == rollback.Succeeded || ph == rollback.Promoting {
					promoted++
				}
			}
			if promoted > 0 {
				t.Errorf("%s preset, advance %v: %d of %d canaries that turned 3 %% bad at minute 13 were promoted", p.Name, advance, promoted, runs)
			}
		}
	}
}

// scripted answers each look with the verdict of its index (the last one
// after the end), with evidence that needs more requests.
func scripted(vs ...analysis.Verdict) analysis.Analyzer {
	i := 0
	return analysis.AnalyzerFunc(func(context.Context, analysis.Input) (analysis.Verdict, error) {
		v := vs[min(i, len(vs)-1)]
		i++
		if v.Outcome != analysis.Pass {
			v.Evidence = []analysis.Evidence{{Metric: "error-rate", Pass: 0.5, Requests: 500, More: 60000}}
		}
		return v, nil
	})
}

var (
	leaning = analysis.Verdict{Outcome: analysis.Inconclusive, Leaning: true, Reason: "leaning"}
	unsure  = analysis.Verdict{Outcome: analysis.Inconclusive, Reason: "unsure"}
	passing = analysis.Verdict{Outcome: analysis.Pass, Reason: "proof"}
)

// TestAdvanceOnLeaningPromoteOnProof (issue 18, item 1): with the default
// policy, leaning evidence walks the plan one stage per hold and the
// promotion waits for a Pass at the last stage; with AdvanceOnPass the
// same evidence holds the first stage.
func TestAdvanceOnLeaningPromoteOnProof(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 20, 50), Interval: time.Minute}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(leaning, leaning, leaning, leaning, leaning, passing)
	r := h.build(t)
	var weights []int
	for _, st := range run(t, r, t0, t0.Add(time.Hour)) {
		if len(weights) == 0 || weights[len(weights)-1] != st.CanaryWeight {
			weights = append(weights, st.CanaryWeight)
		}
	}
	st := r.Status(t0.Add(time.Hour))
	if st.Phase != rollback.Succeeded {
		t.Fatalf("%v at %d %%: %s", st.Phase, st.CanaryWeight, st.Reason)
	}
	if got := weights; len(got) != 4 || got[0] != 10 || got[1] != 20 || got[2] != 50 || got[3] != 100 {
		t.Errorf("weights %v, want 10, 20, 50, 100", got)
	}
	// It reached 50 % at minute 2 and was promoted only on the Pass (look 6).
	var promoted, reached50 time.Time
	for _, e := range h.events {
		if e.Kind == rollback.KindTransition && e.WeightTo == 50 && reached50.IsZero() {
			reached50 = e.Time
			if !strings.Contains(e.Reason, "leans towards no regression") {
				t.Errorf("advance on leaning evidence says %q", e.Reason)
			}
		}
		if e.Kind == rollback.KindTransition && e.To == rollback.Promoting {
			promoted = e.Time
		}
	}
	if reached50 != t0.Add(2*time.Minute) || promoted != t0.Add(6*time.Minute) {
		t.Errorf("50 %% at %v, promoted at %v; want +2m and +6m", reached50.Sub(t0), promoted.Sub(t0))
	}

	h = newHarness(plan, rollback.Policy{Advance: rollback.AdvanceOnPass}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(leaning)
	r = h.build(t)
	run(t, r, t0, t0.Add(30*time.Minute))
	if st := r.Status(t0); st.CanaryWeight != 10 || st.Phase != rollback.Progressing {
		t.Errorf("AdvanceOnPass on leaning evidence: %v at %d %%, want held at 10 %%", st.Phase, st.CanaryWeight)
	}

	// Evidence that stops leaning stops the walk.
	h = newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(leaning, unsure)
	r = h.build(t)
	run(t, r, t0, t0.Add(30*time.Minute))
	if st := r.Status(t0); st.CanaryWeight != 20 {
		t.Errorf("evidence no longer leaning: %v at %d %%, want held at 20 %%", st.Phase, st.CanaryWeight)
	}
}

// TestPassThenDoubtIsNotPromoted (issue 19, item 3): a Pass at the last
// stage followed, before the hold ends, by an analysis that no longer
// passes does not promote: the stage needs its latest analyses to pass.
func TestPassThenDoubtIsNotPromoted(t *testing.T) {
	plan := rollback.Plan{Stages: []rollback.Stage{{Weight: 50, Hold: 3 * time.Minute}}, Interval: time.Minute}
	for _, adv := range []rollback.Advance{rollback.AdvanceOnLeaning, rollback.AdvanceOnPass} {
		h := newHarness(plan, rollback.Policy{Advance: adv}, fake.Constant(0.001, 500))
		h.cfg.Analyzer = scripted(passing, leaning, unsure)
		r := h.build(t)
		run(t, r, t0, t0.Add(20*time.Minute))
		if st := r.Status(t0); st.Phase != rollback.Progressing {
			t.Errorf("advance %v: %v at %d %% after a Pass then doubt: %s", adv, st.Phase, st.CanaryWeight, st.Reason)
		}
	}
}

// TestBudgetAsksAPersonOnlyWhenTheEvidenceCannotCome (issue 18, item 2):
// without a ProgressDeadline, inconclusive evidence no longer pauses at a
// fixed 10 minutes; it pauses once the rollout's own estimate says the
// budget (Plan.MaxDuration) cannot be met, saying what is missing.
func TestBudgetAsksAPersonOnlyWhenTheEvidenceCannotCome(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, MaxDuration: time.Hour}
	// 500 canary requests a minute; 60,000 more take two hours: more than
	// twice the 30 minutes left at half the budget.
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(unsure)
	r := h.build(t)
	seen := run(t, r, t0, t0.Add(2*time.Hour))
	st := r.Status(t0)
	if st.Phase != rollback.Paused {
		t.Fatalf("%v: %s, want paused", st.Phase, st.Reason)
	}
	var pausedAt time.Time
	for _, e := range h.events {
		if e.Kind == rollback.KindTransition && e.To == rollback.Paused {
			pausedAt = e.Time
		}
	}
	if pausedAt != t0.Add(30*time.Minute) {
		t.Errorf("paused at +%v, want +30m (half the budget, when the estimate is trusted)", pausedAt.Sub(t0))
	}
	for _, want := range []string{"60000 more canary requests", "2h0m0s", "MaxDuration", "30m0s of it is left"} {
		if !strings.Contains(st.Reason, want) {
			t.Errorf("reason %q does not say %q", st.Reason, want)
		}
	}
	if seen[0].More != -1 {
		t.Errorf("Status.More before the first analysis = %d, want -1 (unknown)", seen[0].More)
	}

	// Evidence that fits the budget waits for it, past the old 10 minutes.
	h = newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(unsure, unsure, unsure, unsure, unsure, unsure, unsure, unsure, unsure, unsure,
		unsure, unsure, unsure, unsure, unsure, unsure, unsure, unsure, unsure, unsure, passing)
	h.cfg.Analyzer = withMore(h.cfg.Analyzer, 1000)
	r = h.build(t)
	run(t, r, t0, t0.Add(2*time.Hour))
	if st := r.Status(t0); st.Phase != rollback.Succeeded {
		t.Errorf("evidence within the budget: %v: %s, want promoted", st.Phase, st.Reason)
	}

	// A spent budget pauses even when no estimate can be made.
	h = newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = withMore(scripted(unsure), -1)
	r = h.build(t)
	run(t, r, t0, t0.Add(2*time.Hour))
	if st := r.Status(t0); st.Phase != rollback.Paused || !strings.Contains(st.Reason, "did not arrive within") {
		t.Errorf("budget spent: %v: %s", st.Phase, st.Reason)
	}
}

// withMore sets every evidence's More to more.
func withMore(a analysis.Analyzer, more int64) analysis.Analyzer {
	return analysis.AnalyzerFunc(func(ctx context.Context, in analysis.Input) (analysis.Verdict, error) {
		v, err := a.Analyze(ctx, in)
		for i := range v.Evidence {
			v.Evidence[i].More = more
		}
		return v, err
	})
}

// TestPausedReasonSaysTheEvidenceArrived (issue 19, item 12): analyses go
// on while paused at the deadline; when they reach a Pass the reason says
// so instead of repeating how many requests were missing.
func TestPausedReasonSaysTheEvidenceArrived(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: 3 * time.Minute}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(unsure, unsure, unsure, unsure, unsure, passing)
	r := h.build(t)
	run(t, r, t0, t0.Add(30*time.Minute))
	st := r.Status(t0)
	if st.Phase != rollback.Paused {
		t.Fatalf("%v: %s", st.Phase, st.Reason)
	}
	reason := display.Reason(st, nil)
	if strings.Contains(reason, "more canary requests") || !strings.Contains(reason, "the evidence has arrived since: a passing analysis at ") ||
		!strings.Contains(reason, "Resume to go on") {
		t.Errorf("reason %q", reason)
	}
	// The instant is a field, written in the zone the caller chooses; the
	// reason itself holds no time.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := display.FormatTimeIn(st.EvidenceAt, tokyo)
	if st.EvidenceAt.IsZero() || !strings.HasSuffix(at, " JST") ||
		!strings.Contains(display.Reason(st, tokyo), "a passing analysis at "+at+", analysis ") ||
		strings.Contains(st.Reason, " BST") || strings.Contains(st.Reason, " GMT") {
		t.Errorf("EvidenceAt %v, reason %q, in Tokyo %q", st.EvidenceAt, st.Reason, display.Reason(st, tokyo))
	}
}

// TestRegressingStepsBackToTheFirstStage: evidence pointing to a
// regression it cannot prove yet takes the canary back to the first
// stage's weight (where it does less harm) under AdvanceOnLeaning; under
// AdvanceOnPass the weight stays.
func TestRegressingStepsBackToTheFirstStage(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 20, 50), Interval: time.Minute}
	regressing := analysis.Verdict{Outcome: analysis.Inconclusive, Regressing: true, Reason: "latest windows point to a regression"}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(leaning, leaning, regressing, unsure)
	r := h.build(t)
	run(t, r, t0, t0.Add(10*time.Minute))
	if st := r.Status(t0); st.CanaryWeight != 10 || st.Phase != rollback.Progressing || !strings.Contains(st.Reason, "points to a regression") {
		t.Errorf("%v at %d %%: %s; want back at 10 %%", st.Phase, st.CanaryWeight, st.Reason)
	}
	h = newHarness(plan, rollback.Policy{Advance: rollback.AdvanceOnPass}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = scripted(passing, passing, regressing, unsure)
	r = h.build(t)
	run(t, r, t0, t0.Add(10*time.Minute))
	if st := r.Status(t0); st.CanaryWeight != 50 {
		t.Errorf("AdvanceOnPass: %v at %d %%, want kept at 50 %%", st.Phase, st.CanaryWeight)
	}
}
