package rollback_test

// Issue 8, items 4 and 5: the rollout advances on evidence, and thin
// traffic is handled honestly.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/workload"
)

// memoryAnalyzer counts its looks in Memory and answers outcome with
// evidence that needs more requests; it records the Step and Memory it
// was given.
type memoryAnalyzer struct {
	outcome analysis.Outcome
	steps   []int
	mems    []string
}

func (a *memoryAnalyzer) Analyze(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
	a.steps = append(a.steps, in.Stage)
	a.mems = append(a.mems, string(in.Memory))
	var n int
	json.Unmarshal(in.Memory, &n)
	mem, _ := json.Marshal(n + 1)
	return analysis.Verdict{Outcome: a.outcome, Reason: "evidence so far",
		Evidence: []analysis.Evidence{{Metric: "error-rate", Fail: 0.1, Pass: 0.4, Requests: 500, More: 1200},
			{Metric: "latency", Pass: 0.9, Requests: 500, More: 40}},
		Memory: mem}, nil
}

func TestInconclusiveDeadlineAsksAPerson(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: 3 * time.Minute}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	a := &memoryAnalyzer{outcome: analysis.Inconclusive}
	h.cfg.Analyzer = a
	r := h.build(t)
	run(t, r, t0, t0.Add(time.Hour))
	st := r.Status(t0.Add(time.Hour))
	if st.Phase != rollback.Paused || st.CanaryWeight != 10 {
		t.Fatalf("inconclusive at the deadline: %v at %d %%, want paused at 10 %%", st.Phase, st.CanaryWeight)
	}
	// 500 canary requests a minute: 1,200 more take 2m24s.
	for _, want := range []string{"1200 more canary requests", "2m24s", "8.33 requests/s", "Resume, Promote or Abort"} {
		if !strings.Contains(st.Reason, want) {
			t.Errorf("reason %q does not say %q", st.Reason, want)
		}
	}
	if st.More != 1200 || st.Estimate != 144*time.Second || len(st.Evidence) != 2 || st.CanaryRate < 8.3 || st.CanaryRate > 8.4 {
		t.Errorf("Status evidence: more %d, estimate %v, rate %v, %d metrics", st.More, st.Estimate, st.CanaryRate, len(st.Evidence))
	}
	// Memory goes round: each analysis gets what the previous returned.
	for i, m := range a.mems {
		want := ""
		if i > 0 {
			b, _ := json.Marshal(i)
			want = string(b)
		}
		if m != want {
			t.Fatalf("analysis %d got Memory %q, want %q", i+1, m, want)
		}
		if a.steps[i] != 0 {
			t.Errorf("analysis %d got Step %d, want 0", i+1, a.steps[i])
		}
	}
	if len(a.mems) < 4 {
		t.Errorf("only %d analyses; a paused canary is still analysed", len(a.mems))
	}

	// The policy can choose rolling back instead.
	h = newHarness(plan, rollback.Policy{OnInconclusive: rollback.RollBackInconclusive}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = &memoryAnalyzer{outcome: analysis.Inconclusive}
	r = h.build(t)
	run(t, r, t0, t0.Add(time.Hour))
	if st := r.Status(t0); st.Phase != rollback.RolledBack || !strings.Contains(st.Reason, "1200 more canary requests") {
		t.Errorf("RollBackInconclusive: %v: %q", st.Phase, st.Reason)
	}

	// A canary that is not ready by the deadline still rolls back.
	h = newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = &memoryAnalyzer{outcome: analysis.Inconclusive}
	h.cfg.Readiness = h.scaler
	h.scaler.SetNotReady(workload.Canary, "CrashLoopBackOff")
	r = h.build(t)
	run(t, r, t0, t0.Add(time.Hour))
	if st := r.Status(t0); st.Phase != rollback.RolledBack || !strings.Contains(st.Reason, "CrashLoopBackOff") {
		t.Errorf("a canary never ready: %v: %q, want rolled back", st.Phase, st.Reason)
	}
}

// TestAdvanceNeedsAPassAtThatStage: a Pass at one stage does not carry the
// canary through the next, and promotion needs a Pass at the last stage;
// Input.Stage names the stage the window belongs to.
func TestAdvanceNeedsAPassAtThatStage(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: time.Hour}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	var steps []int
	h.cfg.Analyzer = analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		steps = append(steps, in.Stage)
		if in.Stage == 0 && in.Looks == 0 {
			return analysis.Verdict{Outcome: analysis.Pass}, nil
		}
		return analysis.Verdict{Outcome: analysis.Inconclusive}, nil
	})
	r := h.build(t)
	run(t, r, t0, t0.Add(30*time.Minute))
	st := r.Status(t0)
	if st.Phase != rollback.Progressing || st.CanaryWeight != 50 {
		t.Fatalf("%v at %d %%: want held at 50 %% with no pass there", st.Phase, st.CanaryWeight)
	}
	if steps[0] != 0 || steps[len(steps)-1] != 1 {
		t.Errorf("Input.Stage went %v, want 0 then 1", steps)
	}
}
