package rollback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// TestDecideTransitions is the transition table of the package doc, run
// against the pure decision core at fixed instants.
func TestDecideTransitions(t *testing.T) {
	plan := rollback.Plan{Steps: rollback.Weights(10, 50), Interval: time.Minute, Hold: 2 * time.Minute, ProgressDeadline: 5 * time.Minute}
	gated := plan
	gated.ApproveIncrease, gated.ApprovePromotion = true, true
	zero := plan
	zero.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Hour}
	machine := func(p rollback.Plan, pol rollback.Policy) *rollback.Machine {
		m, err := rollback.NewMachine("svc", p, pol, false)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	pass := &analysis.Verdict{Outcome: analysis.Pass}
	fail := &analysis.Verdict{Outcome: analysis.Fail}
	unknown := &analysis.Verdict{Outcome: analysis.Inconclusive}
	yes, no := true, false
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	progressing := func(step, weight int, since time.Duration, passes int) rollback.State {
		return rollback.State{Format: 1, Name: "svc", Phase: rollback.Progressing, Step: step, Weight: weight,
			StartedAt: t0, PhaseSince: t0, StepSince: at(since), NextAnalysis: at(since + time.Minute), StepPasses: passes}
	}
	type want struct {
		phase  rollback.Phase
		weight int
		err    error
	}
	for _, tc := range []struct {
		name string
		m    *rollback.Machine
		s    rollback.State
		in   rollback.Inputs
		now  time.Time
		want want
	}{
		{"pending starts at the first step", machine(plan, rollback.Policy{}), rollback.State{Format: 1, Step: -1}, rollback.Inputs{}, t0, want{rollback.Progressing, 10, nil}},
		{"pending with zero traffic validates", machine(zero, rollback.Policy{}), rollback.State{Format: 1, Step: -1}, rollback.Inputs{}, t0, want{rollback.Validating, 0, nil}},
		{"pending with a gate waits", machine(gated, rollback.Policy{}), rollback.State{Format: 1, Step: -1}, rollback.Inputs{}, t0, want{rollback.AwaitingApproval, 0, nil}},
		{"validation ends after its duration", machine(zero, rollback.Policy{}), rollback.State{Format: 1, Phase: rollback.Validating, Step: -1, PhaseSince: t0}, rollback.Inputs{}, at(time.Hour), want{rollback.Progressing, 10, nil}},
		{"validation goes on before it", machine(zero, rollback.Policy{}), rollback.State{Format: 1, Phase: rollback.Validating, Step: -1, PhaseSince: t0}, rollback.Inputs{}, at(59 * time.Minute), want{rollback.Validating, 0, nil}},
		{"hold not over", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 1), rollback.Inputs{}, at(time.Minute), want{rollback.Progressing, 10, nil}},
		{"hold over with a pass advances", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{Verdict: pass}, at(2 * time.Minute), want{rollback.Progressing, 50, nil}},
		{"hold over without a pass waits", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{Verdict: unknown}, at(2 * time.Minute), want{rollback.Progressing, 10, nil}},
		{"last step promotes", machine(plan, rollback.Policy{}), progressing(1, 50, 0, 1), rollback.Inputs{}, at(2 * time.Minute), want{rollback.Promoting, 100, nil}},
		{"last step gated", machine(gated, rollback.Policy{}), progressing(1, 50, 0, 1), rollback.Inputs{}, at(2 * time.Minute), want{rollback.AwaitingApproval, 50, nil}},
		{"one failure is not enough", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{Verdict: fail}, at(time.Minute), want{rollback.Progressing, 10, nil}},
		{"failure limit 1 rolls back", machine(plan, rollback.Policy{FailureLimit: 1}), progressing(0, 10, 0, 0), rollback.Inputs{Verdict: fail}, at(time.Minute), want{rollback.RollingBack, 0, nil}},
		{"failure limit 1 pauses", machine(plan, rollback.Policy{FailureLimit: 1, OnFailure: rollback.PauseOnFailure}), progressing(0, 10, 0, 0), rollback.Inputs{Verdict: fail}, at(time.Minute), want{rollback.Paused, 10, nil}},
		{"progress deadline missed pauses", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{}, at(7 * time.Minute), want{rollback.Paused, 10, nil}},
		{"progress deadline missed rolls back", machine(plan, rollback.Policy{AtDeadline: rollback.RollBackAtDeadline}), progressing(0, 10, 0, 0), rollback.Inputs{}, at(7 * time.Minute), want{rollback.RollingBack, 0, nil}},
		{"not ready blocks the advance", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 1), rollback.Inputs{Ready: &no}, at(2 * time.Minute), want{rollback.Progressing, 10, nil}},
		{"ready lets it advance", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 1), rollback.Inputs{Ready: &yes}, at(2 * time.Minute), want{rollback.Progressing, 50, nil}},
		{"abort", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{Command: &rollback.Command{Op: rollback.OpAbort, Actor: "a"}}, t0, want{rollback.RollingBack, 0, nil}},
		{"abort a rollback is harmless", machine(plan, rollback.Policy{}), rollback.State{Format: 1, Phase: rollback.RolledBack, Step: 0}, rollback.Inputs{Command: &rollback.Command{Op: rollback.OpAbort}}, t0, want{rollback.RolledBack, 0, nil}},
		{"promote after rollback refused", machine(plan, rollback.Policy{}), rollback.State{Format: 1, Phase: rollback.RollingBack, Step: 0}, rollback.Inputs{Command: &rollback.Command{Op: rollback.OpPromote}}, t0, want{rollback.RollingBack, 0, rollback.ErrNotAllowed}},
		{"set weight after rollback refused", machine(plan, rollback.Policy{}), rollback.State{Format: 1, Phase: rollback.RolledBack, Step: 0}, rollback.Inputs{Command: &rollback.Command{Op: rollback.OpSetWeight, Weight: 10}}, t0, want{rollback.RolledBack, 0, rollback.ErrNotAllowed}},
		{"pause", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{Command: &rollback.Command{Op: rollback.OpPause}}, t0, want{rollback.Paused, 10, nil}},
		{"approve outside a gate refused", machine(plan, rollback.Policy{}), progressing(0, 10, 0, 0), rollback.Inputs{Command: &rollback.Command{Op: rollback.OpApprove}}, t0, want{rollback.Progressing, 10, rollback.ErrNotAllowed}},
		{"final phases stay", machine(plan, rollback.Policy{}), rollback.State{Format: 1, Phase: rollback.Succeeded, Step: 1, Weight: 100}, rollback.Inputs{Verdict: fail}, at(time.Hour), want{rollback.Succeeded, 100, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s1, ev1, err := tc.m.Decide(tc.s, tc.in, tc.now)
			if !errors.Is(err, tc.want.err) {
				t.Fatalf("err = %v, want %v", err, tc.want.err)
			}
			if s1.Phase != tc.want.phase || s1.Weight != tc.want.weight {
				t.Errorf("got %v at %d %%, want %v at %d %%", s1.Phase, s1.Weight, tc.want.phase, tc.want.weight)
			}
			// Pure: the same arguments give the same answer.
			s2, ev2, _ := tc.m.Decide(tc.s, tc.in, tc.now)
			if len(ev1) != len(ev2) || s1.Seq != s2.Seq || s1.Phase != s2.Phase {
				t.Errorf("Decide is not deterministic")
			}
			if s1.Phase != tc.s.Phase && len(ev1) == 0 {
				t.Errorf("a transition without an event")
			}
		})
	}
}

func TestPresetPolicy(t *testing.T) {
	m := analysis.PresetMetrics{ErrorRate: "error-rate", Latency: "latency-p99"}
	for _, p := range analysis.Presets(m) {
		pol := rollback.PresetPolicy(p)
		if pol.FailureLimit != p.FailureLimit || (pol.Counting == rollback.Consecutive) != p.Consecutive {
			t.Errorf("%s: policy %+v does not carry the preset's limit and counting", p.Name, pol)
		}
		if _, err := rollback.NewMachine("x", rollback.Plan{Steps: rollback.Weights(10), Interval: time.Minute}, pol, false); err != nil {
			t.Errorf("%s: the preset's policy is refused: %v", p.Name, err)
		}
	}
	pol := rollback.PresetPolicy(analysis.Preset{FailureLimit: 3, NoData: analysis.FailAfterNoData, NoDataAfter: 4})
	if pol.NoData != rollback.FailAfter || pol.NoDataAfter != 4 {
		t.Errorf("FailAfterNoData not carried: %+v", pol)
	}
}
